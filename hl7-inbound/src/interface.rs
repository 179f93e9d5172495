//! One inbound HL7 interface: the MLLP listener's handler. Like the HTTP handler it is an
//! edge: one unit of work per message (`RequestContext`, `Shape::Message`: one transaction
//! for storing the raw message, applying it, its outcome and its audit rows) as the
//! interface's own viewer (`hl7:<sending application>`, lab role), finished once; the ACK is
//! sent only after that transaction committed.

use std::collections::HashMap;
use std::sync::Arc;

use portal_core::RequestContext;
use portal_core::audit::{AuditRecord, Outcome as AuditOutcome};
use portal_core::context::{Origin, Shape};
use portal_core::identity::{Role, Viewer};
use portal_core::policy::Access;
use portal_hl7::messages::Header;
use portal_hl7::{
    Ack, AckBuilder, AckCode, ConnectionEvent, ErrorCode, Handler, Hl7Error, Inbound, Issue,
    Location,
};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::connections::ConnectionAudit;
use crate::dispatch;
use crate::failure::{Failure, Kind};
use crate::lookup;
use crate::store::{self, Received};
use portal_core::ServiceError;

const RECEIVE: Access = Access::write("hl7.receive", "Hl7Message");

/// Which tenant a message belongs to: the listener's own, or by any identifier of the
/// sending facility (MSH-4 universal id — CLIA number, OID, DNS name — else namespace id).
#[derive(Debug, Clone)]
pub enum Routes {
    Tenant(Uuid),
    BySendingFacility(HashMap<String, Uuid>),
}

impl Routes {
    fn tenant_for(&self, header: &Header) -> Option<Uuid> {
        match self {
            Self::Tenant(tenant) => Some(*tenant),
            Self::BySendingFacility(map) => lookup::identifiers(header.sending_facility.as_ref())
                .find_map(|id| map.get(id))
                .copied(),
        }
    }
}

/// How a message was answered, for metrics (`portal_hl7_messages_total{type,outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    Error,
    Rejected,
    Failed,
    /// AR: the sending facility is not bound to the connection's client certificate.
    Denied,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Error => "error",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Denied => "denied",
        }
    }

    pub(crate) fn of(failure: Option<&Failure>) -> Self {
        match failure.map(|f| f.kind) {
            None => Self::Accepted,
            Some(Kind::Content) => Self::Error,
            Some(Kind::Message) => Self::Rejected,
            Some(Kind::System) => Self::Failed,
        }
    }
}

/// Told of every answered message (the server counts them in its metrics), and of every
/// message whose writes committed, before its ACK is sent (the server moves its read cache
/// on, as after a mutation).
#[async_trait::async_trait]
pub trait Observer: Send + Sync {
    fn answered(&self, message_type: &str, outcome: Outcome);
    async fn committed(&self, ctx: &RequestContext);
    /// One connection accepted (`accepted`) or refused (the refusal's label).
    fn connection(&self, outcome: &'static str) {
        let _ = outcome;
    }
}

/// The handler of one listener.
pub struct Interface {
    db: DatabaseConnection,
    routes: Routes,
    outbox_wake: Arc<Notify>,
    observer: Option<Arc<dyn Observer>>,
    connections: ConnectionAudit,
    /// The portal's public URL, for result links to walk-ins; none sends no link.
    public_url: Option<String>,
}

impl Interface {
    pub fn new(
        db: DatabaseConnection,
        routes: Routes,
        outbox_wake: Arc<Notify>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        Self {
            routes,
            connections: ConnectionAudit::start(db.clone()),
            db,
            outbox_wake,
            observer,
            public_url: None,
        }
    }

    /// Sends result links to walk-ins (per facility, docs/hl7.md), pointing at `public_url`.
    pub fn with_result_links(mut self, public_url: String) -> Self {
        self.public_url = Some(public_url);
        self
    }

    /// Stores, applies and answers one message (never fails: every problem is an ACK).
    pub async fn receive(&self, inbound: &Inbound) -> Ack {
        let header = &inbound.header;
        let (ack, outcome) = self.answer(inbound).await;
        tracing::info!(
            control_id = header.control_id.as_deref().unwrap_or(""),
            message_type = %header.kind(),
            ack = %ack.code,
            outcome = outcome.label(),
            "hl7.message processed"
        );
        if let Some(observer) = &self.observer {
            observer.answered(&metric_type(header), outcome);
        }
        ack
    }

    async fn answer(&self, inbound: &Inbound) -> (Ack, Outcome) {
        let header = &inbound.header;
        if let Some(identity) = &inbound.identity
            && !identity.speaks_for(lookup::clia(header.sending_facility.as_ref()))
        {
            return self.deny(inbound).await;
        }
        let Some(tenant) = self.routes.tenant_for(header) else {
            let issue = Issue::error(
                ErrorCode::UnknownKeyIdentifier,
                "the sending facility (MSH-4) is not bound to a tenant of this interface",
            )
            .at(Location::field("MSH", 1, 4));
            return (
                reply(header, AckCode::Reject, vec![issue]),
                Outcome::Rejected,
            );
        };
        let ctx = context(
            &self.db,
            tenant,
            header,
            Some(inbound.peer.ip().to_string()),
        );
        let peer = Some(inbound.peer.to_string());
        let pending = match store::receive(&ctx, tenant, header, &inbound.raw, peer).await {
            Ok(Received::Duplicate(row_id)) => {
                ctx.record(
                    AuditRecord::new(RECEIVE.entity(row_id), None, AuditOutcome::Allowed)
                        .reason("duplicate control id: already accepted, nothing changed"),
                );
                let ack = AckBuilder::new(header, AckCode::Accept)
                    .text("duplicate of an accepted message; nothing changed")
                    .build();
                return finished(&ctx, header, ack, Outcome::Duplicate).await;
            }
            Ok(Received::Pending(pending)) => pending,
            Err(error) => {
                tracing::warn!(code = %error.code(), error = %error, "hl7.store failed: message not kept");
                let failure = Failure::system();
                return (
                    reply(header, AckCode::Reject, vec![failure.issue]),
                    Outcome::Failed,
                );
            }
        };
        let result = dispatch::apply(
            &ctx,
            &pending.row,
            inbound.message.as_ref(),
            self.public_url.as_deref(),
        )
        .await;
        let (ack, outcome, changed) = settle(&ctx, header, &pending, result).await;
        // The message's one transaction commits here, with its audit rows.
        let (ack, finished_outcome) = finished(&ctx, header, ack, outcome).await;
        if changed && finished_outcome == outcome {
            if let Some(observer) = &self.observer {
                observer.committed(&ctx).await;
            }
            self.outbox_wake.notify_one();
        }
        (ack, finished_outcome)
    }
}

impl Interface {
    /// AR for a message whose sending facility (MSH-4) is not bound to the connection's
    /// client certificate: nothing is stored; a denied write is audited (in the tenant the
    /// message names, when it names one).
    async fn deny(&self, inbound: &Inbound) -> (Ack, Outcome) {
        let header = &inbound.header;
        let client_addr = Some(inbound.peer.ip().to_string());
        let ctx = match self.routes.tenant_for(header) {
            Some(tenant) => context(&self.db, tenant, header, client_addr),
            None => RequestContext::new(
                &self.db,
                Shape::Statements,
                Origin::new(None, Uuid::now_v7().to_string(), client_addr),
            ),
        };
        let names = inbound
            .identity
            .as_ref()
            .map(|i| i.names.join("+"))
            .unwrap_or_default();
        tracing::warn!(peer = %inbound.peer, certificate = %names, control_id = header.control_id.as_deref().unwrap_or(""), "hl7.message denied: MSH-4 not bound to the client certificate");
        ctx.record(
            AuditRecord::new(RECEIVE, None, AuditOutcome::Denied).reason(&format!(
                "MSH-4 not bound to the client certificate {names}"
            )),
        );
        let issue = Issue::error(
            ErrorCode::UnknownKeyIdentifier,
            "the sending facility (MSH-4) is not bound to this connection's client certificate",
        )
        .at(Location::field("MSH", 1, 4));
        finished(
            &ctx,
            header,
            reply(header, AckCode::Reject, vec![issue]),
            Outcome::Denied,
        )
        .await
    }
}

/// Keeps the message with its outcome and builds the ACK it earns. A refused message (AE or
/// AR) is rolled back first — nothing it did stays — and then kept, in the dead letter;
/// a sender's valid groups kept in "accept valid groups" mode stay. When even the outcome
/// cannot be written the answer is AR (the sender resends; a resend of an applied message
/// finds its results through their idempotency keys).
pub(crate) async fn settle(
    ctx: &RequestContext,
    header: &Header,
    pending: &store::Pending,
    result: Result<crate::failure::Applied, Failure>,
) -> (Ack, Outcome, bool) {
    let row_id = pending.row.id;
    let (code, issues, failure, changed) = match result {
        Ok(applied) => match Failure::first_refused(&applied.refused) {
            None => (AckCode::Accept, applied.warnings, None, applied.changed),
            // One ERR per refused group; valid groups stay only in accept-valid mode.
            Some(first) => {
                let mut issues = applied.refused;
                issues.extend(applied.warnings);
                (AckCode::Error, issues, Some(first), applied.changed)
            }
        },
        Err(failure) => (
            failure.kind.ack_code(),
            vec![failure.issue.clone()],
            Some(failure),
            false,
        ),
    };
    let outcome = Outcome::of(failure.as_ref());
    let audit = match &failure {
        None => AuditRecord::new(RECEIVE.entity(row_id), None, AuditOutcome::Allowed),
        Some(f) => AuditRecord::new(RECEIVE.entity(row_id), None, AuditOutcome::Failed)
            .reason(&format!("{} {}", code.as_str(), f.issue.code.code())),
    };
    let undone = match &failure {
        Some(_) if !changed => ctx.db().rollback().await.map_err(ServiceError::from),
        _ => Ok(()),
    };
    ctx.record(audit);
    let kept = match undone {
        Ok(()) => store::keep(ctx.db(), pending, code, failure.as_ref()).await,
        Err(error) => Err(error),
    };
    let kept = match (
        kept,
        failure.as_ref().and_then(|f| f.queued_match.as_deref()),
    ) {
        (Ok(()), Some(queued)) => portal_services::patients::matching::enqueue(
            ctx,
            queued.unmatched.clone(),
            &queued.candidate,
        )
        .await
        .map(|_| ()),
        (kept, _) => kept,
    };
    if let Err(error) = kept {
        tracing::warn!(code = %error.code(), error = %error, "hl7.store could not keep the message and its outcome");
        let failure = Failure::system();
        return (
            reply(header, AckCode::Reject, vec![failure.issue]),
            Outcome::Failed,
            changed,
        );
    }
    (reply(header, code, issues), outcome, changed)
}

/// Finishes the unit of work (audit rows); an unfinished request withholds its answer: AR.
async fn finished(
    ctx: &RequestContext,
    header: &Header,
    ack: Ack,
    outcome: Outcome,
) -> (Ack, Outcome) {
    match ctx.finish().await {
        Ok(_) => (ack, outcome),
        Err(unfinished) => {
            tracing::error!(request_id = %ctx.request_id, what = unfinished.what, "hl7.message unfinished: answered AR");
            (
                reply(header, AckCode::Reject, vec![Failure::system().issue]),
                Outcome::Failed,
            )
        }
    }
}

fn reply(header: &Header, code: AckCode, issues: Vec<Issue>) -> Ack {
    issues
        .into_iter()
        .fold(AckBuilder::new(header, code), AckBuilder::issue)
        .build()
}

/// The unit of work of one message, as the interface's viewer: `hl7:<MSH-3 namespace>`
/// with the lab role, in `tenant`.
pub(crate) fn context(
    db: &DatabaseConnection,
    tenant: Uuid,
    header: &Header,
    client_addr: Option<String>,
) -> RequestContext {
    let application = header
        .sending_application
        .as_ref()
        .and_then(|hd| hd.namespace.as_deref().or(hd.universal_id.as_deref()))
        .unwrap_or("unknown");
    let viewer = Viewer {
        subject: format!("hl7:{application}"),
        tenant_id: tenant,
        roles: vec![Role::Lab],
        patient_id: None,
        expires_at: portal_core::clock::now() + chrono::Duration::hours(1),
    };
    let origin = Origin::new(Some(viewer), Uuid::now_v7().to_string(), client_addr);
    RequestContext::new(db, Shape::Message, origin)
}

/// The message type label of metrics: a type the portal accepts, or `other` (labels never
/// carry free text).
fn metric_type(header: &Header) -> String {
    let kind = header.kind();
    const KNOWN: [&str; 10] = [
        "ORU^R01", "ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "SIU^S12", "SIU^S13", "SIU^S14",
        "SIU^S15", "SIU^S26",
    ];
    if KNOWN.contains(&kind.as_str()) {
        kind
    } else {
        "other".to_owned()
    }
}

#[async_trait::async_trait]
impl Handler for Interface {
    async fn handle(&self, inbound: &Inbound) -> Result<Ack, Hl7Error> {
        Ok(self.receive(inbound).await)
    }

    fn connection(&self, event: ConnectionEvent) {
        if let Some(observer) = &self.observer {
            observer.connection(event.refused.map_or("accepted", |r| r.label()));
        }
        self.connections.record(event);
    }
}
