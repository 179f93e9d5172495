//! Looking up any one record by id for `node(id)`, with the access check of its kind.

use portal_entities::{
    appointment, claim, clinician, coverage, facility, proxy_grant, tenant, test_catalog,
    test_order,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::results::{self, Visibility};
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};

async fn find<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    tenant_column: E::Column,
    id_column: E::Column,
    tenant_id: Uuid,
    id: Uuid,
    what: &'static str,
) -> ServiceResult<E::Model> {
    E::find()
        .filter(tenant_column.eq(tenant_id))
        .filter(id_column.eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound(what))
}

pub async fn order(
    ctx: &RequestContext,
    id: Uuid,
) -> ServiceResult<(Visibility, test_order::Model)> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    let row = find::<test_order::Entity, _>(
        db,
        test_order::Column::TenantId,
        test_order::Column::Id,
        tenant,
        id,
        "test order",
    )
    .await?;
    let access = access::authorize(
        ctx,
        row.patient_id,
        Scope::Results,
        Access::read("order.read", "TestOrder").entity(id),
    )
    .await?;
    Ok((results::visibility(ctx, access).await?, row))
}

pub async fn appointment(
    ctx: &RequestContext,
    id: Uuid,
) -> ServiceResult<(PatientAccess, appointment::Model)> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    let row = find::<appointment::Entity, _>(
        db,
        appointment::Column::TenantId,
        appointment::Column::Id,
        tenant,
        id,
        "appointment",
    )
    .await?;
    let what = Access::read("appointment.read", "Appointment").entity(id);
    Ok((
        access::authorize(ctx, row.patient_id, Scope::Appointments, what).await?,
        row,
    ))
}

pub async fn coverage(ctx: &RequestContext, id: Uuid) -> ServiceResult<coverage::Model> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    let row = find::<coverage::Entity, _>(
        db,
        coverage::Column::TenantId,
        coverage::Column::Id,
        tenant,
        id,
        "coverage",
    )
    .await?;
    let what = Access::read("coverage.read", "Coverage").entity(id);
    access::authorize(ctx, row.patient_id, Scope::Coverage, what).await?;
    Ok(row)
}

pub async fn claim(ctx: &RequestContext, id: Uuid) -> ServiceResult<claim::Model> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    let row = find::<claim::Entity, _>(
        db,
        claim::Column::TenantId,
        claim::Column::Id,
        tenant,
        id,
        "claim",
    )
    .await?;
    let what = Access::read("claim.read", "Claim").entity(id);
    access::authorize(ctx, row.patient_id, Scope::Coverage, what).await?;
    Ok(row)
}

pub async fn proxy_grant(ctx: &RequestContext, id: Uuid) -> ServiceResult<proxy_grant::Model> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    let row = find::<proxy_grant::Entity, _>(
        db,
        proxy_grant::Column::TenantId,
        proxy_grant::Column::Id,
        tenant,
        id,
        "proxy grant",
    )
    .await?;
    let what = Access::read("proxy_grant.read", "ProxyGrant").entity(id);
    access::authorize(ctx, row.patient_id, Scope::Account, what).await?;
    access::note_grant_bounds(ctx, &row);
    Ok(row)
}

/// Master data: any authenticated user of the tenant may read it.
pub async fn catalog_item(ctx: &RequestContext, id: Uuid) -> ServiceResult<test_catalog::Model> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    find::<test_catalog::Entity, _>(
        db,
        test_catalog::Column::TenantId,
        test_catalog::Column::Id,
        tenant,
        id,
        "test",
    )
    .await
}

pub async fn facility(ctx: &RequestContext, id: Uuid) -> ServiceResult<facility::Model> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    find::<facility::Entity, _>(
        db,
        facility::Column::TenantId,
        facility::Column::Id,
        tenant,
        id,
        "facility",
    )
    .await
}

pub async fn clinician(ctx: &RequestContext, id: Uuid) -> ServiceResult<clinician::Model> {
    let db = ctx.db();
    let tenant = ctx.viewer()?.tenant_id;
    find::<clinician::Entity, _>(
        db,
        clinician::Column::TenantId,
        clinician::Column::Id,
        tenant,
        id,
        "clinician",
    )
    .await
}

/// The viewer's own organisation (tenant); any other id is NOT_FOUND.
pub async fn own_tenant(ctx: &RequestContext, id: Uuid) -> ServiceResult<tenant::Model> {
    if ctx.viewer()?.tenant_id != id {
        return Err(ServiceError::NotFound("organization"));
    }
    tenant::Entity::find_by_id(id)
        .one(ctx.db())
        .await?
        .ok_or(ServiceError::NotFound("organization"))
}
