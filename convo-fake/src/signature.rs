//! Thought signatures the fake issues and checks.
//!
//! Real ones are opaque bytes the API refuses unless it issued them
//! ("Thought Signatures", <https://ai.google.dev/gemini-api/docs/thought-signatures>,
//! read 2026-11-30: "Corrupted thought signature." otherwise; two documented
//! placeholders skip the check). These are base64 of a 2-byte header, a
//! 16-byte nonce and 16 bytes of HMAC-SHA256 of the nonce under a key of the
//! process, so they pass only on the server that issued them, with no state.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The placeholders Google documents for histories made elsewhere.
const SKIP: &[&str] = &[
    "skip_thought_signature_validator",
    "context_engineering_is_the_way_to_go",
];

const HEADER: [u8; 2] = [0x12, 0x20];

/// Issues and verifies signatures under one key.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    /// A signer with a random key.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self { key }
    }

    fn mac(&self, nonce: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        // HMAC takes keys of any length, so this never fails.
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) {
            mac.update(nonce);
            out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        }
        out
    }

    /// A fresh signature.
    pub fn issue(&self) -> String {
        let nonce = *uuid::Uuid::new_v4().as_bytes();
        let mut bytes = Vec::with_capacity(34);
        bytes.extend_from_slice(&HEADER);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&self.mac(&nonce));
        STANDARD.encode(bytes)
    }

    /// Whether `signature` can be proto JSON `bytes`: base64, standard or
    /// URL-safe (or a documented placeholder, which SDKs may send as text).
    pub fn is_bytes(signature: &str) -> bool {
        SKIP.contains(&signature)
            || STANDARD.decode(signature).is_ok()
            || URL_SAFE.decode(signature).is_ok()
    }

    /// Whether `signature` is one this signer issued (or a placeholder).
    pub fn valid(&self, signature: &str) -> bool {
        if SKIP.contains(&signature) {
            return true;
        }
        let Some(bytes) = STANDARD
            .decode(signature)
            .ok()
            .or_else(|| URL_SAFE.decode(signature).ok())
        else {
            return false;
        };
        if SKIP.iter().any(|s| s.as_bytes() == bytes.as_slice()) {
            return true;
        }
        if bytes.len() != 34 || bytes[..2] != HEADER {
            return false;
        }
        // Not constant-time: a test double guards nothing.
        self.mac(&bytes[2..18]) == bytes[18..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_signers_signatures_and_the_placeholders_pass() {
        let signer = Signer::random();
        let signature = signer.issue();
        assert!(signer.valid(&signature));
        assert!(!Signer::random().valid(&signature), "another process's");
        let mut altered = signature.clone().into_bytes();
        altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
        assert!(!signer.valid(&String::from_utf8(altered).expect("ascii")));
        assert!(!signer.valid("made-up"));
        assert!(signer.valid("skip_thought_signature_validator"));
        assert!(signer.valid(&STANDARD.encode("context_engineering_is_the_way_to_go")));
    }
}
