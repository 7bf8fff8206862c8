//! Steps 1–5 of a turn: checks, the lock, idempotency, the user message
//! and the request.

use super::*;
use crate::domain::{
    now, Agent, Caller, ChatSession, ContextRef, Message, MessageDraft, MessageId, SessionId,
};
use crate::engine::{context, validate, Convo};
use crate::error::ConvoError;
use crate::llm::LlmRequest;
use crate::store::IdempotencyRecord;

impl Convo {
    /// Steps 1–5.
    pub(super) async fn begin_turn(
        &self,
        caller: &Caller,
        session_id: impl IntoId<SessionId>,
        message: SendMessage,
    ) -> Result<Begun, ConvoError> {
        validate::content(&message.content, self.settings().max_message_bytes)?;
        if let Some(key) = &message.idempotency_key {
            validate::idempotency_key(key)?;
        }
        let session_id = crate::engine::parse_id(session_id, "chat session")?;
        let owner = &caller.owner();
        if caller.project().is_some() {
            // A key's reach (its project, a chat key's end user) is checked
            // before the lock: a key never locks a session it cannot see.
            self.session(caller, session_id).await?;
        }
        // The lock's round trip is also the ownership check and the
        // session read (its pending calls are current under the lock).
        let (lock, session) =
            TurnLock::acquire(self.store(), owner, session_id, self.settings().turn_lease).await?;
        let by = Attribution::of(caller, &session);
        let (slot, agent) = match self.admit_locked(caller, &session, &by).await {
            Ok(admitted) => admitted,
            Err(e) => {
                lock.release().await;
                return Err(e);
            }
        };
        match self.begin_locked(&session, &agent, &message).await {
            Ok(Some((user_message, request, context))) => Ok(Begun::Run(Prepared {
                started: std::time::Instant::now(),
                _slot: slot,
                lock,
                agent,
                user_message,
                assistant_id: MessageId::new(),
                request,
                context,
                idempotency_key: message.idempotency_key,
                earlier: 1,
                resumed: Vec::new(),
                round: 0,
                by,
            })),
            Ok(None) => {
                let key = message.idempotency_key.as_deref().unwrap_or_default();
                let record = self.store().idempotency_record(&session.id, key).await;
                lock.release().await;
                match record? {
                    Some(IdempotencyRecord {
                        user_message,
                        assistant_message: Some(assistant_message),
                        mut messages,
                        ..
                    }) => {
                        // A record from before tools holds the reply alone.
                        if messages.is_empty() {
                            messages.push(assistant_message.clone());
                        }
                        Ok(Begun::Replay(Turn {
                            user_message,
                            assistant_message,
                            pending_tool_calls: super::client::unanswered(&messages),
                            messages,
                        }))
                    }
                    _ => Err(ConvoError::Internal("idempotency record vanished".into())),
                }
            }
            Err(e) => {
                lock.release().await;
                Err(e)
            }
        }
    }

    /// Under the lock: the session's agent, and the quotas (a refused turn
    /// stores nothing).
    pub(super) async fn admit_locked(
        &self,
        caller: &Caller,
        session: &ChatSession,
        by: &Attribution,
    ) -> Result<(Option<crate::engine::usage::TurnSlot>, Agent), ConvoError> {
        let agent = self
            .turn_agent(session)
            .await?
            .ok_or(ConvoError::NotFound("chat session"))?;
        let slot = self.admit_call(caller, &agent, by).await?;
        Ok((slot, agent))
    }

    /// The session's agent: kept in process while the store's change feed
    /// is healthy (an edit or deletion anywhere drops it as its change
    /// arrives), else read from the store.
    async fn turn_agent(&self, session: &ChatSession) -> Result<Option<Agent>, ConvoError> {
        let feed = self.store().changes();
        if let Some(agent) = feed.and_then(|f| f.agent(&session.owner, &session.agent_id)) {
            return Ok(Some(agent));
        }
        let ticket = feed.and_then(|f| f.ticket());
        let found = self
            .store()
            .agent(&session.owner, &session.agent_id)
            .await?;
        if let (Some(feed), Some(ticket), Some(agent)) = (feed, ticket, &found) {
            feed.keep_agent(ticket, agent);
        }
        Ok(found)
    }

    /// Steps 3–5 under the lock. `None`: a completed idempotent turn exists.
    pub(super) async fn begin_locked(
        &self,
        locked: &ChatSession,
        agent: &Agent,
        message: &SendMessage,
    ) -> Result<Option<(Message, LlmRequest, ContextRef)>, ConvoError> {
        let store = self.store();
        let session = &locked.id;
        let user_message = match &message.idempotency_key {
            None => {
                super::client::ensure_no_pending_calls(locked)?;
                store
                    .append_message(session, MessageDraft::user(&message.content))
                    .await?
            }
            Some(key) => match store.idempotency_record(session, key).await? {
                Some(record) => {
                    if record.user_message.content != message.content {
                        return Err(ConvoError::invalid(
                            "idempotency_key",
                            "was already used with a different message",
                        ));
                    }
                    if record.assistant_message.is_some() {
                        // A replay, even of the turn that is paused now.
                        return Ok(None);
                    }
                    super::client::ensure_no_pending_calls(locked)?;
                    // The first attempt stored the user message, then the model
                    // failed. Answer that message again, if nothing came after it.
                    let last = store.last_messages(session, 1).await?;
                    if last.last().map(|m| m.id) != Some(record.user_message.id) {
                        return Err(ConvoError::invalid(
                            "idempotency_key",
                            "was used for a turn that failed, and the conversation has moved on since",
                        ));
                    }
                    record.user_message
                }
                None => {
                    super::client::ensure_no_pending_calls(locked)?;
                    let user_message = store
                        .append_message(session, MessageDraft::user(&message.content))
                        .await?;
                    let record = IdempotencyRecord {
                        user_message: user_message.clone(),
                        assistant_message: None,
                        messages: Vec::new(),
                        expires_at: self.idempotency_expiry(),
                    };
                    store.save_idempotency_record(session, key, &record).await?;
                    user_message
                }
            },
        };
        let (request, context) = self.build_request(session, agent, 1).await?;
        Ok(Some((user_message, request, context)))
    }

    /// Step 5: the context window and the request built from it.
    ///
    /// `turn_messages`: how many messages the turn has stored so far (its
    /// user message included); they are all loaded even past the agent's
    /// `context_messages`, since the window always holds the whole turn.
    pub(super) async fn build_request(
        &self,
        session: &SessionId,
        agent: &Agent,
        turn_messages: usize,
    ) -> Result<(LlmRequest, ContextRef), ConvoError> {
        let n = (agent.context_messages as usize).max(turn_messages);
        let recent = self.store().last_messages(session, n).await?;
        let plan = context::plan(agent, &recent);
        let Some(context) = plan.context_ref() else {
            return Err(ConvoError::Internal(
                "context window is empty after storing the user message".into(),
            ));
        };
        Ok((plan.request, context))
    }

    /// When an idempotency record made now expires.
    pub(super) fn idempotency_expiry(&self) -> crate::domain::Timestamp {
        let ttl = chrono::Duration::from_std(self.settings().idempotency_ttl)
            .unwrap_or(chrono::Duration::days(1));
        now() + ttl
    }
}
