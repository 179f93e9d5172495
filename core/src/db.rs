//! Database connections for SQLite (embedded) and PostgreSQL (production), and the
//! tenant-bound handle every request runs on.

use std::time::Duration;

use portal_entities::tenant;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, QuerySelect, Statement, TransactionTrait,
};
use uuid::Uuid;

pub use crate::tenant_db::{TenantDb, bind};

/// Opens a pool. Acquiring a connection gives up after `acquire_timeout`, so a stopped
/// database turns into a quick UNAVAILABLE instead of a hanging request.
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(acquire_timeout)
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite && !url.contains("mode=memory") {
        // Readers never block the writer; the setting persists in the database file.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Begins a transaction that will write. On SQLite it takes the write lock first: a
/// transaction that reads and only later writes fails at once ("database is locked",
/// SQLITE_BUSY_SNAPSHOT) when another connection committed in between, whereas waiting for
/// the lock up front honours the busy timeout. On PostgreSQL the tenant comes from the
/// handle: a `TenantDb` binds `app.tenant_id` as the transaction's first statement (row-level
/// security); over a plain pool no tenant is set and no tenant rows are visible.
pub async fn begin_write<C>(db: &C) -> Result<C::Transaction, DbErr>
where
    C: TransactionTrait,
    C::Transaction: ConnectionTrait,
{
    let txn = db.begin().await?;
    if txn.get_database_backend() == DatabaseBackend::Sqlite {
        // A write statement that matches no row still takes the lock.
        txn.execute_unprepared("UPDATE tenants SET slug = slug WHERE 0")
            .await?;
    }
    Ok(txn)
}

/// One handle per tenant for work that spans tenants (relay, delivery, metrics, replay): on
/// PostgreSQL each tenant's rows are reachable only through a handle bound to it, so the
/// work runs tenant by tenant (`tenants` itself is not under row-level security). On SQLite,
/// the pool once.
pub async fn tenant_scopes(pool: &DatabaseConnection) -> Result<Vec<TenantDb>, DbErr> {
    if pool.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(vec![TenantDb::unbound(pool.clone())]);
    }
    let ids: Vec<Uuid> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple()
        .all(pool)
        .await?;
    Ok(ids
        .into_iter()
        .map(|id| TenantDb::scoped(pool.clone(), Some(id)))
        .collect())
}

/// What the connected PostgreSQL role may do that defeats row-level security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCheck {
    pub role: String,
    pub superuser: bool,
    pub bypass_rls: bool,
}

impl RoleCheck {
    /// Superusers and `BYPASSRLS` roles are not subject to the tenant policies.
    pub fn bypasses_rls(&self) -> bool {
        self.superuser || self.bypass_rls
    }
}

/// The connected role's attributes (PostgreSQL); `None` on SQLite, which has no roles.
pub async fn role_check(db: &DatabaseConnection) -> Result<Option<RoleCheck>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the connected role is not in pg_roles".into()))?;
    Ok(Some(RoleCheck {
        role: row.try_get("", "rolname")?,
        superuser: row.try_get("", "rolsuper")?,
        bypass_rls: row.try_get("", "rolbypassrls")?,
    }))
}

/// A tenant id folded to 32 bits: the key of a per-tenant PostgreSQL advisory lock (two
/// tenants whose keys collide merely wait for each other).
pub fn fold_key(tenant: Uuid) -> i32 {
    let folded = tenant
        .as_u128()
        .to_le_bytes()
        .chunks_exact(4)
        .fold(0u32, |acc, c| {
            acc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]])
        });
    i32::from_ne_bytes(folded.to_ne_bytes())
}
