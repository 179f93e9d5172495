//! What one request's answer depended on, for the read cache: its audit records (the patients
//! it touched), whether it listed whom the viewer may see, and until when it stays true.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use crate::audit::AuditRecord;
use crate::sync::lock;

/// Filled while a request runs (see `RequestContext::read_deps`). It holds the request's one
/// list of audit records: the request writes the ones not yet written when it finishes, and
/// the cache keeps them all, to replay them on a hit and to know which patients' data the
/// answer holds.
#[derive(Debug, Default)]
pub struct ReadDeps {
    records: Mutex<Vec<AuditRecord>>,
    lists_patients: AtomicBool,
    fresh_until: Mutex<Option<DateTime<Utc>>>,
}

impl ReadDeps {
    /// Every audit record of the request so far, in order.
    pub fn records(&self) -> Vec<AuditRecord> {
        lock(&self.records).clone()
    }

    /// Whether the answer holds a list of the patients the viewer may see, which a new order
    /// or proxy grant can change without touching any patient already listed.
    pub fn lists_patients(&self) -> bool {
        self.lists_patients.load(Ordering::SeqCst)
    }

    /// The earliest moment the answer may change by the clock alone (a proxy grant starting or
    /// expiring); `None` when only writes can change it.
    pub fn fresh_until(&self) -> Option<DateTime<Utc>> {
        *lock(&self.fresh_until)
    }

    pub(crate) fn record(&self, record: AuditRecord) {
        lock(&self.records).push(record);
    }

    /// Puts `record` at `index` (at most the end): a record written with the rows before it.
    pub(crate) fn record_at(&self, index: usize, record: AuditRecord) {
        let mut records = lock(&self.records);
        let index = index.min(records.len());
        records.insert(index, record);
    }

    /// The records from index `from` on, and the index after the last of them.
    pub(crate) fn records_from(&self, from: usize) -> (Vec<AuditRecord>, usize) {
        let records = lock(&self.records);
        let from = from.min(records.len());
        (records[from..].to_vec(), records.len())
    }

    pub(crate) fn note_patient_list(&self) {
        self.lists_patients.store(true, Ordering::SeqCst);
    }

    pub(crate) fn note_until(&self, at: DateTime<Utc>) {
        let mut until = lock(&self.fresh_until);
        if until.is_none_or(|current| at < current) {
            *until = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_time_bound_wins() {
        let deps = ReadDeps::default();
        let later = Utc::now() + chrono::Duration::hours(2);
        let sooner = Utc::now() + chrono::Duration::hours(1);
        deps.note_until(later);
        deps.note_until(sooner);
        deps.note_until(later);
        assert_eq!(deps.fresh_until(), Some(sooner));
    }
}
