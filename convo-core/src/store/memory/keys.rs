//! Project API keys and their per-minute request counts.

use super::Inner;
use crate::domain::{ApiKey, KeyId, ProjectId, Timestamp, UserId};
use crate::store::StoreError;

impl Inner {
    pub(super) fn insert_api_key(&mut self, key: &ApiKey) -> Result<(), StoreError> {
        if !self.owns_project(&key.owner, &key.project_id) {
            return Err(StoreError::NotFound("project"));
        }
        if self.api_keys_by_hash.contains_key(&key.secret_hash) {
            return Err(StoreError::Conflict("api key".into()));
        }
        self.api_keys_by_hash
            .insert(key.secret_hash.clone(), key.id);
        self.api_keys_by_project
            .entry(key.project_id)
            .or_default()
            .insert(key.id);
        self.api_keys.insert(key.id, key.clone());
        Ok(())
    }

    pub(super) fn api_keys(&self, owner: &UserId, project: &ProjectId) -> Vec<ApiKey> {
        if !self.owns_project(owner, project) {
            return Vec::new();
        }
        self.api_keys_by_project
            .get(project)
            .into_iter()
            .flatten()
            .filter_map(|id| self.api_keys.get(id).cloned())
            .collect()
    }

    pub(super) fn delete_api_key(
        &mut self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> bool {
        let mine = self
            .api_keys
            .get(id)
            .is_some_and(|k| k.owner == *owner && k.project_id == *project);
        if mine {
            self.remove_api_key(id);
        }
        mine
    }

    /// Removes a key and everything kept for it (also when its project goes).
    pub(super) fn remove_api_key(&mut self, id: &KeyId) {
        if let Some(key) = self.api_keys.remove(id) {
            self.api_keys_by_hash.remove(&key.secret_hash);
            if let Some(set) = self.api_keys_by_project.get_mut(&key.project_id) {
                set.remove(id);
            }
        }
        self.key_windows.remove(id);
    }

    pub(super) fn api_key_by_hash(&self, secret_hash: &str) -> Option<ApiKey> {
        self.api_keys_by_hash
            .get(secret_hash)
            .and_then(|id| self.api_keys.get(id))
            .cloned()
    }

    pub(super) fn touch_api_key(&mut self, id: &KeyId, at: Timestamp) {
        if let Some(key) = self.api_keys.get_mut(id) {
            if key.last_used_at.is_none_or(|last| last < at) {
                key.last_used_at = Some(at);
            }
        }
    }

    pub(super) fn count_key_request(&mut self, key: &KeyId, window: Timestamp) -> u64 {
        // One window per key: an earlier window's count is never asked again.
        // A late request of the window before (a clock a little behind)
        // counts in the current one.
        let entry = self.key_windows.entry(*key).or_insert((window, 0));
        if window > entry.0 {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
    }
}
