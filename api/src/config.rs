//! The one typed configuration, read once from the environment (and `.env`), validated at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod public_health;

pub use public_health::{Endpoint, PublicHealthConfig};

/// Every environment variable the portal reads, with its default. The README's
/// configuration table lists the same.
#[derive(Clone)]
pub struct Config {
    pub env: Environment,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Secret,
    /// `DATABASE_MIGRATION_URL`: the owner role `portal migrate` and auto-migrate use, when the
    /// application's role (`DATABASE_URL`) may only read and write rows. Unset: `DATABASE_URL`.
    pub database_migration_url: Option<Secret>,
    /// `PORTAL_ALLOW_RLS_BYPASS`: start in production even though the database role is a
    /// superuser or has BYPASSRLS (row-level security then does not apply). Off by default.
    pub allow_rls_bypass: bool,
    pub database_max_connections: u32,
    pub database_timeout: Duration,
    pub seed_demo: bool,
    pub auto_migrate: bool,
    pub jwt: JwtConfig,
    pub playground: bool,
    pub introspection: bool,
    pub max_page_size: u64,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// The largest POST body `/graphql` reads (`PORTAL_MAX_BODY_BYTES`); more is 413.
    pub max_body_bytes: usize,
    /// Limits checked before an operation runs (see `portal_schema::limits`).
    pub request_limits: portal_schema::limits::RequestLimits,
    /// `PORTAL_PERSISTED_QUERIES`: `automatic` (APQ, the default) or `registered` (only the
    /// operations of `PORTAL_OPERATIONS_MANIFEST` run).
    pub persisted_queries: PersistedQueries,
    pub log_json: bool,
    /// Deliveries buffered per live subscription (and events per tenant follower on the
    /// bus): a subscriber whose buffer is full is closed (4008) and resumes with `after`.
    pub event_bus_capacity: usize,
    /// How often the outbox relay looks for events when no write woke it.
    pub relay_interval: Duration,
    /// How often the audit sealer links committed audit rows into their chains
    /// (`AUDIT_SEAL_INTERVAL_MS`): the longest a row waits unsealed, plus one pass.
    pub audit_seal_interval: Duration,
    /// Whether `GET /metrics` is served and traffic is counted (`PORTAL_METRICS`).
    pub metrics: bool,
    /// `redis://…` or `rediss://…` (TLS; a private CA is trusted through `SSL_CERT_FILE`):
    /// events fan out to every replica through a Redis stream; unset, the bus is in-process
    /// (one replica). May carry a password.
    pub redis_url: Option<Secret>,
    /// Whether query answers are cached (`CACHE_ENABLED`): in Redis with `REDIS_URL`, else
    /// in process memory.
    pub cache_enabled: bool,
    /// How long a cached answer may be served when no write invalidates it (`CACHE_TTL_SECS`).
    pub cache_ttl: Duration,
    pub notify: NotifyConfig,
    /// Whether `portal serve` also runs the background work (outbox relay, notification
    /// worker, scheduled jobs): `PORTAL_BACKGROUND`. `portal worker` always runs it.
    pub background: bool,
    /// Where `portal worker` serves `/health`, `/ready` and `/metrics` (`PORTAL_WORKER_BIND`).
    pub worker_bind: SocketAddr,
    pub jobs: JobsConfig,
    pub public_health: PublicHealthConfig,
    pub mllp: MllpConfig,
}

/// The HL7 v2 inbound interface over MLLP (docs/hl7.md, README "Connecting hospital systems").
#[derive(Debug, Clone)]
pub struct MllpConfig {
    /// `PORTAL_MLLP_BIND`: where to listen, each address optionally bound to a tenant slug
    /// (`0.0.0.0:2575=riverside`); `off` (or none given in production) listens nowhere.
    pub listeners: Vec<MllpListener>,
    /// `PORTAL_MLLP_SENDERS`: for listeners without a tenant, the tenant of each sending
    /// facility by its CLIA number (MSH-4.2): `05D2101234=riverside,...`.
    pub senders: Vec<(String, String)>,
    /// `PORTAL_MLLP_IN`: which command runs the listeners, `serve` or `worker` (never both,
    /// so a port is never bound twice).
    pub run_in: MllpRunIn,
    /// TLS listeners and allow-lists (`config/mllp_tls.rs`).
    pub tls: mllp_tls::MllpTlsConfig,
}

/// One MLLP listen address and the tenant slug it serves (none: by sending facility).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MllpListener {
    pub addr: SocketAddr,
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MllpRunIn {
    Serve,
    Worker,
}

/// Scheduled housekeeping jobs (see `portal_messaging::jobs`).
#[derive(Clone)]
pub struct JobsConfig {
    /// How often the jobs run (`PORTAL_JOBS_INTERVAL_SECS`); zero turns them off.
    pub interval: Duration,
    pub retention: portal_messaging::jobs::Retention,
}

/// Notification delivery: where messages go and how often failures are retried.
#[derive(Clone)]
pub struct NotifyConfig {
    /// The portal's public address, the link every message carries and the base of FHIR
    /// links (`PORTAL_PUBLIC_URL`).
    pub public_url: String,
    /// Where messages are written when no SMTP server or provider is set.
    pub mailbox_dir: PathBuf,
    /// `smtp://` or `smtps://`; may carry credentials.
    pub smtp_url: Option<Secret>,
    pub smtp_from: String,
    pub sms: Option<Provider>,
    pub push: Option<Provider>,
    pub max_attempts: i32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    pub poll: Duration,
    pub batch_size: u64,
    /// Whether the background work includes the delivery worker (`NOTIFY_WORKER`).
    pub worker: bool,
    /// How long a claimed batch stays invisible to other workers (`NOTIFY_LEASE_SECS`).
    pub lease: Duration,
    /// Timeout of one SMTP exchange or provider request (`NOTIFY_SEND_TIMEOUT_MS`).
    pub send_timeout: Duration,
    /// Sends in flight at once per worker (`NOTIFY_CONCURRENCY`).
    pub concurrency: usize,
}

/// An HTTP provider (SMS or push); URL and token are secrets (URLs often carry account keys).
#[derive(Clone)]
pub struct Provider {
    pub url: Secret,
    pub token: Option<Secret>,
}

/// How persisted queries work (see `portal_schema::persisted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistedQueries {
    /// Automatic persisted queries; any operation runs.
    Automatic,
    /// Only the operations of this manifest run.
    Registered(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub keys: JwtKeys,
    pub leeway_seconds: u64,
}

#[derive(Clone)]
pub enum JwtKeys {
    /// HS256 with a secret kept in `<data_dir>/dev-jwt-secret` (development only).
    DevSecret,
    /// RS256 / ES256 public key in a PEM file.
    PublicKeyPem { algorithm: String, path: PathBuf },
    /// The identity provider's JWKS endpoint.
    Jwks {
        url: String,
        ttl: Duration,
        max_stale: Duration,
    },
}

/// A value that must never be printed (database URLs carry passwords).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

pub mod mllp_tls;

/// A lookup of variables: the process environment in production, a map in tests.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Vars for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.trim().is_empty())
    }
}

impl Config {
    /// Reads `.env` (if present) and the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_vars(&ProcessEnv)
    }

    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let env = match vars.get("PORTAL_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(err(format!(
                    "PORTAL_ENV must be development or production, not {other:?}"
                )));
            }
        };
        let dev = env == Environment::Development;
        let data_dir = PathBuf::from(
            vars.get("PORTAL_DATA_DIR")
                .unwrap_or_else(|| "./data".into()),
        );
        let database_url = match vars.get("DATABASE_URL") {
            Some(url) => url,
            None if dev => format!("sqlite://{}/portal.db?mode=rwc", data_dir.display()),
            None => return Err(err("DATABASE_URL is required in production")),
        };
        if !dev && !database_url.starts_with("postgres") {
            return Err(err(
                "production needs a PostgreSQL DATABASE_URL (postgres://…)",
            ));
        }
        let bind = parse(vars, "PORTAL_BIND", "127.0.0.1:8080")?;
        let public_health = public_health::from_vars(vars, &data_dir, dev)?;
        let config = Self {
            env,
            bind,
            notify: notify_config(vars, &data_dir, bind)?,
            data_dir,
            database_url: Secret(database_url),
            database_migration_url: vars.get("DATABASE_MIGRATION_URL").map(Secret),
            allow_rls_bypass: flag(vars, "PORTAL_ALLOW_RLS_BYPASS", false)?,
            database_max_connections: parse(vars, "DATABASE_MAX_CONNECTIONS", "10")?,
            database_timeout: Duration::from_millis(parse(vars, "DATABASE_TIMEOUT_MS", "3000")?),
            seed_demo: flag(vars, "PORTAL_SEED_DEMO", dev)?,
            auto_migrate: flag(vars, "PORTAL_AUTO_MIGRATE", dev)?,
            jwt: jwt_config(vars, dev)?,
            playground: flag(vars, "PORTAL_PLAYGROUND", dev)?,
            introspection: flag(vars, "PORTAL_INTROSPECTION", dev)?,
            max_page_size: parse(vars, "PORTAL_MAX_PAGE_SIZE", "100")?,
            max_depth: parse(vars, "PORTAL_MAX_DEPTH", "16")?,
            max_complexity: parse(vars, "PORTAL_MAX_COMPLEXITY", "2000")?,
            max_body_bytes: parse(vars, "PORTAL_MAX_BODY_BYTES", "1048576")?,
            request_limits: request_limits(vars)?,
            persisted_queries: persisted_queries(vars)?,
            log_json: vars.get("PORTAL_LOG_FORMAT").as_deref() == Some("json"),
            event_bus_capacity: parse(vars, "PORTAL_EVENT_BUS_CAPACITY", "1024")?,
            relay_interval: Duration::from_millis(parse(vars, "PORTAL_RELAY_INTERVAL_MS", "1000")?),
            audit_seal_interval: Duration::from_millis(parse(
                vars,
                "AUDIT_SEAL_INTERVAL_MS",
                "250",
            )?),
            metrics: flag(vars, "PORTAL_METRICS", true)?,
            redis_url: redis_url(vars)?,
            background: flag(vars, "PORTAL_BACKGROUND", true)?,
            worker_bind: parse(vars, "PORTAL_WORKER_BIND", "127.0.0.1:8081")?,
            jobs: jobs_config(vars)?,
            public_health,
            mllp: mllp_config(vars, dev)?,
            cache_enabled: flag(vars, "CACHE_ENABLED", true)?,
            cache_ttl: Duration::from_secs(parse(vars, "CACHE_TTL_SECS", "60")?),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=500).contains(&self.max_page_size) {
            return Err(err("PORTAL_MAX_PAGE_SIZE must be between 1 and 500"));
        }
        if self.max_body_bytes < 1024 {
            return Err(err("PORTAL_MAX_BODY_BYTES must be at least 1024"));
        }
        let limits = &self.request_limits;
        if limits.max_query_bytes == 0 || limits.max_query_bytes > self.max_body_bytes {
            return Err(err(
                "PORTAL_MAX_QUERY_BYTES must be at least 1 and at most PORTAL_MAX_BODY_BYTES",
            ));
        }
        if limits.max_tokens == 0 || limits.max_selections == 0 {
            return Err(err(
                "PORTAL_MAX_TOKENS and PORTAL_MAX_SELECTIONS must be at least 1",
            ));
        }
        if self.event_bus_capacity == 0 {
            return Err(err("PORTAL_EVENT_BUS_CAPACITY must be at least 1"));
        }
        if self.relay_interval.is_zero() {
            return Err(err("PORTAL_RELAY_INTERVAL_MS must be at least 1"));
        }
        if !(10..=1000).contains(&self.audit_seal_interval.as_millis()) {
            return Err(err(
                "AUDIT_SEAL_INTERVAL_MS must be between 10 and 1000 (the unsealed window)",
            ));
        }
        if !(30..=120).contains(&self.cache_ttl.as_secs()) {
            return Err(err("CACHE_TTL_SECS must be between 30 and 120"));
        }
        if let Some(url) = &self.database_migration_url
            && (self.is_sqlite() || !url.expose().starts_with("postgres"))
        {
            return Err(err(
                "DATABASE_MIGRATION_URL must be a PostgreSQL URL, used with a PostgreSQL DATABASE_URL",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(err("DATABASE_MAX_CONNECTIONS must be at least 1"));
        }
        if self.env == Environment::Production && self.seed_demo {
            return Err(err("PORTAL_SEED_DEMO cannot be enabled in production"));
        }
        Ok(())
    }

    pub fn is_development(&self) -> bool {
        self.env == Environment::Development
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }

    /// The URL migrations run with: `DATABASE_MIGRATION_URL`, else `DATABASE_URL`.
    pub fn migration_url(&self) -> &str {
        self.database_migration_url
            .as_ref()
            .unwrap_or(&self.database_url)
            .expose()
    }
}

fn persisted_queries(vars: &impl Vars) -> Result<PersistedQueries, ConfigError> {
    let manifest = vars.get("PORTAL_OPERATIONS_MANIFEST");
    match (vars.get("PORTAL_PERSISTED_QUERIES").as_deref(), manifest) {
        (None | Some("automatic"), None) => Ok(PersistedQueries::Automatic),
        (None | Some("automatic"), Some(_)) => Err(err(
            "PORTAL_OPERATIONS_MANIFEST is set but PORTAL_PERSISTED_QUERIES is not registered",
        )),
        (Some("registered"), Some(path)) => Ok(PersistedQueries::Registered(path.into())),
        (Some("registered"), None) => Err(err(
            "PORTAL_PERSISTED_QUERIES=registered needs PORTAL_OPERATIONS_MANIFEST (see `portal operations manifest`)",
        )),
        (Some(other), _) => Err(err(format!(
            "PORTAL_PERSISTED_QUERIES must be automatic or registered, not {other:?}"
        ))),
    }
}

fn request_limits(vars: &impl Vars) -> Result<portal_schema::limits::RequestLimits, ConfigError> {
    Ok(portal_schema::limits::RequestLimits {
        max_query_bytes: parse(vars, "PORTAL_MAX_QUERY_BYTES", "32768")?,
        max_tokens: parse(vars, "PORTAL_MAX_TOKENS", "5000")?,
        max_selections: parse(vars, "PORTAL_MAX_SELECTIONS", "2000")?,
        max_aliases: parse(vars, "PORTAL_MAX_ALIASES", "50")?,
        max_directives: parse(vars, "PORTAL_MAX_DIRECTIVES", "5")?,
    })
}

fn jwt_config(vars: &impl Vars, dev: bool) -> Result<JwtConfig, ConfigError> {
    let pem = vars.get("JWT_PUBLIC_KEY_FILE");
    let jwks = vars.get("JWT_JWKS_URL");
    let keys = match (pem, jwks) {
        (Some(_), Some(_)) => return Err(err("set JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL, not both")),
        (Some(path), None) => JwtKeys::PublicKeyPem {
            algorithm: vars.get("JWT_ALGORITHM").unwrap_or_else(|| "RS256".into()),
            path: path.into(),
        },
        (None, Some(url)) => JwtKeys::Jwks {
            url,
            ttl: Duration::from_secs(parse(vars, "JWT_JWKS_CACHE_SECONDS", "300")?),
            max_stale: Duration::from_secs(parse(vars, "JWT_JWKS_MAX_STALE_SECONDS", "3600")?),
        },
        (None, None) if dev => JwtKeys::DevSecret,
        (None, None) => return Err(err("production needs JWT_JWKS_URL or JWT_PUBLIC_KEY_FILE")),
    };
    if let JwtKeys::PublicKeyPem { algorithm, .. } = &keys
        && !matches!(algorithm.as_str(), "RS256" | "ES256")
    {
        return Err(err("JWT_ALGORITHM must be RS256 or ES256"));
    }
    let (issuer, audience) = match (vars.get("JWT_ISSUER"), vars.get("JWT_AUDIENCE")) {
        (Some(i), Some(a)) => (i, a),
        (i, a) if dev => (
            i.unwrap_or_else(|| "portal-dev".into()),
            a.unwrap_or_else(|| "portal".into()),
        ),
        _ => return Err(err("production needs JWT_ISSUER and JWT_AUDIENCE")),
    };
    Ok(JwtConfig {
        issuer,
        audience,
        keys,
        leeway_seconds: parse(vars, "JWT_LEEWAY_SECONDS", "30")?,
    })
}

fn notify_config(
    vars: &impl Vars,
    data_dir: &std::path::Path,
    bind: SocketAddr,
) -> Result<NotifyConfig, ConfigError> {
    let public_url = vars
        .get("PORTAL_PUBLIC_URL")
        .unwrap_or_else(|| format!("http://{bind}"));
    check_http_url("PORTAL_PUBLIC_URL", &public_url)?;
    let send_timeout = Duration::from_millis(parse(vars, "NOTIFY_SEND_TIMEOUT_MS", "10000")?);
    let smtp_url = vars.get("SMTP_URL");
    if let Some(url) = &smtp_url {
        portal_messaging::delivery::SmtpSender::from_url(url, send_timeout).map_err(err)?;
    }
    let smtp_from = vars
        .get("SMTP_FROM")
        .unwrap_or_else(|| "Patient Portal <no-reply@portal.local>".into());
    portal_messaging::delivery::parse_sender(&smtp_from).map_err(err)?;
    let config = NotifyConfig {
        public_url: public_url.trim_end_matches('/').to_owned(),
        mailbox_dir: vars
            .get("PORTAL_MAILBOX_DIR")
            .map_or_else(|| data_dir.join("mailbox"), PathBuf::from),
        smtp_url: smtp_url.map(Secret),
        smtp_from,
        sms: provider(vars, "SMS_PROVIDER_URL", "SMS_PROVIDER_TOKEN")?,
        push: provider(vars, "PUSH_PROVIDER_URL", "PUSH_PROVIDER_TOKEN")?,
        max_attempts: parse(vars, "NOTIFY_MAX_ATTEMPTS", "5")?,
        backoff: Duration::from_millis(parse(vars, "NOTIFY_BACKOFF_MS", "1000")?),
        backoff_max: Duration::from_millis(parse(vars, "NOTIFY_BACKOFF_MAX_MS", "600000")?),
        poll: Duration::from_millis(parse(vars, "NOTIFY_POLL_MS", "500")?),
        batch_size: parse(vars, "NOTIFY_BATCH_SIZE", "50")?,
        worker: flag(vars, "NOTIFY_WORKER", true)?,
        lease: Duration::from_secs(parse(vars, "NOTIFY_LEASE_SECS", "300")?),
        send_timeout,
        concurrency: parse(vars, "NOTIFY_CONCURRENCY", "16")?,
    };
    validate_notify(&config)?;
    Ok(config)
}

fn redis_url(vars: &impl Vars) -> Result<Option<Secret>, ConfigError> {
    let Some(url) = vars.get("REDIS_URL") else {
        return Ok(None);
    };
    let url = url.trim().to_owned();
    // The message never quotes the URL: it may carry a password.
    let invalid = || err("REDIS_URL must be a redis://, rediss:// (TLS) or redis+unix:// URL");
    if !["redis://", "rediss://", "redis+unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err(invalid());
    }
    portal_subscriptions::RedisBus::new(&url, 1).map_err(|_| invalid())?;
    Ok(Some(Secret(url)))
}

fn validate_notify(config: &NotifyConfig) -> Result<(), ConfigError> {
    if !(1..=100).contains(&config.max_attempts) {
        return Err(err("NOTIFY_MAX_ATTEMPTS must be between 1 and 100"));
    }
    if config.backoff_max < config.backoff {
        return Err(err(
            "NOTIFY_BACKOFF_MAX_MS must not be less than NOTIFY_BACKOFF_MS",
        ));
    }
    if config.poll < Duration::from_millis(10) {
        return Err(err("NOTIFY_POLL_MS must be at least 10"));
    }
    if !(1..=256).contains(&config.concurrency) {
        return Err(err("NOTIFY_CONCURRENCY must be between 1 and 256"));
    }
    if !(1..=1000).contains(&config.batch_size) {
        return Err(err("NOTIFY_BATCH_SIZE must be between 1 and 1000"));
    }
    if config.send_timeout < Duration::from_millis(100) {
        return Err(err("NOTIFY_SEND_TIMEOUT_MS must be at least 100"));
    }
    // A send must end well inside the lease, or another worker could send the row again.
    if config.lease < config.send_timeout.saturating_mul(3) {
        return Err(err(
            "NOTIFY_LEASE_SECS must be at least three times NOTIFY_SEND_TIMEOUT_MS",
        ));
    }
    Ok(())
}

fn jobs_config(vars: &impl Vars) -> Result<JobsConfig, ConfigError> {
    let hours = |name: &str, default: &str| -> Result<Duration, ConfigError> {
        let hours: u64 = parse(vars, name, default)?;
        if hours > 24 * 365 * 10 {
            return Err(err(format!("{name} must be at most ten years")));
        }
        Ok(Duration::from_secs(hours * 3600))
    };
    Ok(JobsConfig {
        interval: Duration::from_secs(parse(vars, "PORTAL_JOBS_INTERVAL_SECS", "300")?),
        retention: portal_messaging::jobs::Retention {
            result_links: hours("PORTAL_RESULT_LINK_RETENTION_HOURS", "720")?,
            idempotency_keys: hours("PORTAL_IDEMPOTENCY_RETENTION_HOURS", "168")?,
            hl7_messages: hl7_retention(vars)?,
        },
    })
}

fn hl7_retention(vars: &impl Vars) -> Result<Duration, ConfigError> {
    let days: u64 = parse(vars, "PORTAL_HL7_RETENTION_DAYS", "30")?;
    if !(1..=3650).contains(&days) {
        return Err(err("PORTAL_HL7_RETENTION_DAYS must be between 1 and 3650"));
    }
    Ok(Duration::from_secs(days * 24 * 3600))
}

/// `PORTAL_MLLP_BIND` (default `127.0.0.1:2575` in development, off in production),
/// `PORTAL_MLLP_SENDERS`, `PORTAL_MLLP_IN`.
fn mllp_config(vars: &impl Vars, dev: bool) -> Result<MllpConfig, ConfigError> {
    let bind = vars
        .get("PORTAL_MLLP_BIND")
        .or_else(|| dev.then(|| "127.0.0.1:2575".to_owned()))
        .unwrap_or_else(|| "off".to_owned());
    let mut listeners = Vec::new();
    if bind.trim() != "off" {
        for entry in bind.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, tenant) = match entry.split_once('=') {
                Some((addr, tenant)) => (addr.trim(), Some(tenant.trim().to_owned())),
                None => (entry, None),
            };
            let addr: SocketAddr = addr.parse().map_err(|_| {
                err(format!(
                    "PORTAL_MLLP_BIND: {addr:?} is not an address (host:port[=tenant])"
                ))
            })?;
            if listeners.iter().any(|l: &MllpListener| l.addr == addr) {
                return Err(err(format!("PORTAL_MLLP_BIND lists {addr} twice")));
            }
            listeners.push(MllpListener { addr, tenant });
        }
    }
    let mut senders = Vec::new();
    for entry in vars
        .get("PORTAL_MLLP_SENDERS")
        .unwrap_or_default()
        .split(',')
    {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (clia, tenant) = entry
            .split_once('=')
            .map(|(c, t)| (c.trim(), t.trim()))
            .filter(|(c, t)| !c.is_empty() && !t.is_empty())
            .ok_or_else(|| err("PORTAL_MLLP_SENDERS entries are CLIA=tenant"))?;
        senders.push((clia.to_owned(), tenant.to_owned()));
    }
    if !dev && senders.is_empty() && listeners.iter().any(|l| l.tenant.is_none()) {
        return Err(err(
            "PORTAL_MLLP_BIND: in production bind each address to a tenant (addr=tenant) or set PORTAL_MLLP_SENDERS",
        ));
    }
    let run_in = match vars.get("PORTAL_MLLP_IN").as_deref().map(str::trim) {
        None | Some("serve") => MllpRunIn::Serve,
        Some("worker") => MllpRunIn::Worker,
        Some(other) => {
            return Err(err(format!(
                "PORTAL_MLLP_IN must be serve or worker, not {other:?}"
            )));
        }
    };
    Ok(MllpConfig {
        tls: mllp_tls::MllpTlsConfig::from_vars(vars, &listeners, dev)?,
        listeners,
        senders,
        run_in,
    })
}

fn provider(vars: &impl Vars, url: &str, token: &str) -> Result<Option<Provider>, ConfigError> {
    let Some(address) = vars.get(url) else {
        if vars.get(token).is_some() {
            return Err(err(format!("{token} is set but {url} is not")));
        }
        return Ok(None);
    };
    check_http_url(url, &address)?;
    Ok(Some(Provider {
        url: Secret(address),
        token: vars.get(token).map(Secret),
    }))
}

fn check_http_url(name: &str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(err(format!("{name} must start with http:// or https://")))
    }
}

fn parse<T: std::str::FromStr>(
    vars: &impl Vars,
    name: &str,
    default: &str,
) -> Result<T, ConfigError> {
    let raw = vars.get(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|_| err(format!("{name} has an invalid value {raw:?}")))
}

fn flag(vars: &impl Vars, name: &str, default: bool) -> Result<bool, ConfigError> {
    match vars.get(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(err(format!("{name} must be true or false, not {other:?}"))),
    }
}

fn err(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn development_needs_no_variables() {
        let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert!(config.is_development() && config.is_sqlite() && config.seed_demo);
        assert!(matches!(config.jwt.keys, JwtKeys::DevSecret));
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn production_requires_postgres_and_real_keys() {
        let missing = Config::from_vars(&vars(&[("PORTAL_ENV", "production")]));
        assert!(missing.is_err());
        let config = Config::from_vars(&vars(&[
            ("PORTAL_ENV", "production"),
            ("DATABASE_URL", "postgres://portal:pw@127.0.0.1/portal"),
            ("JWT_JWKS_URL", "http://127.0.0.1:9000/jwks"),
            ("JWT_ISSUER", "https://idp.example/realms/portal"),
            ("JWT_AUDIENCE", "portal"),
        ]))
        .expect("complete production config");
        assert!(!config.playground && !config.introspection && !config.seed_demo);
        assert_eq!(format!("{:?}", config.database_url), "[redacted]");
    }

    #[test]
    fn migrations_use_the_owner_url_when_one_is_set() {
        let app = "postgres://portal_app:pw@127.0.0.1/portal";
        let owner = "postgres://portal_owner:pw@127.0.0.1/portal";
        let config = Config::from_vars(&vars(&[("DATABASE_URL", app)])).expect("valid");
        assert_eq!(config.migration_url(), app);
        assert!(!config.allow_rls_bypass);
        let config = Config::from_vars(&vars(&[
            ("DATABASE_URL", app),
            ("DATABASE_MIGRATION_URL", owner),
        ]))
        .expect("valid");
        assert_eq!(config.migration_url(), owner);
        assert_eq!(
            format!("{:?}", config.database_migration_url),
            "Some([redacted])"
        );
        let sqlite = Config::from_vars(&vars(&[("DATABASE_MIGRATION_URL", owner)]));
        assert!(
            sqlite.is_err(),
            "a migration role makes no sense for SQLite"
        );
    }

    #[test]
    fn notifications_default_to_the_mailbox_folder() {
        let config = Config::from_vars(&vars(&[("PORTAL_DATA_DIR", "/tmp/portal")]))
            .expect("defaults are valid");
        let notify = &config.notify;
        assert!(notify.smtp_url.is_none() && notify.sms.is_none() && notify.push.is_none());
        assert_eq!(notify.mailbox_dir, PathBuf::from("/tmp/portal/mailbox"));
        assert_eq!(notify.public_url, "http://127.0.0.1:8080");
        assert_eq!(
            (notify.max_attempts, notify.backoff),
            (5, Duration::from_secs(1))
        );
    }

    #[test]
    fn notification_settings_are_validated_by_name() {
        for (name, value) in [
            ("SMTP_URL", "ftp://mail"),
            ("SMTP_FROM", "not an address"),
            ("SMS_PROVIDER_URL", "127.0.0.1:9000"),
            ("PUSH_PROVIDER_TOKEN", "token-without-url"),
            ("NOTIFY_MAX_ATTEMPTS", "0"),
            ("PORTAL_PUBLIC_URL", "portal.example"),
        ] {
            let error = Config::from_vars(&vars(&[(name, value)])).err();
            assert!(
                error.is_some_and(|e| e.to_string().contains(name)),
                "{name}={value} must be rejected by name"
            );
        }
        let config = Config::from_vars(&vars(&[
            ("SMTP_URL", "smtps://user:pw@127.0.0.1:465"),
            ("SMS_PROVIDER_URL", "http://127.0.0.1:9000/sms"),
            ("SMS_PROVIDER_TOKEN", "s3cret"),
        ]))
        .expect("valid notification settings");
        assert!(!crate::describe(&config).contains("s3cret"));
        assert!(!crate::describe(&config).contains("pw@"));
    }

    #[test]
    fn public_url_defaults_to_loopback_and_must_be_http() {
        let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert_eq!(config.notify.public_url, "http://127.0.0.1:8080");
        let trimmed = Config::from_vars(&vars(&[("PORTAL_PUBLIC_URL", "https://portal.test/")]));
        assert_eq!(
            trimmed.map(|c| c.notify.public_url).ok().as_deref(),
            Some("https://portal.test")
        );
        assert!(Config::from_vars(&vars(&[("PORTAL_PUBLIC_URL", "portal.test")])).is_err());
    }

    #[test]
    fn the_read_cache_is_on_by_default_with_a_bounded_ttl() {
        let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert!(config.cache_enabled);
        assert_eq!(config.cache_ttl, Duration::from_secs(60));
        for bad in ["29", "121", "0", "sixty"] {
            let error = Config::from_vars(&vars(&[("CACHE_TTL_SECS", bad)]))
                .err()
                .unwrap_or_else(|| panic!("CACHE_TTL_SECS={bad} must be refused"));
            assert!(error.to_string().contains("CACHE_TTL_SECS"), "{error}");
        }
        let config = Config::from_vars(&vars(&[
            ("CACHE_TTL_SECS", "120"),
            ("CACHE_ENABLED", "false"),
        ]))
        .expect("valid cache settings");
        assert!(!config.cache_enabled);
        assert_eq!(config.cache_ttl, Duration::from_secs(120));
        assert!(Config::from_vars(&vars(&[("CACHE_ENABLED", "maybe")])).is_err());
    }

    #[test]
    fn redis_url_is_optional_validated_and_secret() {
        let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert!(config.redis_url.is_none());
        for bad in ["http://127.0.0.1:6379", "redis://[::1", "rediss://[::1"] {
            let error = Config::from_vars(&vars(&[("REDIS_URL", bad)])).err();
            assert!(
                error.is_some_and(|e| e.to_string().contains("REDIS_URL")),
                "{bad} must be rejected by name"
            );
        }
        Config::from_vars(&vars(&[("REDIS_URL", "rediss://redis.internal:6380/0")]))
            .expect("TLS is accepted");
        let config = Config::from_vars(&vars(&[("REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0")]))
            .expect("valid Redis URL");
        assert_eq!(format!("{:?}", config.redis_url), "Some([redacted])");
        assert!(!crate::describe(&config).contains("s3cret"));
    }

    #[test]
    fn background_work_lease_and_jobs_have_defaults_and_are_validated() {
        let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert!(config.background && config.notify.worker);
        assert_eq!(config.notify.lease, Duration::from_secs(300));
        assert_eq!(config.notify.send_timeout, Duration::from_secs(10));
        assert_eq!(config.jobs.interval, Duration::from_secs(300));
        assert_eq!(config.worker_bind.to_string(), "127.0.0.1:8081");
        let short = Config::from_vars(&vars(&[
            ("PORTAL_BACKGROUND", "false"),
            ("NOTIFY_LEASE_SECS", "2"),
            ("NOTIFY_SEND_TIMEOUT_MS", "500"),
        ]))
        .expect("a short lease over a shorter send timeout");
        assert!(!short.background);
        let error = Config::from_vars(&vars(&[("NOTIFY_LEASE_SECS", "20")])).err();
        assert!(
            error.is_some_and(|e| e.to_string().contains("NOTIFY_LEASE_SECS")),
            "a lease shorter than three send timeouts must be refused"
        );
        assert_eq!(short.notify.concurrency, 16, "the default");
        for bad in ["0", "257"] {
            let error = Config::from_vars(&vars(&[("NOTIFY_CONCURRENCY", bad)])).err();
            assert!(
                error.is_some_and(|e| e.to_string().contains("NOTIFY_CONCURRENCY")),
                "NOTIFY_CONCURRENCY={bad} must be refused"
            );
        }
        let error = Config::from_vars(&vars(&[("PORTAL_IDEMPOTENCY_RETENTION_HOURS", "-1")])).err();
        assert!(
            error.is_some_and(|e| e.to_string().contains("PORTAL_IDEMPOTENCY_RETENTION_HOURS"))
        );
    }

    #[test]
    fn mllp_listens_on_2575_in_development_and_nowhere_unless_told_in_production() {
        let dev = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert_eq!(
            dev.mllp.listeners,
            vec![MllpListener {
                addr: "127.0.0.1:2575".parse().expect("addr"),
                tenant: None
            }]
        );
        assert_eq!(dev.mllp.run_in, MllpRunIn::Serve);
        assert_eq!(
            dev.jobs.retention.hl7_messages,
            Duration::from_secs(30 * 86400)
        );
        let off = Config::from_vars(&vars(&[("PORTAL_MLLP_BIND", "off")])).expect("off");
        assert!(off.mllp.listeners.is_empty());
        let empty = Config::from_vars(&vars(&[("PORTAL_MLLP_BIND", "")])).expect("unset");
        assert_eq!(
            empty.mllp.listeners.len(),
            1,
            "an empty value counts as unset"
        );
        let prod = [
            ("PORTAL_ENV", "production"),
            ("DATABASE_URL", "postgres://portal:pw@127.0.0.1/portal"),
            ("JWT_JWKS_URL", "http://127.0.0.1:9000/jwks"),
            ("JWT_ISSUER", "https://idp.example/realms/portal"),
            ("JWT_AUDIENCE", "portal"),
        ];
        let config = Config::from_vars(&vars(&prod)).expect("production");
        assert!(config.mllp.listeners.is_empty());
        let unbound = [&prod[..], &[("PORTAL_MLLP_BIND", "0.0.0.0:2575")]].concat();
        assert!(
            Config::from_vars(&vars(&unbound)).is_err(),
            "a listener needs a tenant"
        );
        let bound = [
            &prod[..],
            &[
                ("PORTAL_MLLP_BIND", "0.0.0.0:2575=riverside, 0.0.0.0:2576"),
                (
                    "PORTAL_MLLP_SENDERS",
                    "05D2101234=riverside,05D9999999=northside",
                ),
                ("PORTAL_MLLP_IN", "worker"),
                (
                    "PORTAL_MLLP_ALLOW",
                    "0.0.0.0:2575=10.1.2.0/24,0.0.0.0:2576=10.1.3.0/24",
                ),
            ],
        ]
        .concat();
        let config = Config::from_vars(&vars(&bound)).expect("bound listeners");
        assert_eq!(
            config.mllp.listeners[0].tenant.as_deref(),
            Some("riverside")
        );
        assert_eq!(config.mllp.senders.len(), 2);
        assert_eq!(config.mllp.run_in, MllpRunIn::Worker);
        for (name, value) in [
            ("PORTAL_MLLP_BIND", "nowhere"),
            ("PORTAL_MLLP_BIND", "127.0.0.1:2575,127.0.0.1:2575"),
            ("PORTAL_MLLP_SENDERS", "05D2101234"),
            ("PORTAL_MLLP_IN", "both"),
            ("PORTAL_HL7_RETENTION_DAYS", "0"),
        ] {
            let error = Config::from_vars(&vars(&[(name, value)])).err();
            assert!(
                error.is_some_and(|e| e.to_string().contains(name)),
                "{name}={value} must be refused by name"
            );
        }
    }

    #[test]
    fn request_limits_and_persisted_queries_have_defaults_and_are_validated() {
        let config = Config::from_vars(&vars(&[])).expect("defaults are valid");
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        let limits = &config.request_limits;
        assert_eq!(
            (
                limits.max_query_bytes,
                limits.max_tokens,
                limits.max_selections
            ),
            (32 * 1024, 5_000, 2_000)
        );
        assert_eq!((limits.max_aliases, limits.max_directives), (50, 5));
        assert_eq!(config.persisted_queries, PersistedQueries::Automatic);
        let config = Config::from_vars(&vars(&[
            ("PORTAL_MAX_ALIASES", "3"),
            ("PORTAL_PERSISTED_QUERIES", "registered"),
            ("PORTAL_OPERATIONS_MANIFEST", "/etc/portal/operations.json"),
        ]))
        .expect("valid");
        assert_eq!(config.request_limits.max_aliases, 3);
        assert_eq!(
            config.persisted_queries,
            PersistedQueries::Registered("/etc/portal/operations.json".into())
        );
        for (bad, name) in [
            (
                vec![("PORTAL_PERSISTED_QUERIES", "registered")],
                "PORTAL_OPERATIONS_MANIFEST",
            ),
            (
                vec![("PORTAL_PERSISTED_QUERIES", "sometimes")],
                "PORTAL_PERSISTED_QUERIES",
            ),
            (
                vec![
                    ("PORTAL_MAX_QUERY_BYTES", "4096"),
                    ("PORTAL_MAX_BODY_BYTES", "2048"),
                ],
                "PORTAL_MAX_QUERY_BYTES",
            ),
            (vec![("PORTAL_MAX_TOKENS", "0")], "PORTAL_MAX_TOKENS"),
        ] {
            let error = Config::from_vars(&vars(&bad)).err();
            assert!(
                error.is_some_and(|e| e.to_string().contains(name)),
                "{bad:?} must be refused naming {name}"
            );
        }
    }

    #[test]
    fn bad_values_are_reported_by_name() {
        let error = Config::from_vars(&vars(&[("PORTAL_MAX_PAGE_SIZE", "lots")])).err();
        assert!(error.is_some_and(|e| e.to_string().contains("PORTAL_MAX_PAGE_SIZE")));
    }
}
