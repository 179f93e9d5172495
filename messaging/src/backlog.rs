//! Cheap aggregate counts for `/metrics`: the outbox backlog and notifications by status.
//! Both read only indexed columns and return counts, never rows (no PHI leaves here). Under
//! row-level security (PostgreSQL) they count tenant by tenant and add up.

use chrono::{DateTime, Utc};
use portal_entities::enums::NotificationStatus;
use portal_entities::outbox_event;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect,
};

use crate::delivery::Notifications;
use crate::queue;
use portal_core::error::ServiceResult;

/// Events not yet published to the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub unpublished: i64,
    pub oldest_created_at: Option<DateTime<Utc>>,
}

/// How many events wait in the outbox and since when (one query over
/// `idx_outbox_events_published_at_created_at`).
pub async fn outbox(db: &DatabaseConnection) -> ServiceResult<OutboxBacklog> {
    let mut total = OutboxBacklog {
        unpublished: 0,
        oldest_created_at: None,
    };
    for scope in portal_core::db::tenant_scopes(db).await? {
        let part = outbox_of(&scope).await?;
        total.unpublished += part.unpublished;
        total.oldest_created_at = match (total.oldest_created_at, part.oldest_created_at) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
    }
    Ok(total)
}

async fn outbox_of<C: ConnectionTrait>(db: &C) -> ServiceResult<OutboxBacklog> {
    let row = outbox_event::Entity::find()
        .select_only()
        .column_as(Expr::col(outbox_event::Column::Id).count(), "unpublished")
        .column_as(Expr::col(outbox_event::Column::CreatedAt).min(), "oldest")
        .filter(outbox_event::Column::PublishedAt.is_null())
        .into_tuple::<(i64, Option<DateTime<Utc>>)>()
        .one(db)
        .await?;
    let (unpublished, oldest_created_at) = row.unwrap_or((0, None));
    Ok(OutboxBacklog {
        unpublished,
        oldest_created_at,
    })
}

/// Notifications per status (one query per tenant over
/// `idx_notifications_status_next_attempt_at`).
pub async fn notifications_by_status(
    db: &DatabaseConnection,
) -> ServiceResult<Vec<(NotificationStatus, i64)>> {
    queue::by_status::<Notifications>(db).await
}
