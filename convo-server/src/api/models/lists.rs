//! Pagination: the sort order and the list envelopes.

use convo_core as core;
use poem_openapi::{Enum, Object};

use super::*;

/// Sort order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SortOrder {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl From<SortOrder> for core::Order {
    fn from(o: SortOrder) -> Self {
        match o {
            SortOrder::Asc => core::Order::Asc,
            SortOrder::Desc => core::Order::Desc,
        }
    }
}

/// Declares a list envelope `{object: "list", data, first_id, last_id, has_more}`.
macro_rules! list_type {
    ($(#[$meta:meta])* $name:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Object, serde::Serialize)]
        pub struct $name {
            /// Always `list`.
            pub object: String,
            /// The items, in the requested order.
            pub data: Vec<$item>,
            /// Id of the first item (null when empty).
            #[oai(nullable)]
            pub first_id: Option<String>,
            /// Id of the last item (null when empty); pass it as `after` for the next page.
            #[oai(nullable)]
            pub last_id: Option<String>,
            /// Whether more items lie beyond this page.
            pub has_more: bool,
        }

        impl $name {
            /// Wraps a page of engine objects.
            pub fn from_page<T: Into<$item>>(page: core::Page<T>) -> Self {
                let data: Vec<$item> = page.data.into_iter().map(Into::into).collect();
                Self {
                    object: "list".to_owned(),
                    first_id: data.first().map(|i| i.id.clone()),
                    last_id: data.last().map(|i| i.id.clone()),
                    data,
                    has_more: page.has_more,
                }
            }
        }
    };
}

list_type!(
    /// A page of projects.
    ProjectList, Project
);
list_type!(
    /// A page of agents.
    AgentList, Agent
);
list_type!(
    /// A page of chat sessions.
    ChatSessionList, ChatSession
);
list_type!(
    /// A page of messages.
    MessageList, Message
);
list_type!(
    /// The keys of a project, oldest first (all of them: `has_more` is always false).
    ApiKeyList, ApiKey
);
