//! The test vectors of PROTOCOL.md (§18.3), read from the document itself, so that the unit
//! tests of the signed formats prove the document and the code agree.

use crate::identity::Identity;

/// Every ```` ```json test-vector ```` block of PROTOCOL.md whose `vector` is `name`. The
/// document is read at run time from the repository (the crate never embeds a file outside it).
#[allow(clippy::disallowed_methods)] // a test reads the document; the crate itself does no I/O
pub fn vectors(name: &str) -> Vec<serde_json::Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../PROTOCOL.md");
    let protocol = std::fs::read_to_string(path).expect("PROTOCOL.md at the repository root");
    let found: Vec<serde_json::Value> = protocol
        .split("```json test-vector\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .map(|block| serde_json::from_str(block).expect("a test vector is JSON"))
        .filter(|v: &serde_json::Value| v["vector"] == name)
        .collect();
    assert!(!found.is_empty(), "PROTOCOL.md has no {name} test vector");
    found
}

/// A string field of a vector.
pub fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key}"))
}

/// Hex bytes of a vector field.
pub fn bytes(v: &serde_json::Value, key: &str) -> Vec<u8> {
    data_encoding::HEXLOWER
        .decode(text(v, key).as_bytes())
        .expect("hex")
}

/// The identity whose Ed25519 seed is the vector's `seed`, wrapped as PKCS#8 v1 (RFC 8410).
pub fn identity(v: &serde_json::Value) -> Identity {
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend(bytes(v, "seed"));
    Identity::from_pkcs8(pkcs8).expect("a seed makes a key")
}
