//! Inputs the fuzz targets (`fuzz/fuzz_targets/`) found, or that are worth keeping, replayed on
//! the stable toolchain through the same entry points and with the same checks. Each stored
//! input is a file in `tests/fuzz-regressions/<target>/`; a new crash goes there once fixed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

use std::io::Cursor;
use std::path::Path;

use kith_node::export::open;
use kith_node::gateway::{parse_range, Ranges};
use kith_node::media::strip::{jpeg_patches, remove_location, Removal};
use kith_node::media::thumb::{check_thumb, describe_reader, THUMB_SIZE};
use kith_node::transfer::manifest::Manifest;
use kith_node::wire::{read_frame, ReadError};
use kith_proto::album::SignedAlbum;
use kith_proto::api::parse_request;
use kith_proto::comment::{SignedComment, ThreadEntry};
use kith_proto::frame::{encode, Decoder, FrameError};
use kith_proto::hash::sha256;
use kith_proto::invite::parse;
use kith_proto::peer::PeerMsg;

/// The stored inputs of a target, then the given ones.
fn inputs(target: &str, more: &[&[u8]]) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out.extend(
        more.iter()
            .enumerate()
            .map(|(i, b)| (format!("{target} inline #{i}"), b.to_vec())),
    );
    out
}

/// JSON nested far deeper than any message: must be refused, not overflow the stack.
fn deep(prefix: &str) -> Vec<u8> {
    let mut b = prefix.as_bytes().to_vec();
    b.extend(std::iter::repeat_n(b'[', 100_000));
    b
}

#[test]
fn peer_frames_that_once_crashed_the_decoder_are_refused_cleanly() {
    let deep = deep(r#"{"type":"hello","name":"#);
    let addrs = (1..=17)
        .map(|p| format!("\"1.1.1.1:{p}\""))
        .collect::<Vec<_>>();
    let many = format!(
        r#"{{"type":"hello","name":"x","addrs":[{}],"observed":"1.2.3.4:5","boot":1}}"#,
        addrs.join(",")
    );
    let chunks = br#"{"type":"get_chunks","item":"00","from":18446744073709551615,"count":65}"#;
    for (name, b) in inputs("peer_msg", &[&deep, many.as_bytes(), chunks, b"\xff\xfe"]) {
        if let Ok(m) = PeerMsg::from_bytes(&b) {
            assert!(!name.contains("inline"), "{name} accepted");
            assert_eq!(PeerMsg::from_bytes(&m.to_bytes()).ok(), Some(m), "{name}");
        }
    }
}

#[test]
fn frame_streams_are_read_alike_by_the_async_reader_and_the_decoder_within_the_limit() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut mixed = vec![0x45u8];
    mixed.extend(encode(b"{}"));
    mixed.extend(0u32.to_ne_bytes());
    mixed.extend(encode(&[b'x'; 40]));
    mixed.extend(&encode(b"{\"a\":1}")[..6]);
    for (name, data) in inputs("wire_frames", &[&mixed]) {
        let Some((&cfg, stream)) = data.split_first() else {
            continue;
        };
        let max = 1 + (cfg & 0x3f) as usize;
        let mut r = stream;
        let mut by_wire: Vec<Result<Vec<u8>, FrameError>> = Vec::new();
        let truncated = rt.block_on(async {
            loop {
                match read_frame(&mut r, max).await {
                    Ok(Some(f)) => by_wire.push(Ok(f)),
                    Ok(None) => return false,
                    Err(ReadError::Frame(e)) => by_wire.push(Err(e)),
                    Err(ReadError::Truncated) => return true,
                    Err(ReadError::Io(e)) => panic!("{name}: {e}"),
                }
            }
        });
        assert!(by_wire.iter().flatten().all(|f| f.len() <= max), "{name}");
        let mut d = Decoder::new(max);
        let mut by_decoder = Vec::new();
        for piece in stream.chunks(1 + (cfg >> 6) as usize * 7) {
            d.feed(piece);
            while let Some(f) = d.next_frame() {
                by_decoder.push(f);
            }
        }
        // A stream that ends inside an oversized frame's body: the async reader says only
        // `Truncated`, the decoder first refuses the frame, then holds a partial one.
        if truncated
            && matches!(by_decoder.last(), Some(Err(FrameError::TooLarge { .. })))
            && by_decoder.len() == by_wire.len() + 1
        {
            by_decoder.pop();
        }
        assert_eq!(by_wire, by_decoder, "{name}");
        assert_eq!(truncated, d.has_partial(), "{name}");
        // Every kept input ends inside a frame.
        assert!(truncated, "{name}");
    }
}

#[test]
fn albums_that_once_crashed_the_decoder_are_refused_cleanly() {
    let deep = deep(r#"{"album":"#);
    for (name, b) in inputs("album", &[&deep, b"{}", br#"{"album":{},"sig":""}"#]) {
        if let Ok(s) = SignedAlbum::from_bytes(&b) {
            assert!(!name.contains("inline"), "{name} accepted");
            let again = SignedAlbum::from_bytes(&serde_json::to_vec(&s).unwrap());
            assert_eq!(again.as_ref(), Ok(&s), "{name}");
        }
    }
}

#[test]
fn comments_and_thread_entries_that_once_crashed_are_refused_cleanly() {
    let deep = deep(r#"{"comment":"#);
    let unsigned = br#"{"id":"03030303030303030303030303030303","seq":1,"rev":1,"hidden":false}"#;
    for (name, b) in inputs("comment", &[&deep, unsigned]) {
        let signed = serde_json::from_slice::<SignedComment>(&b)
            .ok()
            .filter(|s| s.verify().is_ok());
        let entry = serde_json::from_slice::<ThreadEntry>(&b).ok().filter(|e| {
            let album = e.comment.as_ref().map(|c| c.comment.album.clone());
            e.validate(&album.unwrap_or_default()).is_ok()
        });
        if let Some(e) = &entry {
            assert!(e.hidden || e.comment.as_ref().is_some_and(|c| c.verify().is_ok()));
        }
        if name.contains("inline") {
            assert!(signed.is_none() && entry.is_none(), "{name} accepted");
        }
    }
}

#[test]
fn manifests_that_once_crashed_are_refused_and_accepted_ones_are_canonical() {
    let mut absurd = b"KITHMAN1".to_vec();
    absurd.extend(u64::MAX.to_be_bytes());
    absurd.extend((1u32 << 20).to_be_bytes());
    absurd.extend(u32::MAX.to_be_bytes());
    for (name, b) in inputs("manifest", &[&absurd, b"KITHMAN1"]) {
        match Manifest::decode(&b) {
            Ok(m) => {
                assert_eq!(m.encode(), b, "{name}");
                assert_eq!(Manifest::decode_verified(&b, &sha256(&b)), Ok(m), "{name}");
            }
            Err(_) => assert!(Manifest::decode_verified(&b, &sha256(&b)).is_err()),
        }
        if name.contains("inline") {
            assert!(Manifest::decode(&b).is_err(), "{name} accepted");
        }
    }
}

#[test]
fn api_requests_that_once_crashed_get_an_error_with_their_own_id_or_none() {
    let deep = deep(r#"{"id":1,"cmd":"share","paths":"#);
    let cases: [&[u8]; 4] = [&deep, b"\xff", br#"{"id":-1,"cmd":"hello"}"#, b"[]"];
    for (name, b) in inputs("api_request", &cases) {
        match parse_request(&b) {
            Ok(r) => assert!(r.id.is_u64() || r.id.is_string(), "{name}"),
            Err((id, _)) => {
                let own = serde_json::from_slice::<serde_json::Value>(&b)
                    .ok()
                    .and_then(|v| v.get("id").cloned());
                assert!(id.is_null() || Some(&id) == own.as_ref(), "{name}");
            }
        }
        if name.contains("inline") {
            assert!(parse_request(&b).is_err(), "{name} accepted");
        }
    }
}

#[test]
fn native_messaging_streams_that_once_crashed_the_host_reader_are_answered_cleanly() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut stream = encode(br#"{"id":1,"cmd":"hello"}"#);
    stream.extend(0u32.to_ne_bytes());
    stream.extend(encode(b"\xff\xfe"));
    stream.extend(u32::MAX.to_ne_bytes());
    for (name, data) in inputs("native_messaging", &[&stream]) {
        let mut stdin = &data[..];
        let answered = rt.block_on(async {
            let mut answered = 0;
            loop {
                let frame = match read_frame(&mut stdin, kith_proto::frame::MAX_FROM_CLIENT).await {
                    Ok(Some(f)) => f,
                    Err(ReadError::Frame(_)) => continue,
                    Ok(None) | Err(_) => return answered,
                };
                let answer = match parse_request(&frame) {
                    Ok(req) => kith_proto::api::ok_reply(&req.id, serde_json::Value::Null),
                    Err((id, e)) => kith_proto::api::err_reply(&id, &e),
                };
                let bytes = serde_json::to_vec(&answer).unwrap();
                assert!(kith::native::fit_for_browser(bytes).is_some(), "{name}");
                let _ = kith::native::fit_for_browser(frame);
                answered += 1;
            }
        });
        if name.contains("inline") {
            assert_eq!(answered, 2, "{name}");
        }
    }
}

#[test]
fn invite_links_that_once_crashed_the_parser_are_refused_cleanly() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let cut = format!("{}{}", kith_proto::invite::PREFIX, b64(&[1, 2, 3]));
    let mut body = vec![1u8];
    body.extend([0u8; 88]);
    body.extend([255]);
    let long_name = format!("{}{}", kith_proto::invite::PREFIX, b64(&body));
    let cases: [&[u8]; 4] = [
        cut.as_bytes(),
        long_name.as_bytes(),
        "kith://invite/é".as_bytes(),
        b"kith://invite/",
    ];
    for (name, b) in inputs("invite", &cases) {
        let text = String::from_utf8_lossy(&b);
        let _ = parse(&text, 0);
        let unsigned = format!(
            "{}{}",
            kith_proto::invite::PREFIX,
            b64(&[&b[..], &[0u8; 64]].concat())
        );
        assert!(parse(&unsigned, 0).is_err(), "{name}");
        if name.contains("inline") {
            assert!(parse(&text, 0).is_err(), "{name} accepted");
        }
    }
}

#[test]
fn range_headers_that_once_crashed_resolve_inside_the_content() {
    let case = |size: u64, h: &str| [&size.to_le_bytes()[..], h.as_bytes()].concat();
    let cases = [
        case(u64::MAX, "bytes=-18446744073709551615"),
        case(0, "bytes=0-,-1"),
        case(10, "bytes=18446744073709551615-"),
        case(5, "bytes=é"),
    ];
    let cases: Vec<&[u8]> = cases.iter().map(Vec::as_slice).collect();
    for (name, data) in inputs("range", &cases) {
        let Some((size, header)) = data.split_first_chunk::<8>() else {
            continue;
        };
        let header = String::from_utf8_lossy(header);
        let size = u64::from_le_bytes(*size);
        if let Ranges::Parts(parts) = parse_range(Some(&header), size) {
            assert!(!parts.is_empty() && parts.len() <= 16, "{name}");
            assert!(parts.iter().all(|&(a, b)| a <= b && b < size), "{name}");
        }
    }
}

#[test]
fn export_files_that_once_crashed_are_refused_without_the_passphrase() {
    let cheap = br#"{"kith_export":1,"kdf":"argon2id","m":8,"t":1,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","nonce":"AAAAAAAAAAAAAAAA","box":"AAAA"}"#;
    let no_cost =
        br#"{"kith_export":1,"kdf":"argon2id","m":0,"t":0,"p":0,"salt":"","nonce":"","box":""}"#;
    let deep = deep(r#"{"salt":"#);
    for (name, b) in inputs("export", &[cheap, no_cost, &deep, b"\x00"]) {
        assert!(open(&b, "a fixed passphrase").is_err(), "{name} opened");
    }
}

#[test]
fn pictures_that_once_crashed_the_thumbnailer_give_errors_or_small_thumbnails() {
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bomb.extend(100_000u32.to_be_bytes());
    bomb.extend(100_000u32.to_be_bytes());
    bomb.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let cases: [&[u8]; 4] = [&bomb, b"\xff\xd8\xff", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 "];
    for (name, b) in inputs("thumb", &cases) {
        if let Ok(meta) = describe_reader(Cursor::new(&b)) {
            let (w, h) = check_thumb(&meta.thumb).expect("our own thumbnail refused");
            assert!(w <= THUMB_SIZE && h <= THUMB_SIZE, "{name}");
        } else if name.contains("inline") {
            assert!(check_thumb(&b).is_err(), "{name}");
        }
    }
}

#[test]
fn photos_that_once_crashed_the_location_stripper_keep_their_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut exif = b"\xff\xd8\xff\xe1\0\x1eExif\0\0II\x2a\0\x08\0\0\0\x01\0\x25\x88\x04\0\x01\0\0\0\xff\xff\xff\xff".to_vec();
    exif.extend(b"\0\0\0\0\xff\xd9");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(u32::MAX.to_be_bytes());
    png.extend(b"eXIf");
    // Matroska: an 8-byte size (its marker shifted out), an unknown-size Segment holding Tags
    // far larger than the file.
    let mkv: [&[u8]; 2] = [
        b"\x1a\x45\xdf\xa3\x01\0\0\0\0\0\0\0",
        b"\x1a\x45\xdf\xa3\x80\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff\x12\x54\xc3\x67\x08\xff\xff\xff\xff\xff\xff\xff",
    ];
    let cases: [&[u8]; 5] = [
        &exif,
        &png,
        b"RIFF\0\0\0\0WEBPEXIF\xff\xff\xff\xff",
        mkv[0],
        mkv[1],
    ];
    for (name, b) in inputs("strip", &cases) {
        for (off, bytes) in jpeg_patches(&b).unwrap_or_default() {
            assert!(off + bytes.len() <= b.len(), "{name}");
        }
        let (from, to) = (dir.path().join("in"), dir.path().join("out.jpg"));
        std::fs::write(&from, &b).unwrap();
        let _ = std::fs::remove_file(&to);
        if let Ok(Removal::Copied) = remove_location(&from, "in.jpg", &to) {
            let len = std::fs::metadata(&to).unwrap().len();
            assert_eq!(len, b.len() as u64, "{name}");
        }
    }
}

#[test]
fn dht_records_that_once_crashed_open_to_nothing_unless_signed_by_their_peer() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
    use kith_proto::dht_record::{open, seal, RecordKeys};
    let reach = [7u8; 32];
    let keys = RecordKeys::derive(&reach, 20_000);
    let id = kith_proto::identity::Identity::generate().unwrap();
    let real = seal(&keys, &id, 5, &["10.0.0.1:4".parse().unwrap()]);
    assert!(open(&keys, &id.peer_id(), &real).is_some());
    let forged = format!(
        r#"{{"peer":"{}","at":1,"addrs":["1.2.3.4:5"],"sig":""}}"#,
        id.peer_id()
    );
    let deep = deep(r#"{"peer":"#);
    for (name, plain) in inputs("dht_record", &[forged.as_bytes(), &deep[..900], b""]) {
        let sealed = ChaCha20Poly1305::new(Key::from_slice(&kith_proto::hash::hmac(
            &reach,
            b"kith dht sealing key v1",
        )))
        .encrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: &plain,
                aad: b"kith dht record v1",
            },
        )
        .unwrap();
        let value = [&[0u8; 12][..], &sealed].concat();
        assert_eq!(open(&keys, &id.peer_id(), &value), None, "{name}");
        assert_eq!(open(&keys, &id.peer_id(), &plain), None, "{name}");
    }
}
