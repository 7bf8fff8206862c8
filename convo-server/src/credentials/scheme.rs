//! The ways to present a credential: `Authorization: Bearer` with a token
//! or a project API key (`ck_…`), or the `token` cookie.
//!
//! A request with an `Authorization` header of the Bearer scheme is decided
//! by that header alone: a good token authenticates its user whatever cookie
//! came along, and a bad one (garbage, forged, expired, revoked, or none
//! after the scheme) is `401`, never a fall back to the cookie. The bearer
//! is the explicit choice of the program making the call; the cookie is
//! ambient browser state, which must not rescue a credential that failed.
//! The cookie is read only when no Bearer header is sent. A token in the
//! query string is never read. A token that is not one of Convo's own goes
//! to single sign-on (`super::oidc`), which refuses it unless an OIDC
//! issuer is configured and signed it.
//!
//! A bearer starting `ck_` is a project API key (`super::project_key`): it
//! is checked by the key scheme alone, and the token scheme passes it by
//! without a store call (and the other way round).
//!
//! The enum answers with its last member's error, the cookie's, so a bearer
//! that could not be checked (503: the store or the issuer unreachable) is
//! remembered for the request (`super::verdict`) and answered instead of
//! the cookie's 401.
//!
//! poem-openapi's `SecurityScheme` enum tries its members in order and takes
//! the first that succeeds, so the rule lives in the cookie's checker, which
//! refuses when a Bearer header is present. That keeps the OpenAPI document's
//! two alternative schemes exactly as they are.

use convo_core::{Caller, UserId, KEY_PREFIX};
use poem::http::header::AUTHORIZATION;
use poem::{IntoResponse, Request};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;

use super::Claims;
use crate::http::error::ApiError;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user's id.
    pub id: UserId,
    /// The token's claims (for logout).
    pub claims: Claims,
}

/// A project API key, `Authorization: Bearer ck_…`: it reaches its own project only. A
/// `chat` key must name the end user it acts for in the `X-Convo-End-User` header (1–128
/// visible ASCII characters) and only serves that end user's chat sessions; an `admin` key may
/// do what the project's owner may inside the project. Managing projects, keys and the usage
/// report needs a signed-in user.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "ck_…", checker = "check_project_key")]
pub struct ProjectKeyAuth(Caller);

/// A JWT from `POST /api/auth/token`, sent as `Authorization: Bearer <token>`; with single
/// sign-on configured, also an RS256 or ES256 JWT of the server's OpenID Connect issuer (its
/// user is found or created by `(iss, sub)`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(AuthUser);

/// The HTTP-only `token` cookie set by register and login (browsers send it by themselves).
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "token",
    key_in = "cookie",
    checker = "check_cookie"
)]
pub struct CookieAuth(AuthUser);

/// Any credential; a Bearer header, when sent, decides alone (see the module doc).
#[derive(SecurityScheme)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(BearerAuth),
    /// `Authorization: Bearer ck_…`.
    ProjectKey(ProjectKeyAuth),
    /// The `token` cookie.
    Cookie(CookieAuth),
}

impl Auth {
    /// Who acts: the signed-in user, or the project API key for its end user.
    pub fn caller(&self) -> Caller {
        match self {
            Auth::Bearer(b) => Caller::User(b.0.id),
            Auth::ProjectKey(k) => k.0.clone(),
            Auth::Cookie(c) => Caller::User(c.0.id),
        }
    }

    /// The signed-in user, for what only a user may do (manage projects,
    /// keys and their own account, read the usage report): a project API
    /// key is `403 insufficient_scope`, naming `what` it was refused.
    pub fn user(&self, what: &str) -> Result<&AuthUser, ApiError> {
        match self {
            Auth::Bearer(b) => Ok(&b.0),
            Auth::Cookie(c) => Ok(&c.0),
            Auth::ProjectKey(_) => Err(ApiError::new(
                poem::http::StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("a project API key cannot {what}: that needs a signed-in user"),
            )),
        }
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AuthUser> {
    if bearer.token.starts_with(KEY_PREFIX) {
        // The key scheme's to check.
        return Err(reject(ApiError::unauthenticated()));
    }
    authenticate(req, &bearer.token).await.map_err(|e| {
        super::verdict::remember(&e);
        reject(e)
    })
}

async fn check_project_key(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    if !bearer.token.starts_with(KEY_PREFIX) {
        // The token scheme's to check.
        return Err(reject(ApiError::unauthenticated()));
    }
    authenticate_project_key(req, &bearer.token)
        .await
        .map_err(|e| {
            // Whatever it is (a 400 for the end user, a 429), it is this
            // request's answer, not the cookie's 401.
            super::verdict::remember_always(&e);
            reject(e)
        })
}

/// A key and the end user its request names.
async fn authenticate_project_key(req: &Request, secret: &str) -> Result<Caller, ApiError> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::internal("app state missing"))?;
    let end_user = super::project_key::end_user_header(req)?;
    let client = super::limiter::client_address(req.remote_addr());
    let key = super::project_key::authenticate_key(state, secret, &client).await?;
    super::project_key::key_caller(key, end_user)
}

async fn check_cookie(req: &Request, key: ApiKey) -> poem::Result<AuthUser> {
    if sends_bearer(req) {
        // The bearer check ran first and failed: its verdict stands.
        let verdict = super::verdict::bearer_failure().unwrap_or_else(ApiError::unauthenticated);
        return Err(reject(verdict));
    }
    authenticate(req, &key.key).await.map_err(reject)
}

/// A failed check, as the response it is.
fn reject(e: ApiError) -> poem::Error {
    poem::Error::from_response(e.into_response())
}

/// Whether the request has an `Authorization` header of the Bearer scheme,
/// well-formed or not. The scheme name is case-insensitive (RFC 9110
/// §11.1), as poem's own Bearer parsing and the `/v1` routes treat it.
fn sends_bearer(req: &Request) -> bool {
    req.headers().get_all(AUTHORIZATION).iter().any(|value| {
        let value = value.as_bytes().trim_ascii_start();
        let scheme = value
            .split(|b| *b == b' ' || *b == b'\t')
            .next()
            .unwrap_or_default();
        scheme.eq_ignore_ascii_case(b"bearer")
    })
}

/// A token is good when it verifies, is not revoked, and its user still exists.
async fn authenticate(req: &Request, token: &str) -> Result<AuthUser, ApiError> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::internal("app state missing"))?;
    authenticate_token(state, token).await
}

/// The caller a token stands for: it verifies, is not revoked, and its user
/// still exists. For routes outside the OpenAPI service (`/v1`), which
/// answer failures in their own error shape.
pub async fn authenticate_token(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let Some(claims) = state.jwt.verify(token) else {
        // Not one of Convo's own tokens: perhaps the OIDC issuer's.
        return super::oidc::authenticate(state, token).await;
    };
    let id = UserId::parse(&claims.sub).map_err(|_| ApiError::unauthenticated())?;
    // One store call for both questions (revoked? user still there?), asked
    // on every request: a revocation made through another server holds here
    // on the next one.
    match state.convo.authenticate(&id, &claims.jti).await? {
        Some(_) => Ok(AuthUser { id, claims }),
        None => Err(ApiError::unauthenticated()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_authorization(values: &[&[u8]]) -> Request {
        let mut req = Request::builder().finish();
        for value in values {
            let value = poem::http::HeaderValue::from_bytes(value).expect("header value");
            req.headers_mut().append(AUTHORIZATION, value);
        }
        req
    }

    #[test]
    fn any_bearer_scheme_header_counts_as_sending_a_bearer() {
        let cases: [(&[&[u8]], bool, &str); 9] = [
            (&[], false, "no header"),
            (&[b"Bearer abc"], true, "canonical"),
            (&[b"bearer abc"], true, "lower case"),
            (&[b"BEARER\tabc"], true, "a tab"),
            (&[b"Bearer"], true, "no token at all"),
            (&[b"Bearer \xff\xfe"], true, "not UTF-8"),
            (&[b"Basic dXNlcjpwYXNz"], false, "another scheme"),
            (&[b"Bearerabc"], false, "not the scheme name"),
            (&[b"Basic x", b"Bearer y"], true, "a second header"),
        ];
        for (values, expected, case) in cases {
            assert_eq!(
                sends_bearer(&with_authorization(values)),
                expected,
                "{case}"
            );
        }
    }
}
