//! Installing the Firefox native-messaging manifest, and `kith doctor`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::home::Home;

const TEMPLATE: &str = include_str!("../../manifests/kith.json.in");

/// Where Firefox looks for this user's native-messaging manifests.
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
pub fn manifest_path() -> Result<PathBuf> {
    Ok(manifest_dir()?.join(format!("{}.json", crate::HOST_NAME)))
}

fn json_escape(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    q[1..q.len() - 1].to_string()
}

/// The manifest text for a binary path.
pub fn manifest_text(binary: &std::path::Path) -> Result<String> {
    let path = binary
        .to_str()
        .context("the binary's path is not valid UTF-8")?;
    let text = TEMPLATE
        .replace("@NAME@", crate::HOST_NAME)
        .replace("@PATH@", &json_escape(path))
        .replace("@ADDON_ID@", crate::ADDON_ID);
    serde_json::from_str::<Value>(&text).context("manifest template produced bad JSON")?;
    Ok(text)
}

/// Writes the manifest for the running binary; returns its path.
pub fn install() -> Result<PathBuf> {
    let exe = std::env::current_exe()?.canonicalize()?;
    let path = manifest_path()?;
    std::fs::create_dir_all(manifest_dir()?)?;
    crate::home::write_atomic(&path, manifest_text(&exe)?.as_bytes(), 0o644)?;
    Ok(path)
}

/// Removes the manifest; true when there was one.
pub fn uninstall() -> Result<bool> {
    let path = manifest_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// One finding of `doctor`.
pub struct Finding {
    /// True when all is well.
    pub ok: bool,
    /// What was checked and found.
    pub text: String,
}

fn check(ok: bool, text: impl Into<String>) -> Finding {
    Finding {
        ok,
        text: text.into(),
    }
}

/// Checks the manifest and the home (no node needed).
pub fn doctor_offline(home: &Home) -> Vec<Finding> {
    use std::os::unix::fs::PermissionsExt;
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
                            let exists = std::fs::metadata(bin)
                                .map(|md| md.is_file() && md.permissions().mode() & 0o111 != 0);
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
    if let Ok(md) = std::fs::metadata(home.key_path()) {
        let mode = md.permissions().mode() & 0o777;
        out.push(check(
            mode & 0o077 == 0,
            format!("key file mode {mode:o} (must be readable only by you)"),
        ));
    }
    out
}

/// Explains each friend's reachability from the node's friends list.
pub fn doctor_friends(friends: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in friends.as_array().cloned().unwrap_or_default() {
        let name = f["name"].as_str().unwrap_or("?");
        if f["online"] == Value::Bool(true) {
            out.push(check(true, format!("friend {name} is connected")));
            continue;
        }
        let addrs: Vec<String> = f["addrs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let why = if addrs.is_empty() {
            "no address is known".to_string()
        } else {
            let last = f["last_error"].as_str().unwrap_or("not tried yet");
            format!("tried {}: {last}", addrs.join(", "))
        };
        out.push(check(false, format!("friend {name} is unreachable: {why}")));
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
}
