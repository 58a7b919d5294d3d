//! Registering Kith with the browsers and the desktop (`kith install`, `kith uninstall`), and
//! `kith doctor`'s checks of all of it.
//!
//! `install` writes this user's native-messaging host manifests for Firefox and every
//! Chromium-family browser (whether or not the browser is there, so one installed later finds
//! Kith), and with `--autostart` a systemd user unit or an XDG autostart entry that starts the
//! node at login. `uninstall` removes all of it and stops the node; `--purge` also removes the
//! home and its logs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use kith_node::home::Home;
use kith_proto::api::reply::{Friend, LinkPath, ReachState};

/// Which manifest form a browser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Firefox: `allowed_extensions` lists add-on IDs.
    Firefox,
    /// Chromium, Chrome, Edge, Brave: `allowed_origins` lists extension origins.
    Chromium,
}

/// One manifest file a browser reads to find the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The browser, for messages.
    pub browser: &'static str,
    /// The manifest form it reads.
    pub family: Family,
    /// The manifest file (`…/kith.json`; on Windows the file the registry names).
    pub file: PathBuf,
}

impl Registration {
    /// The manifest file.
    pub fn path(&self) -> PathBuf {
        self.file.clone()
    }
}

/// This user's home folder: `HOME`, else what the system says (Windows' profile folder).
pub fn user_home() -> Result<PathBuf> {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h)),
        None => Ok(directories::BaseDirs::new()
            .context("no home folder is known for this user")?
            .home_dir()
            .to_path_buf()),
    }
}

/// Every user-level manifest on Windows: one per family under the local app-data folder, which
/// the browsers' registry keys name (`install_windows.rs`).
#[cfg(windows)]
pub fn registrations(_h: &Path) -> Vec<Registration> {
    let Ok(places) = crate::install_windows::Places::user() else {
        return Vec::new();
    };
    vec![
        Registration {
            browser: "Firefox",
            family: Family::Firefox,
            file: places.manifest(Family::Firefox),
        },
        Registration {
            browser: "Chrome, Chromium and Edge",
            family: Family::Chromium,
            file: places.manifest(Family::Chromium),
        },
    ]
}

/// Every user-level manifest under the home folder `h`, Firefox first.
#[cfg(not(windows))]
pub fn registrations(h: &Path) -> Vec<Registration> {
    let (firefox, chromium): (&str, [(&'static str, &str); 4]) = if cfg!(target_os = "macos") {
        (
            "Library/Application Support/Mozilla/NativeMessagingHosts",
            [
                ("Chromium", "Library/Application Support/Chromium"),
                ("Google Chrome", "Library/Application Support/Google/Chrome"),
                (
                    "Microsoft Edge",
                    "Library/Application Support/Microsoft Edge",
                ),
                (
                    "Brave",
                    "Library/Application Support/BraveSoftware/Brave-Browser",
                ),
            ],
        )
    } else {
        (
            ".mozilla/native-messaging-hosts",
            [
                ("Chromium", ".config/chromium"),
                ("Google Chrome", ".config/google-chrome"),
                ("Microsoft Edge", ".config/microsoft-edge"),
                ("Brave", ".config/BraveSoftware/Brave-Browser"),
            ],
        )
    };
    let file = |dir: PathBuf| dir.join(format!("{}.json", crate::HOST_NAME));
    let mut out = vec![Registration {
        browser: "Firefox",
        family: Family::Firefox,
        file: file(h.join(firefox)),
    }];
    out.extend(chromium.into_iter().map(|(browser, dir)| Registration {
        browser,
        family: Family::Chromium,
        file: file(h.join(dir).join("NativeMessagingHosts")),
    }));
    out
}

/// Where Firefox's manifest for this user is.
pub fn manifest_path() -> Result<PathBuf> {
    registrations(&user_home()?)
        .into_iter()
        .next()
        .map(|r| r.file)
        .context("no manifest place is known")
}

/// The manifest text of one family for a binary path.
pub fn manifest_for(family: Family, binary: &Path) -> Result<String> {
    let path = binary
        .to_str()
        .context("the binary's path is not valid UTF-8")?;
    let mut manifest = serde_json::json!({
        "name": crate::HOST_NAME,
        "description": "Kith: share photos, videos and files straight with friends",
        "path": path,
        "type": "stdio",
    });
    match family {
        Family::Firefox => manifest["allowed_extensions"] = serde_json::json!([crate::ADDON_ID]),
        Family::Chromium => {
            manifest["allowed_origins"] = serde_json::json!([crate::chromium_origin()])
        }
    }
    let mut text = serde_json::to_string_pretty(&manifest)?;
    text.push('\n');
    Ok(text)
}

/// Firefox's manifest text for a binary path.
pub fn manifest_text(binary: &Path) -> Result<String> {
    manifest_for(Family::Firefox, binary)
}

/// The Chromium family's manifest text for a binary path.
pub fn chromium_manifest_text(binary: &Path) -> Result<String> {
    manifest_for(Family::Chromium, binary)
}

/// This binary's canonical path, as manifests and autostart entries name it (on Windows the
/// path as the system gives it: a canonical one there starts with `\\?\`, which browsers may
/// not take).
pub fn this_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if cfg!(windows) {
        return Ok(exe);
    }
    Ok(exe.canonicalize()?)
}

/// Writes every user-level manifest for the running binary (on Windows also the registry
/// keys); returns the files written.
pub fn install() -> Result<Vec<PathBuf>> {
    let exe = this_binary()?;
    #[cfg(windows)]
    {
        crate::install_windows::install_at(&crate::install_windows::Places::user()?, &exe)?;
        Ok(registrations(Path::new(""))
            .into_iter()
            .map(|r| r.file)
            .collect())
    }
    #[cfg(not(windows))]
    {
        let mut written = Vec::new();
        for r in registrations(&user_home()?) {
            if let Some(dir) = r.file.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let path = r.path();
            kith_node::home::write_atomic(&path, manifest_for(r.family, &exe)?.as_bytes(), 0o644)
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Removes a file; true when there was one.
#[cfg(not(windows))]
fn remove(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Removes every user-level manifest (on Windows also the registry keys); returns the files
/// removed.
pub fn uninstall() -> Result<Vec<PathBuf>> {
    let files: Vec<PathBuf> = registrations(&user_home()?)
        .into_iter()
        .map(|r| r.file)
        .collect();
    let present: Vec<PathBuf> = files.iter().filter(|f| f.is_file()).cloned().collect();
    #[cfg(windows)]
    crate::install_windows::uninstall_at(&crate::install_windows::Places::user()?)?; // keys and files
    #[cfg(not(windows))]
    for f in &files {
        remove(f)?;
    }
    Ok(present)
}

/// How the node is started at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autostart {
    /// A systemd user unit, where a user session manager runs.
    Systemd,
    /// An XDG autostart entry, started by the desktop at login.
    Xdg,
    /// Windows: a value under `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`.
    Windows,
}

impl Autostart {
    /// Its name in the API's `autostart` reply.
    pub fn name(self) -> &'static str {
        match self {
            Autostart::Systemd => "systemd",
            Autostart::Xdg => "xdg",
            Autostart::Windows => "windows",
        }
    }
}

/// The systemd user unit and the XDG autostart entry under the home folder `h`.
pub fn autostart_paths(h: &Path) -> (PathBuf, PathBuf) {
    (
        h.join(".config/systemd/user/kith.service"),
        h.join(".config/autostart/kith.desktop"),
    )
}

/// Whether this system runs systemd (as `sd_booted` checks) with `systemctl` to talk to it.
pub fn has_user_systemd() -> bool {
    Path::new("/run/systemd/system").is_dir() && which("systemctl")
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// `--home DIR` when the home is not the default one (so the login entry starts this home).
fn home_arg(home: &Home) -> Option<&Path> {
    match kith_node::home::default_dir() {
        Some(d) if d == home.dir => None,
        _ => Some(home.dir.as_path()),
    }
}

/// Runs `systemctl --user ARGS…`, failing with what it printed.
#[cfg(not(windows))]
fn systemctl(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .context("running systemctl")?;
    if !out.status.success() {
        anyhow::bail!(
            "`systemctl --user {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Writes the login entry of `kind` (chosen from the system when None) for this binary and
/// home, and enables it; returns the kind and the file written. The caller starts the node.
pub fn install_autostart(kind: Option<Autostart>, home: &Home) -> Result<(Autostart, PathBuf)> {
    #[cfg(windows)]
    {
        let _ = kind; // one way on Windows
        let places = crate::install_windows::Places::user()?;
        let cmd = crate::install_windows::start_command(&this_binary()?, home_arg(home));
        crate::install_windows::set_run(&places, &cmd)?;
        Ok((Autostart::Windows, places.run_entry()))
    }
    #[cfg(not(windows))]
    install_autostart_unix(kind, home)
}

#[cfg(not(windows))]
fn install_autostart_unix(kind: Option<Autostart>, home: &Home) -> Result<(Autostart, PathBuf)> {
    let kind = kind.unwrap_or(if has_user_systemd() {
        Autostart::Systemd
    } else {
        Autostart::Xdg
    });
    let exe = this_binary()?;
    let (unit, desktop) = autostart_paths(&user_home()?);
    let (path, text) = match kind {
        Autostart::Systemd => (unit, crate::service::systemd_unit(&exe, home_arg(home))?),
        Autostart::Xdg | Autostart::Windows => (
            desktop,
            crate::service::desktop_entry(&exe, home_arg(home))?,
        ),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    kith_node::home::write_atomic(&path, text.as_bytes(), 0o644)
        .with_context(|| format!("writing {}", path.display()))?;
    if kind == Autostart::Systemd && has_user_systemd() {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "kith.service"])?;
    }
    Ok((kind, path))
}

/// Which login entry is installed, if any (the unit first).
pub fn autostart_installed() -> Option<(Autostart, PathBuf)> {
    #[cfg(windows)]
    {
        let places = crate::install_windows::Places::user().ok()?;
        crate::install_windows::run_command(&places)
            .map(|_| (Autostart::Windows, places.run_entry()))
    }
    #[cfg(not(windows))]
    autostart_installed_unix()
}

#[cfg(not(windows))]
fn autostart_installed_unix() -> Option<(Autostart, PathBuf)> {
    let (unit, desktop) = autostart_paths(&user_home().ok()?);
    if unit.is_file() {
        Some((Autostart::Systemd, unit))
    } else if desktop.is_file() {
        Some((Autostart::Xdg, desktop))
    } else {
        None
    }
}

/// Disables and removes both login entries; returns the files removed.
pub fn uninstall_autostart() -> Result<Vec<PathBuf>> {
    #[cfg(windows)]
    {
        let places = crate::install_windows::Places::user()?;
        let removed = crate::install_windows::remove_run(&places)?;
        Ok(if removed {
            vec![places.run_entry()]
        } else {
            Vec::new()
        })
    }
    #[cfg(not(windows))]
    uninstall_autostart_unix()
}

#[cfg(not(windows))]
fn uninstall_autostart_unix() -> Result<Vec<PathBuf>> {
    let (unit, desktop) = autostart_paths(&user_home()?);
    let mut removed = Vec::new();
    if unit.is_file() && has_user_systemd() {
        // The unit may run the node: stop and disable it before its file goes.
        if let Err(e) = systemctl(&["disable", "--now", "kith.service"]) {
            tracing::warn!("{e:#}");
        }
    }
    for p in [unit, desktop] {
        if remove(&p)? {
            removed.push(p);
        }
    }
    if !removed.is_empty() && has_user_systemd() {
        let _ = systemctl(&["daemon-reload"]);
    }
    Ok(removed)
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

/// Whether `path` is an executable file.
fn is_executable(path: &str) -> bool {
    let Ok(md) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        md.is_file() && md.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    md.is_file()
}

/// One browser's manifest: present, valid, naming an executable, allowing Kith's add-on.
pub fn doctor_manifest(r: &Registration) -> Finding {
    let path = r.path();
    let fix = "run `kith install`";
    let text = match std::fs::read_to_string(&path) {
        Err(_) => {
            return check(
                false,
                format!(
                    "{}: no native-messaging manifest at {}: {fix}",
                    r.browser,
                    path.display()
                ),
            )
        }
        Ok(t) => t,
    };
    let m: Value = match serde_json::from_str(&text) {
        Err(e) => {
            return check(
                false,
                format!(
                    "{}: {} is not valid JSON ({e}): {fix}",
                    r.browser,
                    path.display()
                ),
            )
        }
        Ok(m) => m,
    };
    let bin = m["path"].as_str().unwrap_or_default();
    if !is_executable(bin) {
        return check(
            false,
            format!(
                "{}: {} names {bin:?}, which is not an executable: {fix}",
                r.browser,
                path.display()
            ),
        );
    }
    let (field, allowed) = match r.family {
        Family::Firefox => ("allowed_extensions", crate::ADDON_ID.to_string()),
        Family::Chromium => ("allowed_origins", crate::chromium_origin()),
    };
    let ok = m[field]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| *v == allowed.as_str()));
    if !ok {
        return check(
            false,
            format!(
                "{}: {} does not allow {allowed} in {field}: {fix}",
                r.browser,
                path.display()
            ),
        );
    }
    let mut line = format!("{}: {} starts {bin}", r.browser, path.display());
    if this_binary().is_ok_and(|me| Path::new(bin) != me) {
        line.push_str(" (not this kith)");
    }
    check(true, line)
}

/// The program a login entry runs.
fn autostart_program(kind: Autostart, path: &Path) -> Option<String> {
    let key = match kind {
        Autostart::Systemd => "ExecStart=",
        Autostart::Xdg => "Exec=",
        Autostart::Windows => {
            #[cfg(windows)]
            {
                let places = crate::install_windows::Places::user().ok()?;
                let cmd = crate::install_windows::run_command(&places)?;
                return crate::install_windows::program_of(&cmd);
            }
            #[cfg(not(windows))]
            return None;
        }
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(crate::service::first_word)
}

/// The login entry: none is fine (the browser starts the node); one that names a missing
/// binary is a problem.
pub fn doctor_autostart() -> Vec<Finding> {
    let Some((kind, path)) = autostart_installed() else {
        let mut f = check(
            true,
            "the node starts when the browser starts it, not at login",
        );
        f.hint = Some("to serve friends from login: `kith install --autostart`".to_string());
        return vec![f];
    };
    let bin = autostart_program(kind, &path).unwrap_or_default();
    let mut out = vec![if is_executable(&bin) {
        check(
            true,
            format!("starts at login: {} runs {bin}", path.display()),
        )
    } else {
        check(
            false,
            format!(
                "{} runs {bin:?}, which is not an executable: run `kith install --autostart`",
                path.display()
            ),
        )
    }];
    if kind == Autostart::Systemd && has_user_systemd() {
        let on = std::process::Command::new("systemctl")
            .args(["--user", "is-enabled", "kith.service"])
            .output()
            .is_ok_and(|o| o.status.success());
        out.push(check(
            on,
            if on {
                "the systemd user unit is enabled".to_string()
            } else {
                "the systemd user unit is not enabled: run `kith install --autostart`".to_string()
            },
        ));
    }
    out
}

/// Checks every registration, the login entry and the home (no node needed).
pub fn doctor_offline(home: &Home) -> Vec<Finding> {
    let mut out = Vec::new();
    match user_home() {
        Err(e) => out.push(check(
            false,
            format!("cannot locate the manifest folders: {e}"),
        )),
        Ok(h) => {
            for r in registrations(&h) {
                out.push(doctor_manifest(&r));
            }
            #[cfg(windows)]
            if let Ok(places) = crate::install_windows::Places::user() {
                out.extend(
                    crate::install_windows::doctor_keys(&places)
                        .into_iter()
                        .map(|(ok, text)| check(ok, text)),
                );
            }
            out.extend(doctor_autostart());
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
