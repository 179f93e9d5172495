//! Delivery and escalation of critical-result alerts on the job queue (`critical_alert_jobs`,
//! one row per alert and step, see docs/clinicians.md). A job for the alert's current step
//! notifies its addressee; a job for the next step, due once the facility's delay has passed
//! (compared with the database's clock), moves a still-open alert there — a conditional
//! update an acknowledgement racing it makes a no-op, so no step after the acknowledgement
//! is sent — and notifies the new addressee. Each job enqueues the one after it. Messages
//! carry no result value, no patient name: only that a critical result waits, and the link.

use std::time::Duration;

use chrono::{DateTime, Utc};
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{
    CriticalAlertStatus, CriticalJobStatus, clinician_contact, critical_alert, critical_alert_job,
    escalation_step, facility_critical_setting, outbox_event,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, Statement, TransactionTrait,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use crate::delivery::{Channels, EmailChannel, SendFailure, TextChannel, build_email};
use crate::queue::{self, Backoff, DeadLetter, JobQueue, Lease, Retries};

/// The queue of alert steps.
pub struct CriticalJobs;

impl DeadLetter for CriticalJobs {
    type Entity = critical_alert_job::Entity;
    type Status = CriticalJobStatus;
    const NAME: &'static str = "critical_alert_jobs";
    const STATUS: critical_alert_job::Column = critical_alert_job::Column::Status;
    const CREATED_AT: critical_alert_job::Column = critical_alert_job::Column::CreatedAt;
    const DEAD: &'static [CriticalJobStatus] = &[CriticalJobStatus::Dead];
}

impl JobQueue for CriticalJobs {
    const ID: critical_alert_job::Column = critical_alert_job::Column::Id;
    const RUN_AT: critical_alert_job::Column = critical_alert_job::Column::RunAt;
    const ATTEMPTS: critical_alert_job::Column = critical_alert_job::Column::Attempts;
    const READY: &'static [CriticalJobStatus] =
        &[CriticalJobStatus::Ready, CriticalJobStatus::Retry];
    const RETRY: CriticalJobStatus = CriticalJobStatus::Retry;
    const UNIQUE: &'static [critical_alert_job::Column] = &[
        critical_alert_job::Column::AlertId,
        critical_alert_job::Column::Step,
    ];
}

pub const ALERT_ESCALATED: &str = "critical.escalated";
/// How long a claimed step stays with its worker.
const LEASE: Duration = Duration::from_secs(60);
/// The longest one send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

fn retries() -> Retries {
    Retries {
        max_attempts: Some(10),
        backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(300)),
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    pub claimed: usize,
    pub notified: usize,
    pub escalated: usize,
}

/// Runs up to `limit` due steps per tenant.
#[instrument(skip(db, channels))]
pub async fn run_due(
    db: &DatabaseConnection,
    channels: &Channels,
    limit: u64,
) -> ServiceResult<StepCounts> {
    let mut counts = StepCounts::default();
    for scope in portal_core::db::tenant_scopes(db).await? {
        let (claimed, lease) =
            queue::claim::<CriticalJobs>(&scope, sea_orm::Condition::all(), limit, LEASE).await?;
        counts.claimed += claimed.len();
        for job in claimed {
            if !lease.has_time_for(SEND_TIMEOUT) {
                break;
            }
            if let Err(error) = run_one(&scope, channels, &job, &lease, &mut counts).await {
                tracing::warn!(job.id = %job.id, error = %error, "critical alert step failed");
                let failure = retries().failed(job.attempts, false, portal_core::clock::now())?;
                queue::fail::<CriticalJobs>(
                    &scope,
                    &lease,
                    job.id,
                    &failure,
                    critical_alert_job::Entity::update_many().col_expr(
                        critical_alert_job::Column::LastError,
                        Expr::value("step failed"),
                    ),
                )
                .await?;
            }
        }
    }
    Ok(counts)
}

/// What a step found to do.
enum Plan {
    /// Nothing to send (acknowledged, closed, already moved on, or the chain ended).
    Done,
    /// Not due yet by the database's clock: back in the queue until then.
    Later(DateTime<Utc>),
    /// Notify the alert's addressee at this step (`true`: the step moved it there).
    Notify(Box<critical_alert::Model>, bool),
}

async fn run_one(
    db: &TenantDb,
    channels: &Channels,
    job: &critical_alert_job::Model,
    lease: &Lease,
    counts: &mut StepCounts,
) -> ServiceResult<()> {
    match plan(db, job).await? {
        Plan::Done => {}
        Plan::Later(due) => {
            // Released to the queue at its due time (the worker's clock ran ahead).
            queue::write::<CriticalJobs>(
                db,
                lease,
                job.id,
                critical_alert_job::Entity::update_many()
                    .col_expr(critical_alert_job::Column::RunAt, Expr::value(due)),
            )
            .await?;
            return Ok(());
        }
        Plan::Notify(alert, moved) => {
            if moved {
                counts.escalated += 1;
            }
            // An acknowledgement committed since the move wins: nothing is sent.
            if still_open(db, &alert).await? {
                notify(db, channels, &alert, job.id).await?;
                counts.notified += 1;
            }
        }
    }
    queue::write::<CriticalJobs>(
        db,
        lease,
        job.id,
        critical_alert_job::Entity::update_many()
            .col_expr(
                critical_alert_job::Column::Status,
                Expr::value(CriticalJobStatus::Done),
            )
            .col_expr(
                critical_alert_job::Column::DoneAt,
                Expr::value(portal_core::clock::now()),
            ),
    )
    .await?;
    Ok(())
}

/// The step's decision and, for a move, the move itself with the next step's job, in one
/// transaction.
async fn plan(db: &TenantDb, job: &critical_alert_job::Model) -> ServiceResult<Plan> {
    let txn = db.begin().await?;
    let now = database_now(&txn).await?;
    if job.due_at > now {
        return Ok(Plan::Later(job.due_at));
    }
    let Some(alert) = critical_alert::Entity::find_by_id(job.alert_id)
        .filter(critical_alert::Column::TenantId.eq(job.tenant_id))
        .one(&txn)
        .await?
    else {
        return Ok(Plan::Done);
    };
    if alert.status != CriticalAlertStatus::Open {
        return Ok(Plan::Done);
    }
    let delay = delay_seconds(&txn, &alert).await?;
    let next_due = now + chrono::Duration::seconds(i64::from(delay));
    let (alert, moved) = if job.step == alert.step {
        (alert, false)
    } else if job.step == next_step(alert.step) {
        let Some(step) = chain_step(&txn, &alert, job.step).await? else {
            // The chain ended: the alert stays open, counted and visible to staff.
            return Ok(Plan::Done);
        };
        let moved = critical_alert::Entity::update_many()
            .col_expr(critical_alert::Column::Step, Expr::value(job.step))
            .col_expr(
                critical_alert::Column::AddresseeClinicianId,
                Expr::value(step.clinician_id),
            )
            .col_expr(
                critical_alert::Column::AddresseeLabel,
                Expr::value(step.label.clone()),
            )
            .col_expr(
                critical_alert::Column::UpdatedAt,
                Expr::value(portal_core::clock::now()),
            )
            .filter(critical_alert::Column::TenantId.eq(alert.tenant_id))
            .filter(critical_alert::Column::Id.eq(alert.id))
            .filter(critical_alert::Column::Status.eq(CriticalAlertStatus::Open))
            .filter(critical_alert::Column::Step.eq(alert.step))
            .exec(&txn)
            .await?
            .rows_affected;
        if moved != 1 {
            // Acknowledged (or moved by another worker) meanwhile.
            return Ok(Plan::Done);
        }
        let moved = critical_alert::Model {
            step: job.step,
            addressee_clinician_id: step.clinician_id,
            addressee_label: Some(step.label),
            ..alert
        };
        outbox_event::Entity::insert(alert_event(&moved, ALERT_ESCALATED).into_active_model())
            .exec_without_returning(&txn)
            .await?;
        (moved, true)
    } else {
        return Ok(Plan::Done);
    };
    if chain_step(&txn, &alert, next_step(alert.step))
        .await?
        .is_some()
    {
        enqueue(&txn, &alert, next_step(alert.step), next_due).await?;
    }
    txn.commit().await?;
    Ok(Plan::Notify(Box::new(alert), moved))
}

/// Step 0 (the ordering clinician) is followed by the chain's first step.
fn next_step(step: i32) -> i32 {
    step + 1
}

async fn enqueue<C: ConnectionTrait>(
    db: &C,
    alert: &critical_alert::Model,
    step: i32,
    due: DateTime<Utc>,
) -> ServiceResult<()> {
    let row = critical_alert_job::Model {
        id: Uuid::now_v7(),
        tenant_id: alert.tenant_id,
        alert_id: alert.id,
        step,
        status: CriticalJobStatus::Ready,
        run_at: due,
        due_at: due,
        attempts: 0,
        last_error: None,
        created_at: portal_core::clock::now(),
        done_at: None,
    };
    let inserted = critical_alert_job::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::columns([
                critical_alert_job::Column::AlertId,
                critical_alert_job::Column::Step,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match inserted {
        // Already enqueued (unique per alert and step): nothing added.
        Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => {}
        Err(other) => return Err(other.into()),
    }
    Ok(())
}

async fn delay_seconds<C: ConnectionTrait>(
    db: &C,
    alert: &critical_alert::Model,
) -> ServiceResult<i32> {
    Ok(
        facility_critical_setting::Entity::find_by_id(alert.facility_id)
            .filter(facility_critical_setting::Column::TenantId.eq(alert.tenant_id))
            .one(db)
            .await?
            .map_or(1800, |s| s.escalation_seconds),
    )
}

async fn chain_step<C: ConnectionTrait>(
    db: &C,
    alert: &critical_alert::Model,
    position: i32,
) -> ServiceResult<Option<escalation_step::Model>> {
    Ok(escalation_step::Entity::find()
        .filter(escalation_step::Column::TenantId.eq(alert.tenant_id))
        .filter(escalation_step::Column::FacilityId.eq(alert.facility_id))
        .filter(escalation_step::Column::Position.eq(position))
        .one(db)
        .await?)
}

async fn still_open(db: &TenantDb, alert: &critical_alert::Model) -> ServiceResult<bool> {
    let current = critical_alert::Entity::find_by_id(alert.id)
        .filter(critical_alert::Column::TenantId.eq(alert.tenant_id))
        .one(db)
        .await?;
    Ok(current.is_some_and(|a| a.status == CriticalAlertStatus::Open && a.step == alert.step))
}

/// The database's clock, which every replica and worker shares.
pub async fn database_now<C: ConnectionTrait>(db: &C) -> ServiceResult<DateTime<Utc>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS now"
        }
        _ => "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now') AS now",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| ServiceError::internal("no database clock"))?;
    let text: String = row.try_get("", "now")?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ServiceError::internal("database clock unreadable"))
}

/// The outbox event of an alert change (raised, updated, closed, escalated, acknowledged):
/// its ids and where it is, never the value. Not a patient's event: the hub routes it to
/// clinicians and staff only.
pub fn alert_event(alert: &critical_alert::Model, event_type: &str) -> outbox_event::Model {
    outbox_event::Model {
        id: Uuid::now_v7(),
        tenant_id: alert.tenant_id,
        event_type: event_type.to_owned(),
        aggregate_type: "CriticalAlert".to_owned(),
        aggregate_id: alert.id,
        patient_id: None,
        payload: json!({
            "alertId": alert.id,
            "patientId": alert.patient_id,
            "orderId": alert.order_id,
            "resultId": alert.result_id,
            "status": alert.status,
            "step": alert.step,
            "addresseeClinicianId": alert.addressee_clinician_id,
        }),
        created_at: portal_core::clock::now(),
        published_at: None,
        publish_seq: None,
    }
}

/// The message: that a critical result waits for acknowledgement, and the portal link.
fn message(portal_url: &str) -> crate::delivery::Message {
    crate::delivery::Message {
        subject: "A critical result needs your acknowledgement".into(),
        body: format!(
            "A critical laboratory result needs your acknowledgement.\n\
             Sign in to acknowledge it with a read-back:\n{portal_url}\n\n\
             This message contains no patient information.\n"
        ),
        short: format!("A critical result needs your acknowledgement: {portal_url}"),
    }
}

/// Sends to the addressee's channels: the clinician's email and SMS phone, or the chain
/// step's on-call number. At least one channel must take it, or the step is retried.
async fn notify(
    db: &TenantDb,
    channels: &Channels,
    alert: &critical_alert::Model,
    job_id: Uuid,
) -> ServiceResult<()> {
    let mut email = None;
    let mut phone = None;
    if let Some(id) = alert.addressee_clinician_id
        && let Some(contact) = clinician_contact::Entity::find_by_id(id)
            .filter(clinician_contact::Column::TenantId.eq(alert.tenant_id))
            .one(db)
            .await?
    {
        email = contact.email;
        phone = contact.sms_phone;
    }
    if alert.step > 0
        && phone.is_none()
        && let Some(step) = chain_step(db, alert, alert.step).await?
    {
        phone = step.phone;
    }
    let message = message(&channels.portal_url);
    let mut sent = 0;
    let mut failure = None;
    if let Some(to) = email {
        match send_email(channels, job_id, &to, &message).await {
            Ok(()) => sent += 1,
            Err(f) => failure = Some(f),
        }
    }
    if let Some(to) = phone {
        match send_sms(channels, job_id, &to, &message).await {
            Ok(()) => sent += 1,
            Err(f) => failure = Some(f),
        }
    }
    match failure {
        Some(f) if sent == 0 => Err(ServiceError::Unavailable(
            format!("alert not delivered: {f}").into(),
        )),
        _ => {
            if sent == 0 {
                tracing::warn!(alert.id = %alert.id, "critical alert addressee has no channel; visible in the portal only");
            }
            Ok(())
        }
    }
}

async fn send_email(
    channels: &Channels,
    id: Uuid,
    to: &str,
    message: &crate::delivery::Message,
) -> Result<(), SendFailure> {
    let email = build_email(&channels.sender, to, message)
        .ok_or_else(|| SendFailure::permanent("invalid address"))?;
    match &channels.email {
        EmailChannel::Smtp(smtp) => smtp.send(email).await,
        EmailChannel::Mailbox => channels.mailbox.write_email(id, &email.formatted()).await,
    }
}

async fn send_sms(
    channels: &Channels,
    id: Uuid,
    to: &str,
    message: &crate::delivery::Message,
) -> Result<(), SendFailure> {
    let payload = json!({ "to": to, "body": message.short });
    match &channels.sms {
        TextChannel::Http(provider) => provider.post(&payload).await,
        TextChannel::Mailbox => channels.mailbox.write_json(id, 0, "sms", &payload).await,
    }
}

/// Polls every `poll` until `shutdown` completes.
pub async fn run_worker(
    db: DatabaseConnection,
    channels: Channels,
    poll: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    tracing::info!(
        poll_ms = poll.as_millis() as u64,
        "critical alert worker started"
    );
    loop {
        if let Err(error) = run_due(&db, &channels, 50).await {
            tracing::warn!(error = %error, "critical alert pass failed");
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(poll) => {}
        }
    }
    tracing::info!("critical alert worker stopped");
}
