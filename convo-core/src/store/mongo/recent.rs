//! The newest messages of sessions this handle runs turns in, so that a
//! turn's context window needs no query when this handle also ran the
//! session's turn before.
//!
//! Messages are never changed once stored, and `seq`s run 1, 2, 3… with no
//! gaps. So when this handle holds a session's lock and knows its count
//! (see `Held`), a remembered run of messages ending at that count *is* the
//! session's tail. A run is only ever extended by this handle's own append
//! at the very next seq; anything else (another process's append, a stale
//! count repaired, an append through `$inc`) leaves it not ending at the
//! count, or drops it, and the window is read from the database as before.
//!
//! Bounded: at most [`MAX_RUN`] messages a session, and when the runs hold
//! more than [`MAX_BYTES`] of text, all are dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::domain::{Message, SessionId};

/// The most messages remembered per session.
pub(super) const MAX_RUN: usize = 256;
/// The most message text (approximately, in bytes) remembered in all.
const MAX_BYTES: usize = 64 << 20;

/// Runs of newest messages per session (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Recent(Mutex<Runs>);

#[derive(Debug, Default)]
struct Runs {
    by_session: HashMap<SessionId, VecDeque<Message>>,
    bytes: usize,
}

/// What a message weighs against [`MAX_BYTES`].
fn weight(message: &Message) -> usize {
    message.content.len() + 256
}

impl Runs {
    fn drop_run(&mut self, session: &SessionId) {
        if let Some(run) = self.by_session.remove(session) {
            self.bytes = self.bytes.saturating_sub(run.iter().map(weight).sum());
        }
    }

    fn push(&mut self, session: SessionId, message: Message) {
        self.bytes += weight(&message);
        let run = self.by_session.entry(session).or_default();
        run.push_back(message);
        if run.len() > MAX_RUN {
            if let Some(old) = run.pop_front() {
                self.bytes = self.bytes.saturating_sub(weight(&old));
            }
        }
        if self.bytes > MAX_BYTES {
            self.by_session.clear();
            self.bytes = 0;
        }
    }
}

impl Recent {
    fn runs(&self) -> MutexGuard<'_, Runs> {
        // Plain inserts and removals: a panic elsewhere cannot leave it torn.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last `n` messages of `session` in ascending seq, if the run
    /// remembered ends at `count` and holds them (or the whole session).
    pub(super) fn window(&self, session: &SessionId, count: i64, n: usize) -> Option<Vec<Message>> {
        let runs = self.runs();
        let run = runs.by_session.get(session)?;
        let last = i64::try_from(run.back()?.seq).ok()?;
        let whole = run.front().is_some_and(|m| m.seq == 1);
        if last != count || (run.len() < n && !whole) {
            return None;
        }
        Some(
            run.iter()
                .skip(run.len().saturating_sub(n))
                .cloned()
                .collect(),
        )
    }

    /// Adds this handle's own append: to its run when it comes right after
    /// it (or starts the session), otherwise the run is dropped.
    pub(super) fn appended(&self, session: &SessionId, message: &Message) {
        let mut runs = self.runs();
        let next = runs
            .by_session
            .get(session)
            .and_then(|run| run.back())
            .map_or(message.seq == 1, |last| last.seq + 1 == message.seq);
        if next {
            runs.push(*session, message.clone());
        } else {
            runs.drop_run(session);
        }
    }

    /// Remembers a window read from the database, when it is the session's
    /// tail at `count`: contiguous seqs ending at `count`.
    pub(super) fn read(&self, session: &SessionId, count: i64, window: &[Message]) {
        let contiguous = window.windows(2).all(|w| w[0].seq + 1 == w[1].seq);
        let ends = window
            .last()
            .is_some_and(|m| i64::try_from(m.seq).is_ok_and(|s| s == count));
        let mut runs = self.runs();
        runs.drop_run(session);
        if contiguous && ends {
            let keep = window.len().saturating_sub(MAX_RUN);
            for message in &window[keep..] {
                runs.push(*session, message.clone());
            }
        }
    }

    /// Forgets `session`'s run.
    pub(super) fn forget(&self, session: &SessionId) {
        self.runs().drop_run(session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageDraft;

    fn message(session: SessionId, seq: u64) -> Message {
        MessageDraft::user(format!("message {seq}")).into_message(session, seq)
    }

    fn seqs(window: Option<Vec<Message>>) -> Option<Vec<u64>> {
        window.map(|w| w.iter().map(|m| m.seq).collect())
    }

    #[test]
    fn a_run_built_from_the_first_message_answers_any_window_ending_at_the_count() {
        let recent = Recent::default();
        let s = SessionId::new();
        for seq in 1..=5 {
            recent.appended(&s, &message(s, seq));
        }
        assert_eq!(seqs(recent.window(&s, 5, 3)), Some(vec![3, 4, 5]));
        assert_eq!(seqs(recent.window(&s, 5, 50)), Some(vec![1, 2, 3, 4, 5]));
        assert_eq!(recent.window(&s, 6, 3), None, "someone else appended");
        assert_eq!(recent.window(&s, 4, 3), None);
    }

    #[test]
    fn a_window_read_is_kept_only_as_the_tail_and_answers_only_as_far_as_it_goes() {
        let recent = Recent::default();
        let s = SessionId::new();
        let read: Vec<_> = (11..=20).map(|seq| message(s, seq)).collect();
        recent.read(&s, 20, &read);
        assert_eq!(seqs(recent.window(&s, 20, 10)), Some((11..=20).collect()));
        assert_eq!(recent.window(&s, 20, 11), None, "seq 10 is not remembered");
        recent.read(&s, 21, &read);
        assert_eq!(
            recent.window(&s, 20, 5),
            None,
            "not the tail at 21: dropped"
        );
        let holed = vec![message(s, 1), message(s, 3)];
        recent.read(&s, 3, &holed);
        assert_eq!(recent.window(&s, 3, 2), None, "not contiguous: not kept");
    }

    #[test]
    fn an_append_that_does_not_follow_the_run_drops_it() {
        let recent = Recent::default();
        let s = SessionId::new();
        recent.appended(&s, &message(s, 1));
        recent.appended(&s, &message(s, 2));
        recent.appended(&s, &message(s, 4));
        assert_eq!(recent.window(&s, 4, 1), None);
        assert_eq!(recent.window(&s, 2, 1), None);
        recent.appended(&s, &message(s, 5));
        assert_eq!(recent.window(&s, 5, 1), None, "no run to extend");
        recent.forget(&s);
    }

    #[test]
    fn runs_are_bounded_per_session_and_in_all() {
        let recent = Recent::default();
        let s = SessionId::new();
        for seq in 1..=(MAX_RUN as u64 + 10) {
            recent.appended(&s, &message(s, seq));
        }
        let count = MAX_RUN as i64 + 10;
        assert_eq!(
            recent.window(&s, count, MAX_RUN).map(|w| w.len()),
            Some(MAX_RUN)
        );
        assert_eq!(recent.window(&s, count, MAX_RUN + 1), None);

        let big = SessionId::new();
        let mut huge = MessageDraft::user("x".repeat(MAX_BYTES / 2)).into_message(big, 1);
        recent.appended(&big, &huge);
        huge.seq = 2;
        recent.appended(&big, &huge);
        assert_eq!(
            recent.window(&big, 2, 1),
            None,
            "over the byte bound: all dropped"
        );
        assert_eq!(recent.window(&s, count, 1), None);
    }
}
