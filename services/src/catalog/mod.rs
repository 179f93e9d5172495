//! The test catalog (master data, no patient data): searching it by code or name here,
//! keeping it in `admin`.

pub mod admin;

use portal_entities::test_catalog;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter};
use tracing::instrument;

use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest};

/// Catalog entries of the viewer's tenant matching `search` (code prefix or name substring).
#[instrument(skip(ctx, page), fields(request_id = %ctx.request_id))]
pub async fn search(
    ctx: &RequestContext,
    search: Option<&str>,
    page: &PageRequest,
) -> ServiceResult<Page<test_catalog::Model>> {
    let viewer = ctx.viewer()?;
    let mut select =
        test_catalog::Entity::find().filter(test_catalog::Column::TenantId.eq(viewer.tenant_id));
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        if term.len() > 100 {
            return Err(ServiceError::bad_input(
                "search",
                "search must be at most 100 characters",
            ));
        }
        let escaped = term
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        select = select.filter(
            Condition::any()
                .add(test_catalog::Column::Code.starts_with(term))
                .add(
                    Expr::expr(Func::lower(Expr::col(test_catalog::Column::DisplayName))).like(
                        sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\'),
                    ),
                ),
        );
    }
    let keyset = Keyset {
        key: test_catalog::Column::Code,
        id: test_catalog::Column::Id,
        kind: KeyKind::Text,
        order: Order::Asc,
    };
    keyset.fetch(select, page, ctx.db()).await
}
