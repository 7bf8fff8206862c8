//! Typed, time-ordered identifiers.
//!
//! Every id is a UUIDv7 (RFC 9562): its first 48 bits are a millisecond
//! timestamp, so ids sort by creation time and a list ordered by id is ordered
//! by age. Outside the crate they are opaque strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The error of parsing an id from text that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct IdParseError;

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
