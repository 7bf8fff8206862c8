//! [`ConvoError`]: everything an engine operation can fail with.

use crate::llm::LlmError;
use crate::store::StoreError;

/// The error of every [`Convo`](crate::Convo) operation.
///
/// Variants follow the API contract's error classes, so a front end maps each
/// to one status without looking inside.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConvoError {
    /// The object does not exist, is not the caller's, or its id does not parse.
    /// Never a "forbidden": existence is not revealed to non-owners.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A well-formed but invalid input; `field` names it.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field, as named in the API (e.g. `temperature`).
        field: &'static str,
        /// What is wrong with it, for a person to read.
        reason: String,
    },
    /// Registration with an e-mail address that is already registered.
    #[error("email already registered")]
    EmailTaken,
    /// Unknown e-mail or wrong password (deliberately indistinguishable).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Another reply is being generated in this session.
    #[error("a reply is already being generated in this chat session")]
    TurnInProgress,
    /// A new message while the session's turn waits for the outputs of
    /// client tools: post them (or cancel the turn) first.
    #[error("the chat session waits for the outputs of its pending tool calls")]
    ToolOutputsRequired,
    /// Tool outputs posted to a session whose turn waits for none.
    #[error("the chat session has no pending tool calls")]
    NoPendingToolCalls,
    /// The user's token budget for the month is spent.
    #[error("the monthly token budget is spent; it resets at {resets_at}")]
    QuotaExceeded {
        /// When the budget starts again (the next calendar month, UTC).
        resets_at: crate::domain::Timestamp,
    },
    /// The user already has as many turns running as allowed.
    #[error("too many turns running at once; try again shortly")]
    RateLimited {
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// A project API key asked for what its scope does not allow (a chat
    /// key managing agents, any key managing projects or keys).
    #[error("this key's scope does not allow {0}")]
    InsufficientScope(&'static str),
    /// A project API key went over its requests per minute.
    #[error("the key's limit of {limit} requests per minute is reached")]
    KeyRateLimited {
        /// The key's limit.
        limit: u32,
        /// When its window ends.
        retry_after: std::time::Duration,
    },
    /// The end user's monthly token budget (set on the key) is spent.
    #[error("the end user's monthly token budget is spent; it resets at {resets_at}")]
    EndUserQuotaExceeded {
        /// When the budget starts again (the next calendar month, UTC).
        resets_at: crate::domain::Timestamp,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The model provider failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A bug (e.g. a panicked task). The text is for logs, not for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ConvoError {
    /// Whether repeating the same call later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConvoError::TurnInProgress
            | ConvoError::QuotaExceeded { .. }
            | ConvoError::RateLimited { .. }
            | ConvoError::KeyRateLimited { .. }
            | ConvoError::EndUserQuotaExceeded { .. } => true,
            ConvoError::Store(e) => matches!(e, StoreError::Unavailable(_)),
            ConvoError::Llm(e) => e.is_retryable(),
            _ => false,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ConvoError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for ConvoError {
    fn from(e: StoreError) -> Self {
        match e {
            // A parent that vanished mid-operation is, to the caller, simply absent.
            StoreError::NotFound(what) => ConvoError::NotFound(what),
            other => ConvoError::Store(other),
        }
    }
}
