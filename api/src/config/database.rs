//! `DATABASE_*`: which database, as which roles, the pool, and what happens to it at start.

use std::time::Duration;

use super::var::{Reader, Var, kind, section};
use super::{ConfigError, Secret, err};

section! {
    title: "Database",
    intro: "SQLite (the embedded default) or PostgreSQL, the roles the portal connects as, the pool, and what happens at start. See docs/row-level-security.md for the roles.",
    URL = Var::new("DATABASE_URL", kind::URL,
        "`sqlite://…` or `postgres://user:pass@host/db`; production needs PostgreSQL.")
        .derived("`sqlite://<PORTAL_DATA_DIR>/portal.db?mode=rwc` in development; required in production")
        .secret();
    MIGRATION_URL = Var::new("DATABASE_MIGRATION_URL", kind::URL,
        "PostgreSQL only: the owner role that runs migrations (`portal migrate`, auto-migrate), when `DATABASE_URL` is the row-level-security-bound application role. Unset: `DATABASE_URL`.")
        .secret();
    ALLOW_RLS_BYPASS = Var::new("PORTAL_ALLOW_RLS_BYPASS", kind::BOOL,
        "Production refuses to start when `DATABASE_URL`'s role is a superuser or has `BYPASSRLS`; `true` starts anyway, with a warning.")
        .default("false");
    MAX_CONNECTIONS = Var::new("DATABASE_MAX_CONNECTIONS", kind::INTEGER,
        "Pool size. Also sets how many subscribes a replica authorizes at once: a quarter of it (at least 1).")
        .default("10")
        .min(1);
    TIMEOUT = Var::new("DATABASE_TIMEOUT_MS", kind::MILLISECONDS,
        "Connect and acquire timeout: an unreachable database becomes a quick `UNAVAILABLE`.")
        .default("3000");
    AUTO_MIGRATE = Var::new("PORTAL_AUTO_MIGRATE", kind::BOOL,
        "Apply migrations at start; in production, run `portal migrate` as a deploy step.")
        .by_environment(Some("true"), Some("false"));
    SEED_DEMO = Var::new("PORTAL_SEED_DEMO", kind::BOOL, "Seed the demo tenant (never in production).")
        .by_environment(Some("true"), Some("false"));
}

/// What this section sets.
pub(super) struct Database {
    pub url: Secret,
    pub migration_url: Option<Secret>,
    pub allow_rls_bypass: bool,
    pub max_connections: u32,
    pub timeout: Duration,
    pub auto_migrate: bool,
    pub seed_demo: bool,
}

pub(super) fn read(r: &Reader, data_dir: &std::path::Path) -> Result<Database, ConfigError> {
    let url = match r.set(&URL) {
        Some(url) => url,
        None if r.development => format!("sqlite://{}/portal.db?mode=rwc", data_dir.display()),
        None => return Err(err(format!("{} is required in production", URL.name))),
    };
    if !r.development && !url.starts_with("postgres") {
        return Err(err(format!(
            "production needs a PostgreSQL {} (postgres://…)",
            URL.name
        )));
    }
    let migration_url = r.set(&MIGRATION_URL);
    if let Some(owner) = &migration_url
        && (url.starts_with("sqlite:") || !owner.starts_with("postgres"))
    {
        return Err(err(format!(
            "{} must be a PostgreSQL URL, used with a PostgreSQL {}",
            MIGRATION_URL.name, URL.name
        )));
    }
    let seed_demo = r.flag(&SEED_DEMO)?;
    if !r.development && seed_demo {
        return Err(err(format!(
            "{} cannot be enabled in production",
            SEED_DEMO.name
        )));
    }
    Ok(Database {
        url: Secret::from(url),
        migration_url: migration_url.map(Secret::from),
        allow_rls_bypass: r.flag(&ALLOW_RLS_BYPASS)?,
        max_connections: r.number(&MAX_CONNECTIONS)?,
        timeout: r.millis(&TIMEOUT)?,
        auto_migrate: r.flag(&AUTO_MIGRATE)?,
        seed_demo,
    })
}
