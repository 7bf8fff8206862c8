//! The messages an import holds back to append in one
//! [`Store::append_messages`]: a run of consecutive message lines of one
//! session, bounded in count and bytes so a huge session never sits whole
//! in memory.

use crate::domain::{MessageDraft, SessionId};
use crate::error::ConvoError;
use crate::store::Store;

use super::format::ImportError;

/// Messages per append: 10,000 messages are 10 round trips.
const MAX_MESSAGES: usize = 1000;
/// Content bytes per append, whatever the count (a MongoDB transaction's
/// writes stay well under its 16 MiB document-size limits).
const MAX_BYTES: usize = 4 << 20;

/// Drafts waiting for their session's append.
#[derive(Default)]
pub(super) struct MessageBatch {
    session: Option<SessionId>,
    /// The file line and seq of the first draft, for the error if the seqs
    /// the store gives differ.
    first_line: u64,
    first_seq: u64,
    drafts: Vec<MessageDraft>,
    bytes: usize,
}

impl MessageBatch {
    /// Whether a message of `session` may join the batch without a flush first.
    pub(super) fn takes(&self, session: &SessionId) -> bool {
        self.session.is_none_or(|s| s == *session)
            && self.drafts.len() < MAX_MESSAGES
            && self.bytes < MAX_BYTES
    }

    /// Adds the draft of `line`, whose seq the file says is `seq`. Call
    /// [`flush`](Self::flush) first unless [`takes`](Self::takes) is true.
    pub(super) fn push(&mut self, line: u64, session: SessionId, seq: u64, draft: MessageDraft) {
        if self.drafts.is_empty() {
            self.session = Some(session);
            self.first_line = line;
            self.first_seq = seq;
        }
        self.bytes += draft.content.len();
        self.drafts.push(draft);
    }

    /// Appends the held drafts in one call and empties the batch.
    pub(super) async fn flush(&mut self, store: &dyn Store) -> Result<(), ImportError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let drafts = std::mem::take(&mut self.drafts);
        self.bytes = 0;
        let stored = store
            .append_messages(&session, drafts)
            .await
            .map_err(ConvoError::from)?;
        if stored.first().map(|m| m.seq) != Some(self.first_seq) {
            // Someone sent a message to the new session meanwhile.
            return Err(ImportError::line(
                self.first_line,
                "the session changed while it was being imported",
            ));
        }
        Ok(())
    }
}
