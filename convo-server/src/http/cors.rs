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
    /// The opaque origin of sandboxed frames, `file:` pages and redirects:
    /// allowing it would let any of them in.
    #[error("CONVO_CORS_ORIGINS lists \"null\", the origin of sandboxed frames and local files: it cannot be allowed")]
    Null,
    /// Not an origin; `reason` says what is wrong.
    #[error("CONVO_CORS_ORIGINS lists {origin:?}, which is not an origin like https://app.example.com: {reason}")]
    Malformed {
        /// The entry as configured.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The origins allowed to call the API from a browser, with credentials.
///
/// Held in the form a browser sends (the WHATWG URL standard's
/// serialisation of an origin): scheme and host lower-cased, an IDN host in
/// punycode, the scheme's default port left out. Configured origins and
/// request `Origin` headers are both brought to that form before they are
/// compared, so `https://app.example:443` and `https://app.example` are one.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Arc<HashSet<String>>);

impl AllowedOrigins {
    /// Checks and normalises each origin; blank entries are skipped.
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

    /// Whether `origin`, as a request's `Origin` header carries it, is
    /// allowed (after the same normalisation as the configured ones).
    pub fn allows(&self, origin: &str) -> bool {
        parse_origin(origin).is_ok_and(|origin| self.0.contains(&origin))
    }
}

/// `origin` in the form a browser sends it, if it is an `http(s)` origin:
/// a scheme, a host, an optional port, and nothing else (a single trailing
/// `/`, as copied from an address bar, is tolerated).
fn parse_origin(origin: &str) -> Result<String, OriginError> {
    if origin.contains('*') {
        return Err(OriginError::Wildcard(origin.to_owned()));
    }
    if origin.eq_ignore_ascii_case("null") {
        return Err(OriginError::Null);
    }
    let malformed = |reason: &str| OriginError::Malformed {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(origin).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            malformed("it has no scheme (http:// or https://)")
        }
        e => malformed(&e.to_string()),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(malformed("only http and https origins can be allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(malformed("an origin has no user name or password"));
    }
    if url.path() != "/" {
        return Err(malformed("an origin has no path"));
    }
    if url.query().is_some() {
        return Err(malformed("an origin has no query"));
    }
    if url.fragment().is_some() {
        return Err(malformed("an origin has no fragment"));
    }
    // Backslashes, tabs and newlines are dropped or rewritten by the URL
    // parser; an origin written with them is a typo, not an origin.
    if origin.contains(|c: char| c == '\\' || c.is_whitespace() || c.is_control()) {
        return Err(malformed(
            "it contains spaces, control characters or a backslash",
        ));
    }
    // `Url::origin` serialises as browsers do: default port left out.
    Ok(url.origin().ascii_serialization())
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
    fn origins_are_compared_in_the_form_browsers_send() {
        let origins = AllowedOrigins::parse([
            " https://App.Example.com ",
            "",
            "http://localhost:5173",
            "http://[::1]:8080",
            "http://[::1]",
            "https://secure.example:443",
            "http://plain.example:80/",
            "https://bücher.example",
        ])
        .expect("valid");
        let allowed = [
            "https://app.example.com",
            "https://app.example.com:443",
            "http://localhost:5173",
            "http://[::1]:8080",
            "http://[::1]",
            "https://secure.example",
            "http://plain.example",
            "https://xn--bcher-kva.example",
        ];
        for origin in allowed {
            assert!(origins.allows(origin), "{origin}");
        }
        let refused = [
            "http://localhost:5174",
            "https://app.example.com.evil.test",
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://secure.example:8443",
            "null",
            "",
            "app.example.com",
        ];
        for origin in refused {
            assert!(!origins.allows(origin), "{origin}");
        }
    }

    #[test]
    fn anything_but_an_http_origin_is_refused_with_its_reason() {
        let cases = [
            ("*", "wildcards"),
            ("https://*.example.com", "wildcards"),
            ("null", "sandboxed"),
            ("NULL", "sandboxed"),
            ("app.example.com", "no scheme"),
            ("ftp://example.com", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("https://example.com/path", "no path"),
            ("https://example.com//", "no path"),
            ("https://example.com/?", "no query"),
            ("https://example.com?x=1", "no query"),
            ("https://example.com#top", "no fragment"),
            ("https://user@example.com", "no user name"),
            ("https://user:pw@example.com", "no user name"),
            ("https://", "empty host"),
            ("https://example.com:80x", "port"),
            ("https://example.com:99999", "port"),
            ("https://exa mple.com", "domain"),
            ("https:\\\\example.com", "backslash"),
        ];
        for (origin, reason) in cases {
            let message = AllowedOrigins::parse([origin])
                .expect_err(origin)
                .to_string();
            assert!(
                message.starts_with("CONVO_CORS_ORIGINS lists "),
                "{origin}: {message}"
            );
            assert!(
                message.to_lowercase().contains(reason),
                "{origin}: {message:?} should say {reason:?}"
            );
        }
        assert!(AllowedOrigins::parse(Vec::<String>::new())
            .expect("empty")
            .is_empty());
    }
}
