//! Every MLLP connection, accepted or refused, in the audit trail: the peer address, the
//! client certificate's bound names and fingerprint, the reason, never message content.
//! The accept loop queues an event without waiting; a task appends the queued events in
//! batches, one unit of work per batch, so a flood of refused connections costs one
//! statement per batch and never slows accepting (a full queue drops and says so).

use portal_core::RequestContext;
use portal_core::audit::{AuditRecord, Outcome as AuditOutcome};
use portal_core::context::{Origin, Shape};
use portal_core::policy::Access;
use portal_hl7::door::ConnectionEvent;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use uuid::Uuid;

const CONNECT: Access = Access::write("hl7.connect", "Hl7Connection");

/// Events waiting for their append; more are dropped (and logged) until the task catches up.
const QUEUE: usize = 4096;
/// Events appended in one unit of work at most.
const BATCH: usize = 256;

/// The queue of connection events; the task ends when the last handle is dropped.
#[derive(Clone)]
pub struct ConnectionAudit {
    queue: mpsc::Sender<ConnectionEvent>,
}

impl ConnectionAudit {
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, events) = mpsc::channel(QUEUE);
        tokio::spawn(append_all(db, events));
        Self { queue }
    }

    /// Queues one event; never waits.
    pub fn record(&self, event: ConnectionEvent) {
        if self.queue.try_send(event).is_err() {
            tracing::warn!("hl7.connection audit queue full: an event was not audited");
        }
    }
}

async fn append_all(db: DatabaseConnection, mut events: mpsc::Receiver<ConnectionEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    while events.recv_many(&mut batch, BATCH).await > 0 {
        let ctx = RequestContext::new(
            &db,
            Shape::Statements,
            Origin::new(None, Uuid::now_v7().to_string(), None),
        );
        for event in batch.drain(..) {
            ctx.record(record(&event));
        }
        if let Err(unfinished) = ctx.finish().await {
            tracing::warn!(
                what = unfinished.what,
                "hl7.connection audit rows not written"
            );
        }
    }
}

/// The audit row of one event: allowed or denied, with peer, certificate and reason.
pub fn record(event: &ConnectionEvent) -> AuditRecord {
    let (outcome, reason) = match event.refused {
        None => (AuditOutcome::Allowed, "accepted"),
        Some(refusal) => (AuditOutcome::Denied, refusal.label()),
    };
    let mut text = format!("{reason} peer={}", event.peer);
    if let Some(identity) = &event.identity {
        text.push_str(&format!(
            " certificate={} sha256={}",
            identity.names.join("+"),
            identity.fingerprint
        ));
    }
    AuditRecord::new(CONNECT, None, outcome).reason(&text)
}
