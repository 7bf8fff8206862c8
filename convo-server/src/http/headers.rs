//! Security headers: what every response says about itself to browsers.
//!
//! - Every response: `X-Content-Type-Options: nosniff`, so a browser never
//!   guesses a type other than the one declared (a JSON error echoing input
//!   must not be run as a script or rendered as HTML).
//! - Every answer under `/api/auth/`, success or failure: `Cache-Control:
//!   no-store`: they carry who the user is, `Set-Cookie` and, from
//!   `/api/auth/token`, the token itself, none of which a cache may keep.
//! - The Swagger UI pages under `/docs`: a `Content-Security-Policy` that
//!   allows exactly the page's own inline script and style blocks (by their
//!   SHA-256, computed from the page as served), requests to this origin
//!   only, and no framing (`frame-ancestors 'none'`, with `X-Frame-Options:
//!   DENY` for older browsers), so a foreign page cannot overlay the console
//!   of a logged-in user (clickjacking).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use poem::http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;

/// Sets `nosniff` on every response and `no-store` on `/api/auth/*` (see
/// the module documentation). Outermost, so that errors, 404s and CORS
/// preflights get the headers too.
pub async fn security_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let auth = is_auth_path(req.uri().path());
    let mut resp = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) if err.is_from_response() => err.into_response(),
        Err(err) => ApiError::from_poem(&err).into_response(),
    };
    let headers = resp.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if auth {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

/// Whether `path` is one of the `/api/auth/*` routes (or under it).
fn is_auth_path(path: &str) -> bool {
    path.strip_prefix("/api/auth")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// How many distinct pages [`DocsPolicy`] remembers a policy for; Swagger
/// UI has two (the console and its OAuth receiver).
const REMEMBERED_PAGES: usize = 8;

/// The Content Security Policy and framing headers of the `/docs` pages.
///
/// poem-openapi's Swagger UI page carries its script bundle, its CSS and
/// the code that starts it inline, so `'self'` alone would block them, and
/// `'unsafe-inline'` would also allow any script an attacker managed to
/// inject. The policy instead lists the SHA-256 of each inline `<script>`
/// and `<style>` of the page as served: those blocks run, nothing else
/// does. The hashes are computed from the first response of each page and
/// remembered (the pages are fixed for the life of the process).
#[derive(Debug, Default)]
pub struct DocsPolicy;

impl<E: Endpoint> Middleware<E> for DocsPolicy {
    type Output = DocsPolicyEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        DocsPolicyEndpoint {
            inner,
            policies: Mutex::new(HashMap::new()),
        }
    }
}

/// The endpoint made by [`DocsPolicy`].
pub struct DocsPolicyEndpoint<E> {
    inner: E,
    /// Policy per page path, computed on first serving.
    policies: Mutex<HashMap<String, HeaderValue>>,
}

impl<E: Endpoint> Endpoint for DocsPolicyEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) if err.is_from_response() => err.into_response(),
            Err(err) => ApiError::from_poem(&err).into_response(),
        };
        // Framing is refused for every answer here, pages or errors.
        resp.headers_mut()
            .insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        let html = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let remembered = self
            .policies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&path)
            .cloned();
        let policy = match remembered {
            Some(policy) => policy,
            None if resp.status() == StatusCode::OK && html => {
                let body = resp.take_body().into_bytes().await?;
                let policy = HeaderValue::from_str(&policy_for(&String::from_utf8_lossy(&body)))
                    .map_err(|e| {
                        poem::Error::from_response(ApiError::internal(e).into_response())
                    })?;
                let mut policies = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
                if policies.len() < REMEMBERED_PAGES {
                    policies.insert(path, policy.clone());
                }
                resp.set_body(body);
                policy
            }
            // Not a page (an error, a redirect): nothing may run at all.
            None => HeaderValue::from_static(NOTHING_RUNS),
        };
        resp.headers_mut().insert(CONTENT_SECURITY_POLICY, policy);
        Ok(resp)
    }
}

/// The policy of an answer under `/docs` that is not one of its pages.
const NOTHING_RUNS: &str = "default-src 'none'; frame-ancestors 'none'";

/// The policy for an HTML page: its inline scripts and styles by hash, the
/// rest from this origin only.
///
/// - `img-src data:`: Swagger UI's CSS draws its icons as `data:` images.
/// - `connect-src 'self'`: *Try it out* calls this server, nothing else.
/// - `object-src 'none'`, `base-uri 'none'`, `form-action 'self'`: no
///   plugins, no `<base>` rewriting the page's relative URLs, no form
///   posting elsewhere.
/// - `frame-ancestors 'none'`: the page cannot be framed (clickjacking).
pub fn policy_for(html: &str) -> String {
    let hashes = |tag: &str| {
        inline_blocks(html, tag)
            .map(|block| {
                let digest = Sha256::digest(block.as_bytes());
                let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
                format!(" 'sha256-{b64}'")
            })
            .collect::<String>()
    };
    format!(
        "default-src 'self'; script-src 'self'{}; style-src 'self'{}; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
        hashes("script"),
        hashes("style"),
    )
}

/// The text of each inline `<tag …>…</tag>` element of `html`, as a
/// browser reads it: the element ends at the first `</tag` (scripts and
/// styles are raw text), and elements with a `src` are not inline.
fn inline_blocks<'h>(html: &'h str, tag: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    let open = format!("<{tag}");
    let close = format!("</{tag}");
    let mut rest = html;
    std::iter::from_fn(move || loop {
        let start = find_ascii_ci(rest, &open)?;
        let after_name = &rest[start + open.len()..];
        // `<scripts>` or `<style-x>` are other tags.
        if !after_name.starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
            rest = after_name;
            continue;
        }
        let tag_end = after_name.find('>')?;
        let attributes = &after_name[..tag_end];
        let content = &after_name[tag_end + 1..];
        let end = find_ascii_ci(content, &close)?;
        rest = &content[end..];
        if find_ascii_ci(attributes, "src=").is_none() {
            return Some(&content[..end]);
        }
    })
}

/// The byte offset of `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_paths_are_the_auth_routes_only() {
        for path in [
            "/api/auth/login",
            "/api/auth/token",
            "/api/auth/me",
            "/api/auth",
        ] {
            assert!(is_auth_path(path), "{path}");
        }
        for path in ["/api/authors", "/api/projects", "/docs", "/"] {
            assert!(!is_auth_path(path), "{path}");
        }
    }

    #[test]
    fn inline_scripts_and_styles_are_found_as_a_browser_reads_them() {
        let html = r#"<html><head><STYLE charset="UTF-8">a{}</STYLE>
            <script src="/x.js"></script><scripts>no</scripts>
            <script charset="UTF-8">let a = "<b>";</script></head>
            <body><script>
    start()
</SCRIPT></body></html>"#;
        let scripts: Vec<&str> = inline_blocks(html, "script").collect();
        assert_eq!(scripts, ["let a = \"<b>\";", "\n    start()\n"]);
        let styles: Vec<&str> = inline_blocks(html, "style").collect();
        assert_eq!(styles, ["a{}"]);
    }

    #[test]
    fn the_policy_lists_each_inline_block_by_its_sha256() {
        // `echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64`
        let policy = policy_for("<script>alert(1)</script><style>p{}</style>");
        assert!(
            policy.contains(
                "script-src 'self' 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
            ),
            "{policy}"
        );
        assert!(policy.contains("style-src 'self' 'sha256-"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
    }
}
