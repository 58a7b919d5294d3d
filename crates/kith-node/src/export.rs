//! Passphrase-protected export and import of an identity with its friends.
//!
//! File format (JSON): `{"kith_export": 1, "kdf": "argon2id", "m": KiB, "t": passes, "p": lanes,
//! "salt": b64, "nonce": b64, "box": b64}`; `box` is ChaCha20-Poly1305 over the JSON bundle.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use crate::home::Config;
use crate::store::FriendRecord;
use kith_proto::api::{ApiError, ErrorCode};
use kith_proto::hash::random;
use kith_proto::identity::Identity;

/// Shortest passphrase accepted for an export.
pub const MIN_PASSPHRASE: usize = 8;
/// Largest export file read.
const MAX_FILE: u64 = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Envelope {
    kith_export: u32,
    kdf: String,
    m: u32,
    t: u32,
    p: u32,
    salt: String,
    nonce: String,
    #[serde(rename = "box")]
    sealed: String,
}

/// What an export holds.
#[derive(Serialize, Deserialize)]
pub struct Bundle {
    /// The identity key, PEM.
    pub key_pem: String,
    /// The display name.
    pub name: String,
    /// The friends.
    pub friends: Vec<FriendRecord>,
}

fn derive(pass: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], ApiError> {
    let params = Params::new(m, t, p, Some(32))
        .map_err(|e| ApiError::new(ErrorCode::BadPassphrase, e.to_string()))?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pass.as_bytes(), salt, &mut key)
        .map_err(|e| ApiError::new(ErrorCode::BadPassphrase, e.to_string()))?;
    Ok(key)
}

/// Seals a bundle with a passphrase.
pub fn seal(bundle: &Bundle, pass: &str) -> Result<Vec<u8>, ApiError> {
    if pass.chars().count() < MIN_PASSPHRASE {
        return Err(ApiError::new(
            ErrorCode::BadPassphrase,
            format!("the passphrase needs at least {MIN_PASSPHRASE} characters"),
        ));
    }
    let (m, t, p) = (19 * 1024, 2, 1);
    let salt: [u8; 16] = random();
    let nonce: [u8; 12] = random();
    let key = derive(pass, &salt, m, t, p)?;
    let plain = serde_json::to_vec(bundle).map_err(ApiError::internal)?;
    let sealed = ChaCha20Poly1305::new(Key::from_slice(&key))
        .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
        .map_err(ApiError::internal)?;
    let env = Envelope {
        kith_export: 1,
        kdf: "argon2id".into(),
        m,
        t,
        p,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        sealed: B64.encode(sealed),
    };
    serde_json::to_vec_pretty(&env).map_err(ApiError::internal)
}

/// Opens a sealed bundle; a wrong passphrase or a damaged file gives `bad_passphrase`.
pub fn open(data: &[u8], pass: &str) -> Result<Bundle, ApiError> {
    let bad = |m: &str| ApiError::new(ErrorCode::BadPassphrase, m.to_string());
    let env: Envelope =
        serde_json::from_slice(data).map_err(|_| bad("this is not a Kith identity export"))?;
    // Kith writes m = 19 MiB, t = 2; a file asking for much more would only cost memory and
    // time on import.
    if env.kith_export != 1 || env.kdf != "argon2id" || env.m > 64 * 1024 || env.t > 8 || env.p > 8
    {
        return Err(bad("this export was made by an unknown version of Kith"));
    }
    let salt = B64
        .decode(env.salt)
        .map_err(|_| bad("the export is damaged"))?;
    let nonce = B64
        .decode(env.nonce)
        .map_err(|_| bad("the export is damaged"))?;
    let sealed = B64
        .decode(env.sealed)
        .map_err(|_| bad("the export is damaged"))?;
    if nonce.len() != 12 {
        return Err(bad("the export is damaged"));
    }
    let key = derive(pass, &salt, env.m, env.t, env.p)?;
    let plain = ChaCha20Poly1305::new(Key::from_slice(&key))
        .decrypt(Nonce::from_slice(&nonce), sealed.as_slice())
        .map_err(|_| bad("wrong passphrase, or the export is damaged"))?;
    serde_json::from_slice(&plain).map_err(|_| bad("the export is damaged"))
}

/// Writes an export file (mode 0600).
pub fn write_export(
    path: &Path,
    id: &Identity,
    config: &Config,
    friends: &[FriendRecord],
    pass: &str,
) -> Result<(), ApiError> {
    let bundle = Bundle {
        key_pem: id.to_pem().map_err(ApiError::internal)?,
        name: config.name.clone(),
        friends: friends.to_vec(),
    };
    let data = seal(&bundle, pass)?;
    crate::home::write_atomic(path, &data, 0o600)
        .map_err(|e| ApiError::new(ErrorCode::Io, format!("{e:#}")))
}

/// Reads an export file.
pub fn read_export(path: &Path, pass: &str) -> Result<Bundle, ApiError> {
    let io = |e: std::io::Error| ApiError::new(ErrorCode::Io, format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE {
        return Err(ApiError::new(
            ErrorCode::BadPassphrase,
            "this is not a Kith identity export (too large)",
        ));
    }
    open(&std::fs::read(path).map_err(io)?, pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_opens_with_the_passphrase_and_not_without() {
        let b = Bundle {
            key_pem: "k".into(),
            name: "Ann".into(),
            friends: vec![],
        };
        let sealed = seal(&b, "correct horse").unwrap();
        assert_eq!(open(&sealed, "correct horse").unwrap().name, "Ann");
        assert_eq!(
            open(&sealed, "wrong horse!").err().unwrap().code,
            ErrorCode::BadPassphrase
        );
        assert!(seal(&b, "short").is_err());
        let mut tampered: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        tampered["box"] = "AAAA".into();
        assert!(open(tampered.to_string().as_bytes(), "correct horse").is_err());
    }
}
