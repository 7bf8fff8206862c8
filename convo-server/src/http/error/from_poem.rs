//! Errors raised by poem and poem-openapi themselves (bad JSON, wrong content
//! type, missing auth, unknown route, a body field breaking a stated rule),
//! mapped to the contract's statuses and codes.

use poem::http::StatusCode;

use super::ApiError;

impl ApiError {
    /// Maps an error raised by poem itself (or passes through one of ours).
    pub fn from_poem(err: &poem::Error) -> Self {
        use poem::error::{MethodNotAllowedError, NotFoundError, ParsePathError};
        use poem_openapi::error::{
            AuthorizationError, ContentTypeError, ParseParamError, ParseRequestPayloadError,
        };
        let status = err.status();
        if err.is::<ContentTypeError>() || status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            )
        } else if let Some(field) = err
            .downcast_ref::<ParseRequestPayloadError>()
            .and_then(|e| failed_field(&e.reason))
        {
            Self::broken_rule(field, err)
        } else if err.is::<ParseRequestPayloadError>() {
            Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("malformed request body: {}", err_text(err)),
            )
        } else if let Some(e) = err
            .downcast_ref::<ParseParamError>()
            // A rule stated in the document: poem-openapi's validators say
            // "verification failed. …", as do `api::pattern`'s types inside
            // their "failed to parse …".
            .filter(|e| e.reason.contains("verification failed"))
        {
            Self::broken_rule(e.name.to_owned(), err)
        } else if err.is::<ParseParamError>() || err.is::<ParsePathError>() {
            Self::new(StatusCode::BAD_REQUEST, "invalid_request", err_text(err))
        } else if err.is::<AuthorizationError>() || status == StatusCode::UNAUTHORIZED {
            // A bearer that could not be checked (503) outranks the missing cookie.
            crate::credentials::bearer_failure().unwrap_or_else(Self::unauthenticated)
        } else if err.is::<NotFoundError>() || status == StatusCode::NOT_FOUND {
            Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
        } else if err.is::<MethodNotAllowedError>() || status == StatusCode::METHOD_NOT_ALLOWED {
            Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        } else if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::LENGTH_REQUIRED {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is over the size limit",
            )
        } else if status == StatusCode::REQUEST_TIMEOUT {
            // A client sent its body too slowly; sent in time, it can succeed.
            Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            )
            .retry(None)
        } else if err.is::<poem::error::CorsError>() {
            Self::new(
                StatusCode::FORBIDDEN,
                "cors_rejected",
                format!("cross-origin request refused: {}", err_text(err)),
            )
        } else if status.is_client_error() {
            Self::new(status, "invalid_request", err_text(err))
        } else {
            Self::internal(err)
        }
    }
}

impl ApiError {
    /// 422 for `field`, which broke a rule stated in the OpenAPI document:
    /// "`name` does not satisfy pattern("\S")", without the parser's
    /// framing ("failed to parse …", "(occurred while parsing …)").
    fn broken_rule(field: String, err: &poem::Error) -> Self {
        let text = err_text(err);
        let rule = text.split_once("verification failed. ").map(|(_, rule)| {
            rule.split(" (occurred while parsing")
                .next()
                .unwrap_or(rule)
        });
        match rule {
            Some(rule) => {
                let message = format!("`{field}` does not satisfy {rule}");
                Self::validation(field, message)
            }
            None => Self::validation(field, text),
        }
    }
}

/// The field named by poem-openapi's "field `x` verification failed" (a body
/// field that broke a rule stated in the OpenAPI document), which the
/// contract answers as 422 with `param`, like the engine's own checks.
pub(crate) fn failed_field(reason: &str) -> Option<String> {
    let rest = reason.split("field `").nth(1)?;
    let (field, tail) = rest.split_once('`')?;
    tail.trim_start()
        .starts_with("verification failed")
        .then(|| field.to_owned())
}

/// An error's text, without poem's debug decorations and bounded in length.
fn err_text(err: &poem::Error) -> String {
    let mut text = err.to_string();
    if text.len() > 500 {
        let cut = (0..=500)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}
