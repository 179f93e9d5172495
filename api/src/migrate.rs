//! Schema migrations: the api crate owns start-up, so it is the one that applies them. On
//! PostgreSQL they run under a session advisory lock, so two `portal migrate` processes (two
//! migration Jobs, or a Job and an auto-migrating server) apply them one after the other.

use std::time::Duration;

use portal_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

/// The advisory lock key of migrations ("portmigr" as a big-endian i64); the job locks use
/// "portjob" and a number, sequencing the two-key class "seq\0", so none can collide.
pub const MIGRATION_LOCK_KEY: i64 = i64::from_be_bytes(*b"portmigr");

/// Applies every pending migration.
pub async fn apply(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Applies every pending migration over `db`, holding the migration lock on PostgreSQL. The
/// lock lives on a connection of its own (opened from `url`, the URL `db` was opened with),
/// so the migrator's pool stays free; it is released when that connection closes, also when
/// this process dies, so a killed Job never leaves it held.
pub async fn apply_locked(
    url: &str,
    db: &DatabaseConnection,
    timeout: Duration,
) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        // SQLite serialises writers with its own file lock.
        return Ok(apply(db).await?);
    }
    let lock = portal_core::db::connect(url, 1, timeout).await?;
    let locked = acquire(&lock).await;
    let applied = match locked {
        Ok(()) => apply(db).await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    // Closing the lock's only connection releases the session lock.
    let _ = lock.close().await;
    applied
}

/// Takes the lock, waiting (and saying so) while another process migrates.
async fn acquire(lock: &DatabaseConnection) -> anyhow::Result<()> {
    let try_lock = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_try_advisory_lock($1) AS locked",
        [MIGRATION_LOCK_KEY.into()],
    );
    let got = lock
        .query_one_raw(try_lock)
        .await?
        .map(|row| row.try_get::<bool>("", "locked"))
        .transpose()?
        .unwrap_or(false);
    if !got {
        tracing::info!("another process is migrating: waiting for the migration lock");
        lock.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_lock($1)",
            [MIGRATION_LOCK_KEY.into()],
        ))
        .await?;
    }
    Ok(())
}

/// How many migrations the database has not applied yet. Read-only (never creates the
/// migrations table), so the application's role needs no DDL privilege for `/ready`.
pub async fn pending(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.len())
}
