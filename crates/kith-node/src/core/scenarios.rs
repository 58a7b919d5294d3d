//! Several nodes' real core types, in memory, with a fake clock: the messages between them
//! are delivered by hand, so each scenario controls who is connected and what is lost.

/// A friend going offline and coming back with a comment outbox: members M and N, owner O.
mod comments_offline {
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};

    use crate::core::outbox::{self, Answer, Outbox};
    use crate::core::thread;
    use crate::store::{MemKv, Store};
    use kith_proto::album::{Album, SignedAlbum};
    use kith_proto::comment::{SignedComment, ThreadEntry};
    use kith_proto::identity::{Identity, PeerId};
    use kith_proto::ids::{AlbumId, CommentId};
    use kith_proto::peer::PeerMsg;

    /// One node: its identity, its store (in memory, real batches) and its outbox core.
    struct Node {
        id: Identity,
        store: Store,
        outbox: Outbox,
        up: bool,
        /// (comment ID, new) for each comment event, in order.
        events: Vec<(CommentId, bool)>,
    }

    /// A message on its way between two nodes.
    enum Wire {
        Post {
            from: usize,
            to: usize,
            comment: SignedComment,
        },
        Answer {
            to: usize,
            owner: usize,
            comment: SignedComment,
            answer: Answer,
        },
        Pull {
            from: usize,
            owner: usize,
            album: AlbumId,
            since: u64,
        },
        Relay {
            from: usize,
            to: usize,
            msg: PeerMsg,
        },
    }

    struct Net {
        nodes: Vec<Node>,
        now: Instant,
        wire: VecDeque<Wire>,
        /// The next answer to a post is lost on the way back (the post arrived).
        lose_next_answer: bool,
        /// Comment IDs the owner's thread numbered, in the order it did.
        numbered: Vec<CommentId>,
        /// The text of each post that reached the owner, repeats included.
        received: Vec<String>,
    }

    const O: usize = 0;
    const M: usize = 1;
    const N: usize = 2;

    impl Net {
        fn new() -> (Net, Album) {
            let ids: Vec<Identity> = (0..3).map(|_| Identity::generate().unwrap()).collect();
            let audience = vec![ids[M].peer_id(), ids[N].peer_id()];
            let a = crate::core::thread::tests::album(&ids[O].peer_id(), &audience);
            let signed: SignedAlbum = a.clone().sign(&ids[O]);
            let nodes = ids
                .into_iter()
                .enumerate()
                .map(|(i, id)| {
                    let store = Store::with_kv(Box::new(MemKv::default())).unwrap();
                    store.put_album(&signed).unwrap();
                    let follows = if i == O {
                        vec![]
                    } else {
                        vec![(a.id.clone(), a.owner, 0)]
                    };
                    Node {
                        id,
                        store,
                        outbox: Outbox::load(vec![], follows),
                        up: true,
                        events: vec![],
                    }
                })
                .collect();
            let net = Net {
                nodes,
                now: Instant::now(),
                wire: VecDeque::new(),
                lose_next_answer: false,
                numbered: vec![],
                received: vec![],
            };
            (net, a)
        }

        fn peer(&self, i: usize) -> PeerId {
            self.nodes[i].id.peer_id()
        }

        fn index(&self, p: &PeerId) -> usize {
            self.nodes
                .iter()
                .position(|n| n.id.peer_id() == *p)
                .unwrap()
        }

        /// The peers `i` is connected to: every other node that is up (none when `i` is down).
        fn online(&self, i: usize) -> Vec<PeerId> {
            if !self.nodes[i].up {
                return vec![];
            }
            (0..self.nodes.len())
                .filter(|&j| j != i && self.nodes[j].up)
                .map(|j| self.peer(j))
                .collect()
        }

        /// A comment by node `i` on `a`, its ID made of `n`.
        fn comment(&self, i: usize, a: &Album, n: u8, text: &str) -> SignedComment {
            crate::core::thread::tests::comment(&self.nodes[i].id, a, n, text)
        }

        /// Member `i` writes a comment: stored in its outbox, handed to its core.
        fn write(&mut self, i: usize, c: SignedComment, owner: usize) {
            self.nodes[i].store.comment_outbox_put(&c).unwrap();
            let online = self.online(i);
            let (to, now) = (self.peer(owner), self.now);
            let fx = self.nodes[i].outbox.queue(to, c, now, &online);
            self.member_effects(i, fx);
        }

        /// Node `i` comes up (or goes down); each side of each new connection is told.
        fn set_up(&mut self, i: usize, up: bool) {
            self.nodes[i].up = up;
            if !up {
                return;
            }
            for j in 0..self.nodes.len() {
                if j != i && self.nodes[j].up {
                    for (a, b) in [(i, j), (j, i)] {
                        let (peer, online, now) = (self.peer(b), self.online(a), self.now);
                        let fx = self.nodes[a].outbox.on_connect(peer, now, &online);
                        self.member_effects(a, fx);
                    }
                }
            }
            self.settle();
        }

        /// Time passes, one tick a second.
        fn wait(&mut self, d: Duration) {
            let end = self.now + d;
            while self.now < end {
                self.now += Duration::from_secs(1);
                for i in 0..self.nodes.len() {
                    if self.nodes[i].up {
                        let (online, now) = (self.online(i), self.now);
                        let fx = self.nodes[i].outbox.on_tick(now, &online);
                        self.member_effects(i, fx);
                    }
                }
                self.settle();
            }
        }

        /// Executes a member's effects as the actor does: stores, events, messages out.
        fn member_effects(&mut self, i: usize, effects: Vec<outbox::Effect>) {
            for e in effects {
                let n = &mut self.nodes[i];
                match e {
                    outbox::Effect::Send { to, comment } => {
                        let to = self.index(&to);
                        self.wire.push_back(Wire::Post {
                            from: i,
                            to,
                            comment,
                        });
                    }
                    outbox::Effect::Pull {
                        owner,
                        album,
                        since,
                    } => {
                        let owner = self.index(&owner);
                        self.wire.push_back(Wire::Pull {
                            from: i,
                            owner,
                            album,
                            since,
                        });
                    }
                    outbox::Effect::Done { album, id, v } => {
                        n.store.comment_outbox_done(&album, &id, v).unwrap();
                    }
                    outbox::Effect::Store {
                        album,
                        meta,
                        entries,
                        outbox_done,
                    } => n
                        .store
                        .write_thread(&album, &meta, &entries, &outbox_done)
                        .unwrap(),
                    outbox::Effect::Event { id, new, .. } => n.events.push((id, new)),
                    outbox::Effect::Failed { code, .. } => panic!("a comment was refused: {code}"),
                }
            }
        }

        /// Executes the owner's thread effects.
        fn owner_effects(&mut self, i: usize, effects: Vec<thread::Effect>) {
            for e in effects {
                match e {
                    thread::Effect::Store {
                        album,
                        meta,
                        entries,
                    } => {
                        for x in &entries {
                            if self.nodes[i]
                                .store
                                .comment(&album, &x.id)
                                .unwrap()
                                .is_none()
                            {
                                self.numbered.push(x.id.clone());
                            }
                        }
                        self.nodes[i]
                            .store
                            .put_thread(&album, &meta, &entries)
                            .unwrap();
                    }
                    thread::Effect::Event { id, new, .. } => self.nodes[i].events.push((id, new)),
                    thread::Effect::Relay { to, msg } => {
                        let to = self.index(&to);
                        self.wire.push_back(Wire::Relay { from: i, to, msg });
                    }
                }
            }
        }

        /// Delivers what is on the wire until nothing is; a message to or from a node that is
        /// down is lost, and a post that is lost reports no answer.
        fn settle(&mut self) {
            while let Some(w) = self.wire.pop_front() {
                match w {
                    Wire::Post { from, to, comment } => {
                        let answer = if self.nodes[to].up && self.nodes[from].up {
                            self.received.push(comment.comment.text.clone());
                            let answer = self.owner_takes(to, from, comment.clone());
                            if std::mem::take(&mut self.lose_next_answer) {
                                // The connection broke just after the post arrived: the
                                // answer and the relay back to its author are lost.
                                self.wire.retain(
                                    |w| !matches!(w, Wire::Relay { to, .. } if *to == from),
                                );
                                Answer::Failed
                            } else {
                                answer
                            }
                        } else {
                            Answer::Failed
                        };
                        self.wire.push_back(Wire::Answer {
                            to: from,
                            owner: to,
                            comment,
                            answer,
                        });
                    }
                    Wire::Answer {
                        to,
                        owner,
                        comment,
                        answer,
                    } => {
                        let (o, online, now) = (self.peer(owner), self.online(to), self.now);
                        let fx = self.nodes[to]
                            .outbox
                            .on_answer(o, &comment, answer, now, &online);
                        self.member_effects(to, fx);
                    }
                    Wire::Pull {
                        from,
                        owner,
                        album,
                        since,
                    } => {
                        if self.nodes[owner].up && self.nodes[from].up {
                            let o = &self.nodes[owner];
                            let s = o.store.album(&album).unwrap();
                            let msg = thread::serve(
                                &self.peer(owner),
                                &self.peer(from),
                                s.as_ref().map(|s| &s.album),
                                &o.store.thread(&album).unwrap(),
                                o.store.comments(&album).unwrap(),
                                since,
                            )
                            .unwrap();
                            self.entries_in(from, owner, msg, true);
                        }
                        let online = self.online(from);
                        let next = self.nodes[from].outbox.on_pulled(&album, &online);
                        self.member_effects(from, next.into_iter().collect());
                    }
                    Wire::Relay { from, to, msg } => {
                        if self.nodes[to].up && self.nodes[from].up {
                            self.entries_in(to, from, msg, false);
                        }
                    }
                }
            }
        }

        /// The owner's thread takes a post, as the actor does.
        fn owner_takes(&mut self, owner: usize, from: usize, c: SignedComment) -> Answer {
            let o = &self.nodes[owner];
            let album = o.store.album(&c.comment.album).unwrap();
            let existing = o.store.comment(&c.comment.album, &c.comment.id).unwrap();
            let meta = o.store.thread(&c.comment.album).unwrap();
            let online = self.online(owner);
            let post = thread::Post {
                me: self.peer(owner),
                from: self.peer(from),
                album: album.as_ref().map(|s| &s.album),
                meta,
                existing,
                name: String::new(),
                online: &online,
                comment: c,
            };
            match thread::on_post(post) {
                Ok(fx) => {
                    self.owner_effects(owner, fx);
                    Answer::Delivered
                }
                Err(r) => Answer::Refused {
                    code: r.code(),
                    message: r.to_string(),
                },
            }
        }

        /// A member takes entries from the owner, as the actor does.
        fn entries_in(&mut self, member: usize, owner: usize, msg: PeerMsg, pulled: bool) {
            let PeerMsg::Comments {
                album,
                since,
                rev,
                entries,
                more,
            } = msg
            else {
                panic!("expected comments");
            };
            let n = &self.nodes[member];
            let s = n.store.album(&album).unwrap();
            let entries = entries
                .into_iter()
                .map(|e| {
                    let old = n.store.comment(&album, &e.id).unwrap();
                    (e, old)
                })
                .collect();
            let meta = n.store.thread(&album).unwrap();
            let (online, me, from) = (self.online(member), self.peer(member), self.peer(owner));
            let fx = self.nodes[member]
                .outbox
                .on_entries(outbox::Entries {
                    me,
                    from,
                    album: s.as_ref().map(|s| &s.album),
                    meta,
                    entries,
                    since,
                    rev,
                    more,
                    pulled,
                    online: &online,
                })
                .unwrap();
            self.member_effects(member, fx);
        }

        /// A node's thread as (seq, text, version), in order.
        fn thread(&self, i: usize, album: &AlbumId) -> Vec<(u64, String, u32)> {
            self.nodes[i]
                .store
                .comments(album)
                .unwrap()
                .into_iter()
                .map(|e: ThreadEntry| {
                    let c = e.comment.unwrap().comment;
                    (e.seq, c.text, c.v)
                })
                .collect()
        }
    }

    #[test]
    fn comments_written_while_the_owner_is_away_wait_then_arrive_once_in_order_and_reach_a_member_who_catches_up(
    ) {
        let (mut net, a) = Net::new();
        // All connected: a comment is numbered and relayed at once.
        let c = net.comment(M, &a, 1, "before");
        net.write(M, c, O);
        net.settle();
        assert_eq!(net.thread(N, &a.id), vec![(1, "before".into(), 0)]);

        // O and N go offline; M writes three comments and edits the second while waiting.
        net.set_up(O, false);
        net.set_up(N, false);
        for (n, text) in [(2, "one"), (3, "two"), (4, "three")] {
            let c = net.comment(M, &a, n, text);
            net.write(M, c, O);
        }
        let mut edit = net.comment(M, &a, 3, "two, edited").comment;
        edit.v = 1;
        let edit = edit.sign(&net.nodes[M].id);
        net.write(M, edit, O);
        net.wait(Duration::from_secs(10 * 60));
        assert_eq!(
            net.nodes[M].outbox.queued().count(),
            3,
            "queued while O is away"
        );
        assert_eq!(net.nodes[M].store.comment_outbox(None).unwrap().len(), 3);
        assert_eq!(net.numbered.len(), 1, "nothing reached O");

        // O comes back; the first post arrives but its answer is lost, so it is posted again.
        net.lose_next_answer = true;
        net.set_up(O, true);
        net.wait(Duration::from_secs(5));
        let expected: Vec<(u64, String, u32)> = vec![
            (1, "before".into(), 0),
            (2, "one".into(), 0),
            (3, "two, edited".into(), 1),
            (4, "three".into(), 0),
        ];
        assert_eq!(net.thread(O, &a.id), expected);
        assert_eq!(net.thread(M, &a.id), expected, "relayed back to the author");
        assert_eq!(net.nodes[M].outbox.queued().count(), 0);
        assert!(net.nodes[M].store.comment_outbox(None).unwrap().is_empty());
        assert_eq!(
            net.received,
            vec!["before", "one", "one", "two, edited", "three"],
            "posted in the order written, the one whose answer was lost twice"
        );

        // N comes back and catches up from where it was.
        assert_eq!(net.nodes[N].outbox.since(&a.id), Some(1));
        net.set_up(N, true);
        assert_eq!(net.thread(N, &a.id), expected);
        let rev = net.nodes[O].store.thread(&a.id).unwrap().rev;
        assert_eq!(net.nodes[N].outbox.since(&a.id), Some(rev));

        // Nothing was numbered twice, and N was told of each comment as new once.
        let mut once = net.numbered.clone();
        once.sort();
        once.dedup();
        assert_eq!(once.len(), net.numbered.len());
        assert_eq!(net.numbered.len(), 4);
        let mut news: Vec<&CommentId> = net.nodes[N]
            .events
            .iter()
            .filter(|(_, new)| *new)
            .map(|(id, _)| id)
            .collect();
        news.sort();
        news.dedup();
        assert_eq!(news.len(), 4);
        assert_eq!(
            net.nodes[N].events.iter().filter(|(_, new)| *new).count(),
            4,
            "no comment was new to N twice"
        );
    }
}
