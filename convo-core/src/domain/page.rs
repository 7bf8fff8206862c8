//! Cursor pagination, as in the API contract (and OpenAI's API).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    Agent, AgentId, ChatSession, IdParseError, Message, MessageId, Project, ProjectId, SessionId,
};

/// Sort direction of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest (or lowest `seq`) first.
    Asc,
    /// Newest first.
    Desc,
}

impl Order {
    /// A list's cursor values as bounds in ascending key order, `(lower,
    /// upper)`: in a descending list `after` is the upper one.
    pub(crate) fn ascending_bounds<T>(
        self,
        after: Option<T>,
        before: Option<T>,
    ) -> (Option<T>, Option<T>) {
        match self {
            Order::Asc => (after, before),
            Order::Desc => (before, after),
        }
    }
}

/// A validated page request over items identified by `K`.
///
/// `after` and `before` are ids of items in the list, read in the list's
/// `order`, and both are exclusive (the conventions of OpenAI's and Stripe's
/// lists):
/// - neither, or `after = x`: the first `limit` items (after `x`); `has_more`
///   tells whether more follow;
/// - `before = y` alone: the previous page, i.e. the `limit` items right
///   before `y`, still in list order; `has_more` tells whether more precede them;
/// - both: the first `limit` items strictly between `x` and `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<K> {
    /// 1..=100 items.
    pub limit: usize,
    /// Direction.
    pub order: Order,
    /// Exclusive start cursor.
    pub after: Option<K>,
    /// Exclusive end cursor.
    pub before: Option<K>,
}

impl<K> PageRequest<K> {
    /// The largest page.
    pub const MAX_LIMIT: usize = 100;
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: usize = 20;

    /// Whether a backend should read its index upwards (ascending keys) to
    /// collect this page, starting at the page's anchor cursor.
    pub fn walks_ascending(&self) -> bool {
        (self.order == Order::Asc) != self.anchored_at_before()
    }

    /// `before` alone anchors the page at its end: the items nearest `before`.
    pub fn anchored_at_before(&self) -> bool {
        self.before.is_some() && self.after.is_none()
    }

    /// Turns up to `limit + 1` items, collected from the anchor outwards (as
    /// [`walks_ascending`](Self::walks_ascending) says), into the page's items
    /// in list order and `has_more`.
    pub fn finish<T>(&self, mut items: Vec<T>) -> (Vec<T>, bool) {
        let has_more = items.len() > self.limit;
        items.truncate(self.limit);
        if self.anchored_at_before() {
            items.reverse();
        }
        (items, has_more)
    }

    /// A first page of `limit` items in `order`.
    pub fn first(limit: usize, order: Order) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            order,
            after: None,
            before: None,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the requested order.
    pub data: Vec<T>,
    /// Whether more items lie beyond this page, away from its anchor cursor
    /// (see [`PageRequest`]).
    pub has_more: bool,
}

impl<T: Identified> Page<T> {
    /// The first item's id: the `before` cursor of the page preceding this one.
    pub fn first_id(&self) -> Option<T::Id> {
        self.data.first().map(Identified::id)
    }

    /// The last item's id: the `after` cursor of the page following this one.
    pub fn last_id(&self) -> Option<T::Id> {
        self.data.last().map(Identified::id)
    }

    /// The `after` cursor of the next page, when more items follow: for
    /// pages read forwards (no `before` cursor), the whole cursor loop.
    pub fn next_after(&self) -> Option<T::Id> {
        self.last_id().filter(|_| self.has_more)
    }
}

impl<T> Page<T> {
    /// Maps the items, keeping `has_more`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}

/// An object a list is made of, named by an id of its own kind: what makes
/// a [`Page`]'s cursors typed.
pub trait Identified {
    /// The kind of id, and so of cursor, of lists of these.
    type Id: Copy;
    /// The object's id.
    fn id(&self) -> Self::Id;
}

macro_rules! identified {
    ($($item:ty => $id:ty),* $(,)?) => {$(
        impl Identified for $item {
            type Id = $id;
            fn id(&self) -> $id {
                self.id
            }
        }

        // Per kind rather than `impl<K> From<K>`, which would overlap the
        // text impls (`K = String`).
        impl From<$id> for Cursor<$id> {
            fn from(id: $id) -> Self {
                Self(CursorRepr::Id(id))
            }
        }
    )*};
}

identified!(
    Project => ProjectId,
    Agent => AgentId,
    ChatSession => SessionId,
    Message => MessageId,
);

/// A list cursor (`after` / `before`): an id of the list's kind `K`, or its
/// text as a client sent it (parsed when the list is read; text that is no
/// id of the list is [`ConvoError::Invalid`](crate::ConvoError::Invalid) on
/// the cursor's field, and empty text is no cursor at all).
///
/// Made with `From`: `Some(page.next_after()?.into())`, or from a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor<K>(CursorRepr<K>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum CursorRepr<K> {
    Id(K),
    Text(String),
}

impl<K: Copy> Cursor<K> {
    /// The id, `None` for empty text, or an error for text that is no id
    /// (parsed with `parse`, the list's kind's).
    pub(crate) fn resolve(
        &self,
        parse: impl Fn(&str) -> Result<K, IdParseError>,
    ) -> Option<Result<K, IdParseError>> {
        match &self.0 {
            CursorRepr::Id(id) => Some(Ok(*id)),
            // `after=` with nothing is no cursor, as in most list APIs.
            CursorRepr::Text(text) if text.is_empty() => None,
            CursorRepr::Text(text) => Some(parse(text)),
        }
    }
}

impl<K> From<String> for Cursor<K> {
    fn from(text: String) -> Self {
        Self(CursorRepr::Text(text))
    }
}

impl<K> From<&str> for Cursor<K> {
    fn from(text: &str) -> Self {
        Self(CursorRepr::Text(text.to_owned()))
    }
}

impl<K: fmt::Display> fmt::Display for Cursor<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CursorRepr::Id(id) => id.fmt(f),
            CursorRepr::Text(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(id: ProjectId) -> Project {
        let at = crate::domain::now();
        Project {
            id,
            owner: crate::domain::UserId::new(),
            name: "p".into(),
            description: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_pages_cursors_are_its_first_and_last_ids() {
        let (a, b) = (ProjectId::new(), ProjectId::new());
        let mut page = Page {
            data: vec![project(a), project(b)],
            has_more: true,
        };
        assert_eq!(page.first_id(), Some(a));
        assert_eq!(page.last_id(), Some(b));
        assert_eq!(page.next_after(), Some(b), "more follow");
        page.has_more = false;
        assert_eq!(page.next_after(), None, "the last page");
        assert_eq!(page.last_id(), Some(b), "still its last id");
        let empty: Page<Project> = Page {
            data: vec![],
            has_more: false,
        };
        assert_eq!((empty.first_id(), empty.next_after()), (None, None));
    }

    #[test]
    fn a_cursor_resolves_to_its_id_whether_typed_or_text() {
        type Resolved = Option<Result<MessageId, IdParseError>>;
        let id = MessageId::new();
        let cases: [(Cursor<MessageId>, Resolved); 4] = [
            (id.into(), Some(Ok(id))),
            (id.to_string().into(), Some(Ok(id))),
            ("".into(), None),
            ("not-an-id".into(), Some(Err(IdParseError))),
        ];
        for (cursor, expected) in cases {
            assert_eq!(cursor.resolve(MessageId::parse), expected, "{cursor:?}");
        }
    }

    #[test]
    fn a_cursor_displays_as_the_text_it_stands_for() {
        let id = AgentId::new();
        assert_eq!(Cursor::from(id).to_string(), id.to_string());
        assert_eq!(Cursor::<AgentId>::from("abc").to_string(), "abc");
    }
}
