//! The `TestApp`: a fresh, migrated database (a SQLite file, or on the throwaway PostgreSQL
//! cluster a copy of a database migrated once per test process) with the very state and
//! router the server runs; actors that call it (`actors.rs`), fixtures, and the shared id
//! helpers (`ids.rs`).

pub mod actors;
pub mod binary;
pub mod fixtures;
pub mod ids;
pub mod notifications;
pub mod ws;

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use portal_api::{AppState, Config};
use portal_core::sync::lock;
use portal_entities::audit_event;
use portal_testkit::postgres::Template;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::Value;
use tempfile::TempDir;

pub use actors::Actor;
pub use portal_api::auth::Role;

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
    /// `portal_api::http::router` over `state`: what actors send their requests through.
    router: Router,
    statements: Arc<AtomicUsize>,
    /// The SQL of every statement while `record_sql` is on (`recorded_sql`).
    sql: Arc<std::sync::Mutex<Option<Vec<String>>>>,
    _dir: TempDir,
}

/// Where the application's data lives.
enum Database {
    /// A fresh SQLite file or a fresh database on the shared PostgreSQL cluster.
    Fresh(Backend),
    /// A database the test provides (a dedicated cluster): the superuser's URL.
    Url(String),
}

type Configure = Box<dyn FnOnce(&mut Config) + Send>;

/// Builds a `TestApp`: `TestApp::init(backend).with_config(|c| c.cache_enabled = true).await`.
///
/// The defaults: no demo data, page size 50, the read cache off (fixtures write to the
/// database directly, past the invalidation every API write does; the cache tests turn it
/// on), data in a temporary directory.
#[must_use = "a builder does nothing until built (`.await` or `.build().await`)"]
pub struct TestAppBuilder {
    database: Database,
    secrets: Vec<(&'static str, String)>,
    configure: Vec<Configure>,
}

impl TestApp {
    pub fn init(backend: Backend) -> TestAppBuilder {
        TestAppBuilder::new(Database::Fresh(backend))
    }

    /// Over a database the test provides (a dedicated cluster; `url` is the superuser's,
    /// the application connects as `portal_app`). The pool uses the configured
    /// `database_max_connections` and `database_timeout`, as the server does.
    pub fn init_with_database_url(url: &str) -> TestAppBuilder {
        TestAppBuilder::new(Database::Url(url.to_owned()))
    }
}

impl TestAppBuilder {
    fn new(database: Database) -> Self {
        Self {
            database,
            secrets: Vec::new(),
            configure: Vec::new(),
        }
    }

    /// Changes the typed configuration (after the defaults, before the app starts). What the
    /// closure sets is not validated again: `Config::from_vars` validates the variables it
    /// parses, and its `validate` is private.
    pub fn with_config(mut self, configure: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure.push(Box::new(configure));
        self
    }

    /// Sets a variable declared secret (`REDIS_URL`, `SMTP_URL`, `SMS_PROVIDER_URL`, …; see
    /// `portal_api::config::variables`), read and validated by `Config::from_vars` as the
    /// server reads it.
    pub fn with_secret(mut self, variable: &'static str, value: impl Into<String>) -> Self {
        assert!(
            portal_api::config::variable(variable).is_some_and(|v| v.secret),
            "{variable} is not a secret: set its field with `with_config`"
        );
        self.secrets.push((variable, value.into()));
        self
    }

    pub async fn build(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, owner_url) = match &self.database {
            Database::Fresh(Backend::Sqlite) => (
                format!("sqlite://{}/portal.db?mode=rwc", dir.path().display()),
                None,
            ),
            Database::Fresh(Backend::Postgres) => {
                let database = MIGRATED.fresh_app_database();
                (database.app_url, Some(database.owner_url))
            }
            Database::Url(url) => (
                portal_testkit::postgres::with_app_role(url)
                    .unwrap_or_else(|e| panic!("application role: {e}")),
                Some(url.clone()),
            ),
        };
        let mut config = test_config(&url, owner_url.as_deref(), &dir, &self.secrets);
        for configure in self.configure {
            configure(&mut config);
        }
        let (max_connections, timeout) = match self.database {
            Database::Fresh(_) => (5, std::time::Duration::from_secs(5)),
            Database::Url(_) => (config.database_max_connections, config.database_timeout),
        };
        let db = portal_core::db::connect(&url, max_connections, timeout)
            .await
            .expect("connect");
        TestApp::assemble(config, db, owner_url.as_deref(), dir).await
    }
}

impl IntoFuture for TestAppBuilder {
    type Output = TestApp;
    type IntoFuture = Pin<Box<dyn Future<Output = TestApp> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.build())
    }
}

impl TestApp {
    async fn assemble(
        config: Config,
        mut db: DatabaseConnection,
        owner_url: Option<&str>,
        dir: TempDir,
    ) -> Self {
        let statements = Arc::new(AtomicUsize::new(0));
        let counter = statements.clone();
        let sql: Arc<std::sync::Mutex<Option<Vec<String>>>> = Arc::default();
        let log = sql.clone();
        db.set_metric_callback(move |metric| {
            counter.fetch_add(1, Ordering::SeqCst);
            if let Some(log) = lock(&log).as_mut() {
                log.push(metric.statement.sql.clone());
            }
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
            router: portal_api::http::router(state.clone()),
            state,
            db,
            owner,
            statements,
            sql,
            _dir: dir,
        }
    }

    /// How many SQL statements the application's pool has run so far (any path: services
    /// called directly, imports, requests).
    pub fn statement_count(&self) -> usize {
        self.statements.load(Ordering::SeqCst)
    }

    /// From now on the SQL of every statement of the app's pool is kept (see `recorded_sql`).
    pub fn record_sql(&self) {
        *lock(&self.sql) = Some(Vec::new());
    }

    /// The statements run since `record_sql`, and stops recording.
    pub fn recorded_sql(&self) -> Vec<String> {
        lock(&self.sql).take().unwrap_or_default()
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

/// The PostgreSQL databases of `TestApp::init(Backend::Postgres)` are copies of this one,
/// migrated once per test process (the application still runs its start-up migration step,
/// which finds nothing to apply).
static MIGRATED: Template = Template::new(migrate);

/// Applies every migration over `owner_url`, on a thread and runtime of its own (the test
/// that asks first may be on any runtime), and closes the connection before it returns.
fn migrate(owner_url: &str) -> Result<(), String> {
    let url = owner_url.to_owned();
    let migrating = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        runtime.block_on(async {
            let db = portal_core::db::connect(&url, 1, std::time::Duration::from_secs(30))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let applied = portal_api::migrate::apply(&db).await;
            db.close().await.map_err(|e| format!("close: {e}"))?;
            applied.map_err(|e| format!("migrations: {e}"))
        })
    });
    migrating
        .join()
        .map_err(|_| "the migrations panicked".to_owned())?
}

/// The test configuration over `url` (migrations over `owner_url` when given), data in
/// `dir`, the `secrets` variables, and the defaults `TestAppBuilder` documents. The URLs and
/// the data directory go through the variables: the URLs are `Secret`s, and the mailbox
/// folder is derived from the data directory while parsing.
fn test_config(
    url: &str,
    owner_url: Option<&str>,
    dir: &TempDir,
    secrets: &[(&'static str, String)],
) -> Config {
    let data_dir = dir.path().display().to_string();
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", url),
        ("DATABASE_MIGRATION_URL", owner_url.unwrap_or_default()),
        ("PORTAL_DATA_DIR", data_dir.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.extend(secrets.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut config = Config::from_vars(&vars).expect("test configuration");
    config.seed_demo = false;
    config.max_page_size = 50;
    config.cache_enabled = false;
    config
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
