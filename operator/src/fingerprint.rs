//! Fingerprints: stable hashes of a model's data-affecting and metadata properties.

use sha2::{Digest, Sha256};

/// A short (10 hex digits) stable hash of the given parts.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..5])
}
