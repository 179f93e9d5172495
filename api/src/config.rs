//! The one typed configuration, read once from the environment (and `.env`), validated at
//! start. Every variable is declared once, in the module of its section (`Var`: name, type,
//! default, help, secret-ness); the reference in docs/configuration.md, `portal config check`
//! and the test kit's secrets are read from those declarations (`SECTIONS`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub mod auth;
pub mod database;
pub mod hl7;
pub mod jobs;
pub mod limits;
pub mod mllp_tls;
pub mod notify;
pub mod public_health;
pub mod realtime;
pub mod reference;
pub mod server;
pub mod var;

pub use auth::{JwtConfig, JwtKeys};
pub use hl7::{MllpConfig, MllpListener, MllpRunIn};
pub use jobs::JobsConfig;
pub use limits::PersistedQueries;
pub use mllp_tls::MllpTlsConfig;
pub use notify::{NotifyConfig, Provider};
pub use public_health::{Endpoint, PublicHealthConfig};
pub use var::{Section, Var};

/// Every section, in the order the reference and `portal config check` list them.
pub const SECTIONS: &[Section] = &[
    server::SECTION,
    database::SECTION,
    auth::SECTION,
    limits::SECTION,
    realtime::SECTION,
    notify::SECTION,
    jobs::SECTION,
    hl7::SECTION,
    public_health::SECTION,
];

/// Every declared variable, section by section.
pub fn variables() -> impl Iterator<Item = &'static Var> {
    SECTIONS.iter().flat_map(|section| section.vars)
}

/// The declaration of `name`, if the portal reads such a variable.
pub fn variable(name: &str) -> Option<&'static Var> {
    variables().find(|var| var.name == name)
}

/// A value that is never printed (database URLs carry passwords): `secrecy`'s string,
/// whose `Debug` is redacted; `ExposeSecret::expose_secret` reads it.
pub type Secret = secrecy::SecretString;
pub use secrecy::ExposeSecret;

/// The configuration the portal runs with; each field's variable is declared in the module
/// of its section.
#[derive(Clone)]
pub struct Config {
    pub env: Environment,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Secret,
    /// The owner role `portal migrate` and auto-migrate use, when the application's role
    /// (`database_url`) may only read and write rows. Unset: `database_url`.
    pub database_migration_url: Option<Secret>,
    /// Start in production even though the database role is a superuser or has BYPASSRLS
    /// (row-level security then does not apply).
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
    /// The largest POST body `/graphql` reads; more is 413.
    pub max_body_bytes: usize,
    /// Limits checked before an operation runs (see `portal_schema::limits`).
    pub request_limits: portal_schema::limits::RequestLimits,
    pub persisted_queries: PersistedQueries,
    pub log_json: bool,
    /// How long `/ready` fails before the listener closes after SIGTERM (the drain).
    pub shutdown_drain: Duration,
    /// Deliveries buffered per live subscription (and events per tenant follower on the
    /// bus): a subscriber whose buffer is full is closed (4008) and resumes with `after`.
    pub event_bus_capacity: usize,
    /// How often the outbox relay looks for events when no write woke it.
    pub relay_interval: Duration,
    /// How often the audit sealer links committed audit rows into their chains: the longest
    /// a row waits unsealed, plus one pass.
    pub audit_seal_interval: Duration,
    /// Whether `GET /metrics` is served and traffic is counted.
    pub metrics: bool,
    /// Events fan out to every replica through a Redis stream; unset, the bus is
    /// in-process (one replica).
    pub redis_url: Option<Secret>,
    /// Whether query answers are cached: in Redis with `redis_url`, else in process memory.
    pub cache_enabled: bool,
    /// How long a cached answer may be served when no write invalidates it.
    pub cache_ttl: Duration,
    pub notify: NotifyConfig,
    /// Whether `portal serve` also runs the background work (outbox relay, notification
    /// worker, scheduled jobs). `portal worker` always runs it.
    pub background: bool,
    /// Where `portal worker` serves `/health`, `/ready` and `/metrics`.
    pub worker_bind: SocketAddr,
    pub jobs: JobsConfig,
    pub public_health: PublicHealthConfig,
    pub mllp: MllpConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

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

    /// Reads every section from `vars`; each section checks its own values and the rules
    /// between them.
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let env = server::environment(vars)?;
        let r = var::Reader::new(vars, env == Environment::Development);
        let server = server::read(&r)?;
        let database = database::read(&r, &server.data_dir)?;
        let limits = limits::read(&r)?;
        let realtime = realtime::read(&r)?;
        let jobs = jobs::read(&r, hl7::retention(&r)?)?;
        Ok(Self {
            env,
            bind: server.bind,
            notify: notify::read(&r, &server.data_dir, server.bind)?,
            public_health: public_health::read(&r, &server.data_dir)?,
            data_dir: server.data_dir,
            playground: server.playground,
            introspection: server.introspection,
            metrics: server.metrics,
            log_json: server.log_json,
            shutdown_drain: server.shutdown_drain,
            database_url: database.url,
            database_migration_url: database.migration_url,
            allow_rls_bypass: database.allow_rls_bypass,
            database_max_connections: database.max_connections,
            database_timeout: database.timeout,
            seed_demo: database.seed_demo,
            auto_migrate: database.auto_migrate,
            jwt: auth::read(&r)?,
            max_page_size: limits.max_page_size,
            max_depth: limits.max_depth,
            max_complexity: limits.max_complexity,
            max_body_bytes: limits.max_body_bytes,
            request_limits: limits.request,
            persisted_queries: limits.persisted_queries,
            event_bus_capacity: realtime.event_bus_capacity,
            relay_interval: realtime.relay_interval,
            redis_url: realtime.redis_url,
            cache_enabled: realtime.cache_enabled,
            cache_ttl: realtime.cache_ttl,
            audit_seal_interval: jobs.audit_seal_interval,
            background: jobs.background,
            worker_bind: jobs.worker_bind,
            jobs: jobs.jobs,
            mllp: hl7::read(&r)?,
        })
    }

    pub fn is_development(&self) -> bool {
        self.env == Environment::Development
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }

    /// The URL migrations run with: `DATABASE_MIGRATION_URL`, else `DATABASE_URL`.
    pub fn migration_url(&self) -> &str {
        self.database_migration_url
            .as_ref()
            .unwrap_or(&self.database_url)
            .expose_secret()
    }
}

fn check_http_url(name: &str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(err(format!("{name} must start with http:// or https://")))
    }
}

fn err(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

#[cfg(test)]
mod tests;
