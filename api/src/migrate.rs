//! Schema migrations: the api crate owns start-up, so it is the one that applies them.

use portal_migrations::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbErr};

/// Applies every pending migration.
pub async fn apply(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// How many migrations the database has not applied yet. Read-only (never creates the
/// migrations table), so the application's role needs no DDL privilege for `/ready`.
pub async fn pending(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.len())
}
