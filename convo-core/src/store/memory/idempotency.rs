//! Idempotency records, kept per session until they expire.

use super::Inner;
use crate::domain::{now, SessionId};
use crate::store::{IdempotencyRecord, StoreError};

impl Inner {
    pub(super) fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let now = now();
        Ok(self
            .sessions
            .get(session)
            .and_then(|e| e.idempotency.get(key))
            .filter(|r| r.expires_at > now)
            .cloned())
    }

    pub(super) fn save_idempotency_record(
        &mut self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let entry = self.session_entry_mut(session)?;
        let now = now();
        entry.idempotency.retain(|_, r| r.expires_at > now);
        entry.idempotency.insert(key.to_owned(), record.clone());
        Ok(())
    }
}
