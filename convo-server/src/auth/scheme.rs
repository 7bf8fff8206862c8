//! The two ways to present a token: `Authorization: Bearer` or the `token` cookie.
//!
//! When both are present, the bearer token wins: it is the explicit choice of
//! the program making the call, the cookie is ambient browser state. A token
//! in the query string is never read.

use convo_core::{ConvoError, UserId};
use poem::{IntoResponse, Request};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;

use super::Claims;
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user's id.
    pub id: UserId,
    /// The token's claims (for logout).
    pub claims: Claims,
}

/// A JWT from `POST /api/auth/token`, sent as `Authorization: Bearer <token>`.
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

/// Either credential; the bearer token is tried first.
#[derive(SecurityScheme)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(BearerAuth),
    /// The `token` cookie.
    Cookie(CookieAuth),
}

impl Auth {
    /// The authenticated caller.
    pub fn user(&self) -> &AuthUser {
        match self {
            Auth::Bearer(b) => &b.0,
            Auth::Cookie(c) => &c.0,
        }
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AuthUser> {
    authenticate(req, &bearer.token).await
}

async fn check_cookie(req: &Request, key: ApiKey) -> poem::Result<AuthUser> {
    authenticate(req, &key.key).await
}

/// A token is good when it verifies, is not revoked, and its user still exists.
async fn authenticate(req: &Request, token: &str) -> poem::Result<AuthUser> {
    let reject = |e: ApiError| poem::Error::from_response(e.into_response());
    let state = req
        .data::<AppState>()
        .ok_or_else(|| reject(ApiError::internal("app state missing")))?;
    authenticate_token(state, token).await.map_err(reject)
}

/// The caller a token stands for: it verifies, is not revoked, and its user
/// still exists. For routes outside the OpenAPI service (`/v1`), which
/// answer failures in their own error shape.
pub async fn authenticate_token(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = state
        .jwt
        .verify(token)
        .ok_or_else(ApiError::unauthenticated)?;
    let id = UserId::parse(&claims.sub).map_err(|_| ApiError::unauthenticated())?;
    let store = state.convo.store();
    if store
        .is_token_revoked(&claims.jti)
        .await
        .map_err(|e| ApiError::from(ConvoError::from(e)))?
    {
        return Err(ApiError::unauthenticated());
    }
    match state.convo.user(&id).await {
        Ok(_) => Ok(AuthUser { id, claims }),
        Err(ConvoError::NotFound(_)) => Err(ApiError::unauthenticated()),
        Err(e) => Err(e.into()),
    }
}
