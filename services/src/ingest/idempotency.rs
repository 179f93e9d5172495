//! Idempotency keys: a retried call with the same key returns the first outcome; the same
//! key with a different request is a CONFLICT.

use portal_entities::idempotency_key;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use portal_core::error::{ServiceError, ServiceResult};

/// SHA-256 of the request's canonical JSON (without the key itself).
pub(super) fn request_hash<T: Serialize>(request: &T) -> ServiceResult<String> {
    let bytes = serde_json::to_vec(request).map_err(|e| ServiceError::Internal(Box::new(e)))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// The result id stored under `key` for an identical earlier request, if any.
pub(super) async fn earlier<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    operation: &str,
    key: &str,
    hash: &str,
) -> ServiceResult<Option<Uuid>> {
    let Some(row) = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::TenantId.eq(tenant))
        .filter(idempotency_key::Column::Operation.eq(operation))
        .filter(idempotency_key::Column::Key.eq(key))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.request_hash != hash {
        return Err(ServiceError::Conflict(
            "this idempotencyKey was already used with a different request".into(),
        ));
    }
    let id = row
        .response
        .get("resultId")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| ServiceError::internal("idempotency record without a result id"))?;
    Ok(Some(id))
}

/// The row that remembers `key` for the result stored now (inserted with the result).
pub(super) fn row(
    tenant: Uuid,
    operation: &str,
    key: &str,
    hash: &str,
    result_id: Uuid,
) -> idempotency_key::ActiveModel {
    idempotency_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant),
        key: Set(key.to_owned()),
        operation: Set(operation.to_owned()),
        request_hash: Set(hash.to_owned()),
        response: Set(serde_json::json!({ "resultId": result_id })),
        created_at: Set(portal_core::clock::now()),
    }
}
