//! The crypto backend that signs and verifies Convo's tokens (HMAC) and
//! verifies single sign-on tokens (RS256, ES256).
//!
//! Since version 10, `jsonwebtoken` does its cryptography through a
//! process-wide `CryptoProvider`: either a built-in one chosen by a crate
//! feature, or one the application installs. The built-in pure-Rust backend
//! (feature `rust_crypto`) brings every algorithm, and with it the `rsa`
//! crate and its unfixed timing advisory (RUSTSEC-2023-0071, "Marvin"),
//! although Convo only ever uses HMAC. This module is that backend cut down
//! to the HMAC family, on the same RustCrypto `hmac` and `sha2` crates, so
//! the dependency tree holds no RSA, ECDSA or EdDSA code at all.
//!
//! Single sign-on adds verification, and only verification, of RS256 and
//! ES256 (OpenID Connect issuers' tokens), on `ring`, already in the tree
//! (`super::oidc::signature`): still no `rsa` crate, no signing with a
//! public-key algorithm. Any other algorithm is refused with
//! `InvalidAlgorithm` (Convo's own tokens are pinned to HS256 by
//! [`super::JwtKeys`], OIDC tokens to the algorithm of their JWK), and the
//! JWK helpers, which Convo never calls, answer with errors instead of
//! panicking.

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The provider: HS256, HS384 and HS512; RS256 and ES256 verification.
static CONVO_CRYPTO: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(unsupported()),
        rsa_pub_components_from_public_key: |_| Err(unsupported()),
        ec_pub_components_from_private_key: |_, _| Err(unsupported()),
        ed_pub_components_from_private_key: |_, _| Err(unsupported()),
        compute_digest,
    },
};

/// Makes Convo's backend (HMAC; RS256 and ES256 verification) `jsonwebtoken`'s process-wide provider.
///
/// Idempotent, and cheap after the first call. [`super::JwtKeys::new`] calls
/// it, so the server never needs to; code that signs tokens without building
/// `JwtKeys` (tests forging tokens) calls it first. Returns `false` when some
/// other provider was installed first (by an embedder): that one is then
/// used, as `jsonwebtoken` allows only one per process.
pub fn install_jwt_crypto() -> bool {
    match CryptoProvider::install_default(&CONVO_CRYPTO) {
        Ok(()) => true,
        Err(installed) => std::ptr::eq(installed, &CONVO_CRYPTO),
    }
}

fn unsupported() -> Error {
    ErrorKind::InvalidAlgorithm.into()
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    Ok(match hash {
        ThumbprintHash::SHA256 => Sha256::digest(data).to_vec(),
        ThumbprintHash::SHA384 => Sha384::digest(data).to_vec(),
        ThumbprintHash::SHA512 => Sha512::digest(data).to_vec(),
        _ => return Err(unsupported()),
    })
}

/// One HMAC keyed with the secret, for signing or verifying with `alg`.
struct HmacKey<M> {
    mac: M,
    alg: Algorithm,
}

impl<M: Mac + KeyInit> HmacKey<M> {
    fn new(secret: &[u8], alg: Algorithm) -> Result<Self> {
        let mac =
            <M as KeyInit>::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat)?;
        Ok(Self { mac, alg })
    }
}

impl<M: Mac + Clone> Signer<Vec<u8>> for HmacKey<M> {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut mac = self.mac.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl<M: Mac + Clone> JwtSigner for HmacKey<M> {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl<M: Mac + Clone> Verifier<Vec<u8>> for HmacKey<M> {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let mut mac = self.mac.clone();
        mac.update(msg);
        // `verify_slice` compares in constant time.
        mac.verify_slice(sig).map_err(signature::Error::from_source)
    }
}

impl<M: Mac + Clone> JwtVerifier for HmacKey<M> {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// A boxed HMAC for `alg` over `secret`, or `InvalidAlgorithm`.
fn hmac_for<T: ?Sized>(
    alg: &Algorithm,
    secret: &[u8],
    boxed: fn(Keyed) -> Box<T>,
) -> Result<Box<T>> {
    Ok(boxed(match alg {
        Algorithm::HS256 => Keyed::Sha256(HmacKey::new(secret, *alg)?),
        Algorithm::HS384 => Keyed::Sha384(HmacKey::new(secret, *alg)?),
        Algorithm::HS512 => Keyed::Sha512(HmacKey::new(secret, *alg)?),
        _ => return Err(unsupported()),
    }))
}

/// The three HMACs, so one match builds signers and verifiers alike.
enum Keyed {
    Sha256(HmacKey<Hmac<Sha256>>),
    Sha384(HmacKey<Hmac<Sha384>>),
    Sha512(HmacKey<Hmac<Sha512>>),
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    hmac_for(alg, key.as_bytes(), |k| match k {
        Keyed::Sha256(k) => Box::new(k) as Box<dyn JwtSigner>,
        Keyed::Sha384(k) => Box::new(k),
        Keyed::Sha512(k) => Box::new(k),
    })
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if key.family() != AlgorithmFamily::Hmac {
        return super::oidc::signature::public_key_verifier(alg, key);
    }
    hmac_for(alg, key.try_get_as_bytes()?, |k| match k {
        Keyed::Sha256(k) => Box::new(k) as Box<dyn JwtVerifier>,
        Keyed::Sha384(k) => Box::new(k),
        Keyed::Sha512(k) => Box::new(k),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, encode, Header, Validation};

    #[test]
    fn installing_twice_keeps_the_hmac_backend() {
        assert!(install_jwt_crypto());
        assert!(install_jwt_crypto(), "a second call is a no-op");
    }

    #[test]
    fn hs256_matches_the_rfc_7515_example_signature() {
        // RFC 7515 appendix A.1: the HS256 example's key, signing input and signature.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let key = b64
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .expect("base64 key");
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
                     eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let signer = new_signer(
            &Algorithm::HS256,
            &EncodingKey::from_secret(&key).expect("key"),
        )
        .expect("signer");
        let sig = signer.try_sign(input.as_bytes()).expect("sign");
        assert_eq!(
            b64.encode(sig),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn tokens_round_trip_and_a_wrong_secret_fails() {
        install_jwt_crypto();
        let claims = serde_json::json!({"sub": "u", "exp": 4_000_000_000_u64});
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let key = EncodingKey::from_secret(b"secret").expect("key");
            let token = encode(&Header::new(alg), &claims, &key).expect("encode");
            let ok = decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_secret(b"secret").expect("key"),
                &Validation::new(alg),
            );
            assert!(ok.is_ok(), "{alg:?}: {ok:?}");
            let wrong = decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_secret(b"other").expect("key"),
                &Validation::new(alg),
            );
            assert!(wrong.is_err(), "{alg:?} with another secret");
        }
    }

    #[test]
    fn every_other_algorithm_is_refused() {
        let key = EncodingKey::from_secret(b"secret").expect("key");
        for alg in [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::PS256,
            Algorithm::EdDSA,
        ] {
            assert!(new_signer(&alg, &key).is_err(), "{alg:?}");
        }
    }
}
