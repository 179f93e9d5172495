//! `portal import catalog FILE.csv`, `portal import patients FILE.csv` and `portal import
//! code-map FILE.csv --facility ID`: onboarding an organisation's master data from CSV,
//! through the same services as the mutations.
//!
//! Every row is parsed and checked first, and every bad row is reported with its line and
//! column; then the whole file is written in one transaction, so nothing of a file with a
//! bad row stays (a row the database refuses rolls everything back too). Rows that match
//! what is stored change nothing, so importing the same file twice is the same as once.

mod catalog;
mod cells;
mod code_map;
mod patients;

use std::io::Read;

use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::{Origin, RequestContext, Shape};
use portal_core::identity::{Role, Viewer};
use portal_core::policy::Access;
use portal_entities::tenant;
use portal_schema::cache::ReadCache;
use portal_services::ServiceError;
use portal_services::master::Change;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

pub use cells::RowError;

/// The subject imports are recorded under in the audit trail.
pub const IMPORT_SUBJECT: &str = "portal-import";

/// What a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Catalog,
    Patients,
    /// The code map of the facility with this CLIA number or alias identifier.
    CodeMap {
        facility: String,
    },
}

impl Kind {
    fn action(&self) -> Access {
        match self {
            Self::Catalog => Access::write("import.catalog", "Import"),
            Self::Patients => Access::write("import.patients", "Import"),
            Self::CodeMap { .. } => Access::write("import.codeMap", "Import"),
        }
    }
}

/// How many rows (patients, or catalog tests) each import created, changed or left alone.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl Imported {
    fn count(&mut self, change: Change) {
        match change {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged",
            self.created, self.updated, self.unchanged
        )
    }
}

/// Why a file was not imported; nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("no organisation with slug `{0}`")]
    UnknownTenant(String),
    #[error("{}", describe_rows(.0))]
    Rows(Vec<RowError>),
    #[error("{0}")]
    Refused(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("the import could not be recorded in the audit trail ({0}); it was not applied")]
    Unrecorded(String),
}

fn describe_rows(rows: &[RowError]) -> String {
    let lines: Vec<String> = rows.iter().map(ToString::to_string).collect();
    format!(
        "{} bad row(s), nothing imported:\n  {}",
        rows.len(),
        lines.join("\n  ")
    )
}

impl From<ServiceError> for ImportError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Internal(source) | ServiceError::Unavailable(source) => {
                Self::Database(source.to_string())
            }
            other => Self::Refused(other.to_string()),
        }
    }
}

/// The organisation with this slug.
pub async fn tenant_by_slug(db: &DatabaseConnection, slug: &str) -> Result<Uuid, ImportError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await
        .map_err(|e| ImportError::Database(e.to_string()))?
        .map(|t| t.id)
        .ok_or_else(|| ImportError::UnknownTenant(slug.to_owned()))
}

/// Imports one CSV file of `kind` into the tenant, as an admin of it named `portal-import`
/// in the audit trail; afterwards the tenant's cached answers are dropped.
pub async fn run(
    db: &DatabaseConnection,
    cache: &ReadCache,
    tenant_id: Uuid,
    kind: Kind,
    input: impl Read,
) -> Result<Imported, ImportError> {
    let viewer = Viewer {
        subject: IMPORT_SUBJECT.to_owned(),
        tenant_id,
        roles: vec![Role::Admin],
        patient_id: None,
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    let origin = Origin::new(Some(viewer), Uuid::now_v7().to_string(), None);
    let ctx = RequestContext::new(db, Shape::Statements, origin);
    let outcome = match &kind {
        Kind::Catalog => catalog::import(&ctx, input).await,
        Kind::Patients => patients::import(&ctx, input).await,
        Kind::CodeMap { facility } => code_map::import(&ctx, facility, input).await,
    };
    if let Err(err) = &outcome {
        // The rows' records describe writes that were rolled back: only the refusal stays.
        ctx.take_rows();
        let reason = match err {
            ImportError::Rows(rows) => format!("{} bad row(s)", rows.len()),
            _ => "refused".to_owned(),
        };
        ctx.record(AuditRecord::new(kind.action(), None, Outcome::Failed).reason(&reason));
    }
    let finished = ctx.finish().await;
    let imported = outcome?;
    finished.map_err(|why| ImportError::Unrecorded(why.cause))?;
    if let Err(err) = cache.invalidate_tenant(tenant_id).await {
        tracing::warn!(error = %err, "cached answers not dropped after the import; they expire within the cache TTL");
    }
    Ok(imported)
}
