//! `/api/chat/{id}/tool_outputs`: the outputs of client tools, resuming the
//! turn that paused for them.

use poem_openapi::param::{Header, Path};
use poem_openapi::{ApiResponse, OpenApi};

use super::events::{sse, TurnEventStream};
use super::models::{ToolOutputsRequest, ToolOutputsResponse};
use super::ApiTags;
use crate::credentials::Auth;
use crate::http::body::JsonBody;
use crate::http::error::{current_request_id, TurnError};
use crate::http::json::JsonOut;
use crate::http::pattern::{EndUserRule, Matching};
use crate::state::AppState;

/// Client tool outputs.
pub struct ToolOutputsApi {
    state: AppState,
}

impl ToolOutputsApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// A resumed turn.
#[derive(ApiResponse)]
pub enum OutputsSubmitted {
    /// What the resumed turn stored.
    #[oai(status = 201)]
    Created(JsonOut<ToolOutputsResponse>),
}

/// A resumed turn, streamed.
#[derive(ApiResponse)]
pub enum OutputsStreamed {
    /// `text/event-stream`: `message.created`, a `tool_call.completed` per output, then the
    /// events of a message stream.
    #[oai(status = 200)]
    Ok(TurnEventStream),
}

#[OpenApi(prefix_path = "/api/chat", tag = "ApiTags::Chat")]
impl ToolOutputsApi {
    /// Post client tool outputs
    ///
    /// Answers the client tool calls the session's paused turn waits for (its
    /// `pending_tool_calls`) and continues the turn, on whichever server process: the
    /// outputs are stored as tool messages (`output` a string is the `content` as it is, any
    /// other JSON value its JSON text; `is_error` tells the model the tool failed), the
    /// model is called again, and the answer comes back like *Send a message*'s, without
    /// `user_message`. The turn may pause again (`pending_tool_calls` not empty). Its
    /// `max_tool_rounds` counts the rounds before the pause too.
    ///
    /// Every pending call must be answered exactly once in this one request: an unknown
    /// `tool_call_id`, one answered twice or one left out is `422` (`param`: `outputs`) and
    /// nothing is stored. A session with no pending calls (never paused, already resumed,
    /// or cancelled) is `409 no_pending_tool_calls`, so a repeated request stores nothing
    /// twice; one whose turn is running is `409 turn_in_progress`.
    #[oai(
        path = "/:chat_session_id/tool_outputs",
        method = "post",
        operation_id = "submit_tool_outputs"
    )]
    async fn submit(
        &self,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
        body: JsonBody<ToolOutputsRequest>,
    ) -> Result<OutputsSubmitted, TurnError> {
        let outputs = body.0.outputs.into_iter().map(Into::into).collect();
        let turn = self
            .state
            .convo
            .submit_tool_outputs(auth.caller(), &chat_session_id.0, outputs)
            .await?;
        Ok(OutputsSubmitted::Created(JsonOut(turn.into())))
    }

    /// Post client tool outputs, stream the reply
    ///
    /// Like *Post client tool outputs*, but the rest of the turn arrives as server-sent
    /// events, checked first as *Send a message, stream the reply* is: `message.created`
    /// (with the turn's `user_message`, the one that started it, and the next
    /// `assistant_message_id`), a `tool_call.completed` `{message}` per stored output, then
    /// the events of a message stream (`message.delta`, each tool round's
    /// `message.completed`, `tool_call.created` and `tool_call.completed`) and one final
    /// `message.completed`, `turn.requires_action` `{tool_calls}` or `error`.
    #[oai(
        path = "/:chat_session_id/tool_outputs/stream",
        method = "post",
        operation_id = "stream_tool_outputs"
    )]
    async fn stream(
        &self,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
        body: JsonBody<ToolOutputsRequest>,
    ) -> Result<OutputsStreamed, TurnError> {
        let outputs = body.0.outputs.into_iter().map(Into::into).collect();
        let turn = self
            .state
            .convo
            .stream_tool_outputs(auth.caller(), &chat_session_id.0, outputs)
            .await?;
        Ok(OutputsStreamed::Ok(sse(
            turn,
            current_request_id(),
            self.state.sse_keep_alive,
        )))
    }
}
