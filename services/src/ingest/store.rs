//! The write paths: add one result, a correction, an "entered in error", and the steps of
//! one result that a batch (`batch`) runs for each of its items.

use chrono::SubsecRound;
use portal_entities::{
    OrderStatus, ResultStatus, imaging_report, observation, patient, test_catalog, test_order,
    test_result,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryTrait,
    SqlErr,
};
use tracing::instrument;
use uuid::Uuid;

use super::events::Reach;
use super::validate::Known;
use super::write::Writes;
use super::{
    Correction, NewImagingReport, NewResult, OrderRef, Stored, critical, events, idempotency,
    validate,
};
use portal_core::access::{self, Access, Scope};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::{PendingAudit, RequestContext, Work, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::{Role, Viewer};

const ADD: &str = "addTestResult";
pub(super) const CREATE: Access = Access::read("result.create", "TestResult");
const CORRECT: Access = Access::read("result.correct", "TestResult");

/// Only laboratories, clinicians and staff add or correct results.
pub(super) fn require_writer(ctx: &RequestContext, what: Access) -> ServiceResult<&Viewer> {
    let viewer = ctx.viewer()?;
    let allowed = [Role::Lab, Role::Clinician, Role::Staff, Role::Admin];
    if viewer.roles.iter().any(|r| allowed.contains(r)) {
        return Ok(viewer);
    }
    ctx.record(AuditRecord::new(what, None, Outcome::Denied).reason("role may not write results"));
    Err(ServiceError::Forbidden(
        "only laboratories, clinicians and staff add or correct results".into(),
    ))
}

/// Stores one result with its observations or imaging report, creating or completing its
/// order, with its outbox event and notifications, in one transaction.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn add_result(ctx: &RequestContext, input: NewResult) -> ServiceResult<Stored> {
    add_one(ctx, input, "input").await
}

/// One result in a transaction of its own.
pub(super) async fn add_one(
    ctx: &RequestContext,
    input: NewResult,
    at: &str,
) -> ServiceResult<Stored> {
    let hash = precheck(ctx, &input, at)?;
    let outcome = async {
        let work = ctx.begin_write().await?;
        let mut known = Known::from_request(ctx.prefetch(), &input.order);
        match store_in(&work, &mut known, &input, &hash, at).await? {
            // Nothing was written: the transaction rolls back as it is dropped.
            InTxn::Replayed(stored) => Ok(stored),
            InTxn::Written(stored, pending) => {
                commit(work, pending).await?;
                Ok(stored)
            }
        }
    }
    .await;
    after_race(ctx, &input, &hash, outcome).await
}

/// The checks that need no database; the request hash for idempotency.
pub(super) fn precheck(ctx: &RequestContext, input: &NewResult, at: &str) -> ServiceResult<String> {
    require_writer(ctx, CREATE)?;
    validate::shape(input, at)?;
    idempotency::request_hash(input)
}

/// A unique violation means a concurrent call with the same key, or replacing the same
/// result, won the race (its transaction committed): the earlier call's result is replayed,
/// or the result was replaced.
pub(super) async fn after_race(
    ctx: &RequestContext,
    input: &NewResult,
    hash: &str,
    outcome: ServiceResult<Stored>,
) -> ServiceResult<Stored> {
    match outcome {
        Err(ServiceError::Internal(source)) if is_unique_violation(&*source) => {
            let tenant = ctx.viewer()?.tenant_id;
            match &input.idempotency_key {
                Some(key) => match idempotency::earlier(ctx.db(), tenant, ADD, key, hash).await? {
                    Some(id) => replay(ctx.db(), tenant, id).await,
                    None => Err(conflict_replaced()),
                },
                None => Err(conflict_replaced()),
            }
        }
        other => other,
    }
}

/// What storing a result did inside the caller's transaction or savepoint.
pub(super) enum InTxn {
    /// An identical earlier request answers: nothing was written.
    Replayed(Stored),
    /// Written, with the request's audit rows; the caller commits and then reports `PendingAudit`.
    Written(Stored, PendingAudit),
}

/// Looks up what the result needs and writes it with its order, events and audit rows, in
/// `work`'s transaction. On PostgreSQL: the idempotency key, the patient with preferences
/// and push tokens, the test with its analytes and the facility (those two once per
/// `known`) — or, for an existing order, the order, its test and its current result — and
/// then one statement for all the writes.
pub(super) async fn store_in(
    work: &Writing<'_>,
    known: &mut Known,
    input: &NewResult,
    hash: &str,
    at: &str,
) -> ServiceResult<InTxn> {
    let ctx = work.ctx;
    let viewer = ctx.viewer()?;
    let tenant = viewer.tenant_id;
    let txn = work.txn();
    // The earlier identical request, looked up in this transaction (an earlier item of the
    // same batch included).
    if let Some(key) = &input.idempotency_key
        && let Some(id) = idempotency::earlier(txn, tenant, ADD, key, hash).await?
    {
        return Ok(InTxn::Replayed(replay(txn, tenant, id).await?));
    }
    let (patient, reach) = validate::patient(txn, tenant, input.patient_id, at).await?;
    let mut writes = Writes::default();
    let (order, catalog, replaces) =
        order_for(txn, viewer, input, &patient, (&mut writes, known), at).await?;
    authorize_writer(work, &patient, &order, CREATE).await?;
    let result_id = Uuid::now_v7();
    let observations = validate::observations(
        &catalog,
        result_id,
        &input.observations,
        input.imaging_report.as_ref(),
        at,
    )?;
    let test = &catalog.test;
    let result = test_result::Model {
        id: result_id,
        tenant_id: tenant,
        patient_id: patient.id,
        order_id: order.id,
        test_id: test.id,
        category: test.category,
        status: input.status,
        // As stored (microseconds): the answer is built from this model, not read back.
        issued_at: input.issued_at.trunc_subsecs(6),
        performing_lab: input.performing_lab.clone(),
        conclusion: input.conclusion.clone(),
        chain_id: replaces.as_ref().map(|r| r.chain_id).unwrap_or(result_id),
        replaces_result_id: replaces.as_ref().map(|r| r.id),
        correction_reason: None,
        idempotency_key: input.idempotency_key.clone(),
        created_at: portal_core::clock::now(),
    };
    critical::plan(
        txn,
        known,
        &mut writes,
        &order,
        &result,
        &observations,
        &input.observations,
    )
    .await?;
    let (result_detail, observation_details) = super::details::rows(
        &input.details,
        &input.observations,
        &observations,
        tenant,
        result_id,
    );
    let stored = result_rows(
        &mut writes,
        result,
        observations,
        input.imaging_report.as_ref(),
        (&patient, &reach),
        test,
    );
    writes.insert(result_detail.map(IntoActiveModel::into_active_model));
    writes.insert(
        observation_details
            .into_iter()
            .map(IntoActiveModel::into_active_model),
    );
    let order_status = if input.status == ResultStatus::Final {
        OrderStatus::Completed
    } else {
        OrderStatus::Pending
    };
    if order.status != order_status {
        writes.update(
            test_order::Entity::update_many()
                .col_expr(test_order::Column::Status, Expr::value(order_status))
                .filter(test_order::Column::TenantId.eq(tenant))
                .filter(test_order::Column::Id.eq(order.id))
                .into_query(),
        );
    }
    if let Some(key) = &input.idempotency_key {
        writes.insert([idempotency::row(tenant, ADD, key, hash, stored.result.id)]);
    }
    let created = AuditRecord::new(
        CREATE.entity(stored.result.id),
        Some(patient.id),
        Outcome::Allowed,
    );
    let pending = write_with_audit(ctx, txn, writes, created).await?;
    Ok(InTxn::Written(stored, pending))
}

/// Sends `writes` with the request's audit rows so far and `created`'s: they commit in the
/// same transaction (no transaction of their own).
async fn write_with_audit<C: ConnectionTrait>(
    ctx: &RequestContext,
    txn: &C,
    mut writes: Writes,
    created: AuditRecord,
) -> ServiceResult<PendingAudit> {
    let (rows, pending) = ctx.rows_for_commit(Some(created));
    if let Some(audit) = portal_core::audit::insert_statement(rows) {
        writes.statement(audit);
    }
    match writes.run(txn).await {
        Ok(()) => Ok(pending),
        // Nothing was created: no create is recorded, the other records stay for `finish`.
        Err(err) => Err(err.into()),
    }
}

/// Commits the write. If the COMMIT fails, nothing of the write is there: its audit rows are
/// written on their own, the create marked FAILED, and the error returned.
async fn commit(work: Writing<'_>, pending: PendingAudit) -> ServiceResult<()> {
    let ctx = work.ctx;
    let Err(err) = work.commit().await else {
        ctx.audit_committed(pending);
        return Ok(());
    };
    ctx.audit_not_committed(pending.failed("commit failed"));
    if let Err(audit) = ctx.flush_audit().await {
        tracing::error!(request_id = %ctx.request_id, error = %audit, "audit rows of a failed commit could not be written");
    }
    Err(err.into())
}

/// The order the result completes (existing, or created now: its insert is added to
/// `writes`), its test with analytes, and the preliminary result it supersedes, if any.
async fn order_for<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    input: &NewResult,
    patient: &patient::Model,
    (writes, known): (&mut Writes, &mut Known),
    at: &str,
) -> ServiceResult<(
    test_order::Model,
    validate::CatalogTest,
    Option<test_result::Model>,
)> {
    let tenant = viewer.tenant_id;
    match &input.order {
        OrderRef::Existing(order_id) => {
            let order = validate::existing_order(db, tenant, patient.id, *order_id, at).await?;
            let test = validate::test_by_id(db, tenant, order.test_id).await?;
            let current = validate::current_result_of_order(db, tenant, order.id).await?;
            if let Some(current) = &current {
                validate::replaceable_by_new_result(current)?;
            }
            Ok((order, test, current))
        }
        OrderRef::New(new) => {
            let test = known
                .test_by_code(db, tenant, &new.test_code, &format!("{at}.order.testCode"))
                .await?;
            known
                .facility_exists(
                    db,
                    tenant,
                    new.facility_id,
                    &format!("{at}.order.facilityId"),
                )
                .await?;
            validate::clinician_exists(
                db,
                tenant,
                new.ordering_clinician_id,
                &format!("{at}.order.orderingClinicianId"),
            )
            .await?;
            validate::clinician_exists(
                db,
                tenant,
                new.referring_clinician_id,
                &format!("{at}.order.referringClinicianId"),
            )
            .await?;
            validate::text(
                &new.accession_number,
                &format!("{at}.order.accessionNumber"),
            )?;
            validate::external(
                db,
                tenant,
                patient.id,
                &new.external,
                &format!("{at}.order"),
            )
            .await?;
            let now = portal_core::clock::now();
            let order = test_order::Model {
                id: Uuid::now_v7(),
                tenant_id: tenant,
                patient_id: patient.id,
                facility_id: new.facility_id,
                test_id: test.test.id,
                ordering_clinician_id: new.ordering_clinician_id,
                referring_clinician_id: new.referring_clinician_id,
                appointment_id: new.external.appointment_id,
                source: new.source,
                // Created with the status the result gives it (no UPDATE after).
                status: if input.status == ResultStatus::Final {
                    OrderStatus::Completed
                } else {
                    OrderStatus::Pending
                },
                accession_number: new.accession_number.clone(),
                placer_order_number: new.external.placer_order_number.clone(),
                filler_order_number: new.external.filler_order_number.clone(),
                ordering_provider_name: new.external.ordering_provider_name.clone(),
                ordering_facility_name: new.external.ordering_facility_name.clone(),
                ordering_facility_identifier: new.external.ordering_facility_identifier.clone(),
                entering_organization: new.external.entering_organization.clone(),
                ordered_at: input.issued_at.trunc_subsecs(6).min(now),
                created_at: now,
                placer_group_number: new.external.placer_group_number.clone(),
            };
            writes.insert([order.clone().into_active_model()]);
            Ok((order, test, None))
        }
        OrderRef::Ambiguous => Err(ServiceError::bad_input(
            format!("{at}.orderId"),
            "give either orderId or order",
        )),
    }
}

/// Lab, staff and admin write for any patient of their tenant; a clinician for patients they
/// treat, including through the order being written.
async fn authorize_writer(
    work: &impl Work,
    patient: &patient::Model,
    order: &test_order::Model,
    what: Access,
) -> ServiceResult<()> {
    let viewer = work.ctx().viewer()?;
    if !viewer.is_tenant_wide()
        && let Some(me) = access::clinician_id(work).await?
        && [order.ordering_clinician_id, order.referring_clinician_id].contains(&Some(me))
    {
        return Ok(());
    }
    access::authorize(work, patient.id, Scope::Results, what)
        .await
        .map(|_| ())
}

/// Adds the result, its observations or imaging report, its outbox event, notifications and
/// public-health queue row to `writes`.
fn result_rows(
    writes: &mut Writes,
    result: test_result::Model,
    observations: Vec<observation::Model>,
    imaging: Option<&NewImagingReport>,
    (patient, reach): (&patient::Model, &Reach),
    test: &test_catalog::Model,
) -> Stored {
    writes.insert([result.clone().into_active_model()]);
    writes.insert(
        observations
            .into_iter()
            .map(IntoActiveModel::into_active_model),
    );
    if let Some(report) = imaging {
        writes.insert([imaging_report::Model {
            result_id: result.id,
            tenant_id: result.tenant_id,
            modality: report.modality.clone(),
            study_instance_uid: report.study_instance_uid.clone(),
            findings: report.findings.clone(),
            impression: report.impression.clone(),
        }
        .into_active_model()]);
    }
    let (event_id, notifications) = events::record(writes, &result, patient, reach, test.sensitive);
    writes.insert(super::public_health::queue_row(&result, test));
    Stored {
        result,
        event_id,
        notifications,
        replayed: false,
    }
}

async fn replay<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    result_id: Uuid,
) -> ServiceResult<Stored> {
    let result = test_result::Entity::find_by_id(result_id)
        .filter(test_result::Column::TenantId.eq(tenant))
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::internal("idempotency record points to a missing result"))?;
    Ok(Stored {
        result,
        event_id: Uuid::nil(),
        notifications: Vec::new(),
        replayed: true,
    })
}

/// Corrects a released result: a new CORRECTED result replaces it; the original stays in
/// the history; the patient is notified again.
#[instrument(skip(ctx, correction, reason), fields(request_id = %ctx.request_id))]
pub async fn correct_result(
    ctx: &RequestContext,
    result_id: Uuid,
    correction: Correction,
    reason: &str,
) -> ServiceResult<Stored> {
    if let Some(issued) = correction.issued_at {
        validate::not_in_future(issued, "input.issuedAt")?;
    }
    validate::text(&correction.conclusion, "input.conclusion")?;
    replace(
        ctx,
        result_id,
        reason,
        ResultStatus::Corrected,
        Some(correction),
    )
    .await
}

/// Withdraws a released result: a new ENTERED_IN_ERROR result replaces it.
#[instrument(skip(ctx, reason), fields(request_id = %ctx.request_id))]
pub async fn mark_entered_in_error(
    ctx: &RequestContext,
    result_id: Uuid,
    reason: &str,
) -> ServiceResult<Stored> {
    replace(ctx, result_id, reason, ResultStatus::EnteredInError, None).await
}

async fn replace(
    ctx: &RequestContext,
    result_id: Uuid,
    reason: &str,
    status: ResultStatus,
    correction: Option<Correction>,
) -> ServiceResult<Stored> {
    let viewer = require_writer(ctx, CORRECT)?;
    let tenant = viewer.tenant_id;
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 2_000 {
        return Err(ServiceError::bad_input(
            "reason",
            "a reason of 1 to 2000 characters is required",
        ));
    }
    portal_core::text::check("reason", reason)?;
    let outcome = async {
        let work = ctx.begin_write().await?;
        let txn = work.txn();
        let original = test_result::Entity::find_by_id(result_id)
            .filter(test_result::Column::TenantId.eq(tenant))
            .one(txn)
            .await?
            .ok_or(ServiceError::NotFound("test result"))?;
        let (patient, reach) = validate::patient(txn, tenant, original.patient_id, "input").await?;
        let order =
            validate::existing_order(txn, tenant, patient.id, original.order_id, "input").await?;
        authorize_writer(&work, &patient, &order, CORRECT.entity(result_id)).await?;
        check_replaceable(txn, &original).await?;
        let catalog = validate::test_by_id(txn, tenant, original.test_id).await?;
        let new_id = Uuid::now_v7();
        let (observations, imaging) = match &correction {
            Some(c) => (
                c.details.check("input").and_then(|()| {
                    validate::observations(
                        &catalog,
                        new_id,
                        &c.observations,
                        c.imaging_report.as_ref(),
                        "input",
                    )
                })?,
                c.imaging_report.clone(),
            ),
            None => (Vec::new(), None),
        };
        let now = portal_core::clock::now();
        let result = test_result::Model {
            id: new_id,
            status,
            issued_at: correction
                .as_ref()
                .and_then(|c| c.issued_at)
                .map_or(now, |t| t.trunc_subsecs(6)),
            conclusion: correction.as_ref().and_then(|c| c.conclusion.clone()),
            replaces_result_id: Some(original.id),
            correction_reason: Some(reason.to_owned()),
            idempotency_key: None,
            created_at: now,
            ..original.clone()
        };
        let (result_detail, observation_details) = match &correction {
            Some(c) => {
                super::details::rows(&c.details, &c.observations, &observations, tenant, new_id)
            }
            None => (None, Vec::new()),
        };
        let mut writes = Writes::default();
        let given = correction.as_ref().map_or(&[][..], |c| &c.observations[..]);
        critical::plan(
            txn,
            &mut Known::default(),
            &mut writes,
            &order,
            &result,
            &observations,
            given,
        )
        .await?;
        let stored = result_rows(
            &mut writes,
            result,
            observations,
            imaging.as_ref(),
            (&patient, &reach),
            &catalog.test,
        );
        writes.insert(result_detail.map(IntoActiveModel::into_active_model));
        writes.insert(
            observation_details
                .into_iter()
                .map(IntoActiveModel::into_active_model),
        );
        writes.run(txn).await?;
        work.commit().await?;
        Ok::<_, ServiceError>((stored, patient.id))
    }
    .await;
    match outcome {
        Ok((stored, patient_id)) => {
            ctx.record(AuditRecord::new(
                CORRECT.entity(stored.result.id),
                Some(patient_id),
                Outcome::Allowed,
            ));
            Ok(stored)
        }
        Err(ServiceError::Internal(source)) if is_unique_violation(&*source) => {
            Err(conflict_replaced())
        }
        Err(other) => Err(other),
    }
}

/// Only the current, released version of a result can be corrected or withdrawn.
async fn check_replaceable<C: ConnectionTrait>(
    db: &C,
    original: &test_result::Model,
) -> ServiceResult<()> {
    match original.status {
        ResultStatus::Preliminary => {
            return Err(ServiceError::Conflict(
                "a preliminary result is replaced by adding the final result with addTestResult"
                    .into(),
            ));
        }
        ResultStatus::EnteredInError => {
            return Err(ServiceError::Conflict(
                "a result marked entered in error cannot be changed".into(),
            ));
        }
        _ => {}
    }
    let successor = test_result::Entity::find()
        .filter(test_result::Column::TenantId.eq(original.tenant_id))
        .filter(test_result::Column::ReplacesResultId.eq(original.id))
        .one(db)
        .await?;
    match successor {
        Some(_) => Err(conflict_replaced()),
        None => Ok(()),
    }
}

fn conflict_replaced() -> ServiceError {
    ServiceError::Conflict("this result was already replaced; correct its current version".into())
}

pub(super) fn is_unique_violation(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<DbErr>()
        .and_then(DbErr::sql_err)
        .is_some_and(|e| matches!(e, SqlErr::UniqueConstraintViolation(_)))
}
