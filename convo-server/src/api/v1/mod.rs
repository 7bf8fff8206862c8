//! `/v1`: Convo's agents behind OpenAI's API, so OpenAI's SDKs and every
//! tool built on them can talk to an agent.
//!
//! - `GET /v1/models`: the caller's agents (`id` = agent id, `owned_by` =
//!   project id); `GET /v1/models/{id}`: one of them.
//! - `POST /v1/chat/completions` with `model` = an agent id: the agent
//!   answers the request's messages (see `convo_core::engine::complete` for
//!   how its system prompt and settings combine with the request's), as one
//!   `chat.completion` or, with `stream: true`, as chunks (`stream`).
//!   Nothing is stored, unless the header `x-convo-session: <chat session
//!   id>` names a stored session of that agent: then the request's last
//!   message (a user message) is sent as a turn of that session, with the
//!   history from the store, and both messages are stored; the request's
//!   earlier messages and its `temperature` / `max_tokens` are ignored.
//!
//! Stateless completions take `tools`, `tool_choice`,
//! `parallel_tool_calls` and `response_format` (`tools`): the model may
//! answer with `tool_calls`, which the caller runs and answers with `tool`
//! messages in its next request; the agent's own tools are not offered
//! (the caller declares what it runs, as with OpenAI). A stored turn
//! (`x-convo-session`) uses the agent's tools, run by the server, so
//! those fields are refused there.
//!
//! A request field that would change the answer and is not implemented
//! (`n` > 1, `logprobs`, …), or that is not in OpenAI's API at all,
//! is refused with `400` naming it, never silently ignored (`params`).
//!
//! Authentication is `Authorization: Bearer <token from POST /api/auth/token>`
//! or a project API key (`Bearer ck_…`: the models are its project's
//! agents; a chat key names its end user in `X-Convo-End-User` or the
//! request's `user`, and a stored turn's session must be that end user's).
//! The cookie is not read: these are programs' routes. Errors are in
//! OpenAI's shape (`error`).
//!
//! These routes are OpenAI's API, not Convo's: they are kept out of Convo's
//! OpenAPI document and Swagger UI, and answer in their own shapes.

mod error;
mod params;
mod stream;
mod tools;
mod wire;

use std::sync::Arc;

use convo_core::{ApiKey, Caller, CompletionOverrides, Convo, EndUser, UserId, KEY_PREFIX};
use poem::http::header::AUTHORIZATION;
use poem::web::Data;
use poem::{get, handler, post, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use serde::Serialize;

use self::error::OpenAiError;
use self::wire::{ChatCompletionRequest, ChunkMeta, Model, ModelList};
use crate::credentials::{
    authenticate_key, authenticate_token, client_address, end_user_header, key_caller,
};
use crate::state::AppState;

/// The header that makes a completion a turn of a stored chat session.
pub const SESSION_HEADER: &str = "x-convo-session";

/// The `/v1` routes (nest them at `/v1`).
pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/models", get(list_models))
        .at("/models/:model", get(get_model))
        .at("/chat/completions", post(chat_completions))
        .catch_all_error(|err: poem::Error| async move {
            if err.is_from_response() {
                err.into_response()
            } else {
                OpenAiError::from_poem(&err).into_response()
            }
        })
}

/// `GET /v1/models`.
#[handler]
async fn list_models(req: &Request, state: Data<&AppState>) -> Response {
    let result = async {
        let caller = credential(req, &state).await?.caller(None)?;
        let agents = state
            .convo
            .all_agents(caller)
            .await
            .map_err(|e| OpenAiError::from_convo(e, ""))?;
        Ok(ModelList {
            object: "list",
            data: agents.iter().map(Model::from).collect(),
        })
    };
    respond(result.await)
}

/// `GET /v1/models/{model}`.
#[handler]
async fn get_model(
    req: &Request,
    state: Data<&AppState>,
    model: poem::web::Path<String>,
) -> Response {
    let result = async {
        let caller = credential(req, &state).await?.caller(None)?;
        let agent = state
            .convo
            .chat_agent(caller, model.as_str())
            .await
            .map_err(|e| OpenAiError::from_convo(e, &model))?;
        Ok(Model::from(&agent))
    };
    respond(result.await)
}

/// `POST /v1/chat/completions`.
#[handler]
async fn chat_completions(req: &Request, state: Data<&AppState>, body: Vec<u8>) -> Response {
    match complete(req, &state, &body).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    }
}

async fn complete(req: &Request, state: &AppState, body: &[u8]) -> Result<Response, OpenAiError> {
    let credential = credential(req, state).await?;
    let malformed =
        |e: serde_json::Error| OpenAiError::invalid(None, format!("malformed request body: {e}"));
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(malformed)?;
    params::check(&fields).map_err(|refusal| OpenAiError::refused(&refusal))?;
    let request: ChatCompletionRequest =
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(malformed)?;
    let user = credential.caller(request.user.as_deref())?;
    let messages = wire::messages(&request.messages)
        .map_err(|message| OpenAiError::invalid(Some("messages"), message))?;
    let reasoning_effort = wire::reasoning_effort(request.reasoning_effort.as_deref())
        .map_err(|message| OpenAiError::invalid(Some("reasoning_effort"), message))?;
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .map(|v| v.to_str().map(str::trim).unwrap_or_default().to_owned());
    let overrides = CompletionOverrides {
        temperature: request.temperature,
        max_output_tokens: request.max_completion_tokens.or(request.max_tokens),
        reasoning_effort,
        tools: tools::tools(request.tools.as_deref().unwrap_or_default())
            .map_err(OpenAiError::from_tools)?,
        tool_choice: tools::tool_choice(request.tool_choice.as_ref())
            .map_err(OpenAiError::from_tools)?,
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: tools::response_format(request.response_format.as_ref())
            .map_err(OpenAiError::from_tools)?,
    };
    if session.is_some() {
        stored_turn_takes_no_tools(&overrides)?;
    }
    let model = request.model.as_str();
    let failed = |e: convo_core::ConvoError| OpenAiError::from_convo(e, model);
    let convo: &Convo = &state.convo;
    let mut meta = ChunkMeta {
        id: format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
        created: chrono::Utc::now().timestamp(),
        model: request.model.clone(),
    };
    let include_usage = request
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let streamed = request.stream.unwrap_or(false);
    let keep_alive = state.sse_keep_alive;
    Ok(match (session, streamed) {
        (None, false) => {
            let reply = convo
                .complete(&user, model, &messages, overrides)
                .await
                .map_err(failed)?;
            json(&wire::completion(
                &meta,
                reply.text,
                &reply.tool_calls,
                reply.finish_reason,
                reply.usage,
            ))
        }
        (None, true) => {
            let chunks = convo
                .stream_complete(&user, model, &messages, overrides)
                .await
                .map_err(failed)?;
            stream::sse(stream::from_chunks(chunks), meta, include_usage, keep_alive)
        }
        (Some(session), false) => {
            let turn = convo
                .complete_in_session(&user, model, &session, &messages, None)
                .await
                .map_err(failed)?;
            let reply = turn.assistant_message;
            meta.id = format!("chatcmpl-{}", reply.id);
            json(&wire::completion(
                &meta,
                reply.content,
                &[],
                reply
                    .finish_reason
                    .unwrap_or(convo_core::FinishReason::Stop),
                reply.usage,
            ))
        }
        (Some(session), true) => {
            let turn = convo
                .stream_in_session(&user, model, &session, &messages, None)
                .await
                .map_err(failed)?;
            stream::sse(stream::from_turn(turn), meta, include_usage, keep_alive)
        }
    })
}

/// A stored turn runs with the agent's own tools (executed by the server)
/// and answers in text: tools or a format in the request would be ignored,
/// so they are refused by name.
fn stored_turn_takes_no_tools(overrides: &CompletionOverrides) -> Result<(), OpenAiError> {
    let refused = if !overrides.tools.is_empty() {
        Some("tools")
    } else if overrides.tool_choice != convo_core::llm::ToolChoice::Auto {
        Some("tool_choice")
    } else if overrides.parallel_tool_calls == Some(false) {
        Some("parallel_tool_calls")
    } else if overrides.response_format.is_some() {
        Some("response_format")
    } else {
        None
    };
    match refused {
        Some(param) => Err(OpenAiError::unsupported(
            param,
            format!("Unsupported parameter: '{param}' is not supported with {SESSION_HEADER}: a stored turn uses the agent's own tools, run by the server, and answers in text; leave it out, or leave out the header."),
        )),
        None => Ok(()),
    }
}

/// A `/v1` route's credential, before the end user is known.
enum Credential {
    /// A user's token.
    User(UserId),
    /// A project API key, and the end user its `X-Convo-End-User` names.
    Key(Arc<ApiKey>, Option<EndUser>),
}

impl Credential {
    /// Who acts; a key's end user is the header's, else `body_user`.
    fn caller(self, body_user: Option<&str>) -> Result<Caller, OpenAiError> {
        match self {
            Credential::User(id) => Ok(Caller::User(id)),
            Credential::Key(key, header) => {
                let end_user = match (header, body_user) {
                    (Some(u), _) => Some(u),
                    (None, Some(text)) => Some(
                        EndUser::parse(text)
                            .map_err(|e| OpenAiError::invalid(Some("user"), format!("user {e}")))?,
                    ),
                    (None, None) => None,
                };
                key_caller(key, end_user).map_err(|_| {
                    OpenAiError::invalid(
                        Some("user"),
                        "a chat key must name its end user: send `user` or the X-Convo-End-User header",
                    )
                })
            }
        }
    }
}

/// The credential of a `/v1` route: a Bearer token or project API key.
async fn credential(req: &Request, state: &AppState) -> Result<Credential, OpenAiError> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(OpenAiError::unauthenticated)?;
    if token.starts_with(KEY_PREFIX) {
        let header = end_user_header(req).map_err(OpenAiError::from_api)?;
        let key = authenticate_key(state, token, &client_address(req.remote_addr()))
            .await
            .map_err(OpenAiError::from_api)?;
        return Ok(Credential::Key(key, header));
    }
    authenticate_token(state, token)
        .await
        .map(|user| Credential::User(user.id))
        .map_err(OpenAiError::from_api)
}

fn respond<T: Serialize>(result: Result<T, OpenAiError>) -> Response {
    match result {
        Ok(value) => json(&value),
        Err(err) => err.into_response(),
    }
}

fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(body),
        Err(e) => OpenAiError::from_api(crate::http::error::ApiError::internal(format!(
            "response serialisation failed: {e}"
        )))
        .into_response(),
    }
}
