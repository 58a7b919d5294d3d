//! Multi-process tests: photos and videos of every common phone format (JPEG with a secondary
//! picture and a motion-photo video after it, PNG with plain and compressed XMP, WebP, TIFF, DNG,
//! HEIC, AVIF, MP4, MOV, MKV) leave without their location, made here with exiftool, heif-enc
//! and ffmpeg (installed by tests/media/setup.sh); a WebM without a location is shared as it is;
//! a video that Kith cannot clean (AVI) is refused with `location_kept` unless `--keep-location`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{wait_until, Node};
use serde_json::Value;

const SOON: Duration = Duration::from_secs(15);

/// Whether exiftool, heif-enc and ffmpeg are installed; with `CI=true` a missing tool fails.
fn tools() -> bool {
    let missing: Vec<&str> = ["exiftool", "heif-enc", "ffmpeg"]
        .into_iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{missing:?} missing: run tests/media/setup.sh");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("SKIPPED: {why}");
    false
}

fn run(program: &str, args: &[&str]) {
    let o = Command::new(program).args(args).output().expect(program);
    assert!(
        o.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Writes the location (EXIF GPS and XMP exif:GPS…) into a photo with exiftool.
fn exif_gps(p: &Path, extra: &[&str]) {
    let mut args = vec![
        "-q",
        "-overwrite_original",
        "-GPSLatitude=48.8584",
        "-GPSLatitudeRef=N",
        "-GPSLongitude=2.2945",
        "-GPSLongitudeRef=E",
        "-XMP-exif:GPSLatitude=48.8584N",
        "-XMP-exif:GPSLongitude=2.2945E",
        "-Make=KithCam",
    ];
    args.extend(extra);
    args.push(s(p));
    run("exiftool", &args);
}

fn ffmpeg(args: &[&str]) {
    let mut all = vec!["-hide_banner", "-loglevel", "error", "-y"];
    all.extend(args);
    run("ffmpeg", &all);
}

/// Every fixture, each carrying the location; returns the folder.
fn fixtures(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    let out = dir.join("Trip");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let test_src = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"];
    // A second of video with the location in ffmpeg's `location` metadata.
    let video = |p: &Path| {
        let mut a = test_src.to_vec();
        a.extend([
            "-t",
            "1",
            "-c:v",
            "mpeg4",
            "-metadata",
            "location=+48.8584+002.2945/",
            s(p),
        ]);
        ffmpeg(&a);
    };
    let still = |name: &str| {
        let p = out.join(name);
        let mut a = test_src.to_vec();
        a.extend(["-frames:v", "1", s(&p)]);
        ffmpeg(&a);
        p
    };
    // JPEG + a secondary JPEG (as MPF stores it) + a motion-photo MP4, each with a location.
    let jpg = still("photo.jpg");
    exif_gps(&jpg, &[]);
    let clip = src.join("motion.mp4");
    video(&clip);
    let mut motion = std::fs::read(&jpg).unwrap();
    motion.extend(std::fs::read(&jpg).unwrap());
    motion.extend(std::fs::read(&clip).unwrap());
    std::fs::write(out.join("motion.jpg"), motion).unwrap();
    // PNG (eXIf + XMP in iTXt), the same with compressed XMP, WebP, TIFF, DNG.
    exif_gps(&still("photo.png"), &[]);
    exif_gps(&still("compressed.png"), &["-z"]);
    exif_gps(&still("photo.webp"), &[]);
    exif_gps(&still("photo.tif"), &[]);
    let dng = still("raw.tif");
    exif_gps(&dng, &["-DNGVersion=1.4.0.0"]);
    std::fs::rename(&dng, out.join("raw.dng")).unwrap();
    // HEIC and AVIF (heif-enc carries the JPEG's EXIF and XMP over).
    run(
        "heif-enc",
        &["-q", "50", "-o", s(&out.join("photo.heic")), s(&jpg)],
    );
    run(
        "heif-enc",
        &["-A", "-o", s(&out.join("photo.avif")), s(&jpg)],
    );
    // MKV (ffmpeg writes the location as a LOCATION SimpleTag).
    video(&out.join("clip.mkv"));
    // MP4 (3GPP loci + XMP) and MOV (QuickTime ©xyz + keys/ilst location).
    for (name, keys) in [("clip.mp4", false), ("clip.mov", true)] {
        let p = out.join(name);
        video(&p);
        let mut args = vec![
            "-q",
            "-overwrite_original",
            "-XMP-exif:GPSLatitude=48.8584N",
            "-XMP-exif:GPSLongitude=2.2945E",
        ];
        if keys {
            args.push("-Keys:GPSCoordinates=48.8584 N, 2.2945 E");
        }
        args.push(s(&p));
        run("exiftool", &args);
    }
    out
}

/// What exiftool reads of a file's location (numbers as numbers), with embedded documents.
fn exiftool_dump(p: &Path) -> String {
    let o = Command::new("exiftool")
        .args(["-a", "-n", "-ee", "-G1", s(p)])
        .output()
        .expect("exiftool");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The location values written, as they can appear in the bytes: text forms, EXIF rationals
/// (degrees and minutes, either byte order) and 3GPP fixed point.
fn location_bytes() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "48.858", "+48.85", "48,51", "2.2945", "2.294", "002.29", "2,17",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    for words in [[48u32, 1, 51, 1], [2, 1, 17, 1]] {
        v.push(words.iter().flat_map(|w| w.to_be_bytes()).collect());
        v.push(words.iter().flat_map(|w| w.to_le_bytes()).collect());
    }
    v.push(
        ((48.8584f64 * 65536.0).round() as i32)
            .to_be_bytes()
            .to_vec(),
    );
    v
}

fn leaks(p: &Path) -> Vec<String> {
    let bytes = std::fs::read(p).unwrap();
    let mut found: Vec<String> = location_bytes()
        .into_iter()
        .filter(|n| bytes.windows(n.len()).any(|w| w == n.as_slice()))
        .map(|n| format!("bytes {n:?}"))
        .collect();
    let dump = exiftool_dump(p);
    for l in dump.lines() {
        if l.contains("48.858") || l.contains("2.294") {
            found.push(l.to_string());
        }
    }
    found
}

fn arrives(b: &Node, id: &str) {
    assert!(
        wait_until(SOON, || b
            .json(&["albums", "--json"])
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["id"] == id))),
        "the album did not arrive"
    );
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn photos_and_videos_of_every_phone_format_reach_a_friend_without_their_location() {
    if !tools() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let trip = fixtures(work.path());
    let originals = snapshot(&trip);
    // Each fixture carries the location before sharing (or the test proves nothing).
    for (name, _) in &originals {
        assert!(
            !leaks(&trip.join(name)).is_empty(),
            "{name} has no location to remove"
        );
    }
    let (a, b) = common::pair_with_download_folders();
    let r = a.json(&["share", "--json", s(&trip)]);
    let id = r["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    arrives(&b, &id);
    let o = b.cli(&["fetch", &id, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, before) in &originals {
        let got = b.home().join("dl/Trip").join(name);
        let left = leaks(&got);
        assert!(left.is_empty(), "{name} kept its location: {left:?}");
        // Nothing but the location changed: the same length, other metadata still there
        // (compressed PNG XMP is deflated anew, so its length may differ).
        let after = std::fs::read(&got).unwrap();
        if *name != "compressed.png" {
            assert_eq!(after.len(), before.len(), "{name}");
        }
        let dump = exiftool_dump(&got);
        assert!(!dump.contains("[ExifTool]      Error"), "{name}: {dump}");
        if ![".mp4", ".mov", ".mkv"].iter().any(|e| name.ends_with(e)) {
            assert!(
                dump.contains("KithCam"),
                "{name} lost its other metadata: {dump}"
            );
        }
    }
    // The owner's originals are untouched.
    assert_eq!(snapshot(&trip), originals);
    // A video is served with its patches laid over, also by the owner's own gateway: the same
    // bytes the friend got, verified chunk by chunk.
    let items = a.json(&["album", &id, "--json"])["items"].clone();
    let mp4 = items
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name"] == "Trip/clip.mp4"))
        .cloned()
        .unwrap_or(Value::Null);
    let item = mp4["id"].as_str().expect("clip.mp4 in the album");
    let base = a.json(&["status", "--json"])["gateway"]
        .as_str()
        .expect("a gateway")
        .to_string();
    let served = http_get(&format!("{base}item/{item}"));
    assert_eq!(
        served,
        std::fs::read(b.home().join("dl/Trip/clip.mp4")).unwrap()
    );
}

/// A plain HTTP GET of a loopback URL (the gateway's Host check accepts it).
fn http_get(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut c = std::net::TcpStream::connect(host).expect("connect");
    write!(
        c,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw[..end])
    );
    raw[end + 4..].to_vec()
}

#[test]
fn a_video_kith_cannot_clean_is_refused_with_location_kept_unless_kept_and_a_plain_webm_is_shared_as_it_is(
) {
    if !tools() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let avi = work.path().join("clip.avi");
    let webm = work.path().join("screen.webm");
    let photo = work.path().join("fine.txt");
    std::fs::write(&photo, b"no location here").unwrap();
    let test_src = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=10",
        "-t",
        "1",
    ];
    let mut args = test_src.to_vec();
    args.extend(["-c:v", "mpeg4", s(&avi)]);
    ffmpeg(&args);
    let mut args = test_src.to_vec();
    args.extend(["-c:v", "libvpx", "-deadline", "realtime", s(&webm)]);
    ffmpeg(&args);
    let (a, b) = common::pair_with_download_folders();
    let o = a.cli(&["share", "--json", s(&avi), s(&photo)]);
    assert_eq!(o.status.code(), Some(1));
    let e: Value = serde_json::from_slice(&o.stdout).expect("a JSON error");
    assert_eq!(e["error"]["code"], "location_kept", "{e}");
    let kept = e["error"]["location_kept"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(kept.len(), 1, "{e}");
    assert_eq!(kept[0]["path"], s(&avi));
    assert!(String::from_utf8_lossy(&o.stderr).contains("clip.avi"));
    assert!(a
        .json(&["albums", "--json"])
        .as_array()
        .is_some_and(|l| l.is_empty()));
    // Keeping the location shares it as it is.
    let r = a.json(&["share", "--json", "--keep-location", s(&avi)]);
    let id = r["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    arrives(&b, &id);
    assert!(b.cli(&["fetch", &id, "--json"]).status.success());
    assert_eq!(
        std::fs::read(b.home().join("dl/clip.avi")).unwrap(),
        std::fs::read(&avi).unwrap()
    );
    // A WebM without a location (as browsers and screen recorders make them) is proven clean
    // and shared without asking, byte for byte.
    let r = a.json(&["share", "--json", s(&webm)]);
    let id = r["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    arrives(&b, &id);
    assert!(b.cli(&["fetch", &id, "--json"]).status.success());
    assert_eq!(
        std::fs::read(b.home().join("dl/screen.webm")).unwrap(),
        std::fs::read(&webm).unwrap()
    );
}
