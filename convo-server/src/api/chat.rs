//! `/api/chat/*`: chat sessions and their messages.

use convo_core::SendMessage;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};

use crate::http::body::JsonBody;
use crate::http::json::{JsonOut, OptionalJson};
use poem_openapi::{ApiResponse, OpenApi};

use super::events::{sse, TurnEventStream};
use super::models::{
    ChatSession, ContextPreview, ForkChat, MessageList, SendMessageRequest, SortOrder, StartChat,
    TurnResponse, UpdateChat,
};
use super::projects::Deleted;
use super::{list_params, ApiTags};
use crate::credentials::Auth;
use crate::http::error::{current_request_id, ReadError, TurnError, WriteError};
use crate::http::pattern::{ContentRule, CursorRule, EndUserRule, IdempotencyKeyRule, Matching};
use crate::state::AppState;

/// Chat operations.
pub struct ChatApi {
    state: AppState,
}

impl ChatApi {
    /// Over the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// A chat session was started.
#[derive(ApiResponse)]
pub enum ChatStarted {
    /// The new chat session.
    #[oai(status = 201)]
    Created(JsonOut<ChatSession>),
}

/// A chat session.
#[derive(ApiResponse)]
pub enum ChatFound {
    /// The chat session.
    #[oai(status = 200)]
    Ok(JsonOut<ChatSession>),
}

/// A completed (or paused) turn.
#[derive(ApiResponse)]
pub enum MessageSent {
    /// What the turn stored.
    #[oai(status = 201)]
    Created(JsonOut<TurnResponse>),
}

/// A streamed turn.
#[derive(ApiResponse)]
pub enum MessageStreamed {
    /// `text/event-stream`: `message.created`, `message.delta`…, each tool round's
    /// `message.completed`, `tool_call.created` and `tool_call.completed`, then
    /// `message.completed`, `turn.requires_action` or `error`.
    #[oai(status = 200)]
    Ok(TurnEventStream),
}

/// A page of messages.
#[derive(ApiResponse)]
pub enum MessagesListed {
    /// The page.
    #[oai(status = 200)]
    Ok(JsonOut<MessageList>),
}

#[OpenApi(prefix_path = "/api/chat", tag = "ApiTags::Chat")]
impl ChatApi {
    /// Start a chat session
    ///
    /// Starts a conversation with one of the caller's agents. The body is optional.
    #[oai(
        path = "/start/:agent_id",
        method = "post",
        operation_id = "start_chat"
    )]
    async fn start(
        &self,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        agent_id: Path<String>,
        body: OptionalJson<StartChat>,
    ) -> Result<ChatStarted, WriteError> {
        let title = body.0.and_then(|b| b.title);
        let session = self
            .state
            .convo
            .start_session(auth.caller(), &agent_id.0, title.as_deref())
            .await?;
        Ok(ChatStarted::Created(JsonOut(session.into())))
    }

    /// Get a chat session
    #[oai(path = "/:chat_session_id", method = "get", operation_id = "get_chat")]
    async fn get(
        &self,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
    ) -> Result<ChatFound, ReadError> {
        let session = self
            .state
            .convo
            .session(auth.caller(), &chat_session_id.0)
            .await?;
        Ok(ChatFound::Ok(JsonOut(session.into())))
    }

    /// Rename a chat session
    ///
    /// Sets the title; `null` or a blank title clears it.
    #[oai(
        path = "/:chat_session_id",
        method = "patch",
        operation_id = "update_chat"
    )]
    async fn update(
        &self,
        auth: Auth,
        chat_session_id: Path<String>,
        body: JsonBody<UpdateChat>,
    ) -> Result<ChatFound, WriteError> {
        let session = self
            .state
            .convo
            .update_session(auth.caller(), &chat_session_id.0, body.0.title.as_deref())
            .await?;
        Ok(ChatFound::Ok(JsonOut(session.into())))
    }

    /// Delete a chat session
    ///
    /// Deletes the session with its messages.
    #[oai(
        path = "/:chat_session_id",
        method = "delete",
        operation_id = "delete_chat"
    )]
    async fn delete(
        &self,
        auth: Auth,
        chat_session_id: Path<String>,
    ) -> Result<Deleted, ReadError> {
        self.state
            .convo
            .delete_session(auth.caller(), &chat_session_id.0)
            .await?;
        Ok(Deleted::NoContent)
    }

    /// Send a message
    ///
    /// Stores the message, asks the agent's model for a reply, stores the reply and returns
    /// both. One turn at a time per session: a second send while a reply is being generated
    /// gets `409 turn_in_progress`. If the model fails, the user message stays stored and no
    /// reply is stored. With an `Idempotency-Key`, a repeat returns the first result without
    /// calling the model or storing anything.
    ///
    /// When the model calls tools, their rounds are stored too (`messages`). A call of a
    /// `client` tool pauses the turn: `assistant_message` is the one asking
    /// (`finish_reason: "tool_calls"`), `pending_tool_calls` (also on the session) lists the
    /// calls to answer with `POST /api/chat/{id}/tool_outputs`, and a new message meanwhile
    /// is `409 tool_outputs_required`.
    #[oai(
        path = "/:chat_session_id/message",
        method = "post",
        operation_id = "send_message"
    )]
    async fn send(
        &self,
        req: &Request,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
        body: JsonBody<SendMessageRequest>,
        /// Optional key (1–255 visible ASCII characters) that makes retries safe.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<Matching<IdempotencyKeyRule>>>,
    ) -> Result<MessageSent, TurnError> {
        let message = SendMessage {
            content: body.0.content.into(),
            idempotency_key: Matching::header(req, "Idempotency-Key", idempotency_key.0)?
                .map(Matching::into_inner),
        };
        let turn = self
            .state
            .convo
            .send_message(auth.caller(), &chat_session_id.0, message)
            .await?;
        Ok(MessageSent::Created(JsonOut(TurnResponse::from(turn))))
    }

    /// Send a message, stream the reply
    ///
    /// Like *Send a message*, but the reply arrives as server-sent events. Everything is
    /// checked before the stream opens (auth, ownership, body, the turn lock), so those
    /// failures are ordinary JSON errors. Then each event has an `event:` name, an `id:`
    /// (its `sequence_number`) and JSON `data:` whose `type` repeats the name:
    ///
    /// 1. `message.created` with the stored `user_message` and the `assistant_message_id`;
    /// 2. `message.delta` with each new piece of text (zero or more);
    /// 3. per tool round: `message.completed` with the assistant message asking for tools
    ///    (`finish_reason: "tool_calls"`), a `tool_call.created` `{tool_call}` per call, a
    ///    `tool_call.completed` `{message}` per stored result (webhook and server tools), then
    ///    the next model call's `message.delta`s (their `message_id` is the new reply's);
    /// 4. one final event: `message.completed` with the stored reply; or, when the turn
    ///    paused for `client` tools, `turn.requires_action` `{tool_calls}` with the calls to
    ///    answer (`POST /api/chat/{id}/tool_outputs`); or `error` with the same object as an
    ///    error response's `error`.
    ///
    /// Comment lines (`: keep-alive`) are sent while the model is silent. If the client
    /// disconnects, generation stops and the text so far is stored with
    /// `finish_reason: "cancelled"`.
    #[oai(
        path = "/:chat_session_id/message/stream",
        method = "post",
        operation_id = "stream_message"
    )]
    async fn stream(
        &self,
        req: &Request,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
        body: JsonBody<SendMessageRequest>,
        /// Optional key (1–255 visible ASCII characters) that makes retries safe.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<Matching<IdempotencyKeyRule>>>,
    ) -> Result<MessageStreamed, TurnError> {
        let message = SendMessage {
            content: body.0.content.into(),
            idempotency_key: Matching::header(req, "Idempotency-Key", idempotency_key.0)?
                .map(Matching::into_inner),
        };
        let turn = self
            .state
            .convo
            .stream_message(auth.caller(), &chat_session_id.0, message)
            .await?;
        Ok(MessageStreamed::Ok(sse(
            turn,
            current_request_id(),
            self.state.sse_keep_alive,
        )))
    }

    /// Fork a chat session
    ///
    /// Creates a new session of the same agent holding copies of messages 1..=`up_to_seq`
    /// (same contents and roles, new ids, `seq` from 1), with `forked_from` recording the
    /// source and `up_to_seq`. The source is not changed. This is how to edit a message
    /// without rewriting history: to change message N, fork at N-1 and send the new text
    /// to the fork. `up_to_seq` beyond the session's `message_count` is `422`.
    #[oai(
        path = "/:chat_session_id/fork",
        method = "post",
        operation_id = "fork_chat"
    )]
    async fn fork(
        &self,
        auth: Auth,
        chat_session_id: Path<String>,
        body: JsonBody<ForkChat>,
    ) -> Result<ChatStarted, WriteError> {
        let session = self
            .state
            .convo
            .fork_session(
                auth.caller(),
                &chat_session_id.0,
                body.0.up_to_seq,
                body.0.title.as_deref(),
            )
            .await?;
        Ok(ChatStarted::Created(JsonOut(session.into())))
    }

    /// Preview the next turn's context
    ///
    /// Exactly what the next turn would send to the model, without sending anything: the
    /// model, system prompt and generation settings, the window's messages with their `seq`,
    /// the estimated prompt tokens, and which earlier messages are left out. The same code
    /// decides this and the real turn. With `content`, the preview is of sending that text
    /// now (it is counted against a token budget and shown last with `pending: true`);
    /// without, it shows the history the next message would follow.
    #[oai(
        path = "/:chat_session_id/context",
        method = "get",
        operation_id = "preview_context"
    )]
    async fn context(
        &self,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
        /// A message to preview sending (not stored; not blank).
        content: Query<Option<Matching<ContentRule>>>,
    ) -> Result<ContextShown, ReadError> {
        let preview = self
            .state
            .convo
            .context_preview(
                auth.caller(),
                &chat_session_id.0,
                content.0.as_ref().map(Matching::as_str),
            )
            .await?;
        Ok(ContextShown::Ok(JsonOut(preview.into())))
    }

    /// Cancel the turn in progress
    ///
    /// Stops the reply being generated in this session, whichever server process runs it:
    /// the text so far is stored with `finish_reason: "cancelled"`, a streaming client
    /// receives it as its final `message.completed`, and a plain send answers `201` with it.
    /// A turn paused for client tools ends instead: each pending call is answered with a
    /// stored tool message (`is_error: true`, saying the turn was cancelled), which the
    /// model sees with the next message, and `pending_tool_calls` is emptied.
    /// `204` whether or not a turn was running, so it is safe to repeat. The session is free
    /// for the next message once the stopped turn has stored its reply (at once when the turn
    /// runs in this process, within about half a second otherwise).
    #[oai(
        path = "/:chat_session_id/cancel",
        method = "post",
        operation_id = "cancel_turn"
    )]
    async fn cancel(
        &self,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
    ) -> Result<Cancelled, ReadError> {
        self.state
            .convo
            .cancel_turn(auth.caller(), &chat_session_id.0)
            .await?;
        Ok(Cancelled::NoContent)
    }

    /// List messages
    ///
    /// The session's history, in conversation order (`seq` ascending) unless `order=desc`.
    #[oai(
        path = "/:chat_session_id/messages",
        method = "get",
        operation_id = "list_messages"
    )]
    // Each parameter of the operation is an argument: that is how
    // poem-openapi declares them.
    #[allow(clippy::too_many_arguments)]
    async fn messages(
        &self,
        auth: Auth,
        /// The end user a chat key acts for: required with a chat key (1–128 visible ASCII
        /// characters), ignored otherwise.
        #[oai(name = "X-Convo-End-User")]
        _end_user: Header<Option<Matching<EndUserRule>>>,
        chat_session_id: Path<String>,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `asc` (conversation order, the default) or `desc`.
        order: Query<Option<SortOrder>>,
        /// Start after this message id (exclusive).
        after: Query<Option<Matching<CursorRule>>>,
        /// End before this message id (exclusive): the previous page.
        before: Query<Option<Matching<CursorRule>>>,
    ) -> Result<MessagesListed, ReadError> {
        let params = list_params(limit, order, after, before);
        let page = self
            .state
            .convo
            .list_messages(auth.caller(), &chat_session_id.0, &params)
            .await?;
        Ok(MessagesListed::Ok(JsonOut(MessageList::from_page(page))))
    }
}

/// A cancel request was taken.
#[derive(ApiResponse)]
pub enum Cancelled {
    /// No turn is running any more (or none was).
    #[oai(status = 204)]
    NoContent,
}

/// A context preview.
#[derive(ApiResponse)]
pub enum ContextShown {
    /// What the next turn would send.
    #[oai(status = 200)]
    Ok(JsonOut<ContextPreview>),
}
