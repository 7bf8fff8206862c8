//! Project API keys on the wire: `Authorization: Bearer ck_…`, with the
//! end user named by `X-Convo-End-User`.
//!
//! The key itself is checked by the engine (found by the hash of its
//! secret, expiry, the per-minute limit). Here: the failed-attempt limit
//! per client address (guessing keys is limited as guessing passwords is),
//! the end-user header, and the answers in the contract's envelope.

use std::sync::Arc;

use convo_core::{ApiKey, Caller, EndUser, KeyRefusal};
use poem::http::StatusCode;
use poem::Request;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The header naming the end user a key acts for.
pub const END_USER_HEADER: &str = "x-convo-end-user";

/// The live key a presented secret stands for, its request counted. An
/// address with too many failed attempts in the last minute is refused
/// before the store is asked.
pub async fn authenticate_key(
    state: &AppState,
    secret: &str,
    client: &str,
) -> Result<Arc<ApiKey>, ApiError> {
    let limit_keys = [format!("key-ip:{client}")];
    if let Err(wait) = state.key_failures.check(&limit_keys) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed API key attempts; try again later",
        )
        .retry(Some(wait)));
    }
    match state.convo.authenticate_api_key(secret).await? {
        Ok(key) => Ok(key),
        Err(KeyRefusal::Unknown) => {
            state.key_failures.record_failure(&limit_keys);
            Err(ApiError::unauthenticated())
        }
        Err(KeyRefusal::Expired) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this API key has expired",
        )),
    }
}

/// The end user named by the request's `X-Convo-End-User`, if any;
/// `400 invalid_request` when it is not 1–128 visible ASCII characters.
pub fn end_user_header(req: &Request) -> Result<Option<EndUser>, ApiError> {
    let Some(value) = req.headers().get(END_USER_HEADER) else {
        return Ok(None);
    };
    let parsed = value
        .to_str()
        .ok()
        .and_then(|text| EndUser::parse(text).ok());
    match parsed {
        Some(end_user) => Ok(Some(end_user)),
        None => Err(bad_end_user(
            "X-Convo-End-User must be 1–128 visible ASCII characters",
        )),
    }
}

/// The key acting for `end_user`; a chat key without one is
/// `400 invalid_request` naming `X-Convo-End-User`.
pub fn key_caller(key: Arc<ApiKey>, end_user: Option<EndUser>) -> Result<Caller, ApiError> {
    Caller::key(key, end_user).map_err(|_| {
        bad_end_user("a chat key must name its end user: send the X-Convo-End-User header")
    })
}

fn bad_end_user(message: &str) -> ApiError {
    ApiError {
        param: Some("X-Convo-End-User".to_owned()),
        ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}
