//! Cross-origin requests (CORS): only from the origins the operator lists,
//! with credentials, and never with a wildcard.
//!
//! A browser sends the login cookie along with a cross-origin request, and
//! lets the page read the answer, only when the answer names the page's
//! exact origin and allows credentials; `*` with credentials would hand the
//! user's session to every web page. poem's [`Cors`] answers an unlisted
//! origin with 403, which would also refuse our own Swagger UI (browsers
//! send `Origin` on every POST, same-origin ones too), so [`CorsGate`]
//! hands a request to [`Cors`] only when its origin is listed, and serves
//! any other as if CORS did not exist: with no CORS headers, the browser
//! keeps the answer from a foreign page.

use std::collections::HashSet;
use std::sync::Arc;

use poem::http::header::{HeaderValue, ORIGIN, VARY};
use poem::http::Method;
use poem::middleware::{Cors, CorsEndpoint};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

/// Why a configured origin cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// A wildcard, which must never go with credentials.
    #[error("CONVO_CORS_ORIGINS lists {0:?}: name each origin exactly, wildcards are not allowed")]
    Wildcard(String),
    /// Not `scheme://host[:port]`.
    #[error("CONVO_CORS_ORIGINS lists {0:?}, which is not an origin like https://app.example.com (http or https, a host, an optional port, nothing after)")]
    Malformed(String),
}

/// The origins allowed to call the API from a browser, with credentials.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Arc<HashSet<String>>);

impl AllowedOrigins {
    /// Checks and normalises (lower-cases) each origin; blank entries are skipped.
    pub fn parse<I, S>(origins: I) -> Result<Self, OriginError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = HashSet::new();
        for origin in origins {
            let origin = origin.as_ref().trim();
            if !origin.is_empty() {
                set.insert(parse_origin(origin)?);
            }
        }
        Ok(Self(Arc::new(set)))
    }

    /// Whether no origin is allowed (CORS is off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `origin`, as a browser sends it, is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.contains(origin)
    }
}

/// `origin` lower-cased, if it is `http(s)://host[:port]`.
fn parse_origin(origin: &str) -> Result<String, OriginError> {
    if origin.contains('*') || origin == "null" {
        return Err(OriginError::Wildcard(origin.to_owned()));
    }
    let malformed = || OriginError::Malformed(origin.to_owned());
    let lower = origin.to_ascii_lowercase();
    let (scheme, authority) = lower.split_once("://").ok_or_else(malformed)?;
    if scheme != "http" && scheme != "https" {
        return Err(malformed());
    }
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "/?#@\\".contains(c);
    if authority.is_empty() || authority.contains(bad_char) {
        return Err(malformed());
    }
    // `[::1]` has colons of its own; a port follows the closing bracket.
    if !authority.ends_with(']') {
        if let Some((host, port)) = authority.rsplit_once(':') {
            let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
            if host.is_empty() || !port_ok {
                return Err(malformed());
            }
        }
    }
    Ok(lower)
}

/// Applies [`Cors`] to requests from allowed origins only (see the module
/// documentation), and marks every answer as varying by `Origin`.
#[derive(Debug, Clone)]
pub struct CorsGate {
    origins: AllowedOrigins,
}

impl CorsGate {
    /// A gate for these origins (none: requests pass untouched).
    pub fn new(origins: AllowedOrigins) -> Self {
        Self { origins }
    }
}

impl<E: Endpoint> Middleware<E> for CorsGate {
    type Output = CorsGateEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        let inner = Arc::new(ep);
        let origins = self.origins.clone();
        let cors = Cors::new()
            .allow_origins_fn(move |origin| origins.allows(origin))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                "authorization",
                "content-type",
                "idempotency-key",
                "x-request-id",
                "last-event-id",
            ])
            .expose_headers(["x-request-id", "retry-after"])
            .max_age(600)
            .transform(inner.clone());
        CorsGateEndpoint {
            inner,
            cors,
            origins: self.origins.clone(),
        }
    }
}

/// The endpoint made by [`CorsGate`].
pub struct CorsGateEndpoint<E> {
    inner: Arc<E>,
    cors: CorsEndpoint<Arc<E>>,
    origins: AllowedOrigins,
}

impl<E: Endpoint> Endpoint for CorsGateEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if self.origins.is_empty() {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let listed = req
            .headers()
            .get(ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|origin| self.origins.allows(origin));
        let mut resp = if listed {
            self.cors.call(req).await?
        } else {
            self.inner.call(req).await?.into_response()
        };
        // The answer depends on `Origin`: a shared cache must not hand one
        // origin's answer to another.
        let varies = resp
            .headers()
            .get_all(VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("origin"));
        if !varies {
            resp.headers_mut()
                .append(VARY, HeaderValue::from_static("Origin"));
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_lower_cased_and_never_wildcards() {
        let origins = AllowedOrigins::parse([
            " https://App.Example.com ",
            "",
            "http://localhost:5173",
            "http://[::1]:8080",
            "http://[::1]",
        ])
        .expect("valid");
        assert!(origins.allows("https://app.example.com"));
        assert!(origins.allows("http://localhost:5173"));
        assert!(origins.allows("http://[::1]:8080"));
        assert!(!origins.allows("http://localhost:5174"));
        assert!(!origins.allows("https://app.example.com.evil.test"));
        for bad in [
            "*",
            "https://*.example.com",
            "null",
            "app.example.com",
            "ftp://example.com",
            "https://example.com/",
            "https://example.com/path",
            "https://",
            "https://example.com:",
            "https://example.com:80x",
            "https://user@example.com",
        ] {
            assert!(AllowedOrigins::parse([bad]).is_err(), "{bad}");
        }
        assert!(AllowedOrigins::parse(Vec::<String>::new())
            .expect("empty")
            .is_empty());
    }
}
