//! What a [`Caller`] may do and see: the rules for project API keys.
//!
//! A user reaches all of their objects. A key reaches its project's
//! objects only; anything else is [`ConvoError::NotFound`], as another
//! user's object is. An `admin` key may do inside the project what the
//! owner may; a `chat` key only serves its end user (start sessions, send,
//! stream, answer tool calls, cancel, preview, read the end user's own
//! sessions and messages), and anything else is
//! [`ConvoError::InsufficientScope`], whatever the ids name.

use crate::domain::{Agent, Caller, ChatSession, KeyScope, ProjectId};
use crate::error::ConvoError;

/// Refuses a chat key: the operation needs what the owner (or an admin
/// key) may do; `what` names it in the error ("managing agents").
pub(crate) fn require_admin(caller: &Caller, what: &'static str) -> Result<(), ConvoError> {
    match caller.api_key().map(|k| k.scope) {
        Some(KeyScope::Chat) => Err(ConvoError::InsufficientScope(what)),
        _ => Ok(()),
    }
}

/// Whether the caller reaches objects of `project`.
pub(crate) fn reaches(caller: &Caller, project: &ProjectId) -> bool {
    caller.project().is_none_or(|p| p == *project)
}

/// The agent, if the caller reaches it.
pub(crate) fn agent_in_reach(caller: &Caller, agent: Agent) -> Result<Agent, ConvoError> {
    if reaches(caller, &agent.project_id) {
        Ok(agent)
    } else {
        Err(ConvoError::NotFound("agent"))
    }
}

/// The session, if the caller reaches it: in the key's project and, for a
/// chat key, its end user's.
pub(crate) fn session_in_reach(
    caller: &Caller,
    session: ChatSession,
) -> Result<ChatSession, ConvoError> {
    let mine = match caller.confined_to() {
        Some(end_user) => session.end_user.as_ref() == Some(end_user),
        None => true,
    };
    if mine && reaches(caller, &session.project_id) {
        Ok(session)
    } else {
        Err(ConvoError::NotFound("chat session"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{now, ApiKey, EndUser, KeyId, SessionId, UserId};

    fn key(scope: KeyScope, project: ProjectId, owner: UserId) -> Arc<ApiKey> {
        Arc::new(ApiKey {
            id: KeyId::new(),
            project_id: project,
            owner,
            name: "k".into(),
            scope,
            prefix: "ck_12345678".into(),
            secret_hash: String::new(),
            created_at: now(),
            expires_at: None,
            last_used_at: None,
            rate_limit_per_minute: None,
            end_user_monthly_token_budget: None,
        })
    }

    fn session(project: ProjectId, owner: UserId, end_user: Option<&str>) -> ChatSession {
        ChatSession {
            id: SessionId::new(),
            agent_id: crate::domain::AgentId::new(),
            project_id: project,
            owner,
            title: None,
            message_count: 0,
            created_at: now(),
            updated_at: now(),
            forked_from: None,
            pending_tool_calls: Vec::new(),
            end_user: end_user.map(|u| EndUser::parse(u).expect("end user")),
        }
    }

    #[test]
    fn a_chat_key_sees_its_end_users_sessions_of_its_project_only() {
        let (owner, project, other) = (UserId::new(), ProjectId::new(), ProjectId::new());
        let alice = Some(EndUser::parse("alice").expect("end user"));
        let chat = Caller::key(key(KeyScope::Chat, project, owner), alice.clone()).expect("caller");
        assert!(session_in_reach(&chat, session(project, owner, Some("alice"))).is_ok());
        for s in [
            session(project, owner, Some("bob")),
            session(project, owner, None),
            session(other, owner, Some("alice")),
        ] {
            assert!(matches!(
                session_in_reach(&chat, s),
                Err(ConvoError::NotFound(_))
            ));
        }
        let admin = Caller::key(key(KeyScope::Admin, project, owner), None).expect("caller");
        assert!(session_in_reach(&admin, session(project, owner, Some("bob"))).is_ok());
        assert!(session_in_reach(&admin, session(other, owner, None)).is_err());
        let user = Caller::from(owner);
        assert!(session_in_reach(&user, session(other, owner, Some("bob"))).is_ok());
    }

    #[test]
    fn a_chat_key_is_refused_what_needs_admin_and_must_name_its_end_user() {
        let (owner, project) = (UserId::new(), ProjectId::new());
        assert!(Caller::key(key(KeyScope::Chat, project, owner), None).is_err());
        let alice = Some(EndUser::parse("alice").expect("end user"));
        let chat = Caller::key(key(KeyScope::Chat, project, owner), alice).expect("caller");
        assert!(matches!(
            require_admin(&chat, "managing agents"),
            Err(ConvoError::InsufficientScope("managing agents"))
        ));
        let admin = Caller::key(key(KeyScope::Admin, project, owner), None).expect("caller");
        assert!(require_admin(&admin, "managing agents").is_ok());
        assert!(require_admin(&Caller::from(owner), "managing agents").is_ok());
    }
}
