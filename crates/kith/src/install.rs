//! Installing the Firefox native-messaging manifest, and `kith doctor`.

#[cfg(not(windows))]
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use kith_node::home::Home;
use kith_proto::api::reply::{Friend, LinkPath, ReachState};

#[cfg(windows)]
pub use crate::install_windows::{install, manifest_dir, manifest_path, uninstall};

/// Where Firefox looks for this user's native-messaging manifests.
#[cfg(not(windows))]
pub fn manifest_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set")?;
    let home = PathBuf::from(home);
    Ok(if cfg!(target_os = "macos") {
        home.join("Library/Application Support/Mozilla/NativeMessagingHosts")
    } else {
        home.join(".mozilla/native-messaging-hosts")
    })
}

/// The manifest file path.
#[cfg(not(windows))]
pub fn manifest_path() -> Result<PathBuf> {
    Ok(manifest_dir()?.join(format!("{}.json", crate::HOST_NAME)))
}

/// The manifest text for a binary path.
pub fn manifest_text(binary: &std::path::Path) -> Result<String> {
    let path = binary
        .to_str()
        .context("the binary's path is not valid UTF-8")?;
    let manifest = serde_json::json!({
        "name": crate::HOST_NAME,
        "description": "Kith: share photos, videos and files straight with friends",
        "path": path,
        "type": "stdio",
        "allowed_extensions": [crate::ADDON_ID],
    });
    let mut text = serde_json::to_string_pretty(&manifest)?;
    text.push('\n');
    Ok(text)
}

/// Writes the manifest for the running binary; returns its path.
#[cfg(not(windows))]
pub fn install() -> Result<PathBuf> {
    let exe = std::env::current_exe()?.canonicalize()?;
    let path = manifest_path()?;
    std::fs::create_dir_all(manifest_dir()?)?;
    kith_node::home::write_atomic(&path, manifest_text(&exe)?.as_bytes(), 0o644)?;
    Ok(path)
}

/// Removes the manifest; true when there was one.
#[cfg(not(windows))]
pub fn uninstall() -> Result<bool> {
    let path = manifest_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Whether a file's metadata says it may run (on Windows any file: `.exe` is a name).
fn executable(md: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    return std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o111 != 0;
    #[cfg(windows)]
    return md.is_file();
}

/// One finding of `doctor`.
pub struct Finding {
    /// True when all is well.
    pub ok: bool,
    /// What was checked and found.
    pub text: String,
    /// Advice printed on the line after, indented (none for most findings).
    pub hint: Option<String>,
}

impl Finding {
    /// A finding that is all well.
    pub fn ok(text: impl Into<String>) -> Self {
        check(true, text)
    }

    /// A problem.
    pub fn problem(text: impl Into<String>) -> Self {
        check(false, text)
    }

    /// The finding as printed: `ok  …` or `!!  …`, then the hint indented by 4 spaces.
    pub fn lines(&self) -> String {
        let mut s = format!("{} {}", if self.ok { "ok " } else { "!! " }, self.text);
        if let Some(h) = &self.hint {
            s.push_str("\n    ");
            s.push_str(h);
        }
        s
    }
}

fn check(ok: bool, text: impl Into<String>) -> Finding {
    Finding {
        ok,
        text: text.into(),
        hint: None,
    }
}

/// Checks the manifest and the home (no node needed).
pub fn doctor_offline(home: &Home) -> Vec<Finding> {
    let mut out = Vec::new();
    match manifest_path() {
        Err(e) => out.push(check(
            false,
            format!("cannot locate the manifest folder: {e}"),
        )),
        Ok(path) => {
            match std::fs::read_to_string(&path) {
                Err(_) => out.push(check(
                    false,
                    format!(
                        "no native-messaging manifest at {}: run `kith install`",
                        path.display()
                    ),
                )),
                Ok(text) => {
                    match serde_json::from_str::<Value>(&text) {
                        Err(e) => out.push(check(
                            false,
                            format!(
                                "{} is not valid JSON ({e}): run `kith install`",
                                path.display()
                            ),
                        )),
                        Ok(m) => {
                            out.push(check(true, format!("manifest found at {}", path.display())));
                            let bin = m["path"].as_str().unwrap_or_default();
                            let exists =
                                std::fs::metadata(bin).map(|md| md.is_file() && executable(&md));
                            out.push(match exists {
                        Ok(true) => check(true, format!("the manifest points at {bin}")),
                        _ => check(false, format!("the manifest points at {bin:?}, which is not an executable: run `kith install`")),
                    });
                            let me = std::env::current_exe()
                                .ok()
                                .and_then(|p| p.canonicalize().ok());
                            if let Some(me) = me {
                                if std::path::Path::new(bin) != me {
                                    out.push(check(true, format!("note: this kith is {}, the manifest names another binary", me.display())));
                                }
                            }
                            let ids = m["allowed_extensions"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default();
                            out.push(if ids.iter().any(|i| i == crate::ADDON_ID) {
                                check(true, format!("the manifest allows {}", crate::ADDON_ID))
                            } else {
                                check(
                                    false,
                                    format!(
                                        "the manifest does not allow {}: run `kith install`",
                                        crate::ADDON_ID
                                    ),
                                )
                            });
                        }
                    }
                }
            }
        }
    }
    if !home.dir.is_dir() {
        out.push(check(
            false,
            format!(
                "the Kith home {} does not exist: run `kith init --name NAME`",
                home.dir.display()
            ),
        ));
        return out;
    }
    if !home.initialized() {
        out.push(check(
            false,
            format!(
                "{} has no identity: run `kith init --name NAME`",
                home.dir.display()
            ),
        ));
        return out;
    }
    match home.identity() {
        Ok(id) => out.push(check(
            true,
            format!("identity {} in {}", id.peer_id(), home.dir.display()),
        )),
        Err(e) => out.push(check(false, format!("{e:#}"))),
    }
    #[cfg(unix)] // Windows has no modes; the home inherits the profile's private access list
    if let Ok(md) = std::fs::metadata(home.key_path()) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o777;
        out.push(check(
            mode & 0o077 == 0,
            format!("key file mode {mode:o} (must be readable only by you)"),
        ));
    }
    // The whole home: the store holds invite and reach secrets.
    let loose = kith_node::home::loose_entries(&home.dir);
    if loose.is_empty() {
        out.push(check(true, "the home is readable only by you"));
    }
    for (p, mode) in loose {
        out.push(check(
            false,
            format!(
                "{} has mode {mode:o}: other users can read it (the node makes it yours only when it starts; or chmod go-rwx it)",
                p.display()
            ),
        ));
    }
    out
}

/// What `doctor` says to each friend who cannot be reached.
pub const UNREACHABLE_HINT: &str = "they may be offline; behind a router, Kith finds them \
on your network, through their address record on the DHT, through their router's port \
mapping (UPnP-IGD, NAT-PMP or PCP), or with the help of a friend you both have (hole \
punching, or a relay if that friend runs `kith settings --help-friends on`)";

/// What `doctor` says about how friends can reach this node, from `status.reach`.
pub fn doctor_reach(reach: &ReachState) -> Finding {
    let mut text = match reach.mapped {
        Some(m) => format!("your router maps your port: friends can reach you at {m}"),
        None => "no port mapping (your router offers no UPnP-IGD, NAT-PMP or PCP, or has it off)"
            .to_string(),
    };
    if let Some(p) = reach.public.filter(|p| Some(*p) != reach.mapped) {
        text.push_str(&format!("; friends see you at {p}"));
    }
    text.push_str(&format!("; address record on the DHT: {}", reach.dht));
    Finding::ok(text)
}

/// How a connected friend is connected, from `path` (API.md §4 `friends`).
fn path_words(path: LinkPath) -> &'static str {
    match path {
        LinkPath::Lan => "on the same network",
        LinkPath::Direct => "directly",
        LinkPath::Punched => "through a hole punched in the routers",
        LinkPath::Mapped => "through a router's port mapping",
        LinkPath::Relayed => "relayed through a friend",
        LinkPath::Unreachable => "",
    }
}

/// Explains each friend's reachability from the node's friends list: first the connected
/// friends, one `ok` line each with how they are connected; then each friend who is not
/// online, one `!!` line each with the addresses tried and the last error, and a hint.
pub fn doctor_friends(friends: &[Friend]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in friends.iter().filter(|f| f.online) {
        let name = &f.name;
        let how = path_words(f.path);
        out.push(Finding::ok(if how.is_empty() {
            format!("friend {name} is connected")
        } else {
            format!("friend {name} is connected {how}")
        }));
    }
    for f in friends.iter().filter(|f| !f.online) {
        let name = &f.name;
        let addrs: Vec<String> = f.addrs.iter().map(|a| a.to_string()).collect();
        let last = f.last_error.as_deref().filter(|e| !e.is_empty());
        let mut why = if addrs.is_empty() {
            "no address is known for them".to_string()
        } else if last.is_some() {
            format!("tried {}", addrs.join(", "))
        } else {
            format!("no dial to {} has failed yet", addrs.join(", "))
        };
        if let Some(e) = last {
            why.push_str(&format!("; last error: {e}"));
        }
        if let Some(d) = &f.dht {
            why.push_str(&format!("; its address record on the DHT: {d}"));
        }
        let mut finding = Finding::problem(format!("friend {name} is not reachable: {why}"));
        finding.hint = Some(UNREACHABLE_HINT.to_string());
        out.push(finding);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_host_binary_and_addon() {
        let t = manifest_text(std::path::Path::new("/opt/ki\"th/kith")).unwrap();
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["name"], "kith");
        assert_eq!(v["path"], "/opt/ki\"th/kith");
        assert_eq!(v["type"], "stdio");
        assert_eq!(v["allowed_extensions"][0], "kith@kith");
    }

    #[test]
    fn doctor_says_how_friends_reach_this_node() {
        let reach = |v: Value| -> ReachState { serde_json::from_value(v).unwrap() };
        let mapped = reach(serde_json::json!({"mapped": "203.0.113.2:4000",
                                              "public": "203.0.113.2:4000", "dht": "published"}));
        assert_eq!(
            doctor_reach(&mapped).lines(),
            "ok  your router maps your port: friends can reach you at 203.0.113.2:4000; \
             address record on the DHT: published"
        );
        let none = reach(
            serde_json::json!({"mapped": null, "public": "198.51.100.7:5000",
                                            "dht": "off"}),
        );
        let line = doctor_reach(&none).lines();
        assert!(line.contains("no port mapping"), "{line}");
        assert!(
            line.contains("friends see you at 198.51.100.7:5000; address record on the DHT: off")
        );
    }

    #[test]
    fn doctor_lists_connected_friends_then_each_unreachable_one_with_why() {
        let id = kith_proto::identity::Identity::generate()
            .unwrap()
            .peer_id();
        let friend =
            |name: &str, online: bool, path: &str, addrs: Value, last: Value, dht: Value| {
                serde_json::from_value::<Friend>(serde_json::json!({
                    "id": id, "name": name, "safety_number": "", "online": online, "path": path,
                    "addrs": addrs, "added_at": 0, "last_seen": 0, "verified": false,
                    "last_error": last, "dht": dht,
                }))
                .unwrap()
            };
        let friends = [
            friend(
                "Bo",
                false,
                "unreachable",
                serde_json::json!([]),
                Value::Null,
                Value::Null,
            ),
            friend(
                "Cy",
                true,
                "lan",
                serde_json::json!(["192.168.1.4:7000"]),
                Value::Null,
                Value::Null,
            ),
            friend(
                "Di",
                false,
                "unreachable",
                serde_json::json!(["203.0.113.5:7000", "10.0.0.5:7000"]),
                serde_json::json!("could not reach abc: 203.0.113.5:7000: no answer within 5s"),
                serde_json::json!("nothing found"),
            ),
            friend(
                "Ed",
                false,
                "unreachable",
                serde_json::json!(["10.0.0.6:7000"]),
                Value::Null,
                Value::Null,
            ),
        ];
        let lines: Vec<String> = doctor_friends(&friends)
            .iter()
            .map(Finding::lines)
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "ok  friend Cy is connected on the same network");
        assert_eq!(
            lines[1],
            format!(
                "!!  friend Bo is not reachable: no address is known for them\n    {UNREACHABLE_HINT}"
            )
        );
        assert!(lines[2].starts_with(
            "!!  friend Di is not reachable: tried 203.0.113.5:7000, 10.0.0.5:7000; \
             last error: could not reach abc: 203.0.113.5:7000: no answer within 5s; \
             its address record on the DHT: nothing found\n    they may be offline"
        ));
        assert!(lines[3].starts_with(
            "!!  friend Ed is not reachable: no dial to 10.0.0.6:7000 has failed yet\n"
        ));
    }
}
