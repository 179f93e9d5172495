//! Orders as another system knows them: found by their placer / filler order numbers, the
//! result currently shown for them, and cancelled (HL7 OBR-25 X).

use portal_entities::{OrderStatus, ResultStatus, test_order, test_result};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use tracing::instrument;
use uuid::Uuid;

use super::store::require_writer;
use super::validate;
use portal_core::access::{self, Access, Scope};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};

const FIND: Access = Access::read("order.find", "TestOrder");
const CANCEL: Access = Access::write("order.cancel", "TestOrder");

/// The numbers an order goes by in the systems that placed and fill it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderNumbers {
    pub placer: Option<String>,
    pub filler: Option<String>,
}

/// The patient's order with this filler order number, else with this placer order number
/// (the newest if a number was reused). Only writers look orders up this way; audited.
#[instrument(skip(ctx, numbers), fields(request_id = %ctx.request_id))]
pub async fn find_order(
    ctx: &RequestContext,
    patient_id: Uuid,
    numbers: &OrderNumbers,
) -> ServiceResult<Option<test_order::Model>> {
    let tenant = require_writer(ctx, FIND)?.tenant_id;
    let by = |column: test_order::Column, number: &str| {
        test_order::Entity::find()
            .filter(test_order::Column::TenantId.eq(tenant))
            .filter(test_order::Column::PatientId.eq(patient_id))
            .filter(column.eq(number.to_owned()))
            .order_by_desc(test_order::Column::CreatedAt)
    };
    let mut found = None;
    if let Some(filler) = &numbers.filler {
        found = by(test_order::Column::FillerOrderNumber, filler)
            .one(ctx.db())
            .await?;
    }
    if found.is_none()
        && let Some(placer) = &numbers.placer
    {
        found = by(test_order::Column::PlacerOrderNumber, placer)
            .one(ctx.db())
            .await?;
    }
    if let Some(order) = &found {
        access::authorize(ctx, patient_id, Scope::Results, FIND.entity(order.id)).await?;
    }
    Ok(found)
}

/// The result of the order that nothing replaced yet (the one a correction replaces).
pub async fn current_result(
    ctx: &RequestContext,
    order: &test_order::Model,
) -> ServiceResult<Option<test_result::Model>> {
    let tenant = require_writer(ctx, FIND)?.tenant_id;
    validate::current_result_of_order(ctx.db(), tenant, order.id).await
}

/// Cancels an order that has no released result (a CONFLICT otherwise); cancelling a
/// cancelled order changes nothing. Audited.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn cancel_order(
    ctx: &RequestContext,
    order_id: Uuid,
) -> ServiceResult<test_order::Model> {
    let tenant = require_writer(ctx, CANCEL)?.tenant_id;
    let what = CANCEL.entity(order_id);
    let work = ctx.begin_write().await?;
    let txn = work.txn();
    let order = test_order::Entity::find_by_id(order_id)
        .filter(test_order::Column::TenantId.eq(tenant))
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("test order"))?;
    access::authorize(&work, order.patient_id, Scope::Results, what).await?;
    if order.status == OrderStatus::Cancelled {
        return Ok(order);
    }
    let current = validate::current_result_of_order(txn, tenant, order.id).await?;
    if current.is_some_and(|r| r.status != ResultStatus::Preliminary) {
        return Err(ctx.failed(
            what,
            Some(order.patient_id),
            ServiceError::Conflict("an order with a released result cannot be cancelled".into()),
        ));
    }
    let patient_id = order.patient_id;
    let mut active = order.into_active_model();
    active.status = Set(OrderStatus::Cancelled);
    let order = active.update(txn).await?;
    work.commit().await?;
    ctx.record(AuditRecord::new(what, Some(patient_id), Outcome::Allowed));
    Ok(order)
}
