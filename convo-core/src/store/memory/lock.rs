//! The turn lock: a lease with a holder and a cancel flag.

use std::time::Duration;

use tokio::time::Instant;

use super::Inner;
use crate::domain::SessionId;
use crate::store::StoreError;

impl Inner {
    pub(super) fn try_lock_turn(
        &mut self,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let entry = self.session_entry_mut(session)?;
        let now = Instant::now();
        match &mut entry.lock {
            Some((current, until, _)) if current == holder => {
                *until = now + lease; // a renewal keeps a cancel request
                Ok(true)
            }
            Some((_, until, _)) if *until > now => Ok(false),
            _ => {
                entry.lock = Some((holder.to_owned(), now + lease, false));
                Ok(true)
            }
        }
    }

    pub(super) fn unlock_turn(
        &mut self,
        session: &SessionId,
        holder: &str,
    ) -> Result<(), StoreError> {
        if let Some(entry) = self.sessions.get_mut(session) {
            if entry
                .lock
                .as_ref()
                .is_some_and(|(current, _, _)| current == holder)
            {
                entry.lock = None;
            }
        }
        Ok(())
    }

    pub(super) fn cancel_turn(&mut self, session: &SessionId) -> Result<bool, StoreError> {
        let entry = self.session_entry_mut(session)?;
        let now = Instant::now();
        match &mut entry.lock {
            Some((_, until, cancel)) if *until > now => {
                *cancel = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub(super) fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .sessions
            .get(session)
            .and_then(|e| e.lock.as_ref())
            .is_some_and(|(current, _, cancel)| current == holder && *cancel))
    }
}
