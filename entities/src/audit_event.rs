//! `audit_events`: An append-only audit record, hashed on append and sealed into its
//! chain's batches (`audit_seals`) after it commits; ordered by `seq`.

use sea_orm::entity::prelude::*;

use crate::enums::AuditOutcome;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub subject: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub roles: String,
    pub proxy_for: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub action: String,
    #[sea_orm(column_type = "Text")]
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub request_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub client_addr: Option<String>,
    pub outcome: AuditOutcome,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    pub occurred_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub prev_hash: String,
    #[sea_orm(column_type = "Text")]
    pub hash: String,
    /// The batch of its chain that sealed the row; `None` until a sealer links it.
    pub sealed_batch: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
