//! Texts that make the node run at login, and the Chromium-family host manifest: the systemd
//! user unit, the XDG autostart entry, and the manifest with `allowed_origins`. The `.deb`
//! ships the unit and the manifests made here (committed under `packaging/`).

use std::path::{Path, PathBuf};

use thiserror::Error;

/// A binary path that cannot be written into a unit, an autostart entry or a manifest.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ServiceError {
    /// systemd and the XDG spec want an absolute program path.
    #[error("the binary's path {0:?} is not absolute")]
    NotAbsolute(PathBuf),
    /// These files are UTF-8 text; a path that is not cannot be written into them.
    #[error("the binary's path {0:?} is not valid UTF-8")]
    NotUtf8(PathBuf),
    /// A path with a line break would end the line it is written on.
    #[error("the binary's path {0:?} holds a line break")]
    LineBreak(PathBuf),
}

/// The binary's path as text, checked for what every file here needs.
fn path_text(binary: &Path) -> Result<&str, ServiceError> {
    if !binary.is_absolute() {
        return Err(ServiceError::NotAbsolute(binary.to_path_buf()));
    }
    let text = binary
        .to_str()
        .ok_or_else(|| ServiceError::NotUtf8(binary.to_path_buf()))?;
    if text.contains(['\n', '\r']) {
        return Err(ServiceError::LineBreak(binary.to_path_buf()));
    }
    Ok(text)
}

/// The path as one word of a unit's command line: `%` and `$` doubled (specifiers and
/// variables), and quoted with `\` and `"` escaped when it holds a space, quote or backslash.
fn systemd_word(path: &str) -> String {
    let plain = path.replace('%', "%%").replace('$', "$$");
    if plain.contains([' ', '\t', '"', '\'', '\\']) {
        format!("\"{}\"", plain.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        plain
    }
}

/// A systemd user unit that runs `BINARY serve` in the foreground (its logs go to the journal),
/// restarted on failure. Hardening is limited to what keeps the user's files reachable: the
/// node reads shared files and writes downloads anywhere in the home.
pub fn systemd_unit(binary: &Path) -> Result<String, ServiceError> {
    let exec = systemd_word(path_text(binary)?);
    Ok(format!(
        "[Unit]
Description=Kith node: shares photos, videos and files straight with friends
Documentation=man:kith(1)
# At most 5 restarts in 5 minutes, then it stays down (see `journalctl --user -u kith`).
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=exec
ExecStart={exec} serve
Restart=on-failure
RestartSec=5s
TimeoutStopSec=15s
NoNewPrivileges=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=default.target
"
    ))
}

/// The path as one argument of a desktop entry's `Exec` key: quoted with `"`, `` ` ``, `$`
/// and `\` escaped when it holds a reserved character, `%` doubled, and then every `\`
/// doubled again as the string-value escaping of the file asks.
fn desktop_word(path: &str) -> String {
    const RESERVED: &[char] = &[
        ' ', '\t', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(', ')', '`',
    ];
    let word = if path.contains(RESERVED) {
        let mut q = String::from("\"");
        for c in path.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        path.to_string()
    };
    word.replace('%', "%%").replace('\\', "\\\\")
}

/// An XDG autostart entry (for `~/.config/autostart/kith.desktop`) that runs `BINARY start`
/// at login: it starts the node in the background, logging to its log file, and does nothing
/// when one already runs (started by the browser, say). Desktops without a systemd user
/// session read these.
pub fn desktop_entry(binary: &Path) -> Result<String, ServiceError> {
    let path = path_text(binary)?;
    let exec = desktop_word(path);
    // TryExec takes a plain string, not a quoted command line: only `\` is escaped.
    let try_exec = path.replace('\\', "\\\\");
    Ok(format!(
        "[Desktop Entry]
Type=Application
Name=Kith
Comment=Shares photos, videos and files straight with friends
Exec={exec} start
TryExec={try_exec}
Terminal=false
NoDisplay=true
Hidden=false
X-GNOME-Autostart-enabled=true
"
    ))
}

/// The native-messaging host manifest for Chromium, Chrome, Edge and Brave: it allows Kith's
/// extension by origin (`allowed_origins`; Firefox's manifest names the add-on instead).
pub fn chromium_manifest_text(binary: &Path) -> Result<String, ServiceError> {
    let path = path_text(binary)?;
    let manifest = serde_json::json!({
        "name": crate::HOST_NAME,
        "description": "Kith: share photos, videos and files straight with friends",
        "path": path,
        "type": "stdio",
        "allowed_origins": [crate::chromium_origin()],
    });
    Ok(format!("{manifest:#}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the first `key=` line of a unit or entry.
    fn value<'a>(text: &'a str, key: &str) -> &'a str {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .unwrap_or_else(|| panic!("no {key}= in:\n{text}"))
    }

    #[test]
    fn unit_runs_the_given_binary_in_the_foreground_and_restarts_on_failure() {
        let u = systemd_unit(Path::new("/opt/kith/bin/kith")).unwrap();
        assert_eq!(value(&u, "ExecStart"), "/opt/kith/bin/kith serve");
        assert_eq!(value(&u, "Restart"), "on-failure");
        assert_eq!(value(&u, "Documentation"), "man:kith(1)");
        assert_eq!(value(&u, "WantedBy"), "default.target");
        // Nothing that would hide or remount the user's files.
        for key in [
            "ProtectHome",
            "ProtectSystem",
            "PrivateTmp",
            "ReadOnlyPaths",
        ] {
            assert!(!u.contains(key), "{key} would cut the node off the home");
        }
    }

    #[test]
    fn unit_quotes_a_path_with_spaces_and_doubles_specifiers() {
        let u = systemd_unit(Path::new("/home/a b/100%/$x/kith")).unwrap();
        assert_eq!(value(&u, "ExecStart"), "\"/home/a b/100%%/$$x/kith\" serve");
    }

    #[test]
    fn desktop_entry_starts_the_node_and_quotes_per_the_xdg_spec() {
        let d = desktop_entry(Path::new("/usr/bin/kith")).unwrap();
        assert!(d.starts_with("[Desktop Entry]\n"));
        assert_eq!(value(&d, "Exec"), "/usr/bin/kith start");
        assert_eq!(value(&d, "TryExec"), "/usr/bin/kith");
        assert_eq!(value(&d, "Hidden"), "false");
        assert_eq!(value(&d, "X-GNOME-Autostart-enabled"), "true");
        let d = desktop_entry(Path::new("/home/a b/50%/kith")).unwrap();
        assert_eq!(value(&d, "Exec"), "\"/home/a b/50%%/kith\" start");
        // A `$` is escaped inside the quotes, and the escape's backslash doubled in the file.
        let d = desktop_entry(Path::new("/x/$y/kith")).unwrap();
        assert_eq!(value(&d, "Exec"), "\"/x/\\\\$y/kith\" start");
    }

    #[test]
    fn relative_or_multiline_paths_are_refused() {
        assert_eq!(
            systemd_unit(Path::new("kith")),
            Err(ServiceError::NotAbsolute("kith".into()))
        );
        assert_eq!(
            desktop_entry(Path::new("/a\nb")),
            Err(ServiceError::LineBreak("/a\nb".into()))
        );
    }

    #[test]
    fn chromium_manifest_allows_the_pinned_extension_origin() {
        let text = chromium_manifest_text(Path::new("/usr/bin/kith")).unwrap();
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(m["name"], crate::HOST_NAME);
        assert_eq!(m["path"], "/usr/bin/kith");
        assert_eq!(m["type"], "stdio");
        assert_eq!(
            m["allowed_origins"],
            serde_json::json!([format!(
                "chrome-extension://{}/",
                crate::CHROMIUM_EXTENSION_ID
            )])
        );
        assert!(m.get("allowed_extensions").is_none());
    }
}
