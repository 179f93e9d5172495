//! The audit trail sealed in batches, per chain, off the request path (docs/audit.md).
//!
//! - `audit_events.sealed_batch`: the batch of its chain that sealed the row (NULL until a
//!   sealer links it). A chain is one tenant's rows, or the rows without a tenant.
//! - `audit_seals`: one row per batch: the digest over its rows' hashes and the previous
//!   batch's hash, so each chain is a hash chain of batches.
//! - Both tables are append-only for everybody short of dropping the guards: a trigger
//!   ignores every UPDATE of `audit_events` except setting `sealed_batch` once, every
//!   UPDATE of `audit_seals` and every DELETE of either.
//! - PostgreSQL: `audit_seals` has the tenant policy of every tenant table; the rows and
//!   seals without a tenant are visible (and the rows sealable) only to a transaction that
//!   sets `app.audit_chain = 'untenanted'`, which only the sealer and the verifier do; the
//!   application may set `sealed_batch` on rows it sees (policy `tenant_seal`).
//! - `audit_chain_head` (the lock every append used to take) is dropped.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    SealedBatch,
}

#[derive(DeriveIden)]
enum AuditSeals {
    Table,
    Id,
    TenantId,
    Batch,
    FirstSeq,
    LastSeq,
    RowCount,
    RowsHash,
    PrevHash,
    Hash,
    SealedAt,
}

/// Every column of `audit_events` but `sealed_batch`: what the guard keeps unchanged.
const ROW_COLUMNS: [&str; 17] = [
    "seq",
    "id",
    "tenant_id",
    "subject",
    "roles",
    "proxy_for",
    "action",
    "entity_type",
    "entity_id",
    "patient_id",
    "request_id",
    "client_addr",
    "outcome",
    "reason",
    "occurred_at",
    "prev_hash",
    "hash",
];

const CURRENT_TENANT: &str = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";
const UNTENANTED: &str =
    "tenant_id IS NULL AND current_setting('app.audit_chain', true) = 'untenanted'";

fn postgres_up() -> Vec<String> {
    let old = ROW_COLUMNS
        .iter()
        .map(|c| format!("OLD.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let new = old.replace("OLD.", "NEW.");
    vec![
        "DROP TABLE IF EXISTS audit_chain_head".to_owned(),
        format!(
            "CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF TG_OP = 'UPDATE' AND OLD.sealed_batch IS NULL AND NEW.sealed_batch IS NOT NULL \
                AND ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN RETURN NEW; END IF; \
             RETURN NULL; END $$"
        ),
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events \
         FOR EACH ROW EXECUTE FUNCTION audit_events_guard()"
            .to_owned(),
        "CREATE FUNCTION audit_seals_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         RETURN NULL; END $$"
            .to_owned(),
        "CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals \
         FOR EACH ROW EXECUTE FUNCTION audit_seals_guard()"
            .to_owned(),
        "ALTER TABLE audit_seals ENABLE ROW LEVEL SECURITY".to_owned(),
        "ALTER TABLE audit_seals FORCE ROW LEVEL SECURITY".to_owned(),
        format!(
            "CREATE POLICY tenant_isolation ON audit_seals USING (tenant_id = {CURRENT_TENANT}) \
             WITH CHECK (tenant_id = {CURRENT_TENANT})"
        ),
        format!(
            "CREATE POLICY untenanted_chain ON audit_seals USING ({UNTENANTED}) WITH CHECK ({UNTENANTED})"
        ),
        format!("CREATE POLICY untenanted_read ON audit_events FOR SELECT USING ({UNTENANTED})"),
        format!(
            "CREATE POLICY tenant_seal ON audit_events FOR UPDATE \
             USING (tenant_id = {CURRENT_TENANT} OR ({UNTENANTED})) \
             WITH CHECK (tenant_id = {CURRENT_TENANT} OR ({UNTENANTED}))"
        ),
    ]
}

fn postgres_down() -> Vec<String> {
    vec![
        "DROP POLICY IF EXISTS tenant_seal ON audit_events".to_owned(),
        "DROP POLICY IF EXISTS untenanted_read ON audit_events".to_owned(),
        "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events".to_owned(),
        "DROP TRIGGER IF EXISTS audit_seals_append_only ON audit_seals".to_owned(),
        "DROP FUNCTION IF EXISTS audit_events_guard()".to_owned(),
        "DROP FUNCTION IF EXISTS audit_seals_guard()".to_owned(),
    ]
}

fn sqlite_up() -> Vec<String> {
    let unchanged = ROW_COLUMNS
        .iter()
        .map(|c| format!("NEW.{c} IS OLD.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    vec![
        "DROP TABLE IF EXISTS audit_chain_head".to_owned(),
        format!(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events \
             WHEN NOT (OLD.sealed_batch IS NULL AND NEW.sealed_batch IS NOT NULL AND {unchanged}) \
             BEGIN SELECT RAISE(IGNORE); END"
        ),
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
         BEGIN SELECT RAISE(IGNORE); END"
            .to_owned(),
        "CREATE TRIGGER audit_seals_append_only BEFORE UPDATE ON audit_seals \
         BEGIN SELECT RAISE(IGNORE); END"
            .to_owned(),
        "CREATE TRIGGER audit_seals_no_delete BEFORE DELETE ON audit_seals \
         BEGIN SELECT RAISE(IGNORE); END"
            .to_owned(),
    ]
}

fn sqlite_down() -> Vec<String> {
    ["audit_events_append_only", "audit_events_no_delete"]
        .iter()
        .map(|t| format!("DROP TRIGGER IF EXISTS {t}"))
        .collect()
}

/// The chain head the previous scheme needs back on `down`, at the newest row's hash.
const RESTORE_HEAD: [&str; 2] = [
    "CREATE TABLE audit_chain_head (id smallint PRIMARY KEY, last_hash text NOT NULL)",
    "INSERT INTO audit_chain_head (id, last_hash) \
     SELECT 1, COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), \
     '0000000000000000000000000000000000000000000000000000000000000000')",
];

async fn run(manager: &SchemaManager<'_>, statements: Vec<String>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(
                        ColumnDef::new(AuditEvents::SealedBatch)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditSeals::Table)
                    .col(
                        ColumnDef::new(AuditSeals::Id)
                            .big_integer()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditSeals::TenantId).uuid().null())
                    .col(ColumnDef::new(AuditSeals::Batch).big_integer().not_null())
                    .col(
                        ColumnDef::new(AuditSeals::FirstSeq)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditSeals::LastSeq).big_integer().not_null())
                    .col(
                        ColumnDef::new(AuditSeals::RowCount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditSeals::RowsHash).text().not_null())
                    .col(ColumnDef::new(AuditSeals::PrevHash).text().not_null())
                    .col(ColumnDef::new(AuditSeals::Hash).text().not_null())
                    .col(
                        ColumnDef::new(AuditSeals::SealedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Unsealed rows of a chain, oldest first (the sealer's scan); a batch's rows in order
        // (the verifier's); a chain's batches in order.
        db.execute_unprepared(
            "CREATE INDEX idx_audit_events_unsealed ON audit_events (tenant_id, seq) \
             WHERE sealed_batch IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_audit_events_tenant_id_sealed_batch_seq \
             ON audit_events (tenant_id, sealed_batch, seq)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_audit_seals_tenant_id_batch ON audit_seals (tenant_id, batch)",
        )
        .await?;
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, postgres_up()).await,
            _ => run(manager, sqlite_up()).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, postgres_down()).await?,
            _ => run(manager, sqlite_down()).await?,
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_audit_events_unsealed")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_audit_events_tenant_id_sealed_batch_seq")
            .await?;
        manager
            .drop_table(Table::drop().table(AuditSeals::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::SealedBatch)
                    .to_owned(),
            )
            .await?;
        run(
            manager,
            RESTORE_HEAD.iter().map(|s| (*s).to_owned()).collect(),
        )
        .await
    }
}
