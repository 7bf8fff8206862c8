//! The mapping of every error to the contract's status, code and envelope.

use super::*;
use convo_core::{ConvoError, LlmError, StoreError};
use poem::middleware::PanicHandler;

#[tokio::test]
async fn a_panic_becomes_a_500_envelope_that_reveals_nothing() {
    let resp = PanicToEnvelope.get_response(Box::new("secret detail from a bug"));
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = resp.into_body().into_string().await.expect("body");
    assert!(body.contains("\"code\":\"internal\""), "{body}");
    assert!(!body.contains("secret detail"), "{body}");
}

#[test]
fn every_engine_error_maps_to_the_contracts_status_and_code() {
    use std::time::Duration;
    let cases: Vec<(ConvoError, u16, &str, bool)> = vec![
        (ConvoError::NotFound("agent"), 404, "not_found", false),
        (
            ConvoError::Invalid {
                field: "name",
                reason: "x".into(),
            },
            422,
            "validation_failed",
            false,
        ),
        (ConvoError::EmailTaken, 409, "email_taken", false),
        (
            ConvoError::InvalidCredentials,
            401,
            "invalid_credentials",
            false,
        ),
        (ConvoError::TurnInProgress, 409, "turn_in_progress", true),
        (
            ConvoError::ToolOutputsRequired,
            409,
            "tool_outputs_required",
            false,
        ),
        (
            ConvoError::NoPendingToolCalls,
            409,
            "no_pending_tool_calls",
            false,
        ),
        (
            ConvoError::Store(StoreError::Unavailable("down".into())),
            503,
            "store_unavailable",
            true,
        ),
        (
            ConvoError::Store(StoreError::Internal("bad".into())),
            500,
            "internal",
            false,
        ),
        (
            ConvoError::Llm(LlmError::Provider("x".into())),
            502,
            "llm_error",
            false,
        ),
        (
            ConvoError::Llm(LlmError::Blocked("SAFETY".into())),
            502,
            "llm_blocked",
            false,
        ),
        (
            ConvoError::Llm(LlmError::Unavailable {
                message: "busy".into(),
                retry_after: Some(Duration::from_millis(1500)),
            }),
            503,
            "llm_unavailable",
            true,
        ),
        (ConvoError::Llm(LlmError::Timeout), 504, "llm_timeout", true),
        (ConvoError::Internal("oops".into()), 500, "internal", false),
    ];
    for (err, status, code, retryable) in cases {
        let api = ApiError::from(err.clone());
        assert_eq!(
            (api.status.as_u16(), api.code, api.retryable),
            (status, code, retryable),
            "{err:?}"
        );
        assert_eq!(
            api.retryable,
            err.is_retryable(),
            "core and server agree on retryability of {err:?}"
        );
    }
    let unavailable = ApiError::from(ConvoError::Llm(LlmError::Unavailable {
        message: "m".into(),
        retry_after: Some(Duration::from_millis(1500)),
    }));
    assert_eq!(unavailable.retry_after, Some(2), "Retry-After rounds up");
    let invalid = ApiError::from(ConvoError::Invalid {
        field: "temperature",
        reason: "r".into(),
    });
    assert_eq!(invalid.param.as_deref(), Some("temperature"));
}
