//! The `TestApp`: a fresh database (SQLite file or a database on the throwaway PostgreSQL
//! cluster), migrated, with the very state and schema the server runs, plus fixtures.

pub mod binary;
pub mod fixtures;
pub mod notifications;
pub mod ws;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use portal_api::auth::{Role, Viewer};
use portal_api::{AppState, Config};
use portal_core::context::Origin;
use portal_entities::audit_event;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::Value;
use tempfile::TempDir;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed async fn taking a `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Postgres).await })*
        }
    };
}

pub struct TestApp {
    pub state: AppState,
    /// The application's connection (the one `state` uses). On PostgreSQL it is the
    /// `portal_app` role, NOSUPERUSER NOBYPASSRLS: row-level security applies to it.
    pub db: DatabaseConnection,
    /// The owner's connection (on PostgreSQL the superuser, which bypasses row-level
    /// security; on SQLite the same pool as `db`): fixtures and inspections across tenants.
    pub owner: DatabaseConnection,
    statements: Arc<AtomicUsize>,
    _dir: TempDir,
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_vars(backend, &[]).await
    }

    /// A fresh, migrated database with no data; `extra` overrides configuration variables.
    pub async fn with_vars(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, owner_url) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}/portal.db?mode=rwc", dir.path().display()),
                None,
            ),
            Backend::Postgres => {
                let database = portal_testkit::postgres::fresh_app_database();
                (database.app_url, Some(database.owner_url))
            }
        };
        let config = test_config(&url, owner_url.as_deref(), &dir, extra);
        let db = portal_core::db::connect(&url, 5, std::time::Duration::from_secs(5))
            .await
            .expect("connect");
        Self::assemble(config, db, owner_url.as_deref(), dir).await
    }

    /// Like `with_vars`, over a database the test provides (a dedicated cluster); the pool
    /// uses the configured `DATABASE_MAX_CONNECTIONS` and `DATABASE_TIMEOUT_MS`, as the server does.
    /// `url` is the superuser's; the application connects as `portal_app`.
    pub async fn with_database_url(url: &str, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let app_url = portal_testkit::postgres::with_app_role(url)
            .unwrap_or_else(|e| panic!("application role: {e}"));
        let config = test_config(&app_url, Some(url), &dir, extra);
        let db = portal_core::db::connect(
            &app_url,
            config.database_max_connections,
            config.database_timeout,
        )
        .await
        .expect("connect");
        Self::assemble(config, db, Some(url), dir).await
    }

    async fn assemble(
        config: Config,
        mut db: DatabaseConnection,
        owner_url: Option<&str>,
        dir: TempDir,
    ) -> Self {
        let statements = Arc::new(AtomicUsize::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let state = AppState::with_database(config, db.clone())
            .await
            .expect("app state");
        let owner = match owner_url {
            Some(url) => portal_core::db::connect(url, 5, std::time::Duration::from_secs(5))
                .await
                .expect("connect as owner"),
            None => db.clone(),
        };
        Self {
            state,
            db,
            owner,
            statements,
            _dir: dir,
        }
    }

    /// Mints a dev token and verifies it, exactly as the HTTP layer does.
    pub async fn viewer(
        &self,
        subject: &str,
        tenant: Uuid,
        roles: &[Role],
        patient: Option<Uuid>,
    ) -> Viewer {
        let token = self.token(subject, tenant, roles, patient);
        self.state
            .verifier
            .verify(&token)
            .await
            .expect("dev token verifies")
    }

    pub fn token(
        &self,
        subject: &str,
        tenant: Uuid,
        roles: &[Role],
        patient: Option<Uuid>,
    ) -> String {
        let dev = self.state.dev.as_ref().expect("dev signer in tests");
        dev.signer
            .mint(subject, tenant, roles, patient, chrono::Duration::hours(1))
            .expect("mint")
    }

    /// Executes a GraphQL operation through the schema; returns `{data, errors}` as JSON.
    pub async fn query(&self, viewer: Option<&Viewer>, query: &str, variables: Value) -> Value {
        let origin = Origin::new(
            viewer.cloned(),
            Uuid::now_v7().to_string(),
            Some("127.0.0.1".into()),
        );
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables));
        let response = portal_schema::execute(&self.state.schema, request, origin).await;
        serde_json::to_value(&response).expect("response serialises")
    }

    /// Runs `query` and returns how many SQL statements it issued.
    pub async fn count_statements(
        &self,
        viewer: Option<&Viewer>,
        query: &str,
        variables: Value,
    ) -> (Value, usize) {
        let before = self.statements.load(Ordering::SeqCst);
        let response = self.query(viewer, query, variables).await;
        (response, self.statements.load(Ordering::SeqCst) - before)
    }

    /// How many SQL statements the application's connection has issued so far (for counts
    /// of requests that do not go through `query`, e.g. FHIR over the router).
    pub fn statement_count(&self) -> usize {
        self.statements.load(Ordering::SeqCst)
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Makes every insert into `audit_events` fail (a trigger), as when the audit trail
    /// cannot be written; `restore_audit_trail` removes it.
    pub async fn break_audit_trail(&self) {
        use sea_orm::ConnectionTrait;
        let sql: &[&str] = match self.owner.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => &[
                "CREATE FUNCTION fail_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit unavailable'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fail_audit()",
            ],
            _ => &[
                "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END",
            ],
        };
        for statement in sql {
            self.owner
                .execute_unprepared(statement)
                .await
                .expect("audit trigger");
        }
    }

    pub async fn restore_audit_trail(&self) {
        use sea_orm::ConnectionTrait;
        let sql = match self.owner.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "DROP TRIGGER fail_audit ON audit_events",
            _ => "DROP TRIGGER fail_audit",
        };
        self.owner
            .execute_unprepared(sql)
            .await
            .expect("drop trigger");
    }

    pub async fn audit_rows(&self) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .order_by_asc(audit_event::Column::Seq)
            .all(&self.owner)
            .await
            .expect("audit rows")
    }
}

/// The test configuration over `url` (migrations over `owner_url` when given): no demo
/// data, data in `dir`; `extra` overrides. The read cache is off unless a test turns it on:
/// fixtures write to the database directly, past the invalidation every API write does (the
/// cache tests are in `cache.rs`).
fn test_config(
    url: &str,
    owner_url: Option<&str>,
    dir: &TempDir,
    extra: &[(&str, &str)],
) -> Config {
    let data_dir = dir.path().display().to_string();
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", url),
        ("DATABASE_MIGRATION_URL", owner_url.unwrap_or_default()),
        ("PORTAL_DATA_DIR", data_dir.as_str()),
        ("PORTAL_SEED_DEMO", "false"),
        ("PORTAL_MAX_PAGE_SIZE", "50"),
        ("CACHE_ENABLED", "false"),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_vars(&vars).expect("test configuration")
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

pub fn no_errors(response: &Value) {
    assert!(
        response.get("errors").is_none(),
        "unexpected errors: {response:#}"
    );
}
