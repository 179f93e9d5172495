//! The audit rows of an accepted batch: one `public_health.report` row per report, with its
//! patient, so that the patient's access history lists the report as a disclosure
//! (docs/patients.md, "Access history"). Written in the transaction that marks the batch
//! sent: a batch is on the trail exactly when it is recorded as delivered.

use chrono::{DateTime, Utc};
use portal_entities::{AuditOutcome, ReportStatus, audit_event, public_health_report, test_result};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use portal_core::audit;
use portal_core::error::ServiceResult;

/// The audit action of a delivered report (the access history's PUBLIC_HEALTH_REPORT kind).
pub const ACTION: &str = "public_health.report";
/// The subject the rows carry: the reporting process, not a person.
const SUBJECT: &str = "system:public-health";

/// Appends one row per report of `batch_id` still marked batched (each report's result and
/// patient), inside `txn`. One SELECT and one INSERT, whatever the batch size.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    tenant: Uuid,
    batch_id: Uuid,
    receiver: &str,
    now: DateTime<Utc>,
) -> ServiceResult<usize> {
    let reported = test_result::Entity::find()
        .select_only()
        .column(test_result::Column::Id)
        .column(test_result::Column::PatientId)
        .filter(test_result::Column::TenantId.eq(tenant))
        .filter(
            Expr::col((test_result::Entity, test_result::Column::Id)).in_subquery(
                Query::select()
                    .column(public_health_report::Column::ResultId)
                    .from(public_health_report::Entity)
                    .and_where(public_health_report::Column::TenantId.eq(tenant))
                    .and_where(public_health_report::Column::BatchId.eq(batch_id))
                    .and_where(public_health_report::Column::Status.eq(ReportStatus::Batched))
                    .to_owned(),
            ),
        )
        .into_tuple::<(Uuid, Uuid)>()
        .all(txn)
        .await?;
    let rows = reported
        .into_iter()
        .map(|(result_id, patient_id)| row(tenant, result_id, patient_id, receiver, now))
        .collect();
    audit::append_within(txn, rows).await
}

fn row(
    tenant: Uuid,
    result_id: Uuid,
    patient_id: Uuid,
    receiver: &str,
    now: DateTime<Utc>,
) -> audit_event::Model {
    audit_event::Model {
        seq: 0,
        id: Uuid::now_v7(),
        tenant_id: Some(tenant),
        subject: Some(SUBJECT.to_owned()),
        roles: "system".to_owned(),
        proxy_for: None,
        action: ACTION.to_owned(),
        entity_type: "TestResult".to_owned(),
        entity_id: Some(result_id),
        patient_id: Some(patient_id),
        request_id: None,
        client_addr: None,
        outcome: AuditOutcome::Allowed,
        reason: Some(receiver.to_owned()),
        occurred_at: now,
        prev_hash: String::new(),
        hash: String::new(),
        sealed_batch: None,
    }
}
