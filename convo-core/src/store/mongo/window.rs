//! Tight `seq` ranges for pages of messages.
//!
//! Some Mongo-wire servers answer `find(session).sort(seq).limit(n)` by
//! reading every message of the session before applying the limit, even
//! when the plan is an index scan on `(session_id, seq)`: measured on
//! secantusd-rs 0.5.3 (2026-12-02), 21 messages of an 8,450-message session
//! cost 21.7 ms of database CPU that way, and 0.2–0.4 ms as a bounded range
//! (`seq` in `(k, k + 21]`); a 50-message session 733 µs against 307 µs.
//! MongoDB itself stops at the limit either way, so the range costs it
//! nothing.
//!
//! Seqs run 1, 2, 3… with no gaps, so the `limit + 1` messages next to a
//! page's anchor lie in a range of `limit + 1` seqs, when the session holds
//! that many. [`tighten`] gives that range; the caller keeps a page read in
//! it only when it came back full (`limit + 1` messages, so nothing outside
//! could come first), and otherwise reads again with the request's own
//! bounds. Where a page has no cursor on its far side, whether the session
//! is long enough comes from [`Lengths`]: the highest seq this handle has
//! seen per session. It is a hint and nothing more: a wrong one costs the
//! second read, never a wrong page.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::domain::SessionId;

/// The most sessions [`Lengths`] remembers; past it, it starts again empty.
const MAX_SESSIONS: usize = 65_536;

/// The highest `seq` seen per session (a hint; see the module docs).
#[derive(Debug, Default)]
pub(super) struct Lengths(Mutex<HashMap<SessionId, i64>>);

impl Lengths {
    /// The highest seq seen in `session`, if any.
    pub(super) fn get(&self, session: &SessionId) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(session)
            .copied()
    }

    /// Notes that `session` holds a message at `seq`.
    pub(super) fn note(&self, session: &SessionId, seq: i64) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS && !map.contains_key(session) {
            map.clear();
        }
        let known = map.entry(*session).or_insert(seq);
        *known = (*known).max(seq);
    }
}

/// Exclusive `seq` bounds of a page in ascending terms (`lo < seq < hi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bounds {
    /// The lower bound, if any (seqs start at 1, so none means 0).
    pub lo: Option<i64>,
    /// The upper bound, if any.
    pub hi: Option<i64>,
}

/// The tighter bounds holding just the `limit + 1` seqs next to the page's
/// anchor (walking upwards from `lo`, or downwards from `hi`), when the
/// session should hold them all; `None` when `bounds` are already that
/// tight or the session may be shorter. `known` is the highest seq seen.
pub(super) fn tighten(
    bounds: Bounds,
    walks_ascending: bool,
    limit: usize,
    known: Option<i64>,
) -> Option<Bounds> {
    let span = i64::try_from(limit).ok()?.checked_add(2)?;
    if walks_ascending {
        let lo = bounds.lo.unwrap_or(0);
        let hi = lo.checked_add(span)?;
        // A cursor on the far side proves the seqs below it exist; without
        // one, what this handle saw must reach the range's top.
        let exists = bounds.hi.is_some() || known.is_some_and(|k| k >= hi - 1);
        let tighter = bounds.hi.is_none_or(|h| h > hi);
        (exists && tighter).then_some(Bounds {
            lo: bounds.lo,
            hi: Some(hi),
        })
    } else {
        // Downwards from the cursor, or from the newest seq seen (newer
        // ones, if any, are above the range and still read).
        let top = bounds.hi.or_else(|| known.map(|k| k + 1))?;
        let lo = top.checked_sub(span)?;
        (lo > bounds.lo.unwrap_or(0)).then_some(Bounds {
            lo: Some(lo),
            hi: bounds.hi,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn b(lo: Option<i64>, hi: Option<i64>) -> Bounds {
        Bounds { lo, hi }
    }

    #[test]
    fn an_ascending_first_page_is_tightened_only_when_the_session_is_known_long_enough() {
        // 20 a page: seqs 1..=21 are read (21 = one more, for has_more).
        assert_eq!(tighten(b(None, None), true, 20, None), None);
        assert_eq!(tighten(b(None, None), true, 20, Some(20)), None);
        assert_eq!(
            tighten(b(None, None), true, 20, Some(21)),
            Some(b(None, Some(22)))
        );
    }

    #[test]
    fn an_ascending_page_after_a_cursor_starts_at_it() {
        assert_eq!(
            tighten(b(Some(40), None), true, 20, Some(500)),
            Some(b(Some(40), Some(62)))
        );
        assert_eq!(tighten(b(Some(40), None), true, 20, Some(60)), None);
    }

    #[test]
    fn a_cursor_on_the_far_side_is_proof_enough_and_is_kept_when_tighter() {
        assert_eq!(
            tighten(b(Some(10), Some(100)), true, 5, None),
            Some(b(Some(10), Some(17)))
        );
        assert_eq!(tighten(b(Some(10), Some(17)), true, 5, None), None);
        assert_eq!(tighten(b(Some(10), Some(14)), true, 5, None), None);
    }

    #[test]
    fn a_descending_walk_reads_down_from_its_cursor_or_the_newest_seq_seen() {
        assert_eq!(
            tighten(b(None, Some(100)), false, 20, None),
            Some(b(Some(78), Some(100)))
        );
        // Newer seqs than the one seen stay inside (no upper bound).
        assert_eq!(
            tighten(b(None, None), false, 20, Some(50)),
            Some(b(Some(29), None))
        );
        assert_eq!(tighten(b(None, None), false, 20, None), None);
        // Not tighter than the request's own lower bound: no change.
        assert_eq!(tighten(b(Some(80), Some(100)), false, 20, None), None);
        assert_eq!(tighten(b(None, Some(15)), false, 20, None), None);
    }

    #[test]
    fn lengths_keep_the_highest_seq_and_start_again_when_full() {
        let lengths = Lengths::default();
        let s = SessionId::new();
        assert_eq!(lengths.get(&s), None);
        lengths.note(&s, 7);
        lengths.note(&s, 3);
        assert_eq!(lengths.get(&s), Some(7));
        for _ in 0..MAX_SESSIONS {
            lengths.note(&SessionId::new(), 1);
        }
        assert_eq!(lengths.get(&s), None, "forgotten once the map was full");
    }

    #[test]
    fn huge_limits_and_cursors_do_not_overflow() {
        assert_eq!(
            tighten(b(Some(i64::MAX - 1), None), true, 20, Some(i64::MAX)),
            None
        );
        assert_eq!(tighten(b(None, Some(i64::MIN + 1)), false, 20, None), None);
    }
}
