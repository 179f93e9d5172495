//! The demo hospital the embedded default starts with, kept as data (`data/riverside.json`)
//! and written once by a short seeder. Used only by the `portal` binary and its tests.

mod data;
mod seeder;

use portal_core::clock::now;
use portal_core::db::{TenantDb, begin_write};
pub(crate) use portal_services::ingest::interpretation::interpret;

use portal_entities::tenant;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// Why the demo could not be seeded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the embedded demo data does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("the embedded demo data is inconsistent: {0}")]
    Invalid(String),
    #[error("database error while seeding the demo: {0}")]
    Database(#[from] DbErr),
}

/// Seeds the demo tenant once; returns its id and whether it was created now. A tenant with
/// the demo's slug means it is already there, and nothing is added.
pub async fn seed(db: &DatabaseConnection) -> Result<(Uuid, bool), DemoError> {
    let demo = data::riverside()?;
    if let Some(existing) = tenant_by_slug(db, &demo.tenant.slug).await? {
        return Ok((existing, false));
    }
    // The new tenant's rows are written in a transaction bound to it (row-level security).
    let tenant_id = Uuid::now_v7();
    let scoped = TenantDb::scoped(db.clone(), Some(tenant_id));
    let txn = begin_write(&scoped).await?;
    seeder::Seeder::new(&txn, &demo, now(), tenant_id)
        .run()
        .await?;
    txn.commit().await?;
    Ok((tenant_id, true))
}

async fn tenant_by_slug(db: &DatabaseConnection, slug: &str) -> Result<Option<Uuid>, DbErr> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?
        .map(|t| t.id))
}
