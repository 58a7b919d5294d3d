//! The gateway's HTTP `Range` header (`gateway::parse_range`), from any local web page.
//! Proves: no panic or overflow for any header and size; every range served lies inside
//! the content, start ≤ end, and at most 16 are asked for.
#![no_main]

use kith_node::gateway::{parse_range, Ranges};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((size, header)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    // Sizes near 0 and near u64::MAX are both worth reaching.
    for size in [u64::from_le_bytes(*size), size[0] as u64] {
        if let Ranges::Parts(parts) = parse_range(Some(header), size) {
            assert!(!parts.is_empty() && parts.len() <= 16);
            assert!(parts.iter().all(|&(a, b)| a <= b && b < size));
        }
    }
});
