//! Control and native-messaging requests (`api::parse_request`), one JSON frame each.
//! Proves: no panic on any bytes; an accepted request has a number or string id, and a
//! refused one is answered with an id that is null or the request's own.
#![no_main]

use kith_proto::api::parse_request;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| match parse_request(data) {
    Ok(req) => assert!(req.id.is_u64() || req.id.is_string()),
    Err((id, _)) => {
        let own = serde_json::from_slice::<Value>(data)
            .ok()
            .and_then(|v| v.get("id").cloned());
        assert!(id.is_null() || Some(&id) == own.as_ref());
    }
});
