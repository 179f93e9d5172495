//! The test catalog (master data): searchable by code or name, no patient data.

use portal_entities::test_catalog;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;

use crate::context::RequestContext;
use crate::error::{ServiceError, ServiceResult};
use crate::pagination::{Keyset, Page, PageRequest};

/// Catalog entries of the viewer's tenant matching `search` (code prefix or name substring).
#[instrument(skip(db, ctx, page), fields(request_id = %ctx.request_id))]
pub async fn search<C: ConnectionTrait>(
    db: &C,
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
    let after_key = page.after.as_ref().map(|c| c.key.clone().into());
    let keyset = Keyset {
        key: test_catalog::Column::Code,
        id: test_catalog::Column::Id,
        order: Order::Asc,
    };
    keyset.fetch(select, page, after_key, db).await
}
