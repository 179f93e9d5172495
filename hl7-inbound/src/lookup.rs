//! Master data the messages name: facilities by CLIA number or alias identifier, clinicians
//! by NPI (no patient data here; patients are found through `portal_services::patients`).

use portal_core::RequestContext;
use portal_core::error::ServiceResult;
use portal_entities::{TestCategory, clinician, facility};
use portal_hl7::messages::Hd;
use portal_services::directory::identifiers::{self, FacilityIdentifier};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// The CLIA number of an HD (`Name^05D2101234^CLIA`), if it carries one.
pub fn clia(hd: Option<&Hd>) -> Option<&str> {
    let hd = hd?;
    (hd.universal_id_type.as_deref() == Some("CLIA"))
        .then_some(hd.universal_id.as_deref())
        .flatten()
}

/// The values an HD may be known by, as `PORTAL_MLLP_SENDERS` keys: its universal id (a
/// CLIA number, an OID, a DNS name), then its namespace id.
pub fn identifiers(hd: Option<&Hd>) -> impl Iterator<Item = &str> {
    hd.into_iter()
        .flat_map(|hd| [hd.universal_id.as_deref(), hd.namespace.as_deref()])
        .flatten()
}

/// The tenant's facility an HD names (MSH-4, OBX-23): by CLIA number or by any of its alias
/// identifiers (`portal_services::directory::identifiers`).
pub async fn sender(
    ctx: &RequestContext,
    tenant: Uuid,
    hd: Option<&Hd>,
) -> ServiceResult<Option<facility::Model>> {
    let Some(hd) = hd else {
        return Ok(None);
    };
    let named = FacilityIdentifier {
        namespace_id: hd.namespace.clone(),
        universal_id: hd.universal_id.clone(),
        universal_id_type: hd.universal_id_type.clone(),
    };
    let found = identifiers::facility_named(ctx.db(), tenant, &named).await?;
    if let Some(facility) = &found {
        ctx.prefetch().put_facility(facility.id);
    }
    Ok(found)
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

/// The category of the tenant's catalog test with this code, if the code is known (the
/// test is kept for the result the message writes next).
pub async fn test_category(
    ctx: &RequestContext,
    tenant: Uuid,
    code: &str,
) -> ServiceResult<Option<TestCategory>> {
    portal_services::ingest::catalog_category(ctx, tenant, code).await
}
