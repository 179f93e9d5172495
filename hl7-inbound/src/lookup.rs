//! Master data the messages name: facilities by CLIA number, clinicians by NPI (no patient
//! data here; patients are found through `portal_services::patients`).

use portal_core::RequestContext;
use portal_core::error::ServiceResult;
use portal_entities::{TestCategory, clinician, facility, test_catalog};
use portal_hl7::messages::Hd;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// The CLIA number of an HD (`Name^05D2101234^CLIA`), if it carries one.
pub fn clia(hd: Option<&Hd>) -> Option<&str> {
    let hd = hd?;
    (hd.universal_id_type.as_deref() == Some("CLIA"))
        .then_some(hd.universal_id.as_deref())
        .flatten()
}

/// The tenant's facility with this CLIA number.
pub async fn facility_by_clia(
    ctx: &RequestContext,
    tenant: Uuid,
    clia: &str,
) -> ServiceResult<Option<facility::Model>> {
    Ok(facility::Entity::find()
        .filter(facility::Column::TenantId.eq(tenant))
        .filter(facility::Column::CliaNumber.eq(clia.to_owned()))
        .one(ctx.db())
        .await?)
}

/// The tenant's clinician with this NPI.
pub async fn clinician_by_npi(
    ctx: &RequestContext,
    tenant: Uuid,
    npi: &str,
) -> ServiceResult<Option<clinician::Model>> {
    Ok(clinician::Entity::find()
        .filter(clinician::Column::TenantId.eq(tenant))
        .filter(clinician::Column::Npi.eq(npi.to_owned()))
        .one(ctx.db())
        .await?)
}

/// The category of the tenant's catalog test with this code, if the code is known.
pub async fn test_category(
    ctx: &RequestContext,
    tenant: Uuid,
    code: &str,
) -> ServiceResult<Option<TestCategory>> {
    Ok(test_catalog::Entity::find()
        .filter(test_catalog::Column::TenantId.eq(tenant))
        .filter(test_catalog::Column::Code.eq(code.to_owned()))
        .one(ctx.db())
        .await?
        .map(|t| t.category))
}
