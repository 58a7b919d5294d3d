//! The login entries that start the node: a systemd user unit and an XDG autostart entry.

use std::path::Path;

/// Quotes a word for a systemd `ExecStart=` line or a desktop entry's `Exec=` key (both take
/// double quotes with `\` escapes); plain words stay as they are.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,=".contains(c));
    if plain {
        return word.to_string();
    }
    let mut q = String::from("\"");
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The first word of a command line written by [`quote`].
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

fn command(binary: &Path, verb: &str, home: Option<&Path>) -> String {
    let mut cmd = format!("{} {verb}", quote(&binary.to_string_lossy()));
    if let Some(h) = home {
        cmd.push_str(&format!(" --home {}", quote(&h.to_string_lossy())));
    }
    cmd
}

/// A systemd user unit running the node in the foreground (it logs to the journal).
pub fn systemd_unit(binary: &Path, home: Option<&Path>) -> String {
    format!(
        "[Unit]\n\
         Description=Kith node: share photos, videos and files straight with friends\n\
         Documentation=man:kith(1)\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        command(binary, "serve", home)
    )
}

/// An XDG autostart entry that starts the node in the background at login.
pub fn desktop_entry(binary: &Path, home: Option<&Path>) -> String {
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=Kith\n\
         Comment=Serve your albums to your friends from login\n\
         Exec={}\n\
         Terminal=false\n\
         NoDisplay=true\n\
         X-GNOME-Autostart-enabled=true\n",
        command(binary, "start", home)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_entries_quote_paths_so_the_first_word_is_the_binary() {
        let bin = Path::new("/opt/my kith/\"k\"");
        let unit = systemd_unit(bin, Some(Path::new("/home/a b/kith")));
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        assert_eq!(
            exec,
            r#""/opt/my kith/\"k\"" serve --home "/home/a b/kith""#
        );
        assert_eq!(first_word(exec).as_deref(), Some("/opt/my kith/\"k\""));
        let desktop = desktop_entry(Path::new("/usr/bin/kith"), None);
        let exec = desktop
            .lines()
            .find_map(|l| l.strip_prefix("Exec="))
            .unwrap();
        assert_eq!(exec, "/usr/bin/kith start");
        assert_eq!(first_word(exec).as_deref(), Some("/usr/bin/kith"));
    }
}
