//! The one clock for stored timestamps: UTC, truncated to the microseconds both SQLite and
//! PostgreSQL keep, so a value reads back exactly as it was written.

use chrono::{DateTime, SubsecRound, Utc};

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
