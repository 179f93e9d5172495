//! PostgreSQL row-level security on every tenant-owned table (a no-op on SQLite).
//!
//! Each table gets `ENABLE` + `FORCE ROW LEVEL SECURITY` (so the owner is subject to it too;
//! only superusers and `BYPASSRLS` roles are not) and a policy that admits the rows of the
//! tenant set for the transaction in `app.tenant_id`. Unset or empty means no rows at all.
//! Exceptions, each with its reason:
//! - `audit_events` is append-only for the application: it reads its own tenant's rows and
//!   may insert rows of its tenant or without a tenant (rejected tokens); no UPDATE/DELETE.
//! - `result_links` also admits the one row whose `token_hash` is set in
//!   `app.result_link_token_hash`: an unauthenticated walk-in holds only the link's secret.
//!
//! `tenants`, `audit_chain_head` and `seaql_migrations` hold no patient data and stay open.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every table with a `tenant_id` column except `audit_events` (which has its own policies).
const TENANT_TABLES: [&str; 20] = [
    "appointments",
    "catalog_analytes",
    "claims",
    "clinicians",
    "coverages",
    "facilities",
    "idempotency_keys",
    "imaging_reports",
    "notification_preferences",
    "notifications",
    "observations",
    "outbox_events",
    "patients",
    "proxy_grants",
    "push_tokens",
    "result_links",
    "result_views",
    "test_catalog",
    "test_orders",
    "test_results",
];

/// The transaction's tenant; NULL when unset or empty, which matches no row.
const CURRENT_TENANT: &str = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";

fn tenant_policy(table: &str) -> String {
    let mut using = format!("tenant_id = {CURRENT_TENANT}");
    if table == "result_links" {
        using.push_str(
            " OR token_hash = NULLIF(current_setting('app.result_link_token_hash', true), '')",
        );
    }
    format!(
        "CREATE POLICY tenant_isolation ON {table} USING ({using}) \
         WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
}

fn up_statements() -> Vec<String> {
    let mut sql = Vec::new();
    for table in TENANT_TABLES.iter().chain(["audit_events"].iter()) {
        sql.push(format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"));
        sql.push(format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"));
    }
    for table in TENANT_TABLES {
        sql.push(tenant_policy(table));
    }
    sql.push(format!(
        "CREATE POLICY tenant_read ON audit_events FOR SELECT USING (tenant_id = {CURRENT_TENANT})"
    ));
    sql.push(format!(
        "CREATE POLICY tenant_append ON audit_events FOR INSERT \
         WITH CHECK (tenant_id IS NULL OR tenant_id = {CURRENT_TENANT})"
    ));
    sql
}

fn down_statements() -> Vec<String> {
    let mut sql = vec![
        "DROP POLICY IF EXISTS tenant_read ON audit_events".to_owned(),
        "DROP POLICY IF EXISTS tenant_append ON audit_events".to_owned(),
    ];
    for table in TENANT_TABLES {
        sql.push(format!("DROP POLICY IF EXISTS tenant_isolation ON {table}"));
    }
    for table in TENANT_TABLES.iter().chain(["audit_events"].iter()) {
        sql.push(format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"));
        sql.push(format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"));
    }
    sql
}

async fn run(manager: &SchemaManager<'_>, statements: Vec<String>) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, up_statements()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, down_statements()).await
    }
}
