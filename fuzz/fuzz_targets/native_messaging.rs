//! Native messaging as the host reads Firefox's stdin: 4-byte length frames
//! (`wire::read_frame` with `MAX_FROM_CLIENT`), each parsed by `api::parse_request`, each
//! answer passed through `native::fit_for_browser`.
//! Proves: no panic and no oversized allocation over a whole stream of frames; every
//! answer the host would send fits the browser's limit.
#![no_main]

use std::sync::OnceLock;

use kith_proto::api::{err_reply, ok_reply, parse_request};
use kith::native::fit_for_browser;
use kith_proto::frame::{MAX_FROM_CLIENT, MAX_TO_BROWSER};
use kith_node::wire::{read_frame, ReadError};
use libfuzzer_sys::fuzz_target;

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut stdin = data;
    rt().block_on(async {
        loop {
            let frame = match read_frame(&mut stdin, MAX_FROM_CLIENT).await {
                Ok(Some(f)) => f,
                Err(ReadError::Frame(_)) => continue, // answered with an error, reading goes on
                Ok(None) | Err(_) => break,
            };
            let answer = match parse_request(&frame) {
                Ok(req) => ok_reply(&req.id, serde_json::Value::Null),
                Err((id, e)) => err_reply(&id, &e),
            };
            let bytes = fit_for_browser(serde_json::to_vec(&answer).unwrap()).unwrap();
            assert!(bytes.len() <= MAX_TO_BROWSER);
            // The node's replies pass through the same check: any bytes, no panic.
            let _ = fit_for_browser(frame);
        }
    });
});
