//! `audit_seals`: one sealed batch of an audit chain (a tenant's rows, or the rows without a
//! tenant): the digest over its rows' hashes, linked to the chain's previous batch.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_seals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The chain: the tenant, or `None` for the rows without a tenant.
    pub tenant_id: Option<Uuid>,
    /// 1, 2, 3 … within the chain.
    pub batch: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub row_count: i64,
    /// SHA-256 over the batch's (seq, row hash) pairs in `seq` order.
    #[sea_orm(column_type = "Text")]
    pub rows_hash: String,
    /// The previous batch's `hash` (the genesis hash for batch 1).
    #[sea_orm(column_type = "Text")]
    pub prev_hash: String,
    #[sea_orm(column_type = "Text")]
    pub hash: String,
    pub sealed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
