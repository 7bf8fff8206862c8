//! Cursor pagination, as in the API contract (and OpenAI's API).

use serde::{Deserialize, Serialize};

/// Sort direction of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest (or lowest `seq`) first.
    Asc,
    /// Newest first.
    Desc,
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

impl<T> Page<T> {
    /// Maps the items, keeping `has_more`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}
