//! `PORTAL_ENV`, where the server listens and keeps its files, what it exposes, how it logs.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::var::{Reader, Var, kind, section};
use super::{ConfigError, Environment, Vars, err};

section! {
    title: "Server",
    intro: "The environment, where the server listens and keeps its files, what it exposes and how it logs.",
    ENV = Var::new("PORTAL_ENV", kind::ONE_OF,
        "Production requires PostgreSQL and real JWT keys; it turns off demo data, auto-migration, the playground and introspection, and refuses `portal token`.")
        .default("development")
        .choices(&["development", "production"]);
    BIND = Var::new("PORTAL_BIND", kind::ADDRESS, "Listen address of `portal serve`.")
        .default("127.0.0.1:8080");
    DATA_DIR = Var::new("PORTAL_DATA_DIR", kind::PATH,
        "The SQLite file, the development signing key, the mailbox and public-health folders.")
        .default("./data");
    PLAYGROUND = Var::new("PORTAL_PLAYGROUND", kind::BOOL, "Serve GraphiQL at `/`.")
        .by_environment(Some("true"), Some("false"));
    INTROSPECTION = Var::new("PORTAL_INTROSPECTION", kind::BOOL, "Allow schema introspection.")
        .by_environment(Some("true"), Some("false"));
    METRICS = Var::new("PORTAL_METRICS", kind::BOOL,
        "Serve `GET /metrics` (Prometheus) and count requests; `false` removes the route.")
        .default("true");
    LOG_FORMAT = Var::new("PORTAL_LOG_FORMAT", kind::TEXT,
        "`json` for structured logs (one JSON object a line); anything else is text.")
        .default("text");
    LOG_FILTER = Var::new("RUST_LOG", kind::TEXT, "The log filter (`tracing_subscriber`'s `EnvFilter` syntax).")
        .default("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn");
    SHUTDOWN_DRAIN = Var::new("PORTAL_SHUTDOWN_DRAIN_SECS", kind::SECONDS,
        "After SIGTERM or SIGINT, `/ready` answers 503 at once while requests are still served for this long, so the load balancer stops sending traffic before the listener closes; in-flight requests then finish. Keep it plus the longest request under Kubernetes' `terminationGracePeriodSeconds`.")
        .by_environment(Some("0"), Some("10"))
        .max(300);
}

/// What this section sets.
pub(super) struct Server {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub playground: bool,
    pub introspection: bool,
    pub metrics: bool,
    pub log_json: bool,
    pub shutdown_drain: std::time::Duration,
}

/// `PORTAL_ENV`, read first: every other default may depend on it.
pub(super) fn environment(vars: &dyn Vars) -> Result<Environment, ConfigError> {
    match Reader::new(vars, true).choice(&ENV)? {
        "production" => Ok(Environment::Production),
        "development" => Ok(Environment::Development),
        other => Err(err(format!(
            "{} {other:?} is declared but not handled",
            ENV.name
        ))),
    }
}

pub(super) fn read(r: &Reader) -> Result<Server, ConfigError> {
    Ok(Server {
        bind: r.parse(&BIND)?,
        data_dir: r.text(&DATA_DIR).unwrap_or_default().into(),
        playground: r.flag(&PLAYGROUND)?,
        introspection: r.flag(&INTROSPECTION)?,
        metrics: r.flag(&METRICS)?,
        log_json: r.text(&LOG_FORMAT).as_deref() == Some("json"),
        shutdown_drain: r.seconds(&SHUTDOWN_DRAIN)?,
    })
}
