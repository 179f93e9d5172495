//! The audit chains: one per tenant and one for the rows without a tenant (login failures,
//! system jobs). How a chain's transaction is opened, and the hashes that link its batches.

use sea_orm::sea_query::SimpleExpr;
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, IsolationLevel, QueryFilter, QuerySelect, Statement,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use portal_entities::{audit_event, audit_seal, tenant};

/// The hash the first batch of every chain links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One hash chain of the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chain {
    Tenant(Uuid),
    /// The rows without a tenant (rejected tokens, system jobs).
    Untenanted,
}

impl Chain {
    pub fn of(tenant: Option<Uuid>) -> Self {
        tenant.map_or(Self::Untenanted, Self::Tenant)
    }

    pub fn tenant(&self) -> Option<Uuid> {
        match self {
            Self::Tenant(t) => Some(*t),
            Self::Untenanted => None,
        }
    }

    /// How reports and logs name the chain (a tenant id is not PHI).
    pub fn label(&self) -> String {
        match self {
            Self::Tenant(t) => t.to_string(),
            Self::Untenanted => "untenanted".to_owned(),
        }
    }

    /// The chain's rows of `audit_events`.
    pub(crate) fn rows(&self) -> SimpleExpr {
        match self {
            Self::Tenant(t) => audit_event::Column::TenantId.eq(*t),
            Self::Untenanted => audit_event::Column::TenantId.is_null(),
        }
    }

    /// The chain's rows of `audit_seals`.
    pub(crate) fn seals(&self) -> SimpleExpr {
        match self {
            Self::Tenant(t) => audit_seal::Column::TenantId.eq(*t),
            Self::Untenanted => audit_seal::Column::TenantId.is_null(),
        }
    }

    /// Begins a transaction that sees the chain. PostgreSQL: bound to the chain's tenant
    /// (row-level security), and for the untenanted chain with `app.audit_chain` set, which
    /// its policies ask for; `snapshot` makes it one read-only REPEATABLE READ snapshot (a
    /// verification that pages through the chain sees one state of it). SQLite: a write
    /// transaction unless `snapshot` (the write lock serialises sealers).
    pub(crate) async fn begin(
        &self,
        db: &DatabaseConnection,
        snapshot: bool,
    ) -> Result<DatabaseTransaction, DbErr> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return if snapshot {
                db.begin().await
            } else {
                crate::db::begin_write(db).await
            };
        }
        let txn = if snapshot {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        } else {
            db.begin().await?
        };
        let tenant = self.tenant().map(|t| t.to_string()).unwrap_or_default();
        let chain = if self.tenant().is_some() {
            ""
        } else {
            "untenanted"
        };
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true), set_config('app.audit_chain', $2, true)",
            [tenant.into(), chain.into()],
        ))
        .await?;
        Ok(txn)
    }
}

/// Every chain there may be rows of: each tenant, the tenants of rows and seals the
/// connection can see (the owner sees all), and the untenanted chain.
pub async fn chains<C: ConnectionTrait>(db: &C) -> Result<Vec<Chain>, DbErr> {
    let mut tenants: Vec<Uuid> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let sealed: Vec<Option<Uuid>> = audit_seal::Entity::find()
        .select_only()
        .column(audit_seal::Column::TenantId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let unsealed: Vec<Option<Uuid>> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::TenantId)
        .filter(audit_event::Column::SealedBatch.is_null())
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    tenants.extend(sealed.into_iter().chain(unsealed).flatten());
    tenants.sort();
    tenants.dedup();
    let mut chains: Vec<Chain> = tenants.into_iter().map(Chain::Tenant).collect();
    chains.push(Chain::Untenanted);
    Ok(chains)
}

/// SHA-256 over a batch's (seq, row hash) pairs in `seq` order: a row edited, dropped,
/// added, renumbered or moved changes it.
pub fn rows_hash<'a>(rows: impl IntoIterator<Item = (i64, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    for (seq, hash) in rows {
        hasher.update(seq.to_be_bytes());
        hasher.update((hash.len() as u64).to_be_bytes());
        hasher.update(hash.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// What a seal's hash covers, besides the previous seal's hash.
pub struct SealFields<'a> {
    pub chain: Chain,
    pub batch: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub row_count: i64,
    pub rows_hash: &'a str,
    pub prev_hash: &'a str,
}

/// SHA-256 over the previous seal's hash and the batch's fields, each length-prefixed.
pub fn seal_hash(seal: &SealFields<'_>) -> String {
    let fields = [
        seal.prev_hash.to_owned(),
        seal.chain.label(),
        seal.batch.to_string(),
        seal.first_seq.to_string(),
        seal.last_seq.to_string(),
        seal.row_count.to_string(),
        seal.rows_hash.to_owned(),
    ];
    let mut hasher = Sha256::new();
    for field in &fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// PostgreSQL advisory lock class of the sealers ("aud\0"); the key is the chain's.
pub(crate) const SEAL_LOCK_CLASS: i32 = 0x6175_6400;

impl Chain {
    /// The chain's advisory lock key: the tenant id folded to 32 bits (0 for untenanted).
    pub(crate) fn lock_key(&self) -> i32 {
        self.tenant().map_or(0, crate::db::fold_key)
    }
}
