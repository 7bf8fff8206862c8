//! Timestamps.

use chrono::{DateTime, SubsecRound, Utc};

/// A UTC instant. Serialised as RFC 3339.
pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to whole milliseconds.
///
/// Millisecond precision is what every backend (MongoDB's BSON dates among
/// them) stores, so a value read back compares equal to the value written.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(3)
}
