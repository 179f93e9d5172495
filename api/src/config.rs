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
        let printed = format!("{:?}", config.database_url);
        assert!(
            printed.contains("REDACTED") && !printed.contains("pw"),
            "{printed}"
        );
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
        let printed = format!("{:?}", config.database_migration_url);
        assert!(
            printed.contains("REDACTED") && !printed.contains("pw"),
            "{printed}"
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
        let printed = format!("{:?}", config.redis_url);
        assert!(
            printed.contains("REDACTED") && !printed.contains("s3cret"),
            "{printed}"
        );
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
