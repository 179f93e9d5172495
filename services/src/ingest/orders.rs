//! Orders as another system knows them: found by their filler order number, else their
//! placer order number and test (HL7 v2 order identity), the result currently shown for
//! them, and cancelled (HL7 OBR-25 X).

use portal_entities::{OrderStatus, ResultStatus, test_catalog, test_order, test_result};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
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
const NUMBER: Access = Access::write("order.fillerNumber", "TestOrder");

/// The numbers an order goes by in the systems that placed and fill it, and its test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderNumbers {
    pub placer: Option<String>,
    pub filler: Option<String>,
    /// The catalog code of the ordered test (HL7 OBR-4): with the placer number it tells
    /// the orders of one requisition apart.
    pub test_code: Option<String>,
}

/// The patient's order these numbers identify, as HL7 v2 identifies orders: by filler order
/// number; else by placer order number and test among the orders no filler numbered yet
/// (that order then takes the filler number: a preliminary sent with OBR-2 only and its
/// final with OBR-3 land on one order); else none (a new order of the requisition). The
/// newest wins if a number was reused. Only writers look orders up this way; audited.
#[instrument(skip(ctx, numbers), fields(request_id = %ctx.request_id))]
pub async fn find_order(
    ctx: &RequestContext,
    patient_id: Uuid,
    numbers: &OrderNumbers,
) -> ServiceResult<Option<test_order::Model>> {
    let tenant = require_writer(ctx, FIND)?.tenant_id;
    // One statement: the order of the filler number first, else one of the placer number
    // and test that no filler numbered yet (when a filler number is given).
    let by_filler = numbers
        .filler
        .as_ref()
        .map(|filler| test_order::Column::FillerOrderNumber.eq(filler.clone()));
    let by_placer = match (&numbers.placer, &numbers.test_code) {
        (Some(placer), Some(test)) => {
            let tests = test_catalog::Entity::find()
                .select_only()
                .column(test_catalog::Column::Id)
                .filter(test_catalog::Column::TenantId.eq(tenant))
                .filter(test_catalog::Column::Code.eq(test.clone()))
                .into_query();
            let mut placer = Condition::all()
                .add(test_order::Column::PlacerOrderNumber.eq(placer.clone()))
                .add(test_order::Column::TestId.in_subquery(tests));
            if numbers.filler.is_some() {
                placer = placer.add(test_order::Column::FillerOrderNumber.is_null());
            }
            Some(placer)
        }
        _ => None,
    };
    let (filler_first, any) = match (by_filler, by_placer) {
        (None, None) => return Ok(None),
        (Some(f), None) => (None, Condition::any().add(f)),
        (None, Some(p)) => (None, Condition::any().add(p)),
        (Some(f), Some(p)) => (Some(f.clone()), Condition::any().add(f).add(p)),
    };
    let mut select = test_order::Entity::find()
        .filter(test_order::Column::TenantId.eq(tenant))
        .filter(test_order::Column::PatientId.eq(patient_id))
        .filter(any);
    if let Some(filler) = filler_first {
        let filler_first: SimpleExpr = Expr::case(filler, 1).finally(0).into();
        select = select.order_by_desc(filler_first);
    }
    let mut found = select
        .order_by_desc(test_order::Column::CreatedAt)
        .one(ctx.db())
        .await?;
    let takes_filler = match (&found, &numbers.filler) {
        (Some(order), Some(filler)) if order.filler_order_number.is_none() => Some(filler.as_str()),
        _ => None,
    };
    if let Some(order) = &mut found {
        access::authorize(ctx, patient_id, Scope::Results, FIND.entity(order.id)).await?;
        if let Some(filler) = takes_filler {
            take_filler_number(ctx, order, filler).await?;
        }
    }
    Ok(found)
}

/// The order found by its placer number takes the filler number the lab gave it.
async fn take_filler_number(
    ctx: &RequestContext,
    order: &mut test_order::Model,
    filler: &str,
) -> ServiceResult<()> {
    test_order::Entity::update_many()
        .col_expr(test_order::Column::FillerOrderNumber, Expr::value(filler))
        .filter(test_order::Column::TenantId.eq(order.tenant_id))
        .filter(test_order::Column::Id.eq(order.id))
        .filter(test_order::Column::FillerOrderNumber.is_null())
        .exec(ctx.db())
        .await?;
    order.filler_order_number = Some(filler.to_owned());
    ctx.record(AuditRecord::new(
        NUMBER.entity(order.id),
        Some(order.patient_id),
        Outcome::Allowed,
    ));
    Ok(())
}

/// Whether a result was stored under this idempotency key already (a group of a message that
/// is resent or replayed after some of its groups were kept).
pub async fn stored_under_key(ctx: &RequestContext, key: &str) -> ServiceResult<bool> {
    let tenant = require_writer(ctx, FIND)?.tenant_id;
    Ok(test_result::Entity::find()
        .select_only()
        .column(test_result::Column::Id)
        .filter(test_result::Column::TenantId.eq(tenant))
        .filter(test_result::Column::IdempotencyKey.eq(key.to_owned()))
        .into_tuple::<Uuid>()
        .one(ctx.db())
        .await?
        .is_some())
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
