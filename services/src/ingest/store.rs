//! The write paths: add one result, a batch, a correction, an "entered in error".

use portal_entities::{
    OrderStatus, ResultStatus, imaging_report, observation, patient, test_catalog, test_order,
    test_result,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, SqlErr,
};
use tracing::instrument;
use uuid::Uuid;

use super::{
    Correction, MAX_BATCH, NewImagingReport, NewResult, OrderRef, Stored, events, idempotency,
    validate,
};
use portal_core::access::{self, Access, Scope};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::{RequestContext, Work, Writing};
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::{Role, Viewer};

const ADD: &str = "addTestResult";
const CREATE: Access = Access::read("result.create", "TestResult");
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

/// Stores each result of a batch in its own transaction: one bad result does not hold back
/// the others of an overnight run. Inputs that already failed to convert keep their error.
/// Returns one outcome per input, in order.
#[instrument(skip(ctx, inputs), fields(request_id = %ctx.request_id, count = inputs.len()))]
pub async fn add_results(
    ctx: &RequestContext,
    inputs: Vec<ServiceResult<NewResult>>,
) -> ServiceResult<Vec<ServiceResult<Stored>>> {
    require_writer(ctx, CREATE)?;
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        return Err(ServiceError::bad_input(
            "inputs",
            format!("send between 1 and {MAX_BATCH} results"),
        ));
    }
    let mut outcomes = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        outcomes.push(match input {
            Ok(input) => add_one(ctx, input, &format!("inputs[{i}]")).await,
            Err(err) => Err(err),
        });
    }
    Ok(outcomes)
}

async fn add_one(ctx: &RequestContext, input: NewResult, at: &str) -> ServiceResult<Stored> {
    let db = ctx.db();
    let viewer = require_writer(ctx, CREATE)?;
    let tenant = viewer.tenant_id;
    validate::shape(&input, at)?;
    let hash = idempotency::request_hash(&input)?;
    match store_new(ctx, &input, &hash, at).await {
        Err(ServiceError::Internal(source)) if is_unique_violation(&*source) => {
            // A concurrent call with the same key or replacing the same result won the race.
            match &input.idempotency_key {
                Some(key) => match idempotency::earlier(db, tenant, ADD, key, &hash).await? {
                    Some(id) => replay(db, tenant, id).await,
                    None => Err(conflict_replaced()),
                },
                None => Err(conflict_replaced()),
            }
        }
        other => other,
    }
}

async fn store_new(
    ctx: &RequestContext,
    input: &NewResult,
    hash: &str,
    at: &str,
) -> ServiceResult<Stored> {
    let viewer = ctx.viewer()?;
    let tenant = viewer.tenant_id;
    let work = ctx.begin_write().await?;
    let txn = work.txn();
    // The earlier identical request, looked up in this transaction (no round trip of its own).
    if let Some(key) = &input.idempotency_key
        && let Some(id) = idempotency::earlier(txn, tenant, ADD, key, hash).await?
    {
        drop(work);
        return replay(ctx.db(), tenant, id).await;
    }
    let patient = validate::patient(txn, tenant, input.patient_id, at).await?;
    let (order, test, replaces) = order_for(txn, viewer, input, &patient, at).await?;
    authorize_writer(&work, &patient, &order, CREATE).await?;
    let result_id = Uuid::now_v7();
    let observations = validate::observations(
        txn,
        &test,
        result_id,
        &input.observations,
        input.imaging_report.as_ref(),
        at,
    )
    .await?;
    let result = test_result::Model {
        id: result_id,
        tenant_id: tenant,
        patient_id: patient.id,
        order_id: order.id,
        test_id: test.id,
        category: test.category,
        status: input.status,
        issued_at: input.issued_at,
        performing_lab: input.performing_lab.clone(),
        conclusion: input.conclusion.clone(),
        chain_id: replaces.as_ref().map(|r| r.chain_id).unwrap_or(result_id),
        replaces_result_id: replaces.as_ref().map(|r| r.id),
        correction_reason: None,
        idempotency_key: input.idempotency_key.clone(),
        created_at: portal_core::clock::now(),
    };
    let stored = insert_result(
        txn,
        result,
        observations,
        input.imaging_report.as_ref(),
        &patient,
        &test,
    )
    .await?;
    let order_status = if input.status == ResultStatus::Final {
        OrderStatus::Completed
    } else {
        OrderStatus::Pending
    };
    if order.status != order_status {
        let mut active = order.into_active_model();
        active.status = Set(order_status);
        active.update(txn).await?;
    }
    if let Some(key) = &input.idempotency_key {
        idempotency::remember(txn, tenant, ADD, key, hash, stored.result.id).await?;
    }
    ctx.record(AuditRecord::new(
        CREATE.entity(stored.result.id),
        Some(patient.id),
        Outcome::Allowed,
    ));
    commit_with_audit(work, stored.result.id).await?;
    Ok(stored)
}

/// Commits the write with the request's audit rows so far in the same transaction (no
/// transaction of their own). If the COMMIT fails, nothing of the write is there: the rows
/// are written on their own, the create marked FAILED, and the error returned.
async fn commit_with_audit(work: Writing<'_>, result_id: Uuid) -> ServiceResult<()> {
    let ctx = work.ctx;
    let rows = ctx.take_rows();
    portal_core::audit::append_within(work.txn(), rows.clone()).await?;
    let Err(err) = work.commit().await else {
        return Ok(());
    };
    let rows = rows
        .into_iter()
        .map(|mut row| {
            if row.action == CREATE.action && row.entity_id == Some(result_id) {
                row.outcome = Outcome::Failed;
                row.reason = Some("commit failed".into());
            }
            row
        })
        .collect();
    if let Err(audit) = portal_core::audit::append(ctx.db(), rows).await {
        tracing::error!(request_id = %ctx.request_id, error = %audit, "audit rows of a failed commit could not be written");
    }
    Err(err.into())
}

/// The order the result completes (existing or created now), its test, and the
/// preliminary result it supersedes, if any.
async fn order_for<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    input: &NewResult,
    patient: &patient::Model,
    at: &str,
) -> ServiceResult<(
    test_order::Model,
    test_catalog::Model,
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
            let test =
                validate::test_by_code(db, tenant, &new.test_code, &format!("{at}.order.testCode"))
                    .await?;
            validate::facility_exists(
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
                test_id: test.id,
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
                ordered_at: input.issued_at.min(now),
                created_at: now,
            };
            let order = order.into_active_model().insert(db).await?;
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

async fn insert_result<C: ConnectionTrait>(
    db: &C,
    result: test_result::Model,
    observations: Vec<observation::Model>,
    imaging: Option<&NewImagingReport>,
    patient: &patient::Model,
    test: &test_catalog::Model,
) -> ServiceResult<Stored> {
    let result = result.into_active_model().insert(db).await?;
    if !observations.is_empty() {
        observation::Entity::insert_many(
            observations
                .into_iter()
                .map(IntoActiveModel::into_active_model),
        )
        .exec(db)
        .await?;
    }
    if let Some(report) = imaging {
        imaging_report::Model {
            result_id: result.id,
            tenant_id: result.tenant_id,
            modality: report.modality.clone(),
            study_instance_uid: report.study_instance_uid.clone(),
            findings: report.findings.clone(),
            impression: report.impression.clone(),
        }
        .into_active_model()
        .insert(db)
        .await?;
    }
    let (event_id, notifications) = events::record(db, &result, patient, test.sensitive).await?;
    crate::public_health::queue(db, &result, test).await?;
    Ok(Stored {
        result,
        event_id,
        notifications,
        replayed: false,
    })
}

async fn replay(db: &TenantDb, tenant: Uuid, result_id: Uuid) -> ServiceResult<Stored> {
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
        let patient = validate::patient(txn, tenant, original.patient_id, "input").await?;
        let order =
            validate::existing_order(txn, tenant, patient.id, original.order_id, "input").await?;
        authorize_writer(&work, &patient, &order, CORRECT.entity(result_id)).await?;
        check_replaceable(txn, &original).await?;
        let test = validate::test_by_id(txn, tenant, original.test_id).await?;
        let new_id = Uuid::now_v7();
        let (observations, imaging) = match &correction {
            Some(c) => (
                validate::observations(
                    txn,
                    &test,
                    new_id,
                    &c.observations,
                    c.imaging_report.as_ref(),
                    "input",
                )
                .await?,
                c.imaging_report.clone(),
            ),
            None => (Vec::new(), None),
        };
        let now = portal_core::clock::now();
        let result = test_result::Model {
            id: new_id,
            status,
            issued_at: correction.as_ref().and_then(|c| c.issued_at).unwrap_or(now),
            conclusion: correction.as_ref().and_then(|c| c.conclusion.clone()),
            replaces_result_id: Some(original.id),
            correction_reason: Some(reason.to_owned()),
            idempotency_key: None,
            created_at: now,
            ..original.clone()
        };
        let stored =
            insert_result(txn, result, observations, imaging.as_ref(), &patient, &test).await?;
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

fn is_unique_violation(err: &(dyn std::error::Error + 'static)) -> bool {
    err.downcast_ref::<DbErr>()
        .and_then(DbErr::sql_err)
        .is_some_and(|e| matches!(e, SqlErr::UniqueConstraintViolation(_)))
}
