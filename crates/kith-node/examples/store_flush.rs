//! How long one store write holds the actor (the write is applied; the store's flusher thread
//! makes it durable) and how long until it is durable (when an answer reporting it may go),
//! timed over many runs on the disk under a folder. Run: `cargo run --release -p kith-node --example store_flush
//! [FOLDER] [RUNS]` (FOLDER defaults to a new temporary folder; use /dev/shm for tmpfs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool, not the node

use std::time::{Duration, Instant};

use kith_node::store::Store;
use kith_proto::identity::Identity;

/// Median, 90th percentile, 99th percentile and largest of some timings, in milliseconds.
fn summary(mut t: Vec<Duration>) -> String {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(t[((t.len() - 1) as f64 * q) as usize]);
    format!(
        "median {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        ms(t[t.len() - 1])
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tmp = tempfile::tempdir_in(args.get(1).map_or_else(std::env::temp_dir, Into::into))
        .expect("a temporary folder");
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(500);
    let store = Store::open(&tmp.path().join("store")).expect("the store opens");
    let me = Identity::generate().expect("an identity").peer_id();
    let jpeg = vec![7u8; 20 * 1024];

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let durable = store.durability();
    // Each write: how long the call takes (holds the actor), and until it is durable.
    let timed = |write: &mut dyn FnMut(usize)| {
        let (mut held, mut settled) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
        for i in 0..runs {
            let t = Instant::now();
            write(i);
            held.push(t.elapsed());
            assert!(rt.block_on(durable.settle()), "the store closed");
            settled.push(t.elapsed());
        }
        (held, settled)
    };
    // A small record, as most of the actor's writes are.
    let small = timed(&mut |i| {
        let addrs = [std::net::SocketAddr::from(([192, 0, 2, 1], i as u16))];
        store.put_hint(&me, &addrs).unwrap();
    });
    // A 20 KiB thumbnail, then the owner mark (as `thumb_set` and pulls do).
    let thumbs = timed(&mut |i| {
        let hash = format!("{i:064x}");
        store.put_thumb(&hash, &jpeg).unwrap();
        store.mark_thumb_owner(&me, &hash).unwrap();
    });
    // The disk's own cost: 100 bytes appended and fsynced.
    let mut raw = Vec::with_capacity(runs);
    let mut f = std::fs::File::create(tmp.path().join("raw")).unwrap();
    for _ in 0..runs {
        let t = Instant::now();
        std::io::Write::write_all(&mut f, &[1u8; 100]).unwrap();
        f.sync_all().unwrap();
        raw.push(t.elapsed());
    }
    println!("folder: {}", tmp.path().display());
    println!(
        "100 bytes + fsync (no store), {runs} runs: {}",
        summary(raw)
    );
    println!("put_hint, holds the caller: {}", summary(small.0));
    println!("put_hint, until durable: {}", summary(small.1));
    println!(
        "put_thumb (20 KiB) + mark_thumb_owner, holds the caller: {}",
        summary(thumbs.0)
    );
    println!(
        "put_thumb (20 KiB) + mark_thumb_owner, until durable: {}",
        summary(thumbs.1)
    );
}
