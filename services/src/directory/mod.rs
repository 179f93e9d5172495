//! The organisation's directory (master data, no patient data): listing its facilities and
//! clinicians here, for the staff screens that keep them and for choosing where and with
//! whom to book; keeping them in `admin`.

pub mod admin;
pub mod authorities;
pub mod code_map;
pub mod identifiers;

use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest};
use portal_entities::{clinician, facility};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;

const MAX_SEARCH: usize = 100;

/// `%term%` for a case-insensitive LIKE, its wildcards taken literally.
fn contains(search: Option<&str>) -> ServiceResult<Option<LikeExpr>> {
    let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if term.chars().count() > MAX_SEARCH {
        return Err(ServiceError::bad_input(
            "search",
            format!("search must be at most {MAX_SEARCH} characters"),
        ));
    }
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Ok(Some(LikeExpr::new(format!("%{escaped}%")).escape('\\')))
}

/// The organisation's facilities whose name contains `search`, by name.
#[instrument(skip(ctx, page), fields(request_id = %ctx.request_id))]
pub async fn facilities(
    ctx: &RequestContext,
    search: Option<&str>,
    page: &PageRequest,
) -> ServiceResult<Page<facility::Model>> {
    let viewer = ctx.viewer()?;
    let mut select =
        facility::Entity::find().filter(facility::Column::TenantId.eq(viewer.tenant_id));
    if let Some(like) = contains(search)? {
        select =
            select.filter(Expr::expr(Func::lower(Expr::col(facility::Column::Name))).like(like));
    }
    let keyset = Keyset {
        key: facility::Column::Name,
        id: facility::Column::Id,
        kind: KeyKind::Text,
        order: Order::Asc,
    };
    keyset.fetch(select, page, ctx.db()).await
}

/// The organisation's clinicians whose display name contains `search` or whose NPI is
/// `search`, by display name.
#[instrument(skip(ctx, page), fields(request_id = %ctx.request_id))]
pub async fn clinicians(
    ctx: &RequestContext,
    search: Option<&str>,
    page: &PageRequest,
) -> ServiceResult<Page<clinician::Model>> {
    let viewer = ctx.viewer()?;
    let mut select =
        clinician::Entity::find().filter(clinician::Column::TenantId.eq(viewer.tenant_id));
    if let Some(like) = contains(search)? {
        let npi = search.map(str::trim).unwrap_or_default().to_owned();
        select = select.filter(
            sea_orm::Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(clinician::Column::DisplayName))).like(like))
                .add(clinician::Column::Npi.eq(npi)),
        );
    }
    let keyset = Keyset {
        key: clinician::Column::DisplayName,
        id: clinician::Column::Id,
        kind: KeyKind::Text,
        order: Order::Asc,
    };
    keyset.fetch(select, page, ctx.db()).await
}
