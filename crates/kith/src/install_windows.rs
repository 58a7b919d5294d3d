//! `kith install` on Windows: browsers find a native-messaging host through the registry.
//! The manifests are written under the local app-data folder (`%LOCALAPPDATA%\kith\`), one for
//! Firefox (`allowed_extensions`) and one for the Chromium family (`allowed_origins`), and the
//! default value of each browser's `HKCU\Software\…\NativeMessagingHosts\kith` key is set to
//! the matching file's path. Uninstall removes the keys and the files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use winreg::enums::HKEY_CURRENT_USER;
use winreg::RegKey;

use crate::install::Family;

/// The browsers' registry keys (under `HKCU\Software\`) and whether each is Firefox's.
pub const BROWSER_KEYS: [(&str, Family); 4] = [
    (r"Mozilla\NativeMessagingHosts", Family::Firefox),
    (r"Google\Chrome\NativeMessagingHosts", Family::Chromium),
    (r"Chromium\NativeMessagingHosts", Family::Chromium),
    (r"Microsoft\Edge\NativeMessagingHosts", Family::Chromium),
];

/// Where install writes: a folder for the manifests and the registry path the browsers' keys
/// sit under (`Software` in real use; tests pass their own).
#[derive(Debug, Clone)]
pub struct Places {
    /// The folder of the manifest files.
    pub dir: PathBuf,
    /// The registry path under HKCU that holds the browsers' keys.
    pub software: String,
}

impl Places {
    /// The real places: `%LOCALAPPDATA%\kith` and `HKCU\Software`.
    pub fn user() -> Result<Places> {
        let base = directories::BaseDirs::new().context("no local app-data folder is known")?;
        Ok(Places {
            dir: base.data_local_dir().join("kith"),
            software: "Software".into(),
        })
    }

    /// The manifest file for a browser.
    pub fn manifest(&self, b: Family) -> PathBuf {
        self.dir.join(match b {
            Family::Firefox => "kith-firefox.json",
            Family::Chromium => "kith-chromium.json",
        })
    }

    /// The registry key (under HKCU) whose values Windows runs at login.
    pub fn run_key(&self) -> String {
        format!(r"{}\Microsoft\Windows\CurrentVersion\Run", self.software)
    }

    /// The login entry, as `doctor` and `install` name it: `HKCU\…\Run\Kith`.
    pub fn run_entry(&self) -> PathBuf {
        PathBuf::from(format!(r"HKCU\{}\{RUN_VALUE}", self.run_key()))
    }

    /// The registry key (under HKCU) for one browser.
    pub fn key(&self, browser_key: &str) -> String {
        format!(r"{}\{browser_key}\{}", self.software, crate::HOST_NAME)
    }
}

/// Writes both manifests for `binary` and points every browser's key at its file.
pub fn install_at(places: &Places, binary: &Path) -> Result<()> {
    std::fs::create_dir_all(&places.dir)
        .with_context(|| format!("creating {}", places.dir.display()))?;
    for b in [Family::Firefox, Family::Chromium] {
        let path = places.manifest(b);
        kith_node::home::write_atomic(
            &path,
            crate::install::manifest_for(b, binary)?.as_bytes(),
            0o644,
        )?;
    }
    let hkcu = RegKey::predef(HKEY_CURRENT_USER);
    for (browser_key, b) in BROWSER_KEYS {
        let key = places.key(browser_key);
        let (k, _) = hkcu
            .create_subkey(&key)
            .with_context(|| format!(r"creating HKCU\{key}"))?;
        let file = places.manifest(b);
        k.set_value("", &file.as_os_str())
            .with_context(|| format!(r"setting HKCU\{key}"))?;
    }
    Ok(())
}

/// Checks each browser's key: present, naming the manifest file `install` writes for it.
/// Returns (all well, what was found) per key.
pub fn doctor_keys(places: &Places) -> Vec<(bool, String)> {
    let hkcu = RegKey::predef(HKEY_CURRENT_USER);
    BROWSER_KEYS
        .iter()
        .map(|(browser_key, b)| {
            let key = places.key(browser_key);
            let want = places.manifest(*b);
            match hkcu
                .open_subkey(&key)
                .and_then(|k| k.get_value::<String, _>(""))
            {
                Ok(v) if PathBuf::from(&v) == want => (true, format!(r"HKCU\{key} names {v}")),
                Ok(v) => (
                    false,
                    format!(
                        r"HKCU\{key} names {v:?}, not {}: run `kith install`",
                        want.display()
                    ),
                ),
                Err(_) => (
                    false,
                    format!(r"no registry key HKCU\{key}: run `kith install`"),
                ),
            }
        })
        .collect()
}

/// The name of Kith's value under the Run key.
pub const RUN_VALUE: &str = "Kith";

/// The command line Windows runs at login: `"BINARY" start [--home "HOME"]` (a Windows path
/// holds no `"`, so quoting is enough).
pub fn start_command(binary: &Path, home: Option<&Path>) -> String {
    let mut cmd = format!("\"{}\" start", binary.display());
    if let Some(h) = home {
        cmd.push_str(&format!(" --home \"{}\"", h.display()));
    }
    cmd
}

/// The program of a command line made by [`start_command`].
pub fn program_of(cmd: &str) -> Option<String> {
    let rest = cmd.strip_prefix('"')?;
    rest.split_once('"').map(|(p, _)| p.to_string())
}

/// Makes Windows run `cmd` at login (HKCU's Run key, value `Kith`).
pub fn set_run(places: &Places, cmd: &str) -> Result<()> {
    let key = places.run_key();
    let (k, _) = RegKey::predef(HKEY_CURRENT_USER)
        .create_subkey(&key)
        .with_context(|| format!(r"creating HKCU\{key}"))?;
    k.set_value(RUN_VALUE, &cmd)
        .with_context(|| format!(r"setting HKCU\{key}\{RUN_VALUE}"))
}

/// The command Windows runs at login for Kith, if any.
pub fn run_command(places: &Places) -> Option<String> {
    RegKey::predef(HKEY_CURRENT_USER)
        .open_subkey(places.run_key())
        .and_then(|k| k.get_value::<String, _>(RUN_VALUE))
        .ok()
}

/// Removes Kith's login entry; true when there was one.
pub fn remove_run(places: &Places) -> Result<bool> {
    let key = places.run_key();
    let k = match RegKey::predef(HKEY_CURRENT_USER)
        .open_subkey_with_flags(&key, winreg::enums::KEY_SET_VALUE)
    {
        Ok(k) => k,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!(r"opening HKCU\{key}")),
    };
    match k.delete_value(RUN_VALUE) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!(r"removing HKCU\{key}\{RUN_VALUE}")),
    }
}

/// Removes the keys and the manifests; true when any was there.
pub fn uninstall_at(places: &Places) -> Result<bool> {
    let mut found = false;
    let hkcu = RegKey::predef(HKEY_CURRENT_USER);
    for (browser_key, _) in BROWSER_KEYS {
        let key = places.key(browser_key);
        match hkcu.delete_subkey_all(&key) {
            Ok(()) => found = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!(r"removing HKCU\{key}")),
        }
    }
    for b in [Family::Firefox, Family::Chromium] {
        let path = places.manifest(b);
        match std::fs::remove_file(&path) {
            Ok(()) => found = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_points_each_browser_key_at_its_manifest_and_uninstall_removes_both() {
        let dir = tempfile::tempdir().unwrap();
        let tag: u64 = std::process::id() as u64;
        let places = Places {
            dir: dir.path().join("kith"),
            software: format!(r"Software\KithTest{tag}"),
        };
        let exe = Path::new(r"C:\Program Files\Kith\kith.exe");
        install_at(&places, exe).unwrap();
        let hkcu = RegKey::predef(HKEY_CURRENT_USER);
        for (browser_key, b) in BROWSER_KEYS {
            let k = hkcu.open_subkey(places.key(browser_key)).unwrap();
            let file: String = k.get_value("").unwrap();
            assert_eq!(PathBuf::from(&file), places.manifest(b));
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            assert_eq!(m["name"], "kith");
            assert_eq!(m["path"], r"C:\Program Files\Kith\kith.exe");
            match b {
                Family::Firefox => {
                    assert_eq!(
                        m["allowed_extensions"],
                        serde_json::json!([crate::ADDON_ID])
                    );
                    assert!(m.get("allowed_origins").is_none());
                }
                Family::Chromium => {
                    assert_eq!(
                        m["allowed_origins"],
                        serde_json::json!([crate::chromium_origin()])
                    );
                    assert!(m.get("allowed_extensions").is_none());
                }
            }
        }
        assert!(uninstall_at(&places).unwrap());
        for (browser_key, b) in BROWSER_KEYS {
            assert!(hkcu.open_subkey(places.key(browser_key)).is_err());
            assert!(!places.manifest(b).exists());
        }
        assert!(!uninstall_at(&places).unwrap(), "nothing left to remove");
        let _ = hkcu.delete_subkey_all(&places.software);
    }
}
