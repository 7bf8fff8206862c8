//! The domain model: plain data, shared by the engine, the stores and the server.

mod agent;
mod api_key;
mod caller;
mod external;
mod ids;
mod message;
mod page;
mod project;
mod reasoning;
mod session;
mod time;
mod tool;
mod usage;
mod user;

pub(crate) use agent::DEFAULT_MAX_TOOL_ROUNDS;
pub use agent::{Agent, AgentPatch, NewAgent};
pub use api_key::{ApiKey, EndUser, EndUserError, IssuedApiKey, KeyScope, NewApiKey};
pub use caller::{Caller, KeyCaller, MissingEndUser};
pub use external::{ExternalIdentity, ExternalIdentityError};
pub use ids::{AgentId, IdParseError, IntoId, KeyId, MessageId, ProjectId, SessionId, UserId};
pub use message::{
    ContextRef, FinishReason, Message, MessageDraft, ParseNameError, ProviderState, Role, Usage,
};
pub use page::{Cursor, Identified, Order, Page, PageRequest};
pub use project::{NewProject, Project, ProjectPatch};
pub use reasoning::{ReasoningEffort, ReasoningEffortError};
pub use session::{ChatSession, ForkOrigin};
pub use time::{now, Timestamp};
pub use tool::{ToolCall, ToolDefinition, ToolExecution, WebhookTarget};
pub use usage::{day_of, UsageGroup, UsageGroupBy, UsageRecord, UsageTotals};
pub use user::{Email, EmailError, User};
