//! [`Caller`]: who an engine operation acts for.

use std::sync::Arc;

use super::{ApiKey, EndUser, KeyScope, ProjectId, UserId};

/// Who is acting: a user (the owner of everything the operation touches),
/// or a project API key acting inside its project for one of its end users.
///
/// Every engine operation that a key may reach takes `impl Into<Caller>`,
/// so a `&UserId` is a caller as it is:
///
/// ```
/// # async fn f(convo: convo_core::Convo, user: convo_core::UserId, session: convo_core::SessionId) {
/// let _ = convo.session(&user, session).await;
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// A signed-in user, acting on their own objects.
    User(UserId),
    /// A project API key (see [`KeyCaller`]).
    Key(KeyCaller),
}

/// A project API key at work, with the end user it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCaller {
    key: Arc<ApiKey>,
    end_user: Option<EndUser>,
}

/// A chat key sent without the end user it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a chat key must name the end user it acts for")]
pub struct MissingEndUser;

impl Caller {
    /// A key acting for `end_user`, which a chat key must name (an admin
    /// key may: sessions it starts then record it).
    pub fn key(key: Arc<ApiKey>, end_user: Option<EndUser>) -> Result<Self, MissingEndUser> {
        if key.scope == KeyScope::Chat && end_user.is_none() {
            return Err(MissingEndUser);
        }
        Ok(Caller::Key(KeyCaller { key, end_user }))
    }

    /// The user whose objects the operation touches: the user, or the
    /// key's project owner.
    pub fn owner(&self) -> UserId {
        match self {
            Caller::User(id) => *id,
            Caller::Key(k) => k.key.owner,
        }
    }

    /// The key, when a key is acting.
    pub fn api_key(&self) -> Option<&ApiKey> {
        match self {
            Caller::User(_) => None,
            Caller::Key(k) => Some(&k.key),
        }
    }

    /// The only project the caller reaches (`None`: a user reaches all of theirs).
    pub fn project(&self) -> Option<ProjectId> {
        self.api_key().map(|k| k.project_id)
    }

    /// The end user a key acts for.
    pub fn end_user(&self) -> Option<&EndUser> {
        match self {
            Caller::User(_) => None,
            Caller::Key(k) => k.end_user.as_ref(),
        }
    }

    /// The end user whose sessions alone the caller sees: a chat key's.
    /// `None`: every session in reach.
    pub fn confined_to(&self) -> Option<&EndUser> {
        match self {
            Caller::Key(k) if k.key.scope == KeyScope::Chat => k.end_user.as_ref(),
            _ => None,
        }
    }
}

impl From<UserId> for Caller {
    fn from(id: UserId) -> Self {
        Caller::User(id)
    }
}

impl From<&UserId> for Caller {
    fn from(id: &UserId) -> Self {
        Caller::User(*id)
    }
}

impl From<&Caller> for Caller {
    fn from(caller: &Caller) -> Self {
        caller.clone()
    }
}
