//! Adding and dropping columns one statement at a time: SQLite takes one column per
//! `ALTER TABLE`, so the master-data migrations add theirs through these helpers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// Adds each column in its own `ALTER TABLE … ADD COLUMN`.
pub(crate) async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + Clone,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    for mut column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops each column in its own `ALTER TABLE … DROP COLUMN` (indexes on them go first).
pub(crate) async fn drop(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + Clone,
    columns: Vec<DynIden>,
) -> Result<(), DbErr> {
    for column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Runs the statement written for the connected backend (expression indexes differ).
pub(crate) async fn execute_for(
    manager: &SchemaManager<'_>,
    postgres: &str,
    sqlite: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let sql = match db.get_database_backend() {
        DatabaseBackend::Postgres => postgres,
        _ => sqlite,
    };
    db.execute_unprepared(sql).await.map(|_| ())
}
