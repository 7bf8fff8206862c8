//! A local OpenID Connect issuer: a wiremock server answering discovery
//! and a JWKS the test can rotate, and signing keys generated in the test
//! (RSA 2048 and P-256, with aws-lc-rs) that sign tokens by hand, so a
//! test can also make the tokens no library would.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The audience every test server is configured with.
pub const AUDIENCE: &str = "convo-api";

/// A signing key of the issuer.
pub enum TestKey {
    /// RS256.
    Rsa { kid: String, pair: RsaKeyPair },
    /// ES256.
    Ec { kid: String, pair: EcdsaKeyPair },
}

impl TestKey {
    /// A fresh RSA 2048 key named `kid`.
    pub fn rsa(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generates");
        Self::Rsa {
            kid: kid.to_owned(),
            pair,
        }
    }

    /// A fresh P-256 key named `kid`.
    pub fn ec(kid: &str) -> Self {
        let pair =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generates");
        Self::Ec {
            kid: kid.to_owned(),
            pair,
        }
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        match self {
            Self::Rsa { kid, .. } | Self::Ec { kid, .. } => kid,
        }
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RS256",
            Self::Ec { .. } => "ES256",
        }
    }

    /// The public key's bytes as the key type encodes them (RSA: the DER
    /// `RSAPublicKey`; EC: the uncompressed point).
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            Self::Rsa { pair, .. } => pair.public_key().as_ref().to_vec(),
            Self::Ec { pair, .. } => pair.public_key().as_ref().to_vec(),
        }
    }

    /// The public key as a JWK, as issuers publish it.
    pub fn jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            Self::Rsa { kid, .. } => {
                let (n, e) = rsa_components(&self.public_bytes());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": b64(&e)})
            }
            Self::Ec { kid, .. } => {
                let point = self.public_bytes();
                json!({"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
        }
    }

    /// `claims` as a JWT signed by this key, with its `alg` and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid()});
        let input = signing_input(&header, claims);
        let signature = match self {
            Self::Rsa { pair, .. } => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .expect("RSA signs");
                sig
            }
            Self::Ec { pair, .. } => pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("ECDSA signs")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `base64url(header).base64url(claims)`.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
    format!("{}.{}", part(header), part(claims))
}

/// `n` and `e` of a DER `RSAPublicKey` (`SEQUENCE { INTEGER, INTEGER }`),
/// without the sign byte DER puts before a high bit.
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn element(der: &[u8], tag: u8) -> (&[u8], &[u8]) {
        assert_eq!(der[0], tag, "DER tag");
        let (len, skip) = match der[1] {
            short if short < 0x80 => (usize::from(short), 2),
            long => {
                let n = usize::from(long & 0x7f);
                let len = der[2..2 + n]
                    .iter()
                    .fold(0, |acc, b| (acc << 8) | usize::from(*b));
                (len, 2 + n)
            }
        };
        (&der[skip..skip + len], &der[skip + len..])
    }
    let (sequence, _) = element(der, 0x30);
    let (n, rest) = element(sequence, 0x02);
    let (e, _) = element(rest, 0x02);
    let unsigned = |v: &[u8]| v.strip_prefix(&[0]).unwrap_or(v).to_vec();
    (unsigned(n), unsigned(e))
}

/// The issuer: its URL, its published keys, and how often they were fetched.
pub struct Issuer {
    /// `http://127.0.0.1:<port>`: also the `iss` of its tokens.
    pub url: String,
    server: MockServer,
    published: Arc<Mutex<Vec<Value>>>,
}

/// Answers the JWKS as published at the time of the request.
struct Jwks(Arc<Mutex<Vec<Value>>>);

impl Respond for Jwks {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let keys = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ResponseTemplate::new(200).set_body_json(json!({ "keys": keys }))
    }
}

impl Issuer {
    /// An issuer publishing `keys`, with discovery at the standard path.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let server = MockServer::start().await;
        let url = server.uri();
        let published = Arc::new(Mutex::new(Vec::new()));
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": url,
                "jwks_uri": format!("{url}/jwks"),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(Jwks(Arc::clone(&published)))
            .mount(&server)
            .await;
        let issuer = Self {
            url,
            server,
            published,
        };
        issuer.publish(keys);
        issuer
    }

    /// Replaces the published keys (a rotation).
    pub fn publish(&self, keys: &[&TestKey]) {
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = keys.iter().map(|k| k.jwk()).collect();
    }

    /// How many times the JWKS was fetched.
    pub async fn jwks_fetches(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/jwks")
            .count()
    }

    /// Claims of a valid token for `sub`: this issuer, the audience, valid
    /// from a little while ago for five minutes.
    pub fn claims(&self, sub: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.url,
            "sub": sub,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now - 10,
            "exp": now + 300,
        })
    }
}
