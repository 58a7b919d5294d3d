//! Identity export files (`export::open`), which a user may be handed by anyone.
//! Argon2 is slow by design and the file names its own cost (up to 1 GiB, 16 passes), so
//! the target lowers any `m`/`t`/`p` the input names to the cheapest accepted values before
//! opening: everything before and after the key derivation is still fuzzed.
//! Proves: no panic; a file never opens without the right passphrase.
#![no_main]

use kith_node::export::open;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut cheap = data.to_vec();
    if let Ok(Value::Object(mut env)) = serde_json::from_slice::<Value>(data) {
        for (k, v) in [("m", 8), ("t", 1), ("p", 1)] {
            if env
                .get(k)
                .is_some_and(|x| x.as_u64().is_some_and(|n| n > v))
            {
                env.insert(k.into(), v.into());
            }
        }
        cheap = serde_json::to_vec(&env).unwrap();
    }
    assert!(open(&cheap, "a fixed passphrase").is_err());
});
