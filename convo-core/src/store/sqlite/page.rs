//! One page of a list: a key range between the cursors, read from the
//! page's anchor outwards, per [`PageRequest`]'s rules.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row};

use super::error::SqliteError;
use crate::domain::{Page, PageRequest};

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

/// The statement of a page of `select` (`… WHERE <filter>`): a lower and
/// an upper bound on `key` when asked, the walk's order, and a bound
/// `LIMIT`, in that parameter order.
pub(super) fn list_sql(select: &str, key: &str, lo: bool, hi: bool, ascending: bool) -> String {
    let mut sql = select.to_owned();
    if lo {
        sql.push_str(&format!(" AND {key} > ?"));
    }
    if hi {
        sql.push_str(&format!(" AND {key} < ?"));
    }
    let direction = if ascending { "ASC" } else { "DESC" };
    sql.push_str(&format!(" ORDER BY {key} {direction} LIMIT ?"));
    sql
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
    let (lo, hi) = page.order.ascending_bounds(after, before);
    let ListQuery {
        select,
        mut params,
        key,
    } = query;
    let sql = list_sql(
        select,
        key,
        lo.is_some(),
        hi.is_some(),
        page.walks_ascending(),
    );
    params.extend(lo);
    params.extend(hi);
    // One more than the limit, to tell whether there are more.
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
