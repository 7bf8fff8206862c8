//! One page of a list: a key range between the cursors, read from the
//! page's anchor outwards, per [`PageRequest`]'s rules.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row};

use super::error::SqliteError;
use crate::domain::{Order, Page, PageRequest};

/// A list query: `SELECT <columns> FROM <table> WHERE <filter>` with its
/// `?` parameters, ordered by `key` (an indexed column after the filter's).
pub(super) struct ListQuery<'a> {
    /// `SELECT … FROM … WHERE …`, with `?` placeholders.
    pub select: &'a str,
    /// The values of the placeholders.
    pub params: Vec<Value>,
    /// The column the list is ordered by.
    pub key: &'static str,
}

/// The page of `query` between the cursors' key values `after` and `before`
/// (exclusive).
pub(super) fn page<K, T>(
    conn: &Connection,
    query: ListQuery<'_>,
    after: Option<Value>,
    before: Option<Value>,
    page: &PageRequest<K>,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Page<T>, SqliteError> {
    // Bounds in ascending key order: in a descending list `after` is the upper one.
    let (lo, hi) = match page.order {
        Order::Asc => (after, before),
        Order::Desc => (before, after),
    };
    let ListQuery {
        select,
        mut params,
        key,
    } = query;
    let mut sql = select.to_owned();
    if let Some(lo) = lo {
        sql.push_str(&format!(" AND {key} > ?"));
        params.push(lo);
    }
    if let Some(hi) = hi {
        sql.push_str(&format!(" AND {key} < ?"));
        params.push(hi);
    }
    let direction = if page.walks_ascending() {
        "ASC"
    } else {
        "DESC"
    };
    sql.push_str(&format!(" ORDER BY {key} {direction} LIMIT ?"));
    params.push(Value::Integer(
        i64::try_from(page.limit).unwrap_or(i64::MAX - 1) + 1,
    ));
    let mut statement = conn.prepare_cached(&sql)?;
    let items = statement
        .query_map(params_from_iter(params), map)?
        .collect::<Result<Vec<T>, _>>()?;
    let (data, has_more) = page.finish(items);
    Ok(Page { data, has_more })
}
