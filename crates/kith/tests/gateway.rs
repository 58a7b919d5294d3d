//! Multi-process tests of galleries: thumbnails and metadata travel with an album, photos
//! leave without their location, and the loopback gateway (token, Host header, ranges,
//! verified bytes only, streaming while a fetch runs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{api, ok, random_bytes, wait_until, Node};
use kith_node::media::exif_build::{jpeg_with_exif, ExifSpec};
use serde_json::{json, Value};

const SOON: Duration = Duration::from_secs(15);

/// A reply read off the wire.
struct Http {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a raw HTTP/1.1 request (with `Connection: close`) and reads the whole answer.
fn http(port: u16, request_head: &str) -> Http {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the gateway");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(format!("{request_head}Connection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Http {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// A GET of `path` under the node's gateway token, with extra header lines.
fn get(gw: &Gateway, path: &str, extra: &str) -> Http {
    http(
        gw.port,
        &format!(
            "GET /{}/{path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}",
            gw.token, gw.port
        ),
    )
}

struct Gateway {
    port: u16,
    token: String,
}

fn gateway(n: &Node) -> Gateway {
    let base = n.json(&["status", "--json"])["gateway"]
        .as_str()
        .expect("status names the gateway")
        .to_string();
    let rest = base.strip_prefix("http://127.0.0.1:").expect("loopback");
    let (port, token) = rest.split_once('/').expect("port and token");
    Gateway {
        port: port.parse().expect("port"),
        token: token.trim_end_matches('/').to_string(),
    }
}

fn sha_hex(b: &[u8]) -> String {
    kith_proto::album::hex(&kith_proto::hash::sha256(b))
}

fn photo(w: u32, h: u32, gps: bool) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
    jpeg_with_exif(
        &img,
        85,
        &ExifSpec {
            make: Some("KithCam".into()),
            orientation: Some(6),
            taken: Some("2026:07:14 10:30:00".into()),
            gps: gps.then_some((48.8584, 2.2945)),
        },
    )
}

fn has_gps(path: &Path) -> bool {
    let f = std::fs::File::open(path).expect("open");
    exif::Reader::new()
        .read_from_container(&mut std::io::BufReader::new(f))
        .map(|e| e.fields().any(|f| f.tag.to_string().starts_with("GPS")))
        .unwrap_or(false)
}

/// Shares `paths` from `a` and waits until `b` has the album; returns its ID.
fn share_and_receive(a: &Node, b: &Node, paths: &[&Path], extra: &[&str]) -> String {
    let mut args = vec!["share", "--json"];
    let p: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(p);
    args.extend(extra);
    let id = a.json(&args)["id"].as_str().expect("album id").to_string();
    assert!(
        wait_until(SOON, || b
            .json(&["albums", "--json"])
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["id"] == id.as_str()))),
        "the album did not arrive"
    );
    id
}

fn items(n: &Node, album: &str) -> Vec<Value> {
    n.json(&["album", album, "--json"])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_friends_album_arrives_with_thumbnails_and_metadata_and_photos_leave_without_their_location() {
    let (a, b) = common::pair_with_download_folders();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("Beach");
    std::fs::create_dir(&dir).unwrap();
    let original = photo(1600, 1200, true);
    std::fs::write(dir.join("sunset.jpg"), &original).unwrap();
    std::fs::write(dir.join("notes.txt"), b"sand everywhere").unwrap();
    std::fs::write(dir.join("broken.jpg"), &original[..300]).unwrap();
    let album = share_and_receive(&a, &b, &[&dir], &[]);

    let list = items(&b, &album);
    let by_name = |n: &str| {
        list.iter()
            .find(|i| i["name"].as_str().unwrap_or("").ends_with(n))
            .cloned()
            .unwrap_or_else(|| panic!("{n} missing from {list:?}"))
    };
    let sunset = by_name("sunset.jpg");
    assert_eq!(sunset["kind"], "image");
    assert_eq!(
        (sunset["w"].as_u64(), sunset["h"].as_u64()),
        (Some(1200), Some(1600))
    );
    assert_eq!(sunset["taken"], 1_784_025_000u64);
    let thumb = sunset["thumb"].as_str().expect("a thumbnail").to_string();
    assert_eq!(by_name("notes.txt")["kind"], "file");
    assert!(by_name("notes.txt")["thumb"].is_null());
    // A file that does not decode gets no thumbnail (a placeholder), and the share still works.
    assert!(by_name("broken.jpg")["thumb"].is_null());

    // The thumbnail reached the friend before any full-size byte: served by its gateway.
    let gw = gateway(&b);
    let t = get(&gw, &format!("thumb/{thumb}"), "");
    assert_eq!(t.status, 200, "{}", String::from_utf8_lossy(&t.body));
    assert_eq!(t.header("content-type"), Some("image/jpeg"));
    assert_eq!(sha_hex(&t.body), thumb);
    let img = image::load_from_memory(&t.body).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (240, 320));
    assert!(b
        .json(&["transfers", "--json"])
        .as_array()
        .is_some_and(|l| l.is_empty()));

    // Fetched: the photo has no location; the owner's original is untouched.
    let o = b.cli(&["fetch", &album, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = b.home().join("dl/Beach/sunset.jpg");
    assert!(!has_gps(&got), "the location left the owner's computer");
    assert_eq!(std::fs::read(dir.join("sunset.jpg")).unwrap(), original);
    assert!(has_gps(&dir.join("sunset.jpg")));
    let fetched = std::fs::read(&got).unwrap();
    assert_eq!(fetched.len(), original.len());
    assert_eq!(
        image::load_from_memory(&fetched).unwrap().to_rgb8(),
        image::load_from_memory(&original).unwrap().to_rgb8()
    );

    // Shared keeping the location: the friend gets the file as it is.
    let kept = src.path().join("kept.jpg");
    std::fs::write(&kept, &original).unwrap();
    let album2 = share_and_receive(&a, &b, &[&kept], &["--keep-location"]);
    let o = b.cli(&["fetch", &album2, "--json"]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(b.home().join("dl/kept.jpg")).unwrap(),
        original
    );
}

#[test]
fn the_gateway_refuses_requests_without_the_token_or_with_a_foreign_host() {
    let (a, _b) = common::pair_with_download_folders();
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("pic.jpg");
    std::fs::write(&f, photo(400, 300, false)).unwrap();
    let album = a.json(&["share", "--json", "--keep-location", f.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let item = items(&a, &album)[0].clone();
    let (id, thumb) = (
        item["id"].as_str().unwrap(),
        item["thumb"].as_str().unwrap(),
    );
    let gw = gateway(&a);
    assert_eq!(get(&gw, &format!("item/{id}"), "").status, 200);
    assert_eq!(get(&gw, &format!("thumb/{thumb}"), "").status, 200);

    let port = gw.port;
    let wrong_token = http(
        port,
        &format!(
            "GET /{}/item/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n",
            "0".repeat(32)
        ),
    );
    assert_eq!(wrong_token.status, 403);
    let no_token = http(
        port,
        &format!("GET /item/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"),
    );
    assert_ne!(no_token.status, 200);
    // DNS rebinding: a page of another site that resolves to 127.0.0.1.
    let foreign = http(
        port,
        &format!(
            "GET /{}/item/{id} HTTP/1.1\r\nHost: evil.example:{port}\r\n",
            gw.token
        ),
    );
    assert_eq!(foreign.status, 403);
    let other_port = http(
        port,
        &format!(
            "GET /{}/item/{id} HTTP/1.1\r\nHost: 127.0.0.1:80\r\n",
            gw.token
        ),
    );
    assert_eq!(other_port.status, 403);
    let no_host = http(port, &format!("GET /{}/item/{id} HTTP/1.1\r\n", gw.token));
    assert!((400..500).contains(&no_host.status), "{}", no_host.status);
    let post = http(
        port,
        &format!(
            "POST /{}/item/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n",
            gw.token
        ),
    );
    assert_eq!(post.status, 405);
    let unknown = get(&gw, &format!("item/{}", "ab".repeat(32)), "");
    assert_eq!(unknown.status, 404);
    for r in [&wrong_token, &foreign, &no_host] {
        assert!(r.body.len() < 100, "refusals carry no content");
    }
    // Every answer forbids running anything, and the token changes with every start.
    let ok_reply = get(&gw, &format!("item/{id}"), "");
    assert_eq!(ok_reply.header("x-content-type-options"), Some("nosniff"));
    assert!(ok_reply
        .header("content-security-policy")
        .is_some_and(|c| c.contains("sandbox")));
    let mut a = a;
    a.stop();
    a.start();
    let again = gateway(&a);
    assert_ne!(again.token, gw.token);
    assert_eq!(get(&again, &format!("item/{id}"), "").status, 200);
}

#[test]
fn only_the_origin_the_add_on_told_and_the_pinned_chromium_one_may_load_from_the_gateway() {
    let a = Node::started("Ann");
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("pic.jpg");
    std::fs::write(&f, photo(400, 300, false)).unwrap();
    let album = a.json(&["share", "--json", "--keep-location", f.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = items(&a, &album)[0]["id"].as_str().unwrap().to_string();
    let gw = gateway(&a);
    let from = |origin: &str| get(&gw, &format!("item/{id}"), &format!("Origin: {origin}\r\n"));
    let mine = "moz-extension://0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    let other = "moz-extension://11111111-2222-3333-4444-555555555555";
    // Before the add-on tells its origin, even its pages get nothing.
    assert_eq!(from(mine).status, 403);
    ok(api(&a, json!({"cmd": "addon_origin", "origin": mine})));
    let admitted = from(mine);
    assert_eq!(admitted.status, 200);
    assert_eq!(admitted.header("access-control-allow-origin"), Some(mine));
    assert_eq!(admitted.body, std::fs::read(&f).unwrap());
    // Another extension, or a web page, is refused and learns nothing.
    for foreign in [other, "https://evil.example", "null"] {
        let r = from(foreign);
        assert_eq!(r.status, 403, "{foreign}");
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert!(r.body.len() < 100, "a refusal carries no content");
    }
    // The Chromium build's pinned origin needs no telling.
    let chromium = format!("chrome-extension://{}", kith::CHROMIUM_EXTENSION_ID);
    assert_eq!(from(&chromium).status, 200);
    // Without an Origin (an <img> or <video> of the add-on), the token is what admits.
    assert_eq!(get(&gw, &format!("item/{id}"), "").status, 200);
    // Only an extension origin can be told.
    for bad in [
        "https://evil.example",
        "moz-extension://not-a-uuid",
        "chrome-extension://x",
    ] {
        let r = api(&a, json!({"cmd": "addon_origin", "origin": bad}));
        assert_eq!(r["error"]["code"], "bad_request", "{bad}: {r}");
    }
}

#[test]
fn range_requests_get_exactly_the_bytes_asked_for() {
    let a = Node::started("Ann");
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("film.webm");
    let data = random_bytes(3 * 1024 * 1024 + 12_345, 7);
    std::fs::write(&f, &data).unwrap();
    let album = a.json(&["share", "--json", "--keep-location", f.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = items(&a, &album)[0]["id"].as_str().unwrap().to_string();
    let gw = gateway(&a);
    let path = format!("item/{id}");
    let size = data.len();

    let whole = get(&gw, &path, "");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), Some("video/webm"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.body, data);

    let r = get(&gw, &path, "Range: bytes=100-199\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 100-199/{size}").as_str())
    );
    assert_eq!(r.body, data[100..200]);
    // Across a chunk boundary, open-ended, and a suffix.
    let r = get(&gw, &path, "Range: bytes=1048000-1049000\r\n");
    assert_eq!(r.body, data[1_048_000..=1_049_000]);
    let r = get(&gw, &path, "Range: bytes=3000000-\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, data[3_000_000..]);
    let r = get(&gw, &path, "Range: bytes=-1000\r\n");
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {}-{}/{size}", size - 1000, size - 1).as_str())
    );
    assert_eq!(r.body, data[size - 1000..]);
    // Past the end: 416 with the size.
    let r = get(&gw, &path, &format!("Range: bytes={size}-\r\n"));
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    // Malformed: ignored, the whole file.
    let r = get(&gw, &path, "Range: bytes=500-100\r\n");
    assert_eq!((r.status, r.body.len()), (200, size));
    // Several ranges: multipart/byteranges with each part's bytes.
    let r = get(&gw, &path, "Range: bytes=0-9, 2097150-2097160\r\n");
    assert_eq!(r.status, 206);
    let ctype = r.header("content-type").unwrap_or("").to_string();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart");
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let text = r.body.clone();
    let parts: Vec<&[u8]> = split(&text, format!("--{boundary}").as_bytes());
    let bodies: Vec<Vec<u8>> = parts
        .iter()
        .filter_map(|p| {
            let at = p.windows(4).position(|w| w == b"\r\n\r\n")?;
            let b = &p[at + 4..];
            Some(b.strip_suffix(b"\r\n").unwrap_or(b).to_vec())
        })
        .collect();
    assert_eq!(
        bodies,
        vec![data[0..10].to_vec(), data[2_097_150..=2_097_160].to_vec()]
    );
    // HEAD: the headers and no body.
    let h = http(
        gw.port,
        &format!(
            "HEAD /{}/{path} HTTP/1.1\r\nHost: localhost:{}\r\n",
            gw.token, gw.port
        ),
    );
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some(size.to_string().as_str()));
    assert!(h.body.is_empty());

    // Changed after sharing: never served as the old content.
    let mut changed = data.clone();
    changed[5] ^= 1;
    std::fs::write(&f, &changed).unwrap();
    let r = get(&gw, &path, "");
    assert_ne!(r.status, 200);
    assert!(!r.body.windows(64).any(|w| w == &changed[0..64]));
}

fn split<'a>(hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = hay;
    while let Some(p) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..p]);
        rest = &rest[p + sep.len()..];
    }
    out.push(rest);
    out
}

#[test]
fn an_item_streams_from_the_gateway_while_its_fetch_is_still_running() {
    let (a, b) = common::pair_with_download_folders();
    b.cli(&["settings", "--download-rate", "4MB"]);
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("long.webm");
    let data = random_bytes(32 * 1024 * 1024, 11);
    std::fs::write(&f, &data).unwrap();
    let album = share_and_receive(&a, &b, &[&f], &["--keep-location"]);
    let id = items(&b, &album)[0]["id"].as_str().unwrap().to_string();
    let gw = gateway(&b);
    // A player seeks near the end of a video that is not here at all.
    let t = Instant::now();
    let from = 30 * 1024 * 1024 + 5;
    let r = get(
        &gw,
        &format!("item/{id}"),
        &format!("Range: bytes={from}-{}\r\n", from + 999),
    );
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r.status, 206, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, data[from..from + 1000]);
    // It came first: the rest of the file is still on its way (32 MiB at 4 MB/s takes 8 s).
    let transfers = b.json(&["transfers", "--json"]);
    assert!(
        transfers
            .as_array()
            .is_some_and(|l| l.iter().any(|t| t["target"] == id.as_str())),
        "the fetch should still be running after {secs:.1} s: {transfers}"
    );
    assert!(!b.home().join("dl/long.webm").exists());
    // Reading on from the start streams the whole file, verified, as it arrives.
    let whole = get(&gw, &format!("item/{id}"), "");
    assert_eq!(whole.status, 200);
    assert!(whole.body == data, "the streamed file differs");
    assert!(wait_until(SOON, || b.home().join("dl/long.webm").exists()));
    assert_eq!(std::fs::read(b.home().join("dl/long.webm")).unwrap(), data);
    // Once complete, the item is served from the finished file.
    let again = get(&gw, &format!("item/{id}"), "Range: bytes=0-99\r\n");
    assert_eq!(again.body, data[..100]);
}

#[test]
fn a_video_thumbnail_made_by_the_add_on_reaches_friends_and_bad_ones_are_refused() {
    let (a, b) = common::pair_with_download_folders();
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("clip.webm");
    std::fs::write(&f, random_bytes(100_000, 3)).unwrap();
    let album = share_and_receive(&a, &b, &[&f], &["--keep-location"]);
    let id = items(&a, &album)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(items(&b, &album)[0]["kind"], "video");
    assert!(items(&b, &album)[0]["thumb"].is_null());
    let frame = image::RgbImage::from_pixel(320, 180, image::Rgb([200, 30, 30]));
    let mut jpeg = Vec::new();
    frame
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(&jpeg);
    let r = ok(api(
        &a,
        json!({"cmd": "thumb_set", "item": id, "data": data, "duration_ms": 4200}),
    ));
    assert_eq!(r["thumb"], sha_hex(&jpeg));
    assert!(wait_until(SOON, || items(&b, &album)[0]["thumb"] == sha_hex(&jpeg)));
    let item = items(&b, &album)[0].clone();
    assert_eq!(
        (item["w"].as_u64(), item["h"].as_u64()),
        (Some(320), Some(180))
    );
    assert_eq!(item["duration_ms"], 4200);
    let gw = gateway(&b);
    assert!(wait_until(SOON, || get(
        &gw,
        &format!("thumb/{}", sha_hex(&jpeg)),
        ""
    )
    .body
        == jpeg));
    // Not a picture, too big, or not my item: refused with a clear code.
    let svg = base64::engine::general_purpose::STANDARD.encode(b"<svg onload=alert(1)>");
    let r = api(&a, json!({"cmd": "thumb_set", "item": id, "data": svg}));
    assert_eq!(r["error"]["code"], "bad_request", "{r}");
    let r = api(&b, json!({"cmd": "thumb_set", "item": id, "data": data}));
    assert_eq!(r["error"]["code"], "not_found", "{r}");
}

#[test]
fn files_added_to_an_album_of_mine_reach_its_audience_and_others_albums_cannot_be_added_to() {
    let (a, b) = common::pair_with_download_folders();
    let src = tempfile::tempdir().unwrap();
    let (one, two) = (src.path().join("one.jpg"), src.path().join("two.jpg"));
    std::fs::write(&one, photo(200, 100, false)).unwrap();
    std::fs::write(&two, photo(300, 100, false)).unwrap();
    let album = share_and_receive(&a, &b, &[&one], &[]);
    let r = ok(api(
        &a,
        json!({"cmd": "share", "paths": [two.to_str().unwrap()], "album": album}),
    ));
    assert_eq!(
        (r["id"].as_str(), r["items"].as_u64()),
        (Some(album.as_str()), Some(2))
    );
    assert!(wait_until(SOON, || items(&b, &album).len() == 2));
    assert!(items(&b, &album).iter().all(|i| i["thumb"].is_string()));
    let r = api(
        &b,
        json!({"cmd": "share", "paths": [two.to_str().unwrap()], "album": album}),
    );
    assert_eq!(r["error"]["code"], "bad_request", "{r}");
}

#[test]
fn thumbnails_over_the_owners_thumbnail_quota_are_not_pulled_until_the_quota_allows() {
    let (a, b) = common::pair_with_download_folders();
    let set = b.json(&["settings", "--quota-thumb-bytes", "1", "--json"]);
    assert_eq!(set["quota_thumb_bytes"], 1, "{set}");
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("Park");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("tree.jpg"), photo(640, 480, false)).unwrap();
    let album = share_and_receive(&a, &b, &[&dir], &[]);
    let thumb = items(&b, &album)[0]["thumb"]
        .as_str()
        .expect("a thumbnail")
        .to_string();
    let gw = gateway(&b);
    // Not pulled with the album, nor when the gallery asks for it.
    std::thread::sleep(Duration::from_secs(1));
    let t = get(&gw, &format!("thumb/{thumb}"), "");
    assert_ne!(t.status, 200, "a thumbnail over the quota was kept");
    assert!(b.log().contains("quota is used up"), "{}", b.log());
    // With room again, the gallery's next ask pulls it.
    b.json(&["settings", "--quota-thumb-bytes", "6G", "--json"]);
    assert!(wait_until(SOON, || get(&gw, &format!("thumb/{thumb}"), "")
        .status
        == 200));
}
