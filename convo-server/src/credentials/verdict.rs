//! Why a request's bearer token failed, kept for the rest of the request.
//!
//! poem-openapi's either-credential scheme answers with its last member's
//! error, the cookie's, which is `401` whenever no cookie came. A bearer
//! that could not be checked at all (the store or the OIDC issuer
//! unreachable: `503`, retryable) must not turn into "invalid
//! credentials", so its error is remembered here and answered instead
//! (by the cookie check, and by the error mapping of a missing cookie).
//! The slot lives for one request: [`scope`] wraps each in the request
//! middleware.

use std::cell::RefCell;
use std::future::Future;

use crate::http::error::ApiError;

tokio::task_local! {
    static BEARER_FAILURE: RefCell<Option<ApiError>>;
}

/// Runs one request with an empty slot.
pub async fn scope<F: Future>(request: F) -> F::Output {
    BEARER_FAILURE.scope(RefCell::new(None), request).await
}

/// Remembers `error` when it says the token could not be checked (rather
/// than that it is bad). Outside [`scope`], nothing is kept.
pub(super) fn remember(error: &ApiError) {
    if error.retryable {
        let _ = BEARER_FAILURE.try_with(|slot| *slot.borrow_mut() = Some(error.clone()));
    }
}

/// Remembers `error` whatever it says: a project API key's failure (a
/// missing end user, a rate limit, a bad key) is the request's answer.
pub(super) fn remember_always(error: &ApiError) {
    let _ = BEARER_FAILURE.try_with(|slot| *slot.borrow_mut() = Some(error.clone()));
}

/// The remembered failure of this request's bearer token, if any.
pub fn bearer_failure() -> Option<ApiError> {
    BEARER_FAILURE
        .try_with(|slot| slot.borrow().clone())
        .ok()
        .flatten()
}
