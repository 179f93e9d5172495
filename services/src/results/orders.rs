//! Reading test orders of a patient.

use portal_entities::{OrderStatus, test_order};
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;

use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::ServiceResult;
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest, PatientList};

const LIST: Access = Access::read("orders.list", "TestOrder");

/// A patient's orders, newest first, optionally only those in `status`.
#[instrument(skip(ctx, parent, page), fields(request_id = %ctx.request_id))]
pub async fn list(
    ctx: &RequestContext,
    parent: &PatientAccess,
    status: Option<OrderStatus>,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<test_order::Model>)> {
    let access = access::confirm(ctx, parent, Scope::Results, LIST)?;
    let mut select = test_order::Entity::find();
    if let Some(status) = status {
        select = select.filter(test_order::Column::Status.eq(status));
    }
    let list = PatientList {
        tenant: test_order::Column::TenantId,
        patient: test_order::Column::PatientId,
        sort: Keyset {
            key: test_order::Column::OrderedAt,
            id: test_order::Column::Id,
            kind: KeyKind::Time,
            order: Order::Desc,
        },
    };
    let rows = list.fetch(ctx.db(), &access, select, page).await?;
    Ok((access, rows))
}
