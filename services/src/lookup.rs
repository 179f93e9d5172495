//! Batched lookups by key within one tenant: what the GraphQL DataLoaders call.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use portal_core::error::ServiceResult;

/// All rows of `E` in `tenant_id` whose `key` column is one of `keys`.
pub async fn by_keys<E, C>(
    db: &C,
    tenant_column: E::Column,
    tenant_id: Uuid,
    key: E::Column,
    keys: &[Uuid],
) -> ServiceResult<Vec<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(E::find()
        .filter(tenant_column.eq(tenant_id))
        .filter(key.is_in(keys.iter().copied()))
        .all(db)
        .await?)
}
