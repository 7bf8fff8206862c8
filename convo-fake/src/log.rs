//! The request log and the counters tests read (`/__requests`, `/__stats`).
//!
//! One record per model request, created on arrival and completed as the
//! request goes (its `outcome` may be written while the answer is still
//! held back, e.g. a `timeout`), so a test sees what the model received
//! even for a request that never ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Map, Value};

/// How many records are kept (oldest dropped first).
const KEEP: usize = 1000;

#[derive(Default)]
struct State {
    records: VecDeque<Map<String, Value>>,
    next_id: u64,
    /// `fail_first_n` counters, per scenario (the knobs' JSON).
    counters: HashMap<String, u64>,
    total: u64,
    in_flight: u64,
    max_in_flight: u64,
    by_status: BTreeMap<String, u64>,
}

/// The shared log; cheap to clone.
#[derive(Clone, Default)]
pub struct RequestLog {
    state: Arc<Mutex<State>>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a new request; its handle writes the rest of the record.
    pub fn record(&self, mut entry: Map<String, Value>) -> Record {
        let mut state = self.lock();
        state.next_id += 1;
        state.total += 1;
        let id = state.next_id;
        entry.insert("id".into(), json!(id));
        state.records.push_back(entry);
        if state.records.len() > KEEP {
            state.records.pop_front();
        }
        Record {
            log: self.clone(),
            id,
        }
    }

    /// Every record, oldest first; `since` keeps ids above it, `limit` the newest N.
    pub fn requests(&self, since: u64, limit: usize) -> Vec<Value> {
        let state = self.lock();
        let list: Vec<Value> = state
            .records
            .iter()
            .filter(|r| r.get("id").and_then(Value::as_u64).unwrap_or(0) > since)
            .map(|r| Value::Object(r.clone()))
            .collect();
        let skip = if limit > 0 {
            list.len().saturating_sub(limit)
        } else {
            0
        };
        list.into_iter().skip(skip).collect()
    }

    /// `{total, in_flight, max_in_flight, by_status, recorded}`.
    pub fn stats(&self) -> Value {
        let state = self.lock();
        json!({
            "total": state.total,
            "in_flight": state.in_flight,
            "max_in_flight": state.max_in_flight,
            "by_status": state.by_status,
            "recorded": state.records.len(),
        })
    }

    /// Clears the records, the counters and the stats (not what is in flight).
    pub fn reset(&self) {
        let mut state = self.lock();
        state.records.clear();
        state.next_id = 0;
        state.counters.clear();
        state.total = 0;
        state.max_in_flight = state.in_flight;
        state.by_status.clear();
    }

    /// Counts one more request of `scenario`; returns how many it has seen.
    pub fn count(&self, scenario: &str) -> u64 {
        let mut state = self.lock();
        let seen = state.counters.entry(scenario.to_owned()).or_insert(0);
        *seen += 1;
        *seen
    }

    /// Restarts the count of `scenario`.
    pub fn reset_counter(&self, scenario: &str) {
        self.lock().counters.remove(scenario);
    }

    /// Counts a response status.
    pub fn status(&self, status: u16) {
        *self.lock().by_status.entry(status.to_string()).or_insert(0) += 1;
    }

    /// A request started; it counts as in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        InFlight { log: self.clone() }
    }
}

/// Counts a request in flight while alive (a stream's lives with its body).
pub struct InFlight {
    log: RequestLog,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.log.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

/// A handle on one record.
#[derive(Clone)]
pub struct Record {
    log: RequestLog,
    id: u64,
}

impl Record {
    /// Sets a field of the record (a no-op once the record was dropped from the log).
    pub fn set(&self, key: &str, value: Value) {
        let mut state = self.log.lock();
        let found = state
            .records
            .iter_mut()
            .rev()
            .find(|r| r.get("id").and_then(Value::as_u64) == Some(self.id));
        if let Some(record) = found {
            record.insert(key.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_order_and_reset_clears_everything() {
        let log = RequestLog::default();
        let first = log.record(Map::new());
        log.record(Map::new());
        first.set("outcome", json!("ok"));
        let all = log.requests(0, 0);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["outcome"], "ok");
        assert_eq!(log.requests(1, 0).len(), 1);
        assert_eq!(log.requests(0, 1)[0]["id"], 2);
        assert_eq!((log.count("a"), log.count("a"), log.count("b")), (1, 2, 1));
        {
            let _busy = log.in_flight();
            assert_eq!(log.stats()["in_flight"], 1);
        }
        log.reset();
        assert_eq!(log.stats()["recorded"], 0);
        assert_eq!(log.stats()["max_in_flight"], 0);
        assert_eq!(log.count("a"), 1);
    }
}
