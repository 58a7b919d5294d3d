//! Texts that make the node run at login: the systemd user unit and the XDG autostart entry.
//! The `.deb` ships the unit made here (committed under `packaging/`); `kith install
//! --autostart` writes either for this user (naming the home when it is not the default one).

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

/// A systemd user unit that runs `BINARY serve [--home HOME]` in the foreground (its logs go to
/// the journal), restarted on failure. Hardening is limited to what keeps the user's files
/// reachable: the node reads shared files and writes downloads anywhere in the home.
pub fn systemd_unit(binary: &Path, home: Option<&Path>) -> Result<String, ServiceError> {
    let mut exec = systemd_word(path_text(binary)?);
    exec.push_str(" serve");
    if let Some(h) = home {
        exec.push_str(" --home ");
        exec.push_str(&systemd_word(path_text(h)?));
    }
    Ok(format!(
        "[Unit]
Description=Kith node: shares photos, videos and files straight with friends
Documentation=man:kith(1)
# At most 5 restarts in 5 minutes, then it stays down (see `journalctl --user -u kith`).
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=exec
ExecStart={exec}
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

/// An XDG autostart entry (for `~/.config/autostart/kith.desktop`) that runs `BINARY start
/// [--home HOME]` at login: it starts the node in the background, logging to its log file, and does nothing
/// when one already runs (started by the browser, say). Desktops without a systemd user
/// session read these.
pub fn desktop_entry(binary: &Path, home: Option<&Path>) -> Result<String, ServiceError> {
    let path = path_text(binary)?;
    let mut exec = desktop_word(path);
    exec.push_str(" start");
    if let Some(h) = home {
        exec.push_str(" --home ");
        exec.push_str(&desktop_word(path_text(h)?));
    }
    // TryExec takes a plain string, not a quoted command line: only `\` is escaped.
    let try_exec = path.replace('\\', "\\\\");
    Ok(format!(
        "[Desktop Entry]
Type=Application
Name=Kith
Comment=Shares photos, videos and files straight with friends
Exec={exec}
TryExec={try_exec}
Terminal=false
NoDisplay=true
Hidden=false
X-GNOME-Autostart-enabled=true
"
    ))
}

/// The program of an `ExecStart=` or `Exec=` command line written here: its first word,
/// unquoted (what `kith doctor` checks exists).
pub fn first_word(cmd: &str) -> Option<String> {
    let cmd = cmd.trim_start();
    let Some(rest) = cmd.strip_prefix('"') else {
        return cmd.split_whitespace().next().map(str::to_string);
    };
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

// systemd and XDG autostart are Linux's; a Windows path is not absolute in their sense.
#[cfg(all(test, unix))]
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
        let u = systemd_unit(Path::new("/opt/kith/bin/kith"), None).unwrap();
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
        let u = systemd_unit(Path::new("/home/a b/100%/$x/kith"), None).unwrap();
        assert_eq!(value(&u, "ExecStart"), "\"/home/a b/100%%/$$x/kith\" serve");
    }

    #[test]
    fn desktop_entry_starts_the_node_and_quotes_per_the_xdg_spec() {
        let d = desktop_entry(Path::new("/usr/bin/kith"), None).unwrap();
        assert!(d.starts_with("[Desktop Entry]\n"));
        assert_eq!(value(&d, "Exec"), "/usr/bin/kith start");
        assert_eq!(value(&d, "TryExec"), "/usr/bin/kith");
        assert_eq!(value(&d, "Hidden"), "false");
        assert_eq!(value(&d, "X-GNOME-Autostart-enabled"), "true");
        let d = desktop_entry(Path::new("/home/a b/50%/kith"), None).unwrap();
        assert_eq!(value(&d, "Exec"), "\"/home/a b/50%%/kith\" start");
        // A `$` is escaped inside the quotes, and the escape's backslash doubled in the file.
        let d = desktop_entry(Path::new("/x/$y/kith"), None).unwrap();
        assert_eq!(value(&d, "Exec"), "\"/x/\\\\$y/kith\" start");
    }

    #[test]
    fn relative_or_multiline_paths_are_refused() {
        assert_eq!(
            systemd_unit(Path::new("kith"), None),
            Err(ServiceError::NotAbsolute("kith".into()))
        );
        assert_eq!(
            desktop_entry(Path::new("/a\nb"), None),
            Err(ServiceError::LineBreak("/a\nb".into()))
        );
    }

    #[test]
    fn another_home_is_named_and_the_first_word_is_the_binary() {
        let bin = Path::new("/opt/my kith/kith");
        let u = systemd_unit(bin, Some(Path::new("/home/a b/kith"))).unwrap();
        let exec = value(&u, "ExecStart");
        assert_eq!(exec, r#""/opt/my kith/kith" serve --home "/home/a b/kith""#);
        assert_eq!(first_word(exec).as_deref(), Some("/opt/my kith/kith"));
        let d = desktop_entry(Path::new("/usr/bin/kith"), Some(Path::new("/srv/k"))).unwrap();
        let exec = value(&d, "Exec");
        assert_eq!(exec, "/usr/bin/kith start --home /srv/k");
        assert_eq!(first_word(exec).as_deref(), Some("/usr/bin/kith"));
        assert_eq!(
            systemd_unit(bin, Some(Path::new("rel"))),
            Err(ServiceError::NotAbsolute("rel".into()))
        );
    }
}
