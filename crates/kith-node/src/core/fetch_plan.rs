//! Fetch planning for one item, without I/O: which source is asked for the chunk hashes, which
//! runs of chunks go to which source and how many are in flight, a wished chunk first (a video
//! seeks), strikes against a source that sends bad chunks, when to ask for the sources again,
//! and when the item fails. `transfer::fetch` executes what it returns and does the network and
//! disk work; it verifies every chunk before writing it, so nothing here can let a bad byte in.
//!
//! A source with nothing to give costs nothing: one that answers `not_shared` is left alone for
//! [`NOT_HERE_WAIT`], and a source not yet known to hold the item gets one request at a time,
//! so it never holds runs that the sources who have the item could be serving.

use std::time::{Duration, Instant};

/// Chunks asked for in one request: 4 MiB keeps a stream busy and still spreads over sources.
pub const RUN: u64 = 4;
/// Chunk requests in flight at once for one item: enough to cover a round trip, little queued.
pub const IN_FLIGHT: usize = 4;
/// Items fetched at once: small files are round trips, not bandwidth.
pub const ITEMS_IN_FLIGHT: usize = 8;
/// Bad chunks a source may send before it is dropped: one may be a fluke, three is a liar.
pub const STRIKES: u32 = 3;
/// A source that failed is asked again after this: no hammering, and a hiccup costs little.
pub const RETRY_WAIT: Duration = Duration::from_millis(300);
/// A source that holds nothing for us is asked again after this (it may finish its own fetch).
pub const NOT_HERE_WAIT: Duration = Duration::from_secs(10);
/// With work waiting and no source able to take it, the sources are asked for this often.
pub const REFRESH_WAIT: Duration = Duration::from_millis(300);
/// While a fetch runs the sources are asked for this often, so a member who comes online helps.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// Names one source (one connection) for the plan; the executor maps it to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub u64);

/// Consecutive chunks asked for in one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First chunk.
    pub from: u64,
    /// How many chunks.
    pub n: u64,
}

/// Why a source did not deliver what it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// It does not hold the item for us (it answered `not_shared`).
    #[error("not_shared: the source does not hold it")]
    NotHere,
    /// It sent a chunk that does not match its hash.
    #[error("bad_chunk: a chunk did not match its hash")]
    BadChunk,
    /// Anything else: another refusal, a lost connection, a malformed answer.
    #[error("{0}")]
    Failed(String),
}

/// Why an item failed; each carries the last thing a source said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No source gave the manifest and chunk hashes before the deadline.
    #[error("could not get its chunk hashes: {0}")]
    NoHashes(String),
    /// Chunks were missing, the deadline had passed and no request was under way.
    #[error("no source could serve it: {0}")]
    NoChunks(String),
}

/// What the executor does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask who can serve now and answer with [`FetchPlan::on_sources`] before the next step.
    RefreshSources,
    /// Get the manifest and chunk hashes from this source; answer with [`FetchPlan::on_hashes`].
    AskHashes(SourceId),
    /// Get this run from this source; answer with [`FetchPlan::on_run_done`].
    Request(SourceId, Run),
    /// This source struck out: close its connection.
    Drop(SourceId),
    /// Nothing to start: wait for a result, or until this time, then ask again.
    Wait(Instant),
    /// Every chunk is in place.
    Finished,
    /// Give up on the item.
    Failed(Failure),
}

/// What the plan knows of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// Not known yet: one request at a time.
    Unknown,
    /// It served the hashes or a chunk: as many requests as it can take.
    Yes,
    /// It said `not_shared`: nothing until then.
    No { until: Instant },
}

#[derive(Debug)]
struct Source {
    id: SourceId,
    holds: Holds,
    strikes: u32,
    /// Not asked before this (after a failure).
    not_before: Option<Instant>,
    /// Runs it is serving now.
    runs: usize,
}

impl Source {
    fn new(id: SourceId) -> Source {
        Source {
            id,
            holds: Holds::Unknown,
            strikes: 0,
            not_before: None,
            runs: 0,
        }
    }

    /// When it may be asked again (`None`: now).
    fn ready_at(&self, now: Instant) -> Option<Instant> {
        let until = match self.holds {
            Holds::No { until } => Some(until),
            _ => None,
        };
        [self.not_before, until]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .max()
    }

    /// How many requests it may hold at once.
    fn capacity(&self) -> usize {
        match self.holds {
            Holds::Yes => IN_FLIGHT,
            _ => 1,
        }
    }
}

/// The plan of one item's fetch. Feed it results and the time; it says what to do next.
#[derive(Debug)]
pub struct FetchPlan {
    chunks: u64,
    deadline: Instant,
    /// Whether the verified chunk hashes are in hand (then `pending` is filled).
    hashed: bool,
    /// The source asked for the hashes now.
    asking: Option<SourceId>,
    /// Runs to request, next on top.
    pending: Vec<Run>,
    /// Runs being served.
    running: usize,
    /// The sources, in the order the executor gave them (preferred first).
    sources: Vec<Source>,
    /// Sources that struck out, never used again.
    struck: Vec<SourceId>,
    /// Struck sources whose connection is still to be closed.
    drops: Vec<SourceId>,
    /// When the sources were last asked for.
    refreshed: Option<Instant>,
    /// A source failed since: refresh soon.
    stale: bool,
    last_error: Option<Fault>,
    /// Breaks ties between equally busy sources.
    turn: usize,
}

impl FetchPlan {
    /// A plan for an item of `chunks` chunks that gives up waiting for sources at `deadline`.
    pub fn new(chunks: u64, deadline: Instant) -> FetchPlan {
        FetchPlan {
            chunks,
            deadline,
            hashed: false,
            asking: None,
            pending: Vec::new(),
            running: 0,
            sources: Vec::new(),
            struck: Vec::new(),
            drops: Vec::new(),
            refreshed: None,
            stale: false,
            last_error: None,
            turn: 0,
        }
    }

    /// The sources that can serve now, preferred first (those known to hold the album's items).
    /// A source not listed is forgotten; one that struck out stays out.
    pub fn on_sources(&mut self, now: Instant, ids: &[SourceId]) {
        self.refreshed = Some(now);
        self.stale = false;
        let mut old = std::mem::take(&mut self.sources);
        for id in ids {
            if self.struck.contains(id) || self.sources.iter().any(|s| s.id == *id) {
                continue;
            }
            let s = match old.iter().position(|s| s.id == *id) {
                Some(k) => old.swap_remove(k),
                None => Source::new(*id),
            };
            self.sources.push(s);
        }
    }

    /// The answer to [`Step::AskHashes`]: on success, which chunks are already verified on disk.
    pub fn on_hashes(&mut self, now: Instant, source: SourceId, result: Result<Vec<bool>, Fault>) {
        if self.asking == Some(source) {
            self.asking = None;
        }
        match result {
            Ok(have) if !self.hashed => {
                self.hashed = true;
                self.pending = missing_runs(&have, self.chunks);
                // Members dialled when the fetch began may be connected now: look again.
                self.refreshed = None;
                if let Some(s) = self.source(source) {
                    s.holds = Holds::Yes;
                }
            }
            Ok(_) => {}
            Err(f) => self.fault(now, source, f),
        }
    }

    /// The answer to [`Step::Request`]: `written` chunks from the run's start were verified and
    /// written; `result` says whether the whole run came.
    pub fn on_run_done(
        &mut self,
        now: Instant,
        source: SourceId,
        run: Run,
        written: u64,
        result: Result<(), Fault>,
    ) {
        self.running = self.running.saturating_sub(1);
        let written = written.min(run.n);
        if written < run.n {
            // The rest goes next, in order.
            self.pending.push(Run {
                from: run.from + written,
                n: run.n - written,
            });
        }
        if let Some(s) = self.source(source) {
            s.runs = s.runs.saturating_sub(1);
            if written > 0 {
                s.holds = Holds::Yes;
            }
        }
        if let Err(f) = result {
            self.fault(now, source, f);
        }
    }

    /// A player wants chunk `w`: it comes next, then the chunks after it (a player reads on),
    /// then the earlier ones.
    pub fn on_wish(&mut self, w: u64) {
        prioritise(&mut self.pending, w);
    }

    /// Bad chunks counted against a source.
    pub fn strikes(&self, source: SourceId) -> u32 {
        if self.struck.contains(&source) {
            return STRIKES;
        }
        self.sources
            .iter()
            .find(|s| s.id == source)
            .map_or(0, |s| s.strikes)
    }

    /// What to do next. Call it until it returns [`Step::Wait`] (or the end), feeding results
    /// in between.
    pub fn next(&mut self, now: Instant) -> Step {
        if let Some(s) = self.drops.pop() {
            return Step::Drop(s);
        }
        if self.hashed && self.pending.is_empty() && self.running == 0 {
            return Step::Finished;
        }
        let pick = self.pick(now);
        if self.refresh_due(now, pick.is_some()) {
            self.refreshed = Some(now);
            self.stale = false;
            return Step::RefreshSources;
        }
        if let Some(k) = pick {
            let id = self.sources[k].id;
            if !self.hashed {
                self.asking = Some(id);
                return Step::AskHashes(id);
            }
            if let Some(run) = self.pending.pop() {
                self.sources[k].runs += 1;
                self.running += 1;
                self.turn += 1;
                return Step::Request(id, run);
            }
        }
        let busy = self.running > 0 || self.asking.is_some();
        if !busy && now >= self.deadline {
            let last = self.last_error.as_ref().map_or_else(
                || "no member of the album is online".to_string(),
                |f| f.to_string(),
            );
            return Step::Failed(if self.hashed {
                Failure::NoChunks(last)
            } else {
                Failure::NoHashes(last)
            });
        }
        Step::Wait(self.wake_at(now, busy))
    }

    fn source(&mut self, id: SourceId) -> Option<&mut Source> {
        self.sources.iter_mut().find(|s| s.id == id)
    }

    fn fault(&mut self, now: Instant, source: SourceId, f: Fault) {
        let struck = match self.source(source) {
            Some(s) => match f {
                Fault::NotHere => {
                    s.holds = Holds::No {
                        until: now + NOT_HERE_WAIT,
                    };
                    false
                }
                Fault::BadChunk => {
                    s.strikes += 1;
                    // Back to one request at a time until it sends a good chunk, with no
                    // rest: a liar should strike out while the fetch still runs.
                    s.holds = Holds::Unknown;
                    s.strikes >= STRIKES
                }
                Fault::Failed(_) => {
                    s.not_before = Some(now + RETRY_WAIT);
                    false
                }
            },
            None => false,
        };
        if struck {
            self.sources.retain(|s| s.id != source);
            self.struck.push(source);
            self.drops.push(source);
        }
        if matches!(f, Fault::Failed(_)) {
            self.stale = true;
        }
        self.last_error = Some(f);
    }

    /// Whether there is work that could start if a source could take it.
    fn needs_source(&self) -> bool {
        if self.hashed {
            !self.pending.is_empty() && self.running < IN_FLIGHT
        } else {
            self.asking.is_none()
        }
    }

    /// The source to ask next, if one can take work now.
    fn pick(&self, now: Instant) -> Option<usize> {
        if !self.needs_source() {
            return None;
        }
        let ready = self
            .sources
            .iter()
            .enumerate()
            .filter(|(_, s)| s.ready_at(now).is_none() && s.runs < s.capacity());
        if !self.hashed {
            // The hashes come from the first that can give them, in the preferred order.
            return ready.map(|(k, _)| k).next();
        }
        // The least busy, ties taken in turn.
        let n = self.sources.len().max(1);
        ready
            .min_by_key(|(k, s)| (s.runs, (k + n - self.turn % n) % n))
            .map(|(k, _)| k)
    }

    fn refresh_due(&self, now: Instant, can_work: bool) -> bool {
        let Some(t) = self.refreshed else {
            return true;
        };
        let since = now.saturating_duration_since(t);
        since >= REFRESH_EVERY
            || (since >= REFRESH_WAIT && (self.stale || (self.needs_source() && !can_work)))
    }

    /// When to look again if no result comes first.
    fn wake_at(&self, now: Instant, busy: bool) -> Instant {
        let refreshed = self.refreshed.unwrap_or(now);
        let mut at = refreshed + REFRESH_EVERY;
        if self.needs_source() || self.stale {
            at = at.min(refreshed + REFRESH_WAIT);
        }
        if self.needs_source() {
            for s in &self.sources {
                if let Some(t) = s.ready_at(now) {
                    at = at.min(t);
                }
            }
        }
        if !busy {
            at = at.min(self.deadline);
        }
        at.max(now)
    }
}

/// Runs of consecutive missing chunks, at most [`RUN`] long, lowest on top.
fn missing_runs(have: &[bool], chunks: u64) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for i in (0..chunks).filter(|i| !have.get(*i as usize).copied().unwrap_or(false)) {
        match runs.last_mut() {
            Some(r) if r.from + r.n == i && r.n < RUN => r.n += 1,
            _ => runs.push(Run { from: i, n: 1 }),
        }
    }
    runs.reverse();
    runs
}

/// Reorders the pending runs (a stack, next on top) so that chunk `w` comes next and the
/// chunks after it follow in order, the earlier ones after those.
fn prioritise(pending: &mut Vec<Run>, w: u64) {
    let Some(k) = pending.iter().position(|r| r.from <= w && w < r.from + r.n) else {
        return; // in flight or done already
    };
    let r = pending[k];
    if r.from < w {
        pending[k] = Run {
            from: r.from,
            n: w - r.from,
        };
        pending.push(Run {
            from: w,
            n: r.from + r.n - w,
        });
    }
    let (mut upper, mut lower): (Vec<_>, Vec<_>) = pending.drain(..).partition(|r| r.from >= w);
    upper.sort_by_key(|r| std::cmp::Reverse(r.from));
    lower.sort_by_key(|r| std::cmp::Reverse(r.from));
    pending.extend(lower);
    pending.extend(upper);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_proto::hash::sha256;

    const A: SourceId = SourceId(1);
    const B: SourceId = SourceId(2);

    fn base() -> Instant {
        Instant::now()
    }

    /// A plan of `chunks` chunks, sources `ids` listed, hashes from the first: the state in
    /// which runs are handed out.
    fn hashed(t: Instant, chunks: u64, have: Vec<bool>, ids: &[SourceId]) -> FetchPlan {
        let mut p = FetchPlan::new(chunks, t + Duration::from_secs(30));
        assert_eq!(p.next(t), Step::RefreshSources);
        p.on_sources(t, ids);
        assert_eq!(p.next(t), Step::AskHashes(ids[0]));
        p.on_hashes(t, ids[0], Ok(have));
        // With the hashes in hand it looks for sources again before handing out runs.
        match p.next(t) {
            Step::RefreshSources => p.on_sources(t, ids),
            Step::Finished => {}
            s => panic!("expected a refresh, got {s:?}"),
        }
        p
    }

    /// Steps until the plan waits, collected.
    fn steps(p: &mut FetchPlan, now: Instant) -> Vec<Step> {
        let mut out = Vec::new();
        loop {
            let s = p.next(now);
            let stop = matches!(s, Step::Wait(_) | Step::Finished | Step::Failed(_));
            out.push(s);
            if stop || out.len() > 100 {
                return out;
            }
        }
    }

    fn requests(steps: &[Step]) -> Vec<(SourceId, Run)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Request(id, r) => Some((*id, *r)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_plan_asks_for_the_sources_then_for_the_hashes_from_the_first_one_only() {
        let t = base();
        let mut p = FetchPlan::new(10, t + Duration::from_secs(30));
        assert_eq!(p.next(t), Step::RefreshSources);
        p.on_sources(t, &[B, A]);
        assert_eq!(p.next(t), Step::AskHashes(B));
        // One hashes request at a time.
        assert!(matches!(p.next(t), Step::Wait(_)));
    }

    #[test]
    fn only_missing_chunks_are_requested_in_runs_of_at_most_run_lowest_first() {
        let t = base();
        let mut have = vec![false; 12];
        have[1] = true;
        have[2] = true;
        let mut p = hashed(t, 12, have, &[A]);
        let got = requests(&steps(&mut p, t));
        let runs: Vec<(u64, u64)> = got.iter().map(|(_, r)| (r.from, r.n)).collect();
        // IN_FLIGHT runs out at once: 0, then 3..7, 7..11, 11.
        assert_eq!(runs, vec![(0, 1), (3, 4), (7, 4), (11, 1)]);
        assert_eq!(got.len(), IN_FLIGHT);
    }

    #[test]
    fn no_more_than_in_flight_runs_are_out_and_a_finished_run_frees_a_place() {
        let t = base();
        let mut p = hashed(t, 100, vec![false; 100], &[A]);
        let first = requests(&steps(&mut p, t));
        assert_eq!(first.len(), IN_FLIGHT);
        p.on_run_done(t, A, first[0].1, first[0].1.n, Ok(()));
        let more = requests(&steps(&mut p, t));
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].1.from, IN_FLIGHT as u64 * RUN);
    }

    #[test]
    fn every_chunk_verified_on_disk_finishes_without_a_request() {
        let t = base();
        let mut p = hashed(t, 5, vec![true; 5], &[A]);
        assert_eq!(p.next(t), Step::Finished);
    }

    #[test]
    fn two_sources_holding_the_item_share_the_runs() {
        let t = base();
        let mut p = hashed(t, 100, vec![false; 100], &[A, B]);
        // B proves it holds the item with its one probe run.
        let got = requests(&steps(&mut p, t));
        let to_b: Vec<_> = got.iter().filter(|(id, _)| *id == B).collect();
        assert_eq!(to_b.len(), 1, "an unproven source gets one run: {got:?}");
        p.on_run_done(t, B, to_b[0].1, to_b[0].1.n, Ok(()));
        for (id, r) in got.iter().filter(|(id, _)| *id == A) {
            p.on_run_done(t, *id, *r, r.n, Ok(()));
        }
        let got = requests(&steps(&mut p, t));
        let (a, b) = (
            got.iter().filter(|(id, _)| *id == A).count(),
            got.iter().filter(|(id, _)| *id == B).count(),
        );
        assert_eq!((a, b), (IN_FLIGHT / 2, IN_FLIGHT / 2), "{got:?}");
    }

    #[test]
    fn a_source_that_answers_not_shared_gets_nothing_until_not_here_wait_has_passed() {
        let t = base();
        let mut p = FetchPlan::new(40, t + Duration::from_secs(30));
        p.next(t);
        p.on_sources(t, &[B, A]);
        assert_eq!(p.next(t), Step::AskHashes(B));
        p.on_hashes(t, B, Err(Fault::NotHere));
        assert_eq!(p.next(t), Step::AskHashes(A));
        p.on_hashes(t, A, Ok(vec![false; 40]));
        // Through a refresh that lists it again, B gets no run.
        let mut now = t;
        let mut to_b = 0;
        while now < t + NOT_HERE_WAIT - Duration::from_millis(1) {
            for s in steps(&mut p, now) {
                match s {
                    Step::RefreshSources => p.on_sources(now, &[B, A]),
                    Step::Request(id, r) => {
                        to_b += usize::from(id == B);
                        p.on_run_done(now, id, r, r.n, Ok(()));
                    }
                    _ => {}
                }
            }
            now += Duration::from_millis(500);
            if p.pending.is_empty() {
                p.pending = missing_runs(&[false; 40], 40); // keep it busy
            }
        }
        assert_eq!(to_b, 0);
        // After the wait it may be asked once more (it may have finished its own copy).
        let now = t + NOT_HERE_WAIT + Duration::from_millis(1);
        p.on_sources(now, &[B, A]);
        let got = requests(&steps(&mut p, now));
        assert_eq!(got.iter().filter(|(id, _)| *id == B).count(), 1, "{got:?}");
    }

    #[test]
    fn three_bad_chunks_drop_a_source_for_good_even_when_it_is_listed_again() {
        let t = base();
        let mut p = hashed(t, 100, vec![false; 100], &[A, B]);
        let mut now = t;
        let mut dropped = Vec::new();
        for _ in 0..50 {
            for s in steps(&mut p, now) {
                match s {
                    Step::Request(id, r) if id == B => {
                        p.on_run_done(now, B, r, 0, Err(Fault::BadChunk))
                    }
                    Step::Drop(id) => dropped.push(id),
                    Step::RefreshSources => p.on_sources(now, &[A, B]),
                    _ => {}
                }
            }
            now += RETRY_WAIT;
        }
        assert_eq!(dropped, vec![B]);
        assert_eq!(p.strikes(B), STRIKES);
        assert!(p.sources.iter().all(|s| s.id != B));
    }

    #[test]
    fn a_run_cut_short_is_asked_for_again_from_where_it_stopped_and_the_source_rests() {
        let t = base();
        let mut p = hashed(t, 4, vec![false; 4], &[A]);
        let got = requests(&steps(&mut p, t));
        assert_eq!(got, vec![(A, Run { from: 0, n: 4 })]);
        p.on_run_done(t, A, got[0].1, 1, Err(Fault::Failed("reset".into())));
        // Not again at once...
        assert!(requests(&steps(&mut p, t)).is_empty());
        // ...but after the retry wait (and a refresh, since it failed).
        let now = t + RETRY_WAIT;
        assert_eq!(p.next(now), Step::RefreshSources);
        p.on_sources(now, &[A]);
        assert_eq!(p.next(now), Step::Request(A, Run { from: 1, n: 3 }));
    }

    #[test]
    fn with_no_source_the_item_fails_at_the_deadline_saying_what_went_wrong_last() {
        let t = base();
        let deadline = t + Duration::from_secs(5);
        let mut p = FetchPlan::new(4, deadline);
        p.next(t);
        p.on_sources(t, &[]);
        let Step::Wait(w) = p.next(t) else {
            panic!("should wait")
        };
        assert!(w <= t + REFRESH_WAIT);
        // One last look for sources at the deadline, then it gives up.
        assert_eq!(p.next(deadline), Step::RefreshSources);
        p.on_sources(deadline, &[]);
        assert_eq!(
            p.next(deadline),
            Step::Failed(Failure::NoHashes("no member of the album is online".into()))
        );
        let mut p = hashed(t, 4, vec![false; 4], &[A]);
        let got = requests(&steps(&mut p, t));
        p.on_run_done(t, A, got[0].1, 0, Err(Fault::NotHere));
        let mut now = t;
        let failed = loop {
            match p.next(now) {
                Step::Failed(f) => break f,
                Step::RefreshSources => p.on_sources(now, &[A]),
                Step::Request(id, r) => p.on_run_done(now, id, r, 0, Err(Fault::NotHere)),
                Step::Wait(w) => now = w,
                s => panic!("unexpected {s:?}"),
            }
        };
        assert!(now >= deadline);
        assert_eq!(failed, Failure::NoChunks(Fault::NotHere.to_string()));
    }

    #[test]
    fn a_fetch_still_receiving_at_the_deadline_goes_on() {
        let t = base();
        let mut p = hashed(t, 100, vec![false; 100], &[A]);
        let got = requests(&steps(&mut p, t));
        let late = t + Duration::from_secs(60);
        p.on_run_done(late, A, got[0].1, got[0].1.n, Ok(()));
        let next = steps(&mut p, late);
        assert!(
            !next.iter().any(|s| matches!(s, Step::Failed(_))),
            "{next:?}"
        );
        assert!(!requests(&next).is_empty());
    }

    #[test]
    fn a_wished_chunk_comes_next_then_the_ones_after_it_then_the_earlier_ones() {
        let r = |from, n| Run { from, n };
        // Runs of four from chunk 0 to 15, next on top (lowest first).
        let mut pending = missing_runs(&[false; 16], 16);
        assert_eq!(pending, vec![r(12, 4), r(8, 4), r(4, 4), r(0, 4)]);
        prioritise(&mut pending, 9);
        let order: Vec<_> = pending.iter().rev().copied().collect();
        assert_eq!(order, vec![r(9, 3), r(12, 4), r(0, 4), r(4, 4), r(8, 1)]);
        // A chunk already in flight changes nothing.
        let before = pending.clone();
        prioritise(&mut pending, 100);
        assert_eq!(pending, before);
    }

    /// What a fake source does with a request.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Serves {
        /// The right bytes.
        Good,
        /// Hashes, then chunks whose first byte is flipped (a peer that lies).
        Corrupt,
        /// `not_shared` to everything (an audience member who holds nothing yet).
        Nothing,
    }

    /// A request answered at `at`.
    enum Answer {
        Hashes(SourceId),
        Run(SourceId, Run),
    }

    /// One receiver and fake sources, driven by the real plan with a fake clock: each source
    /// serves its requests one after another over its own link.
    struct Sim {
        t0: Instant,
        now: Instant,
        plan: FetchPlan,
        sources: Vec<(SourceId, Serves)>,
        busy_until: Vec<Instant>,
        data: Vec<Vec<u8>>,
        hashes: Vec<[u8; 32]>,
        disk: Vec<Option<Vec<u8>>>,
        answers: Vec<(Instant, Answer)>,
        asked: Vec<SourceId>,
        dropped: Vec<SourceId>,
        bad_chunks_seen: u32,
    }

    /// Round trip of one request.
    const RTT: Duration = Duration::from_millis(1);
    /// Time one source needs to send one chunk.
    const PER_CHUNK: Duration = Duration::from_millis(4);

    impl Sim {
        fn new(chunks: u64, sources: &[(SourceId, Serves)]) -> Sim {
            let t0 = base();
            let data: Vec<Vec<u8>> = (0..chunks)
                .map(|i| (0..64).map(|k| (i * 7 + k) as u8).collect())
                .collect();
            Sim {
                t0,
                now: t0,
                plan: FetchPlan::new(chunks, t0 + Duration::from_secs(30)),
                sources: sources.to_vec(),
                busy_until: vec![t0; sources.len()],
                hashes: data.iter().map(|d| sha256(d)).collect(),
                data,
                disk: vec![None; chunks as usize],
                answers: Vec::new(),
                asked: Vec::new(),
                dropped: Vec::new(),
                bad_chunks_seen: 0,
            }
        }

        fn serves(&self, id: SourceId) -> (usize, Serves) {
            let k = self
                .sources
                .iter()
                .position(|s| s.0 == id)
                .expect("known source");
            (k, self.sources[k].1)
        }

        /// Queues the answer of a source on its link.
        fn send(&mut self, id: SourceId, chunks: u64, a: Answer) {
            let (k, serves) = self.serves(id);
            let chunks = if serves == Serves::Nothing { 0 } else { chunks };
            let start = self.busy_until[k].max(self.now);
            let at = start + RTT + PER_CHUNK * chunks as u32;
            self.busy_until[k] = at;
            self.asked.push(id);
            self.answers.push((at, a));
        }

        /// What the executor does with an answer: check every chunk, write the good ones.
        fn deliver(&mut self, a: Answer) {
            let now = self.now;
            match a {
                Answer::Hashes(id) => {
                    let result = match self.serves(id).1 {
                        Serves::Nothing => Err(Fault::NotHere),
                        _ => Ok(self.disk.iter().map(Option::is_some).collect()),
                    };
                    self.plan.on_hashes(now, id, result);
                }
                Answer::Run(id, run) => {
                    if self.dropped.contains(&id) {
                        // Its connection was closed: the run comes back unserved.
                        let f = Fault::Failed("closed".into());
                        return self.plan.on_run_done(now, id, run, 0, Err(f));
                    }
                    let serves = self.serves(id).1;
                    if serves == Serves::Nothing {
                        return self.plan.on_run_done(now, id, run, 0, Err(Fault::NotHere));
                    }
                    let mut written = 0;
                    for i in run.from..run.from + run.n {
                        let mut chunk = self.data[i as usize].clone();
                        if serves == Serves::Corrupt {
                            chunk[0] ^= 0xff;
                        }
                        if sha256(&chunk) != self.hashes[i as usize] {
                            self.bad_chunks_seen += 1;
                            return self.plan.on_run_done(
                                now,
                                id,
                                run,
                                written,
                                Err(Fault::BadChunk),
                            );
                        }
                        self.disk[i as usize] = Some(chunk);
                        written += 1;
                    }
                    self.plan.on_run_done(now, id, run, written, Ok(()));
                }
            }
        }

        /// Runs the fetch to its end; gives how long it took on the fake clock.
        fn run(&mut self, listed: impl Fn(Duration) -> Vec<SourceId>) -> Result<Duration, Failure> {
            for _ in 0..100_000 {
                match self.plan.next(self.now) {
                    Step::RefreshSources => {
                        let ids: Vec<SourceId> = listed(self.now - self.t0)
                            .into_iter()
                            .filter(|id| !self.dropped.contains(id))
                            .collect();
                        self.plan.on_sources(self.now, &ids);
                    }
                    Step::AskHashes(id) => self.send(id, 0, Answer::Hashes(id)),
                    Step::Request(id, run) => {
                        assert!(!self.dropped.contains(&id), "a dropped source was asked");
                        self.send(id, run.n, Answer::Run(id, run));
                    }
                    Step::Drop(id) => self.dropped.push(id),
                    Step::Wait(until) => {
                        let first = self.answers.iter().map(|a| a.0).min();
                        let to = first.map_or(until, |f| f.min(until));
                        assert!(to > self.now || first == Some(self.now), "a busy loop");
                        self.now = to;
                        let (due, later) = std::mem::take(&mut self.answers)
                            .into_iter()
                            .partition(|a| a.0 <= self.now);
                        self.answers = later;
                        for (_, a) in due {
                            self.deliver(a);
                        }
                    }
                    Step::Finished => return Ok(self.now - self.t0),
                    Step::Failed(f) => return Err(f),
                }
            }
            panic!("the fetch never ended");
        }

        fn every_chunk_verified(&self) -> bool {
            self.disk
                .iter()
                .zip(&self.hashes)
                .all(|(c, h)| c.as_ref().is_some_and(|c| sha256(c) == *h))
        }

        fn requests_to(&self, id: SourceId) -> usize {
            self.asked.iter().filter(|a| **a == id).count()
        }
    }

    #[test]
    fn a_fetch_from_two_sources_with_one_striking_out_finishes_from_the_other_all_verified() {
        // The liar is listed first, so it gives the hashes and is trusted with runs at first.
        let (liar, good) = (SourceId(7), SourceId(8));
        let mut sim = Sim::new(64, &[(liar, Serves::Corrupt), (good, Serves::Good)]);
        let took = sim.run(|_| vec![liar, good]).expect("the fetch finishes");
        assert!(sim.every_chunk_verified());
        assert_eq!(sim.dropped, vec![liar]);
        assert_eq!(sim.plan.strikes(liar), STRIKES);
        assert!(sim.bad_chunks_seen >= STRIKES);
        // Once struck out it is asked for nothing; it got at most its strikes plus what was
        // already in flight.
        assert!(sim.requests_to(liar) <= 1 + STRIKES as usize + IN_FLIGHT);
        // The good source alone needs 64 * 4 ms; the liar cost little on top.
        assert!(took < Duration::from_millis(400), "took {took:?}");
    }

    #[test]
    fn an_audience_member_holding_nothing_costs_the_fetch_no_time() {
        let (empty, owner) = (SourceId(1), SourceId(2));
        // 1024 chunks take the owner about 4 s: long enough for the sources to be refreshed.
        let mut alone = Sim::new(1024, &[(owner, Serves::Good)]);
        let t_alone = alone.run(|_| vec![owner]).expect("alone");
        // The empty member is listed first: asked first for the hashes.
        let mut both = Sim::new(1024, &[(empty, Serves::Nothing), (owner, Serves::Good)]);
        let t_both = both
            .run(|_| vec![empty, owner])
            .expect("with an empty member");
        assert!(both.every_chunk_verified());
        assert_eq!(both.requests_to(empty), 1, "asked once, then left alone");
        assert!(
            t_both <= t_alone + 2 * RTT,
            "{t_both:?} against {t_alone:?}"
        );
        // Coming online mid-fetch, it gets one probe run and nothing after.
        let mut late = Sim::new(1024, &[(empty, Serves::Nothing), (owner, Serves::Good)]);
        let t_late = late
            .run(|at| {
                if at < Duration::from_millis(100) {
                    vec![owner]
                } else {
                    vec![empty, owner]
                }
            })
            .expect("with a member joining");
        assert!(late.every_chunk_verified());
        assert_eq!(late.requests_to(empty), 1);
        assert!(
            t_late <= t_alone + 2 * RTT,
            "{t_late:?} against {t_alone:?}"
        );
    }

    #[test]
    fn a_second_source_holding_the_item_makes_the_fetch_faster() {
        let (a, b) = (SourceId(1), SourceId(2));
        let mut one = Sim::new(256, &[(a, Serves::Good)]);
        let t_one = one.run(|_| vec![a]).expect("one");
        let mut two = Sim::new(256, &[(a, Serves::Good), (b, Serves::Good)]);
        let t_two = two.run(|_| vec![a, b]).expect("two");
        assert!(two.every_chunk_verified());
        assert!(two.requests_to(b) > 10);
        assert!(t_two * 10 < t_one * 7, "{t_two:?} against {t_one:?}");
    }
}
