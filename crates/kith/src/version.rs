//! Versions between the native host and the node: whether a running node runs this program as
//! its file is now. The host restarts a node left running by an older file at its own path
//! (`native.rs`); `kith doctor` reports the same comparison.

use std::time::{Duration, Instant};

use kith_node::home::Home;
use kith_proto::api::reply::{Binary, NodeBinary, NodeHello};
use kith_proto::api::{ApiError, Command, ErrorCode};

use crate::control::Client;
use crate::install::Finding;

/// A running node's program, as its `hello` says, against this program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The node runs this program's file as it is now, and this version.
    Current,
    /// The node runs this program's path, but the file was replaced since the node started,
    /// or the node has another version: it should be restarted.
    Stale,
    /// The node runs another program file (another build): it is left alone.
    Other(std::path::PathBuf),
    /// The node does not say which program it runs (it predates `hello.binary`), or this
    /// program cannot read its own file.
    Unknown,
}

impl Verdict {
    /// The word the host reports in `hello.node_binary` when it leaves the node running.
    pub fn as_node_binary(&self) -> NodeBinary {
        match self {
            Verdict::Current => NodeBinary::Current,
            Verdict::Stale => NodeBinary::Restarted,
            Verdict::Other(_) => NodeBinary::Other,
            Verdict::Unknown => NodeBinary::Unknown,
        }
    }
}

/// Compares the node's `hello` with this program (`me`: its file now; `my_version`).
pub fn judge(node: &NodeHello, me: Option<&Binary>, my_version: &str) -> Verdict {
    let (Some(theirs), Some(me)) = (&node.binary, me) else {
        return Verdict::Unknown;
    };
    if theirs.path != me.path {
        Verdict::Other(theirs.path.clone())
    } else if theirs.stamp != me.stamp || node.node_version != my_version {
        Verdict::Stale
    } else {
        Verdict::Current
    }
}

/// `kith doctor`'s check: does the running node run this program (the installed one)?
pub fn doctor_check(node: &NodeHello, me: Option<&Binary>) -> Finding {
    let here = me.map_or_else(|| "?".into(), |b| b.path.display().to_string());
    match judge(node, me, crate::VERSION) {
        Verdict::Current => Finding::ok(format!("the running node runs this kith ({here})")),
        Verdict::Stale => Finding::problem(format!(
            "the running node (version {}) runs an older copy of {here}, replaced since it \
             started: restart it with `kith stop` then `kith start` (the browser's helper does \
             this by itself)",
            node.node_version
        )),
        Verdict::Other(path) => Finding::problem(format!(
            "the running node runs {} (version {}), not this kith ({here}, version {})",
            path.display(),
            node.node_version,
            crate::VERSION
        )),
        Verdict::Unknown => Finding::problem(format!(
            "cannot tell which program the running node runs (version {}; this kith is {here}, \
             version {})",
            node.node_version,
            crate::VERSION
        )),
    }
}

/// `kith doctor`'s check, asked of the home's running node.
pub async fn doctor_node(home: &Home) -> Finding {
    let hello = match Client::connect(home).await {
        Ok(mut c) => {
            c.call_as::<NodeHello>(&Command::Hello { version: None })
                .await
        }
        Err(e) => Err(e),
    };
    match hello {
        Ok(h) => doctor_check(&h, kith_node::binary::this_program().as_ref()),
        Err(e) => Finding::problem(format!("the node did not answer `hello`: {}", e.message)),
    }
}

/// Asks the node to stop and waits, up to `limit`, until its process has ended and the home's
/// lock is free, so that a new node can take the home and its port.
pub async fn stop_and_wait(
    home: &Home,
    mut client: Client,
    limit: Duration,
) -> Result<(), ApiError> {
    let pid = client
        .call(&Command::Status {})
        .await
        .ok()
        .and_then(|s| s["pid"].as_u64())
        .and_then(|p| i32::try_from(p).ok());
    match client.call(&Command::Stop {}).await {
        Ok(_) => {}
        // The node may close the socket before its answer is out: it is stopping.
        Err(e) if e.code == ErrorCode::NoNode => {}
        Err(e) => return Err(e),
    }
    drop(client);
    let start = Instant::now();
    while !(pid.is_none_or(|p| !alive(p)) && lock_free(home)) {
        if start.elapsed() > limit {
            return Err(ApiError::new(
                ErrorCode::NoNode,
                format!("the old Kith node did not stop within {limit:?}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Whether a process with this pid exists.
fn alive(pid: i32) -> bool {
    u32::try_from(pid).is_ok_and(kith_node::platform::process_alive)
}

/// Whether no node holds the home's lock (FORMATS.md §1).
fn lock_free(home: &Home) -> bool {
    match std::fs::File::open(home.lock_path()) {
        Ok(f) => f.try_lock().is_ok(), // released again when `f` is dropped
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(version: &str, binary: Option<(&str, &str)>) -> NodeHello {
        NodeHello {
            node_version: version.into(),
            protocol: 1,
            binary: binary.map(|(path, stamp)| Binary {
                path: path.into(),
                stamp: stamp.into(),
            }),
        }
    }

    #[test]
    fn a_node_is_restarted_only_for_an_older_file_or_version_at_this_programs_path() {
        let me = Binary {
            path: "/usr/bin/kith".into(),
            stamp: "1:2:3:4".into(),
        };
        let v = crate::VERSION;
        let at = |stamp| Some(("/usr/bin/kith", stamp));
        assert_eq!(
            judge(&hello(v, at("1:2:3:4")), Some(&me), v),
            Verdict::Current
        );
        // The file was replaced since the node started (new inode, size or time).
        assert_eq!(
            judge(&hello(v, at("1:9:3:4")), Some(&me), v),
            Verdict::Stale
        );
        // The same file, but the node says another version.
        assert_eq!(
            judge(&hello("0.0.1", at("1:2:3:4")), Some(&me), v),
            Verdict::Stale
        );
        // Another build elsewhere is never restarted, even with another version.
        assert_eq!(
            judge(&hello("0.0.1", Some(("/home/dev/kith", "5"))), Some(&me), v),
            Verdict::Other("/home/dev/kith".into())
        );
        // A node that does not say, or a program that cannot read its own file: left alone.
        assert_eq!(judge(&hello("0.0.1", None), Some(&me), v), Verdict::Unknown);
        assert_eq!(judge(&hello(v, at("1:2:3:4")), None, v), Verdict::Unknown);
    }

    #[test]
    fn doctor_names_the_other_binary_and_says_how_to_restart_an_old_one() {
        let me = Binary {
            path: "/usr/bin/kith".into(),
            stamp: "1".into(),
        };
        let v = crate::VERSION;
        let ok = doctor_check(&hello(v, Some(("/usr/bin/kith", "1"))), Some(&me));
        assert!(ok.ok, "{}", ok.text);
        let old = doctor_check(&hello(v, Some(("/usr/bin/kith", "0"))), Some(&me));
        assert!(!old.ok && old.text.contains("kith stop"), "{}", old.text);
        let other = doctor_check(&hello(v, Some(("/opt/kith", "1"))), Some(&me));
        assert!(
            !other.ok && other.text.contains("/opt/kith") && other.text.contains("/usr/bin/kith"),
            "{}",
            other.text
        );
    }
}
