//! The per-request context every service call receives: viewer, request id, audit buffer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::access::Relation;
use crate::audit::AuditRecord;
use crate::auth::Viewer;
use crate::error::{ServiceError, ServiceResult};
use crate::read_deps::ReadDeps;

/// One GraphQL request as the services see it. Audit records collect here and are written
/// in one batch when the request finishes (see `audit::flush`).
pub struct RequestContext {
    pub viewer: Option<Viewer>,
    pub request_id: String,
    pub client_addr: Option<String>,
    audit: Mutex<Vec<AuditRecord>>,
    relations: Mutex<HashMap<Uuid, Option<Relation>>>,
    deps: Arc<ReadDeps>,
}

impl RequestContext {
    pub fn new(viewer: Option<Viewer>, request_id: String, client_addr: Option<String>) -> Self {
        Self {
            viewer,
            request_id,
            client_addr,
            audit: Mutex::new(Vec::new()),
            relations: Mutex::new(HashMap::new()),
            deps: Arc::default(),
        }
    }

    /// The authenticated viewer, or UNAUTHENTICATED.
    pub fn viewer(&self) -> ServiceResult<&Viewer> {
        self.viewer
            .as_ref()
            .ok_or_else(|| ServiceError::Unauthenticated("a bearer token is required".into()))
    }

    pub fn record(&self, record: AuditRecord) {
        self.deps.record(&record);
        lock(&self.audit).push(record);
    }

    /// What the answer depends on; the read cache keeps this handle across the execution.
    pub fn read_deps(&self) -> Arc<ReadDeps> {
        self.deps.clone()
    }

    /// The answer lists the patients the viewer may see (see `ReadDeps::lists_patients`).
    pub fn note_patient_list(&self) {
        self.deps.note_patient_list();
    }

    /// The answer may change by itself at `at` (a grant starts or ends then).
    pub fn note_until(&self, at: chrono::DateTime<chrono::Utc>) {
        self.deps.note_until(at);
    }

    pub(crate) fn take_audit_records(&self) -> Vec<AuditRecord> {
        std::mem::take(&mut *lock(&self.audit))
    }

    pub(crate) fn cached_relation(&self, patient_id: Uuid) -> Option<Option<Relation>> {
        lock(&self.relations).get(&patient_id).cloned()
    }

    pub(crate) fn cache_relation(&self, patient_id: Uuid, relation: Option<Relation>) {
        lock(&self.relations).insert(patient_id, relation);
    }
}

/// A poisoned lock only means another task panicked mid-push; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
