//! Writes small seed inputs for every fuzz target into `fuzz/seeds/<target>/` (real
//! signatures, real pictures), so the fuzzers start past the outer checks.
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.

use std::path::Path;

use base64::Engine;
use kith_proto::identity::Identity;
use kith_node::media::exif_build::{jpeg_with_exif, ExifSpec};
use kith_proto::album::{hex, Album, AlbumItem};
use kith_proto::comment::{reaction_id, Comment, ThreadEntry};
use kith_proto::frame::encode;
use kith_proto::invite::PREFIX;
use kith_proto::peer::{MemberHint, PeerMsg};
use kith_node::transfer::manifest::{build, CHUNK_SIZE};

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = !0u32;
    for x in b {
        c ^= *x as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn main() {
    let me = Identity::generate().unwrap();
    let friend = Identity::generate().unwrap();
    let album = Album {
        id: hex(&[1; 16]).into(),
        owner: me.peer_id(),
        version: 3,
        title: "Beach 2026".into(),
        created: 5,
        items: vec![AlbumItem {
            id: hex(&[2; 32]).into(),
            name: "a/b.jpg".into(),
            size: 10,
            kind: Some("image".into()),
            w: Some(640),
            h: Some(480),
            taken: Some(1),
            duration_ms: None,
            thumb: Some(hex(&[7; 32])),
        }],
        audience: vec![friend.peer_id()],
        deleted: false,
        link: Some("https://example.org/a".into()),
    };
    let signed_album = album.clone().sign(&me);
    put(
        "album",
        "signed",
        &serde_json::to_vec(&signed_album).unwrap(),
    );
    put("album", "unsigned", &serde_json::to_vec(&album).unwrap());

    let text = Comment {
        id: hex(&[3; 16]).into(),
        album: hex(&[1; 16]).into(),
        item: Some(hex(&[2; 32]).into()),
        author: me.peer_id(),
        at: 1_700_000_000_000,
        v: 1,
        edited: Some(1_700_000_000_001),
        text: "she has your nose\nreally".into(),
        reaction: None,
        deleted: false,
    };
    let mut heart = text.clone();
    heart.text.clear();
    heart.reaction = Some("❤️".into());
    heart.id = reaction_id(&me.peer_id(), &heart.album, heart.item.as_ref(), "❤️");
    let (text_s, heart_s) = (text.clone().sign(&me), heart.clone().sign(&me));
    let entry = ThreadEntry {
        id: text.id.clone(),
        seq: 1,
        rev: 2,
        hidden: false,
        name: Some("Ann".into()),
        comment: Some(text_s.clone()),
    };
    put("comment", "comment", &serde_json::to_vec(&text).unwrap());
    put("comment", "reaction", &serde_json::to_vec(&heart).unwrap());
    put("comment", "signed", &serde_json::to_vec(&text_s).unwrap());
    put("comment", "entry", &serde_json::to_vec(&entry).unwrap());

    let addrs = vec!["10.0.0.1:4433".parse().unwrap(), "[::1]:5".parse().unwrap()];
    let msgs = [
        PeerMsg::AlbumPush {
            album: signed_album,
            members: vec![MemberHint {
                id: friend.peer_id(),
                addrs: addrs.clone(),
            }],
        },
        PeerMsg::GetChunks {
            item: hex(&[2; 32]).into(),
            from: 1,
            count: 4,
        },
        PeerMsg::GetSegment {
            item: hex(&[2; 32]).into(),
            seg: 0,
        },
        PeerMsg::CommentPost { comment: heart_s },
        PeerMsg::Comments {
            album: hex(&[1; 16]).into(),
            since: 1,
            rev: 2,
            entries: vec![entry],
            more: true,
        },
        PeerMsg::IntroduceFrom {
            peer: friend.peer_id(),
            addrs,
        },
        PeerMsg::Error {
            code: "out_of_range".into(),
            message: "no".into(),
        },
        PeerMsg::Data { len: 5 },
    ];
    for (i, m) in msgs.iter().enumerate() {
        put("peer_msg", &format!("msg{i}"), &m.to_bytes());
    }
    // Written as JSON, not as a struct, so that new optional fields need no change here.
    let hello = serde_json::json!({"type": "hello", "name": "Bo", "addrs": ["10.0.0.1:4433"],
        "observed": "1.2.3.4:5", "boot": 7, "reach": hex(&[9; 32])});
    put("peer_msg", "hello", hello.to_string().as_bytes());

    let reqs = [
        r#"{"id":1,"cmd":"hello","version":"0.1"}"#,
        r#"{"id":"x","cmd":"share","paths":["/a"],"to":["Bo"],"title":"t","keep_location":true}"#,
        r#"{"id":3,"cmd":"invite_accept","link":"kith://invite/AA"}"#,
        r#"{"id":4,"cmd":"init","name":"Ann"}"#,
    ];
    let mut stream = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        put("api_request", &format!("req{i}"), r.as_bytes());
        stream.extend(encode(r.as_bytes()));
    }
    stream.extend(0u32.to_ne_bytes());
    put("native_messaging", "stream", &stream);
    let mut frames = vec![16u8];
    frames.extend(encode(b"{\"a\":1}"));
    frames.extend(0u32.to_ne_bytes());
    frames.extend(encode(&[b'x'; 40]));
    frames.extend(encode(b"{}"));
    put("wire_frames", "mixed", &frames);

    // Version 1 invite body (see proto/invite.rs), signed by the key it names.
    let mut body = vec![1u8];
    body.extend(me.peer_id().as_bytes());
    body.extend([4u8; 16]);
    body.extend([5u8; 32]);
    body.extend(2_000_000_000u64.to_be_bytes());
    body.push(7);
    body.extend(b"Ann Lee");
    body.push(2);
    body.extend([4, 192, 168, 1, 4, 0x11, 0x51]);
    body.push(6);
    body.extend("fe80::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    body.extend([0x11, 0x51]);
    let mut signing = b"kith invite v1\0".to_vec();
    signing.extend(&body);
    let sig = me.sign(&signing);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([&body[..], &sig].concat());
    let l = format!("{PREFIX}{b64}");
    assert!(kith_proto::invite::parse(&l, 0).is_ok());
    put("invite", "link", l.as_bytes());
    put("invite", "body", &body);

    let record = serde_json::json!({"peer": me.peer_id(), "at": 1_700_000_000_000u64,
        "addrs": ["203.0.113.7:41000", "[2001:db8::1]:41000"], "sig": "AAAA"});
    put("dht_record", "plain", record.to_string().as_bytes());

    for (i, h) in ["bytes=0-99", "bytes=-5, 10-", "BYTES=1-2,3-4,5-6"]
        .iter()
        .enumerate()
    {
        let mut b = 1000u64.to_le_bytes().to_vec();
        b.extend(h.as_bytes());
        put("range", &format!("r{i}"), &b);
    }

    let m = build(3 * CHUNK_SIZE + 1, &[[1; 32], [2; 32], [3; 32], [4; 32]]);
    put("manifest", "four_chunks", &m.encode());
    put("manifest", "empty", &build(0, &[]).encode());

    let export = kith_node::export::seal(
        &kith_node::export::Bundle {
            key_pem: "k".into(),
            name: "Ann".into(),
            friends: vec![],
        },
        "correct horse",
    )
    .unwrap();
    put("export", "sealed", &export);

    let img = image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 13, 90]));
    let spec = ExifSpec {
        make: Some("KithCam".into()),
        orientation: Some(6),
        taken: Some("2026:07:14 10:30:00".into()),
        gps: Some((48.8584, 2.2945)),
    };
    let jpeg = jpeg_with_exif(&img, 50, &spec);
    let tiff = &jpeg[12..4 + u16::from_be_bytes([jpeg[4], jpeg[5]]) as usize];
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    // An eXIf chunk just before IEND (the last 12 bytes).
    let mut chunk = (tiff.len() as u32).to_be_bytes().to_vec();
    let mut typed = b"eXIf".to_vec();
    typed.extend(tiff);
    chunk.extend(&typed);
    chunk.extend(crc32(&typed).to_be_bytes());
    png.splice(png.len() - 12..png.len() - 12, chunk);
    let mut gif = Vec::new();
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut std::io::Cursor::new(&mut gif), image::ImageFormat::Gif)
        .unwrap();
    let mut webp = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut webp),
            image::ImageFormat::WebP,
        )
        .unwrap();
    // An EXIF chunk after the image data; the RIFF size grows with it.
    webp.extend(b"EXIF");
    webp.extend((tiff.len() as u32).to_le_bytes());
    webp.extend(tiff);
    if tiff.len() % 2 == 1 {
        webp.push(0);
    }
    let riff = (webp.len() as u32 - 8).to_le_bytes();
    webp[4..8].copy_from_slice(&riff);
    for t in ["thumb", "strip"] {
        put(t, "exif_gps.jpg", &jpeg);
        put(t, "exif_gps.png", &png);
        put(t, "exif_gps.webp", &webp);
        put(t, "plain.gif", &gif);
    }
}
