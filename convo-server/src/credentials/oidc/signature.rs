//! RS256 and ES256 signature checks for `jsonwebtoken`, on `ring` (already
//! in the tree under rustls and the MongoDB driver): verification only, so
//! no private-key RSA code (and none of the `rsa` crate's timing advisory,
//! RUSTSEC-2023-0071) comes in. [`super::super::crypto`] hands these out
//! for the RSA and EC key families.

use jsonwebtoken::crypto::JwtVerifier;

use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use ring::signature::{
    RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
};

/// A verifier for `alg` with a public key of its family: RS256 over an RSA
/// modulus and exponent (2048 to 8192 bits: ring refuses shorter keys), or
/// ES256 over an uncompressed P-256 point. Anything else is refused.
pub(in crate::credentials) fn public_key_verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> Result<Box<dyn JwtVerifier>> {
    match (alg, key.family(), key.kind()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            Ok(Box::new(Rs256 {
                n: n.clone(),
                e: e.clone(),
            }))
        }
        (Algorithm::ES256, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            Ok(Box::new(Es256 {
                point: point.clone(),
            }))
        }
        (Algorithm::RS256 | Algorithm::ES256, _, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
struct Rs256 {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// ECDSA on P-256 with SHA-256, the signature as `r || s` (RFC 7518 §3.4).
struct Es256 {
    point: Vec<u8>,
}

impl Verifier<Vec<u8>> for Es256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}
