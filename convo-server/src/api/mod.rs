//! The REST API (`docs/api.md`) as poem-openapi operations.

mod agents;
mod auth;
mod chat;
mod events;
mod examples;
mod keys;
pub mod models;
mod ops;
mod projects;
mod tool_outputs;
mod transfer;
mod usage;
pub mod v1;

use convo_core::ListParams;
use poem_openapi::param::Query;
use poem_openapi::{OpenApiService, Tags};

use crate::http::pattern;
use crate::state::AppState;

/// Groups of operations in Swagger UI.
#[derive(Tags)]
pub enum ApiTags {
    /// Register, log in, tokens.
    Auth,
    /// A user's projects.
    Projects,
    /// Agents: a system prompt plus model settings, inside a project.
    Agents,
    /// Chat sessions and their messages.
    Chat,
    /// Project API keys: agents served to people without accounts.
    Keys,
    /// The usage ledger.
    Usage,
    /// Health and readiness probes.
    Operations,
}

/// Every operation, in one OpenAPI service.
pub type Api = (
    auth::AuthApi,
    projects::ProjectsApi,
    keys::KeysApi,
    transfer::TransferApi,
    agents::AgentsApi,
    chat::ChatApi,
    tool_outputs::ToolOutputsApi,
    usage::UsageApi,
    ops::OpsApi,
);

/// The OpenAPI service over `state`.
pub fn service(state: AppState) -> OpenApiService<Api, ()> {
    let api = (
        auth::AuthApi::new(state.clone()),
        projects::ProjectsApi::new(state.clone()),
        keys::KeysApi::new(state.clone()),
        transfer::TransferApi::new(state.clone()),
        agents::AgentsApi::new(state.clone()),
        chat::ChatApi::new(state.clone()),
        tool_outputs::ToolOutputsApi::new(state.clone()),
        usage::UsageApi::new(state.clone()),
        ops::OpsApi::new(state),
    );
    OpenApiService::new(api, "Convo", env!("CARGO_PKG_VERSION"))
        .description(DESCRIPTION)
        .license("MIT OR Apache-2.0")
}

const DESCRIPTION: &str = "Multi-tenant chat agents. A user owns projects; a project holds agents \
(a system prompt plus model settings); an agent has chat sessions; a session holds the message history, \
and every user message gets a reply from the agent's model.\n\n\
**Try it here**: `POST /api/auth/register` (or `/login`) sets an HTTP-only cookie, so the other \
operations work from this page right away. Programs can instead get a token from `POST /api/auth/token` \
and send `Authorization: Bearer <token>`.\n\n\
**Project API keys** (`POST /api/projects/{id}/keys`) put an agent in front of people without accounts: \
send `Authorization: Bearer ck_…` (the ProjectKeyAuth scheme under Authorize) and, with a `chat` key, \
the end user in `X-Convo-End-User`. A key reaches its own project only.\n\n\
**Errors** always have the body `{\"error\": {code, message, param, request_id, retryable}}` and an \
`x-request-id` header. Someone else's object (or an id that does not parse) is `404 not_found`.\n\n\
**Lists** take `limit` (1–100, default 20), `order` (`asc`|`desc`), and the cursors `after` / `before` \
(ids from the list) and answer `{object: \"list\", data, first_id, last_id, has_more}`.";

/// Pagination query parameters, as every list takes them: the cursors go
/// to the engine as text, which checks them against the list's kind of id.
pub(crate) fn list_params<K>(
    limit: Query<Option<u32>>,
    order: Query<Option<models::SortOrder>>,
    after: Query<Option<pattern::Matching<pattern::CursorRule>>>,
    before: Query<Option<pattern::Matching<pattern::CursorRule>>>,
) -> ListParams<K> {
    ListParams {
        limit: limit.0,
        order: order.0.map(Into::into),
        after: after.0.map(|c| c.into_inner().into()),
        before: before.0.map(|c| c.into_inner().into()),
    }
}
