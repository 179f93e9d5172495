//! Everything the server shares across requests, built once from the configuration.

use std::future::Future;
use std::sync::Arc;

use crate::auth::{DevSigner, JwtSettings, KeySource, TokenVerifier, load_or_create_dev_secret};
use crate::config::ExposeSecret as _;
use anyhow::Context as _;
use jsonwebtoken::Algorithm;
use portal_core::db;
use portal_messaging::outbox;
use portal_schema::AppData;
use portal_schema::persisted::{Manifest, PersistedQueries};
use portal_schema::{Limits, PortalSchema, ReadCache};
use portal_services::live::Hub;
use portal_services::walk_in::rate_limit::AttemptLimiter;
use portal_subscriptions::EventBus;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::{Config, JwtKeys};
use crate::metrics::Metrics;

/// How often histogram samples are folded into the registry when nobody scrapes.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The handles every layer shares (pool, event bus, outbox wake-up, page size, walk-in
    /// limiter), the same value the schema carries for the resolvers.
    pub app: AppData,
    pub schema: PortalSchema,
    pub verifier: Arc<TokenVerifier>,
    /// Development only: mints tokens for the playground and `portal token`.
    pub dev: Option<DevTools>,
    /// Cached query answers (in process, or Redis with `REDIS_URL`); its counters feed
    /// `/metrics`.
    pub cache: ReadCache,
    /// Automatic persisted queries (in process, or Redis with `REDIS_URL`), or the registered
    /// operations of the production mode.
    pub persisted: Arc<PersistedQueries>,
    /// This application's metrics registry; `None` when `PORTAL_METRICS` is off.
    pub metrics: Option<Arc<Metrics>>,
    shutdown: Arc<watch::Sender<bool>>,
    /// Set when SIGTERM arrives: `/ready` fails from then on, while requests are still served.
    draining: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Clone)]
pub struct DevTools {
    pub signer: DevSigner,
    pub demo_tenant: Option<Uuid>,
}

impl AppState {
    /// Connects, migrates and seeds as the configuration says, then assembles the schema.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = open_database(&config).await?;
        Self::with_database(config, db).await
    }

    /// Like `build`, over a connection the caller opened (tests attach a statement counter).
    pub async fn with_database(config: Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        if config.auto_migrate {
            apply_migrations(&config, &db).await?;
        }
        check_database_role(&config, &db).await?;
        let demo_tenant = if config.seed_demo {
            let (tenant, created) = portal_demo::seed(&db).await.context("seeding demo data")?;
            if created {
                tracing::info!("demo data seeded");
            }
            Some(tenant)
        } else {
            None
        };
        let (verifier, dev) = auth(&config, demo_tenant)?;
        let bus = event_bus(&config)?;
        let outbox_wake = Arc::new(Notify::new());
        let cache = read_cache(&config)?;
        let persisted = Arc::new(persisted_queries(&config)?);
        // A quarter of the pool authorizes subscribes at once; the rest serve queries and deliveries.
        let subscribe_slots = (config.database_max_connections as usize / 4).max(1);
        let hub = Hub::new(
            db.clone(),
            bus.clone(),
            config.event_bus_capacity,
            subscribe_slots,
        );
        let app = AppData {
            db,
            max_page_size: config.max_page_size,
            public_url: config.notify.public_url.clone(),
            result_link_limiter: Arc::new(AttemptLimiter::for_result_links()),
            bus,
            hub,
            outbox_wake,
        };
        let schema = portal_schema::build(
            app.clone(),
            &Limits {
                max_depth: config.max_depth,
                max_complexity: config.max_complexity,
                introspection: config.introspection,
                request: config.request_limits.clone(),
            },
            cache.clone(),
        );
        let metrics = config.metrics.then(|| Arc::new(Metrics::new()));
        Ok(Self {
            config: Arc::new(config),
            app,
            schema,
            verifier: Arc::new(verifier),
            dev,
            cache,
            persisted,
            metrics,
            shutdown: Arc::new(watch::channel(false).0),
            draining: Arc::default(),
        })
    }

    /// Starts the outbox relay; it runs until `shutdown` is called.
    pub fn spawn_relay(&self) -> JoinHandle<()> {
        tokio::spawn(outbox::run_relay(
            self.app.db.clone(),
            self.app.bus.clone(),
            self.app.outbox_wake.clone(),
            self.config.relay_interval,
            self.shutting_down(),
        ))
    }

    /// Starts the audit sealer; it runs until `shutdown` is called.
    pub fn spawn_sealer(&self) -> JoinHandle<()> {
        tokio::spawn(portal_messaging::sealer::run_sealer(
            self.app.db.clone(),
            self.config.audit_seal_interval,
            self.shutting_down(),
        ))
    }

    /// Folds histogram samples into the registry every few seconds (when metrics are on), so
    /// memory stays bounded however rarely `/metrics` is scraped. Runs until aborted.
    pub fn spawn_metrics_upkeep(&self) -> Option<JoinHandle<()>> {
        let metrics = self.metrics.clone()?;
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(METRICS_UPKEEP);
            loop {
                ticks.tick().await;
                metrics.run_upkeep();
            }
        }))
    }

    /// With Redis, starts the task that forwards other replicas' events to this one; it runs
    /// until `shutdown` is called.
    pub fn spawn_bus_subscriber(&self) -> Option<JoinHandle<()>> {
        match &self.app.bus {
            EventBus::Redis(bus) => Some(tokio::spawn(
                bus.clone().run_subscriber(self.shutting_down()),
            )),
            EventBus::InProcess(_) => None,
        }
    }

    /// Marks the process as leaving: `/ready` answers 503 from now on, so the load balancer
    /// takes it out of rotation while it still serves (`PORTAL_SHUTDOWN_DRAIN_SECS`).
    pub fn begin_drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// After SIGINT or SIGTERM: fail `/ready`, keep serving for the drain, then stop.
    pub async fn drain_then_shutdown(&self) {
        self.begin_drain();
        let drain = self.config.shutdown_drain;
        if !drain.is_zero() {
            tracing::info!(
                drain_secs = drain.as_secs(),
                "draining: /ready answers 503, requests still served"
            );
            tokio::time::sleep(drain).await;
        }
        // Subscriptions never finish on their own: close their sockets too.
        self.shutdown();
    }

    /// Stops the relay and closes every open WebSocket (HTTP requests finish normally).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Completes once `shutdown` was called.
    pub fn shutting_down(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.shutdown.subscribe();
        async move {
            // An error means the state is gone, which is a shutdown too.
            let _ = receiver.wait_for(|stopping| *stopping).await;
        }
    }
}

/// Redis pub/sub when `REDIS_URL` is set (several replicas), else in-process.
fn event_bus(config: &Config) -> anyhow::Result<EventBus> {
    match &config.redis_url {
        Some(url) => EventBus::redis(url.expose_secret(), config.event_bus_capacity)
            .map_err(|_| anyhow::anyhow!("REDIS_URL is not a valid Redis URL")),
        None => Ok(EventBus::in_process(config.event_bus_capacity)),
    }
}

/// Redis when `REDIS_URL` is set (shared by the replicas), else in process; off with
/// `CACHE_ENABLED=false`.
pub(crate) fn read_cache(config: &Config) -> anyhow::Result<ReadCache> {
    if !config.cache_enabled {
        return Ok(ReadCache::disabled());
    }
    match &config.redis_url {
        Some(url) => ReadCache::redis(url.expose_secret(), config.cache_ttl)
            .map_err(|_| anyhow::anyhow!("REDIS_URL is not a valid Redis URL")),
        None => Ok(ReadCache::in_process(config.cache_ttl)),
    }
}

/// The registered operations of the manifest, or APQ in Redis (with `REDIS_URL`) or in
/// process.
fn persisted_queries(config: &Config) -> anyhow::Result<PersistedQueries> {
    match (&config.persisted_queries, &config.redis_url) {
        (crate::config::PersistedQueries::Registered(path), _) => {
            let manifest = Manifest::load(path)?;
            tracing::info!(
                operations = manifest.operations.len(),
                "registered operations only"
            );
            Ok(PersistedQueries::registered_only(manifest))
        }
        (crate::config::PersistedQueries::Automatic, Some(url)) => {
            PersistedQueries::with_redis(url.expose_secret())
                .map_err(|_| anyhow::anyhow!("REDIS_URL is not a valid Redis URL"))
        }
        (crate::config::PersistedQueries::Automatic, None) => Ok(PersistedQueries::in_process()),
    }
}

/// Applies pending migrations as the owner role (`DATABASE_MIGRATION_URL`) when one is
/// configured, else over `db`; on PostgreSQL under the migration lock, so concurrent
/// `portal migrate` runs take turns.
pub async fn apply_migrations(config: &Config, db: &DatabaseConnection) -> anyhow::Result<()> {
    let timeout = config.database_timeout;
    match &config.database_migration_url {
        Some(url) => {
            let owner = db::connect(url.expose_secret(), 1, timeout)
                .await
                .context("connecting with DATABASE_MIGRATION_URL")?;
            let applied = crate::migrate::apply_locked(url.expose_secret(), &owner, timeout)
                .await
                .context("applying migrations");
            // Only the one connection of this short-lived pool is closed.
            let _ = owner.close().await;
            applied
        }
        None => crate::migrate::apply_locked(config.database_url.expose_secret(), db, timeout)
            .await
            .context("applying migrations"),
    }
}

/// What the connected role means for row-level security, as one line for people.
pub fn describe_role(role: &db::RoleCheck) -> String {
    if role.superuser {
        format!(
            "{} is a SUPERUSER: row-level security does not apply, tenant isolation rests on the code alone",
            role.role
        )
    } else if role.bypass_rls {
        format!(
            "{} has BYPASSRLS: row-level security does not apply, tenant isolation rests on the code alone",
            role.role
        )
    } else {
        format!("{} (row-level security applies)", role.role)
    }
}

/// On PostgreSQL, warns when the application's role bypasses row-level security; in
/// production refuses to start then, unless `PORTAL_ALLOW_RLS_BYPASS` says otherwise.
pub async fn check_database_role(config: &Config, db: &DatabaseConnection) -> anyhow::Result<()> {
    let Some(role) = db::role_check(db)
        .await
        .context("reading the database role")?
    else {
        return Ok(());
    };
    if !role.bypasses_rls() {
        tracing::info!(role = %role.role, "database role is subject to row-level security");
        return Ok(());
    }
    let message = describe_role(&role);
    if !config.is_development() && !config.allow_rls_bypass {
        anyhow::bail!(
            "database role {message}. Connect DATABASE_URL as the application role (NOSUPERUSER \
             NOBYPASSRLS, see docs/row-level-security.md) or set PORTAL_ALLOW_RLS_BYPASS=true"
        );
    }
    tracing::warn!("database role {message}");
    Ok(())
}

/// Opens the database; for SQLite, creates the data directory first.
pub async fn open_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    if config.is_sqlite() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    db::connect(
        config.database_url.expose_secret(),
        config.database_max_connections,
        config.database_timeout,
    )
    .await
    .context("connecting to the database")
}

fn auth(
    config: &Config,
    demo_tenant: Option<Uuid>,
) -> anyhow::Result<(TokenVerifier, Option<DevTools>)> {
    let jwt = &config.jwt;
    let settings = JwtSettings {
        issuer: jwt.issuer.clone(),
        audience: jwt.audience.clone(),
        leeway_seconds: jwt.leeway_seconds,
    };
    let (source, dev) = match &jwt.keys {
        JwtKeys::DevSecret => {
            let secret = load_or_create_dev_secret(&config.data_dir)
                .context("reading the dev signing key")?;
            let signer = DevSigner::new(&secret, &jwt.issuer, &jwt.audience);
            (
                KeySource::DevSecret(secret),
                Some(DevTools {
                    signer,
                    demo_tenant,
                }),
            )
        }
        JwtKeys::PublicKeyPem { algorithm, path } => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading JWT public key {}", path.display()))?;
            let algorithm = if algorithm == "ES256" {
                Algorithm::ES256
            } else {
                Algorithm::RS256
            };
            (KeySource::Pem { algorithm, pem }, None)
        }
        JwtKeys::Jwks {
            url,
            ttl,
            max_stale,
        } => (
            KeySource::Jwks {
                url: url.clone(),
                ttl: *ttl,
                max_stale: *max_stale,
            },
            None,
        ),
    };
    let verifier =
        TokenVerifier::new(settings, source).map_err(|e| anyhow::anyhow!("{e}: {e:?}"))?;
    Ok((verifier, dev))
}
