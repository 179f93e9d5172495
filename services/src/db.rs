//! Database connections and migrations for SQLite (embedded) and PostgreSQL (production).

use std::time::Duration;

use portal_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    TransactionTrait,
};

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

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// How many migrations the database has not applied yet.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.len())
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Begins a transaction that will write. On SQLite it takes the write lock first: a
/// transaction that reads and only later writes fails at once ("database is locked",
/// SQLITE_BUSY_SNAPSHOT) when another connection committed in between, whereas waiting for
/// the lock up front honours the busy timeout. PostgreSQL needs nothing extra.
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
