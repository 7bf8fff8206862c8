//! Which keys of a JWKS Convo uses, and with which algorithm: decided by
//! the key, never by a token's header, so a token cannot pick the
//! algorithm its signature is checked with (RFC 8725 §2.1 and §3.1,
//! "algorithm confusion"; read 2026-12-01 at
//! <https://www.rfc-editor.org/rfc/rfc8725>).

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// A signing key of the issuer, with the one algorithm it verifies.
#[derive(Clone)]
pub(super) struct SigningKey {
    /// RS256 for an RSA key, ES256 for a P-256 key.
    pub algorithm: Algorithm,
    /// The public key.
    pub key: DecodingKey,
}

/// A JWKS as served: each key parsed on its own, so one key of a kind
/// `jsonwebtoken` does not know cannot hide the others.
#[derive(Deserialize)]
pub(super) struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// The usable signing keys of `jwks` by `kid`: RSA keys (RS256) and P-256
/// EC keys (ES256) that have a `kid`, are for signatures (`use` absent or
/// `sig`) and name no other algorithm (`alg` absent or the one above).
/// Everything else (encryption keys, HMAC secrets, other curves, RSA-PSS,
/// keys without a `kid`) is left out.
pub(super) fn signing_keys(jwks: RawJwks) -> HashMap<String, SigningKey> {
    jwks.keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            Some((kid, signing_key(&jwk)?))
        })
        .collect()
}

fn signing_key(jwk: &Jwk) -> Option<SigningKey> {
    let for_signatures = matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    );
    if !for_signatures {
        return None;
    }
    let (algorithm, named) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    if jwk.common.key_algorithm.is_some_and(|alg| alg != named) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(SigningKey { algorithm, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(keys: serde_json::Value) -> Vec<(String, Algorithm)> {
        let jwks: RawJwks = serde_json::from_value(json!({ "keys": keys })).expect("jwks");
        let mut found: Vec<_> = signing_keys(jwks)
            .into_iter()
            .map(|(kid, k)| (kid, k.algorithm))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    #[test]
    fn only_rsa_and_p256_signing_keys_with_a_kid_are_used() {
        let rsa = json!({"kty": "RSA", "n": "sXch", "e": "AQAB"});
        let p256 = json!({"kty": "EC", "crv": "P-256", "x": "AQ", "y": "Ag"});
        let with = |base: &serde_json::Value, extra: serde_json::Value| {
            let mut key = base.clone();
            key.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            key
        };
        let found = keys(json!([
            with(&rsa, json!({"kid": "rsa", "use": "sig", "alg": "RS256"})),
            with(&p256, json!({"kid": "ec"})),
            with(&rsa, json!({})),
            with(&rsa, json!({"kid": "enc", "use": "enc"})),
            with(&rsa, json!({"kid": "ps", "alg": "PS256"})),
            with(&rsa, json!({"kid": "rs512", "alg": "RS512"})),
            {"kid": "p384", "kty": "EC", "crv": "P-384", "x": "AQ", "y": "Ag"},
            {"kid": "hmac", "kty": "oct", "k": "c2VjcmV0"},
            {"kid": "odd", "kty": "RSA", "alg": "no-such-alg", "n": "AQ", "e": "AQAB"},
        ]));

        assert_eq!(
            found,
            [
                ("ec".to_owned(), Algorithm::ES256),
                ("rsa".to_owned(), Algorithm::RS256)
            ]
        );
    }
}
