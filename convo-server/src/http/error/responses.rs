//! The error statuses each kind of operation declares in the OpenAPI
//! document, as poem-openapi response enums built from [`ApiError`].

/// Declares a response enum of error statuses for the OpenAPI document, and
/// its conversion from [`ApiError`]. A status the enum does not list becomes
/// its 500 variant (and is logged): that would be a bug in the declaration.
macro_rules! error_responses {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident = $status:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, poem_openapi::ApiResponse)]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                #[oai(status = $status)]
                $variant(
                    poem_openapi::payload::Json<$crate::http::error::ErrorBody>,
                    /// Seconds to wait before retrying (429 and some 503s).
                    #[oai(header = "Retry-After")] Option<u64>,
                ),
            )+
        }

        impl From<$crate::http::error::ApiError> for $name {
            fn from(err: $crate::http::error::ApiError) -> Self {
                let body = poem_openapi::payload::Json(err.body());
                match err.status.as_u16() {
                    $($status => Self::$variant(body, err.retry_after),)+
                    other => {
                        tracing::error!(status = other, code = err.code, "status not declared for this operation");
                        Self::from($crate::http::error::ApiError::internal("undeclared status"))
                    }
                }
            }
        }

        impl From<convo_core::ConvoError> for $name {
            fn from(err: convo_core::ConvoError) -> Self {
                Self::from($crate::http::error::ApiError::from(err))
            }
        }
    };
}

error_responses! {
    /// Errors of reads, lists and deletes.
    ReadError {
        /// `invalid_request`: a malformed query or path value.
        BadRequest = 400,
        /// `unauthenticated`: no, expired, revoked or invalid credentials.
        Unauthorized = 401,
        /// `insufficient_scope`: a project API key whose scope does not allow this operation.
        Forbidden = 403,
        /// `not_found`: no such object, or not yours.
        NotFound = 404,
        /// `validation_failed`: a well-formed but invalid parameter (`param` names it).
        Validation = 422,
        /// `rate_limited`: a project API key over its requests per minute, or too many failed
        /// key attempts from this address; `Retry-After` set.
        TooManyRequests = 429,
        /// `internal`: a bug.
        Internal = 500,
        /// `store_unavailable` (the database cannot be reached) or `identity_provider_unavailable`
        /// (a single sign-on token's issuer cannot be reached to check it); retryable.
        Unavailable = 503,
    }
}

error_responses! {
    /// Errors of creates and updates.
    WriteError {
        /// `invalid_request`: malformed JSON or a bad path value.
        BadRequest = 400,
        /// `unauthenticated`: no, expired, revoked or invalid credentials.
        Unauthorized = 401,
        /// `insufficient_scope`: a project API key whose scope does not allow this operation.
        Forbidden = 403,
        /// `not_found`: no such object, or not yours.
        NotFound = 404,
        /// `payload_too_large`: the body is over the size limit.
        PayloadTooLarge = 413,
        /// `unsupported_media_type`: the body is not `application/json`.
        UnsupportedMediaType = 415,
        /// `validation_failed`: a well-formed but invalid field (`param` names it).
        Validation = 422,
        /// `rate_limited`: a project API key over its requests per minute, or too many failed
        /// key attempts from this address; `Retry-After` set.
        TooManyRequests = 429,
        /// `internal`: a bug.
        Internal = 500,
        /// `store_unavailable` (the database cannot be reached) or `identity_provider_unavailable`
        /// (a single sign-on token's issuer cannot be reached to check it); retryable.
        Unavailable = 503,
    }
}

error_responses! {
    /// Errors of sending a message.
    TurnError {
        /// `invalid_request`: malformed JSON or a bad path value.
        BadRequest = 400,
        /// `unauthenticated`: no, expired, revoked or invalid credentials.
        Unauthorized = 401,
        /// `insufficient_scope`: a project API key whose scope does not allow this operation.
        Forbidden = 403,
        /// `not_found`: no such chat session, or not yours.
        NotFound = 404,
        /// `turn_in_progress`: a reply is already being generated in this session (retryable);
        /// `tool_outputs_required`: the session's turn waits for client tool outputs (post them,
        /// or cancel the turn); `no_pending_tool_calls`: outputs posted when none are awaited.
        Conflict = 409,
        /// `payload_too_large`: the body is over the size limit.
        PayloadTooLarge = 413,
        /// `unsupported_media_type`: the body is not `application/json`.
        UnsupportedMediaType = 415,
        /// `validation_failed`: e.g. empty content or a bad `Idempotency-Key` (`param` names it).
        Validation = 422,
        /// `quota_exceeded` (the user's, or with a project API key the end user's, monthly
        /// token budget is spent; `Retry-After` until it resets) or `rate_limited` (too many
        /// turns running at once, or the key over its requests per minute; `Retry-After` set).
        TooManyRequests = 429,
        /// `internal`: a bug.
        Internal = 500,
        /// `llm_error` (the model provider failed) or `llm_blocked` (it refused the prompt).
        BadGateway = 502,
        /// `llm_unavailable` (provider overloaded; `Retry-After` when known), `store_unavailable`
        /// or `identity_provider_unavailable` (a single sign-on token's issuer cannot be reached).
        Unavailable = 503,
        /// `llm_timeout`: the model provider did not answer in time (retryable).
        GatewayTimeout = 504,
    }
}

error_responses! {
    /// Errors of registering, logging in and getting a token.
    AuthError {
        /// `invalid_request`: malformed JSON.
        BadRequest = 400,
        /// `invalid_credentials`: wrong email or password (the same answer for both).
        Unauthorized = 401,
        /// `email_taken`: that email is already registered (case-insensitive).
        Conflict = 409,
        /// `payload_too_large`: the body is over the size limit.
        PayloadTooLarge = 413,
        /// `unsupported_media_type`: the body is not `application/json`.
        UnsupportedMediaType = 415,
        /// `validation_failed`: a bad email, a password outside 8–128 characters, a name over 200.
        Validation = 422,
        /// `rate_limited`: too many failed logins; `Retry-After` says when to try again.
        TooManyRequests = 429,
        /// `internal`: a bug.
        Internal = 500,
        /// `store_unavailable`: the database cannot be reached (retryable).
        Unavailable = 503,
    }
}
