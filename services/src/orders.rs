//! Reading test orders of a patient.

use portal_entities::{OrderStatus, test_order};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use crate::access::{self, Access, PatientAccess, Scope};
use crate::context::RequestContext;
use crate::error::ServiceResult;
use crate::pagination::{Keyset, Page, PageRequest};

const LIST: Access = Access::read("orders.list", "TestOrder");

/// A patient's orders, newest first, optionally only those in `status`.
#[instrument(skip(db, ctx, page), fields(request_id = %ctx.request_id))]
pub async fn list<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
    status: Option<OrderStatus>,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<test_order::Model>)> {
    let access = access::authorize(db, ctx, patient_id, Scope::Results, LIST).await?;
    let mut select = test_order::Entity::find()
        .filter(test_order::Column::TenantId.eq(access.tenant_id))
        .filter(test_order::Column::PatientId.eq(patient_id));
    if let Some(status) = status {
        select = select.filter(test_order::Column::Status.eq(status));
    }
    let after_key = page
        .after
        .as_ref()
        .map(|c| c.time())
        .transpose()?
        .map(Into::into);
    let keyset = Keyset {
        key: test_order::Column::OrderedAt,
        id: test_order::Column::Id,
        order: Order::Desc,
    };
    Ok((access, keyset.fetch(select, page, after_key, db).await?))
}
