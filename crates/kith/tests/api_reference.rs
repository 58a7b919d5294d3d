//! API.md against the code: every command, event and error code the code knows is documented
//! in its place in API.md, and API.md documents none that the code does not know.
//!
//! The names come from the code itself: commands from serde's error for an unknown `cmd`,
//! events from the source of the `Event` enum and the events the host and control socket
//! write by hand, error codes from `ErrorCode::ALL` (the CLI's own codes included).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

type Names = BTreeSet<String>;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// API.md, read at run time (it lives outside the crate).
fn api_md() -> String {
    let path = crate_dir().join("../../API.md");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every `.rs` file of the workspace's crates (`crates/*/src`), with its text.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = fs::read_to_string(&path).expect("a source file is UTF-8");
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    for krate in ["kith-proto", "kith-node", "kith"] {
        walk(&crate_dir().join("..").join(krate).join("src"), &mut out);
    }
    assert!(!out.is_empty(), "no sources found");
    out
}

/// The lines of the `## N. <title>` section of a markdown document, up to the next `## `.
fn section<'a>(doc: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = doc
        .lines()
        .skip_while(|l| !(l.starts_with("## ") && l.ends_with(title)));
    assert!(
        lines.next().is_some(),
        "API.md has no section ending in {title:?}"
    );
    lines.take_while(|l| !l.starts_with("## ")).collect()
}

/// The text between the first pair of backticks that a line starts with (after `prefix`).
fn ticked<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(prefix)?.strip_prefix('`')?;
    let (name, _) = rest.split_once('`')?;
    Some(name)
}

/// The names serde lists in "unknown variant `x`, expected one of `a`, `b`, ...".
fn names_in_serde_error(error: &str) -> Names {
    let (_, expected) = error
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("not an unknown-variant error: {error}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn snake_case(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn commands_in_code() -> Names {
    let error = serde_json::from_value::<kith_proto::api::Command>(
        serde_json::json!({"cmd": "no such command"}),
    )
    .expect_err("no command is called that")
    .to_string();
    names_in_serde_error(&error)
}

/// The variants of `enum Event` (serde: tagged on `event`, snake_case), read from the source,
/// and every `"event": "name"` written by hand (the host's `node_up`, the socket's `lagged`).
fn events_in_code() -> Names {
    let mut names = Names::new();
    let mut found_enum = false;
    for (path, text) in sources() {
        if let Some(start) = text.find("pub enum Event {") {
            found_enum = true;
            let before = &text[..start];
            let attrs = &before[before.rfind("\n\n").unwrap_or(0)..];
            assert!(
                attrs.contains("tag = \"event\"") && attrs.contains("rename_all = \"snake_case\""),
                "{}: Event is no longer tagged on \"event\" in snake_case; update this test",
                path.display()
            );
            let body = &text[start..];
            let body = &body[..body.find("\n}").expect("the enum ends")];
            for line in body.lines().skip(1) {
                let Some(rest) = line.strip_prefix("    ") else {
                    continue;
                };
                if rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                    let variant: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .collect();
                    names.insert(snake_case(&variant));
                }
            }
        }
        for piece in text.split("\"event\": \"").skip(1) {
            if let Some((name, _)) = piece.split_once('"') {
                names.insert(name.to_string());
            }
        }
    }
    assert!(found_enum, "no `pub enum Event {{` in crates/*/src");
    names
}

/// The wire word of every code in `ErrorCode::ALL` (a compile-time check in kith-proto keeps
/// `ALL` complete).
fn error_codes_in_code() -> Names {
    kith_proto::api::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}

/// Commands documented in API.md: the ``### `name` `` headings of "Commands".
fn documented_commands(doc: &str) -> Names {
    section(doc, "Commands")
        .into_iter()
        .filter_map(|l| ticked(l, "### "))
        .map(str::to_string)
        .collect()
}

/// Events documented in API.md: the first column of the table of "Events".
fn documented_events(doc: &str) -> Names {
    section(doc, "Events")
        .into_iter()
        .filter_map(|l| ticked(l, "| "))
        .map(str::to_string)
        .collect()
}

/// Error codes documented in API.md: the top-level ``* `code`: `` items of "Error codes".
fn documented_error_codes(doc: &str) -> Names {
    section(doc, "Error codes")
        .into_iter()
        .filter_map(|l| ticked(l, "* "))
        .map(str::to_string)
        .collect()
}

/// Fails with both lists when the code and API.md disagree.
fn assert_same(what: &str, in_code: &Names, documented: &Names) {
    assert!(
        in_code.len() > 5,
        "found too few {what} in the code: {in_code:?}"
    );
    let undocumented: Vec<&String> = in_code.difference(documented).collect();
    let unknown: Vec<&String> = documented.difference(in_code).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{what}: in the code but not in API.md: {undocumented:?}; \
         in API.md but unknown to the code: {unknown:?}"
    );
}

#[test]
fn every_command_the_node_accepts_is_in_the_api_reference_and_no_other() {
    assert_same(
        "commands",
        &commands_in_code(),
        &documented_commands(&api_md()),
    );
}

#[test]
fn every_event_the_node_and_host_send_is_in_the_api_reference_and_no_other() {
    assert_same("events", &events_in_code(), &documented_events(&api_md()));
}

#[test]
fn every_error_code_of_the_api_and_the_cli_is_in_the_api_reference_and_no_other() {
    assert_same(
        "error codes",
        &error_codes_in_code(),
        &documented_error_codes(&api_md()),
    );
}
