//! Safe file names for downloads: a peer (an untrusted remote computer) sends relative paths such
//! as `Holiday/beach.jpg`; nothing it sends may make a file land outside the download folder.
//!
//! [`sanitize_relative`] and [`sanitize_component`] turn peer text into plain path components
//! (no root, drive prefix, `.` or `..`, no control or bidirectional characters, no names Windows
//! reserves, at most 255 bytes each). [`prepare_target`] creates the folders below the download
//! folder without following symlinks, and [`unique_path`] picks a name that is not taken yet.
//!
//! Callers should still create the file itself with `OpenOptions::create_new(true)`, which
//! refuses an existing file or symlink at the moment of opening.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use unicode_normalization::UnicodeNormalization;

/// Longest component, in UTF-8 bytes (the usual file-system limit).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Most components kept from a peer-supplied path (excess leading folders are dropped).
pub const MAX_COMPONENTS: usize = 32;
/// Longest extension kept when a long name is shortened, in bytes (without the dot).
const MAX_KEPT_EXTENSION: usize = 16;
/// Numbered candidates `name (n).ext` tried by [`unique_path`] before a pid-based suffix.
const UNIQUE_ATTEMPTS: u32 = 10_000;

/// Windows device names, reserved whatever the extension (Microsoft's "Naming Files" list,
/// with the superscript digits Windows also treats as digits). These rules apply on every
/// system: an album shared from Linux may be fetched by a friend on Windows.
const RESERVED: [&str; 32] = [
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "CONIN$",
    "CONOUT$",
    "COM0",
    "COM1",
    "COM2",
    "COM3",
    "COM4",
    "COM5",
    "COM6",
    "COM7",
    "COM8",
    "COM9",
    "COM\u{b9}",
    "COM\u{b2}",
    "COM\u{b3}",
    "LPT0",
    "LPT1",
    "LPT2",
    "LPT3",
    "LPT4",
    "LPT5",
    "LPT6",
    "LPT7",
    "LPT8",
    "LPT9",
    "LPT\u{b9}",
    "LPT\u{b2}",
    "LPT\u{b3}",
];

/// Turns a peer-supplied relative path into safe path components; None when nothing usable is left.
pub fn sanitize_relative(path: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = path
        .split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .filter_map(sanitize_component)
        .collect();
    if parts.is_empty() {
        return None;
    }
    if parts.len() > MAX_COMPONENTS {
        parts.drain(..parts.len() - MAX_COMPONENTS);
    }
    let out: PathBuf = parts.iter().collect();
    debug_assert!(is_plain_relative(&out), "unsafe sanitized path {out:?}");
    Some(out)
}

/// Makes one peer-supplied file or folder name safe; None when nothing usable is left.
pub fn sanitize_component(name: &str) -> Option<String> {
    let filtered: String = name.chars().filter(|&c| !is_invisible(c)).collect();
    let replaced: String = filtered
        .nfc()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' | '/' | '\\' => '_',
            c => c,
        })
        .collect();
    let mut s = trim(&replaced).to_owned();
    if s.len() > MAX_COMPONENT_BYTES {
        s = shorten(&s, MAX_COMPONENT_BYTES);
    }
    if s.is_empty() {
        return None;
    }
    // Checked after shortening, which may bring a device name to light ("CON     x.jpg").
    if is_reserved(&s) {
        if s.len() == MAX_COMPONENT_BYTES {
            // Keeps the device stem (cuts never reach the first 238 bytes), so still reserved.
            s = shorten(&s, MAX_COMPONENT_BYTES - 1);
        }
        s.insert(0, '_');
    }
    debug_assert!(s.len() <= MAX_COMPONENT_BYTES);
    Some(s)
}

/// Creates the folders of `rel` inside `dir` without following any symlink, and returns the absolute target path DIR/rel.
pub fn prepare_target(dir: &Path, rel: &Path) -> io::Result<PathBuf> {
    debug_assert!(is_plain_relative(rel), "unsanitized relative path {rel:?}");
    if !is_plain_relative(rel) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a sanitized relative path", rel.display()),
        ));
    }
    // `dir` itself may be reached through a symlink the user made: follow it here, only.
    if !fs::metadata(dir)?.is_dir() {
        return Err(io::Error::other(format!(
            "download folder {} is not a folder",
            dir.display()
        )));
    }
    let mut cur = std::path::absolute(dir)?;
    let parts: Vec<Component> = rel.components().collect();
    let (last, folders) = parts
        .split_last()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty relative path"))?;
    for folder in folders {
        cur.push(folder);
        match fs::symlink_metadata(&cur) {
            Ok(meta) => check_real_dir(&cur, &meta)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&cur) {
                Ok(()) => {}
                // Created meanwhile by someone else: accept it only if it is a real folder.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    check_real_dir(&cur, &fs::symlink_metadata(&cur)?)?
                }
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    cur.push(last);
    if let Ok(meta) = fs::symlink_metadata(&cur) {
        if meta.file_type().is_symlink() {
            return Err(io::Error::other(format!(
                "{} is a symlink; refusing to write through it",
                cur.display()
            )));
        }
    }
    Ok(cur)
}

/// The first of `path`, `name (1).ext`, `name (2).ext`, … that does not exist (checked with symlink_metadata, so a dangling symlink counts as existing).
pub fn unique_path(path: &Path) -> PathBuf {
    unique_path_within(path, UNIQUE_ATTEMPTS)
}

/// [`unique_path`] with a chosen number of numbered attempts before the pid-based fallback.
fn unique_path_within(path: &Path, attempts: u32) -> PathBuf {
    if !exists(path) {
        return path.to_path_buf();
    }
    for n in 1..=attempts {
        let candidate = with_suffix(path, &format!(" ({n})"));
        if !exists(&candidate) {
            return candidate;
        }
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut candidate = path.to_path_buf();
    for _ in 0..1000 {
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        candidate = with_suffix(path, &format!(" ({pid}-{count})"));
        if !exists(&candidate) {
            break;
        }
    }
    candidate
}

/// Whether anything (file, folder, symlink even dangling) is at `path`.
fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// `dir/stem.ext` → `dir/stem<suffix>.ext`, shortening a UTF-8 stem so the name stays ≤ 255 bytes.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let Some(stem) = path.file_stem() else {
        // No file name (e.g. "/" or ".."): append to the whole path.
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        return PathBuf::from(s);
    };
    let ext = path.extension();
    let ext_len = ext.map_or(0, |e| e.len() + 1);
    let mut name = OsString::new();
    match stem.to_str() {
        Some(stem) => {
            let room = MAX_COMPONENT_BYTES.saturating_sub(suffix.len() + ext_len);
            name.push(cut(stem, room.max(1)));
        }
        None => name.push(stem),
    }
    name.push(suffix);
    if let Some(ext) = ext {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// Whether `path` is non-empty and made only of plain names (no root, prefix, `.` or `..`).
fn is_plain_relative(path: &Path) -> bool {
    path.components().next().is_some()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Refuses anything but a real folder (not a symlink, not a file) at `path`.
fn check_real_dir(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        Err(io::Error::other(format!(
            "{} is a symlink; refusing to write through it",
            path.display()
        )))
    } else if kind.is_dir() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{} is a file; refusing to write through it",
            path.display()
        )))
    }
}

/// Characters removed from names: controls, bidirectional controls and zero-width characters.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Drops trailing dots and spaces, then leading spaces.
fn trim(s: &str) -> &str {
    s.trim_end_matches(['.', ' ']).trim_start_matches(' ')
}

/// Whether Windows reserves `name` as a device (`CON`, `nul.txt`, `com1.tar.gz`, `con .txt`, …).
fn is_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem))
}

/// Longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Cuts a too-long name to at most `max` bytes, keeping a short extension (≤ 16 bytes).
fn shorten(name: &str, max: usize) -> String {
    if let Some(dot) = name.rfind('.').filter(|&i| i > 0) {
        let ext = &name[dot + 1..];
        if !ext.is_empty() && ext.len() <= MAX_KEPT_EXTENSION {
            let stem = trim(cut(&name[..dot], max - ext.len() - 1));
            if !stem.is_empty() {
                return format!("{stem}.{ext}");
            }
        }
    }
    trim(cut(name, max)).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Joins a sanitized path to `dir` and checks, component by component, that it stays inside.
    fn assert_inside(dir: &Path, rel: &Path) {
        assert!(rel.is_relative(), "{rel:?} is not relative");
        assert!(
            rel.components().all(|c| matches!(c, Component::Normal(_))),
            "{rel:?} has a non-plain component"
        );
        let joined = dir.join(rel);
        assert!(joined.starts_with(dir), "{joined:?} left {dir:?}");
        let depth = dir.components().count();
        assert_eq!(
            joined.components().count(),
            depth + rel.components().count()
        );
        assert!(joined
            .components()
            .skip(depth)
            .all(|c| matches!(c, Component::Normal(_))));
    }

    #[test]
    fn traversal_attempts_stay_inside_the_download_folder() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(4096);
        let cut_to_limit = "x".repeat(MAX_COMPONENT_BYTES);
        let table: [(&str, Option<&str>); 13] = [
            ("../x", Some("x")),
            ("/etc/passwd", Some("etc/passwd")),
            ("C:\\x", Some("C_/x")),
            ("..\\x", Some("x")),
            ("a/../../b", Some("a/b")),
            ("", None),
            (".", None),
            ("..", None),
            ("a\0b", Some("ab")),
            (&long, Some(&cut_to_limit)),
            ("\\\\server\\share\\f", Some("server/share/f")),
            ("./../.././etc", Some("etc")),
            ("a/./b", Some("a/b")),
        ];
        for (input, expected) in table {
            let got = sanitize_relative(input);
            if let Some(rel) = &got {
                assert_inside(dir.path(), rel);
                for c in rel.components() {
                    assert!(c.as_os_str().len() <= MAX_COMPONENT_BYTES);
                }
            }
            assert_eq!(got, expected.map(PathBuf::from), "input {input:?}");
        }
    }

    #[test]
    fn drive_and_root_prefixes_never_make_the_path_absolute() {
        for input in [
            "/",
            "//",
            "C:",
            "C:\\",
            "\\\\?\\C:\\x",
            "\\\\.\\COM1",
            "/..",
            "\\",
        ] {
            if let Some(rel) = sanitize_relative(input) {
                assert!(is_plain_relative(&rel), "{input:?} gave {rel:?}");
            }
        }
        assert_eq!(
            sanitize_relative("\\\\.\\COM1"),
            Some(PathBuf::from("_COM1"))
        );
    }

    #[test]
    fn more_than_32_components_keep_the_last_ones() {
        let input: Vec<String> = (0..40).map(|i| format!("d{i}")).collect();
        let rel = sanitize_relative(&input.join("/")).unwrap();
        let names: Vec<_> = rel.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(names.len(), MAX_COMPONENTS);
        assert_eq!(names.first(), Some(&"d8"));
        assert_eq!(names.last(), Some(&"d39"));
    }

    #[test]
    fn windows_reserved_names_and_trailing_dots_and_spaces_are_made_safe() {
        let table = [
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("COM1", "_COM1"),
            ("lpt9.log", "_lpt9.log"),
            ("file. . .", "file"),
            ("name   ", "name"),
            ("con . ", "_con"),
            ("com1.tar.gz", "_com1.tar.gz"),
            ("  lead", "lead"),
            ("COM10", "COM10"),
            ("console", "console"),
            ("a<b>c:d\"e|f?g*h", "a_b_c_d_e_f_g_h"),
        ];
        for (input, expected) in table {
            assert_eq!(
                sanitize_component(input).as_deref(),
                Some(expected),
                "{input:?}"
            );
        }
        assert_eq!(sanitize_component(" . . "), None);
        assert_eq!(sanitize_component("..."), None);
    }

    #[test]
    fn every_device_name_windows_reserves_is_prefixed_with_any_case_and_extension() {
        for r in RESERVED {
            for name in [
                r.to_string(),
                r.to_lowercase(),
                format!("{r}.jpg"),
                format!("{r}.tar.gz"),
                format!("{r} .txt"),
                format!("{r}.."),
            ] {
                let safe = sanitize_component(&name).unwrap();
                assert!(safe.starts_with('_'), "{name:?} became {safe:?}");
                assert!(!is_reserved(&safe), "{safe:?} is still a device");
            }
        }
        for fine in [
            "CONSOLE.txt",
            "COM10",
            "LPT",
            "NULL",
            "AUXILIARY.md",
            "PRN2",
            "con-x",
        ] {
            assert_eq!(sanitize_component(fine).as_deref(), Some(fine));
        }
    }

    #[test]
    fn each_character_windows_forbids_in_a_name_becomes_an_underscore() {
        for c in ['<', '>', ':', '"', '/', '\\', '|', '?', '*'] {
            assert_eq!(
                sanitize_component(&format!("a{c}b")).as_deref(),
                Some("a_b"),
                "{c:?}"
            );
        }
        // A colon would name an NTFS alternate data stream.
        assert_eq!(
            sanitize_component("photo.jpg:hidden").as_deref(),
            Some("photo.jpg_hidden")
        );
    }

    #[test]
    fn trailing_dots_and_spaces_which_windows_drops_are_removed() {
        for (input, expected) in [
            ("a.", "a"),
            ("a ", "a"),
            ("a. .", "a"),
            ("a.b. ", "a.b"),
            (" a", "a"),
        ] {
            assert_eq!(
                sanitize_component(input).as_deref(),
                Some(expected),
                "{input:?}"
            );
        }
        // A folder name too: "Holiday." and "Holiday" are one folder on Windows.
        assert_eq!(
            sanitize_relative("Holiday./x.jpg "),
            Some(PathBuf::from("Holiday").join("x.jpg"))
        );
    }

    #[test]
    fn control_characters_are_removed_from_names() {
        let all: String = (0u32..0x20)
            .chain(0x7f..0xa0)
            .filter_map(char::from_u32)
            .collect();
        assert_eq!(
            sanitize_component(&format!("a{all}b")).as_deref(),
            Some("ab")
        );
        assert_eq!(
            sanitize_component("new\nline\ttab\u{0}nul").as_deref(),
            Some("newlinetabnul")
        );
        assert_eq!(sanitize_component(&all), None);
    }

    #[test]
    fn unicode_tricks_are_removed_and_names_are_nfc() {
        let rlo = sanitize_component("photo\u{202E}gpj.exe").unwrap();
        assert_eq!(rlo, "photogpj.exe");
        assert!(!rlo.contains('\u{202E}'));
        assert_eq!(
            sanitize_component("e\u{0301}"),
            sanitize_component("\u{e9}")
        );
        assert_eq!(
            sanitize_component("caf\u{65}\u{301}.txt").unwrap(),
            "caf\u{e9}.txt"
        );
        assert_eq!(
            sanitize_component("a\u{200D}b\u{200C}c\u{200B}d\u{FEFF}e\u{2066}f\u{200E}").unwrap(),
            "abcdef"
        );
        assert_eq!(sanitize_component("\u{200D}\u{202E}\u{7}"), None);
    }

    #[test]
    fn a_4_kib_name_is_cut_to_255_bytes_and_keeps_its_extension() {
        let name = format!("{}.jpg", "\u{e9}".repeat(2048));
        assert_eq!(name.len(), 4100);
        let safe = sanitize_component(&name).unwrap();
        assert!(safe.len() <= MAX_COMPONENT_BYTES, "{} bytes", safe.len());
        assert!(safe.ends_with(".jpg"));
        assert!(safe.starts_with('\u{e9}'));
        // A reserved stem revealed by the cut still gets its '_' within the limit.
        let sneaky = format!("CON{}x.jpg", " ".repeat(300));
        let safe = sanitize_component(&sneaky).unwrap();
        assert_eq!(safe, "_CON.jpg");
        let at_limit = format!("nul.{}", "t".repeat(251));
        assert_eq!(at_limit.len(), MAX_COMPONENT_BYTES);
        let safe = sanitize_component(&at_limit).unwrap();
        assert!(safe.len() <= MAX_COMPONENT_BYTES && safe.starts_with("_nul."));
    }

    #[cfg(unix)]
    #[test]
    fn prepare_target_refuses_a_symlinked_folder_pointing_outside() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        let err = prepare_target(dir.path(), Path::new("evil/f.txt")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        let err = prepare_target(dir.path(), Path::new("evil/sub/f.txt")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn prepare_target_refuses_a_final_target_that_is_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let aim = outside.path().join("victim");
        std::os::unix::fs::symlink(&aim, dir.path().join("f.txt")).unwrap();
        assert!(prepare_target(dir.path(), Path::new("f.txt")).is_err());
        assert!(fs::symlink_metadata(&aim).is_err());
    }

    #[test]
    fn prepare_target_refuses_a_file_where_a_folder_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), b"x").unwrap();
        let err = prepare_target(dir.path(), Path::new("a/f.txt")).unwrap_err();
        assert!(err.to_string().contains("is a file"), "{err}");
    }

    #[test]
    fn prepare_target_creates_nested_real_folders() {
        let dir = tempfile::tempdir().unwrap();
        let target = prepare_target(dir.path(), Path::new("a/b/c/f.txt")).unwrap();
        assert_eq!(target, dir.path().join("a/b/c/f.txt"));
        assert!(target.is_absolute());
        assert!(fs::symlink_metadata(dir.path().join("a/b/c"))
            .unwrap()
            .is_dir());
        assert!(
            fs::symlink_metadata(&target).is_err(),
            "the file itself is not created"
        );
        // Existing real folders are fine the second time.
        assert_eq!(
            prepare_target(dir.path(), Path::new("a/b/g.txt")).unwrap(),
            dir.path().join("a/b/g.txt")
        );
    }

    #[cfg(unix)]
    #[test]
    fn prepare_target_accepts_a_download_folder_reached_through_a_symlink() {
        let real = tempfile::tempdir().unwrap();
        let links = tempfile::tempdir().unwrap();
        let dir = links.path().join("downloads");
        std::os::unix::fs::symlink(real.path(), &dir).unwrap();
        let target = prepare_target(&dir, Path::new("a/f.txt")).unwrap();
        assert_eq!(target, dir.join("a/f.txt"));
        assert!(real.path().join("a").is_dir());
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "unsanitized"))]
    fn prepare_target_rejects_unsanitized_paths() {
        let dir = tempfile::tempdir().unwrap();
        let err = prepare_target(dir.path(), Path::new("../f.txt")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn unique_path_numbers_taken_names() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.jpg");
        assert_eq!(unique_path(&photo), photo);
        fs::write(&photo, b"1").unwrap();
        let first = unique_path(&photo);
        assert_eq!(first, dir.path().join("photo (1).jpg"));
        fs::write(&first, b"2").unwrap();
        assert_eq!(unique_path(&photo), dir.path().join("photo (2).jpg"));
    }

    #[test]
    fn unique_path_handles_names_without_extension_dotfiles_and_double_extensions() {
        let dir = tempfile::tempdir().unwrap();
        for (name, expected) in [
            ("README", "README (1)"),
            (".bashrc", ".bashrc (1)"),
            ("archive.tar.gz", "archive.tar (1).gz"),
        ] {
            let path = dir.path().join(name);
            fs::write(&path, b"x").unwrap();
            assert_eq!(unique_path(&path), dir.path().join(expected));
        }
    }

    #[cfg(unix)]
    #[test]
    fn unique_path_treats_a_dangling_symlink_as_existing() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.jpg");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &photo).unwrap();
        assert!(!photo.exists(), "the symlink dangles");
        assert_eq!(unique_path(&photo), dir.path().join("photo (1).jpg"));
    }

    #[test]
    fn unique_path_falls_back_to_a_pid_suffix_and_keeps_names_short() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.jpg");
        for name in ["photo.jpg", "photo (1).jpg", "photo (2).jpg"] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let fallback = unique_path_within(&photo, 2);
        let name = fallback.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("photo ({}-", std::process::id())),
            "{name}"
        );
        assert!(name.ends_with(").jpg"));
        assert!(!exists(&fallback));

        let long = dir.path().join(format!("{}.jpg", "a".repeat(251)));
        fs::write(&long, b"x").unwrap();
        let next = unique_path(&long);
        let name = next.file_name().unwrap().to_str().unwrap();
        assert!(
            name.len() <= MAX_COMPONENT_BYTES && name.ends_with(" (1).jpg"),
            "{name}"
        );
    }
}
