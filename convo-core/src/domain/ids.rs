//! Typed, time-ordered identifiers.
//!
//! Every id is a UUIDv7 (RFC 9562): its first 48 bits are a millisecond
//! timestamp, so ids sort by creation time and a list ordered by id is ordered
//! by age. Outside the crate they are opaque strings.
//!
//! The engine's operations take an id as anything [`IntoId`] of the right
//! kind: the typed id itself (so a wrong kind of id does not compile), or its
//! text as a client sent it (so a front end passes a path segment as is, and
//! text that is no id is the same "not found" as an id that names nothing).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The error of parsing an id from text that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct IdParseError;

/// An id of kind `T`, or text to parse as one: what the engine's operations
/// take wherever they name an object.
///
/// Implemented for each typed id (`T` and `&T`, which cannot fail) and for
/// text (`&str`, `&String`, `String`: the canonical form, else
/// [`IdParseError`]). The kind is part of the type, so an id of another kind
/// does not compile:
///
/// ```compile_fail,E0277
/// # async fn f(convo: convo_core::Convo, user: convo_core::User, project: convo_core::Project) {
/// // A ProjectId where an AgentId is expected.
/// let _ = convo.start_session(&user.id, project.id, None).await;
/// # }
/// ```
///
/// while the right kind, or text, does:
///
/// ```
/// # async fn f(convo: convo_core::Convo, user: convo_core::User, agent: convo_core::Agent) {
/// let _ = convo.start_session(&user.id, agent.id, None).await;
/// let _ = convo.start_session(&user.id, "0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e", None).await;
/// # }
/// ```
pub trait IntoId<T> {
    /// The id; text that is not one is an error.
    fn into_id(self) -> Result<T, IdParseError>;
}

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, unique id, later in order than every id made before it in this process.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the canonical text form; anything else is an error.
            pub fn parse(text: &str) -> Result<Self, IdParseError> {
                // Only the hyphenated form, so one object never has two valid spellings.
                if text.len() != 36 {
                    return Err(IdParseError);
                }
                Uuid::try_parse(text).map(Self).map_err(|_| IdParseError)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Wraps an existing UUID (used by store backends reading their own records).
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // One `write_str` of the encoded id: uuid's own `Display`
                // goes through the padding-aware formatter, a visible cost
                // when a page of messages prints two ids each.
                let mut buf = uuid::Uuid::encode_buffer();
                f.pad(self.0.hyphenated().encode_lower(&mut buf))
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        // One impl per form rather than a blanket one over `AsRef<str>`,
        // which would overlap `impl IntoId<T> for T`.
        impl IntoId<$name> for $name {
            fn into_id(self) -> Result<$name, IdParseError> {
                Ok(self)
            }
        }

        impl IntoId<$name> for &$name {
            fn into_id(self) -> Result<$name, IdParseError> {
                Ok(*self)
            }
        }

        impl IntoId<$name> for &str {
            fn into_id(self) -> Result<$name, IdParseError> {
                $name::parse(self)
            }
        }

        impl IntoId<$name> for &String {
            fn into_id(self) -> Result<$name, IdParseError> {
                $name::parse(self)
            }
        }

        impl IntoId<$name> for String {
            fn into_id(self) -> Result<$name, IdParseError> {
                $name::parse(&self)
            }
        }
    };
}

define_id!(
    /// Identifies a [`User`](crate::User).
    UserId
);
define_id!(
    /// Identifies a [`Project`](crate::Project).
    ProjectId
);
define_id!(
    /// Identifies an [`Agent`](crate::Agent).
    AgentId
);
define_id!(
    /// Identifies a [`ChatSession`](crate::ChatSession).
    SessionId
);
define_id!(
    /// Identifies a [`Message`](crate::Message).
    MessageId
);
define_id!(
    /// Identifies an [`ApiKey`](crate::ApiKey) (not its secret: the id is
    /// shown in lists and used to revoke it).
    KeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = ProjectId::new();
        assert_eq!(ProjectId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let ids: Vec<SessionId> = (0..1000).map(|_| SessionId::new()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "UUIDv7 ids must be monotonic"
        );
    }

    #[test]
    fn every_form_of_an_id_gives_the_id() {
        let id = AgentId::new();
        let text = id.to_string();
        assert_eq!(id.into_id(), Ok(id), "the id itself");
        assert_eq!((&id).into_id(), Ok(id), "a reference");
        assert_eq!(text.as_str().into_id(), Ok(id), "&str");
        assert_eq!((&text).into_id(), Ok(id), "&String");
        assert_eq!(text.clone().into_id(), Ok(id), "String");
    }

    #[test]
    fn text_that_is_no_id_is_an_error_in_every_form() {
        for bad in [
            "",
            "abc",
            "0196F1C8E0D27C3A9B1E2F3A4B5C6D7E",
            " 0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e",
        ] {
            let owned = bad.to_owned();
            let results: [Result<SessionId, _>; 3] =
                [bad.into_id(), (&owned).into_id(), owned.clone().into_id()];
            for result in results {
                assert_eq!(result, Err(IdParseError), "{bad:?} must not parse");
            }
        }
    }

    #[test]
    fn an_ids_text_is_parsed_as_whichever_kind_is_asked_for() {
        // Text carries no kind: the engine then finds no object of the kind
        // it asked for, as with any id that names nothing.
        let project = ProjectId::new().to_string();
        let agent: Result<AgentId, _> = project.as_str().into_id();
        assert_eq!(agent.map(|a| a.to_string()), Ok(project));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "abc",
            "{\"$ne\":null}",
            "../../etc",
            "0196f1c8e0d27c3a9b1e2f3a4b5c6d7e",
            "😀",
        ] {
            assert_eq!(
                UserId::parse(bad),
                Err(IdParseError),
                "{bad:?} must not parse"
            );
        }
    }
}
