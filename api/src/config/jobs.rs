//! `PORTAL_BACKGROUND`, `PORTAL_WORKER_BIND`, `PORTAL_JOBS_*` and retention: where the
//! background work runs and what the scheduled jobs keep.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::var::{Reader, Var, kind, section};

section! {
    title: "Background work and scheduled jobs",
    intro: "The outbox relay, the workers, the audit sealer and the scheduled housekeeping jobs: whether `portal serve` runs them beside the API, and what the jobs delete when.",
    BACKGROUND = Var::new("PORTAL_BACKGROUND", kind::BOOL,
        "`portal serve` also runs the outbox relay, the notification worker and the scheduled jobs; `false` on API-only replicas next to `portal worker` processes. `portal worker` always runs them.")
        .default("true");
    WORKER_BIND = Var::new("PORTAL_WORKER_BIND", kind::ADDRESS,
        "Listen address of `portal worker` (`/health`, `/ready`, `/metrics` only).")
        .default("127.0.0.1:8081");
    INTERVAL = Var::new("PORTAL_JOBS_INTERVAL_SECS", kind::SECONDS,
        "How often the scheduled jobs run (`0`: off).")
        .default("300");
    RESULT_LINK_RETENTION = Var::new("PORTAL_RESULT_LINK_RETENTION_HOURS", kind::HOURS,
        "Expired walk-in result links are deleted this long after they expired (until then, opening one answers \"expired\").")
        .default("720")
        .max(TEN_YEARS_IN_HOURS);
    IDEMPOTENCY_RETENTION = Var::new("PORTAL_IDEMPOTENCY_RETENTION_HOURS", kind::HOURS,
        "Idempotency keys are deleted this long after they were stored.")
        .default("168")
        .max(TEN_YEARS_IN_HOURS);
    AUDIT_SEAL_INTERVAL = Var::new("AUDIT_SEAL_INTERVAL_MS", kind::MILLISECONDS,
        "How often the audit sealer links committed audit rows into their chains: bounds the unsealed window (docs/audit.md).")
        .default("250")
        .range(10, 1000);
}

const TEN_YEARS_IN_HOURS: u64 = 24 * 365 * 10;

/// Scheduled housekeeping jobs (see `portal_messaging::jobs`).
#[derive(Clone)]
pub struct JobsConfig {
    /// How often the jobs run (`PORTAL_JOBS_INTERVAL_SECS`); zero turns them off.
    pub interval: Duration,
    pub retention: portal_messaging::jobs::Retention,
}

/// What this section sets.
pub(super) struct Jobs {
    pub background: bool,
    pub worker_bind: SocketAddr,
    pub audit_seal_interval: Duration,
    pub jobs: JobsConfig,
}

/// `hl7_messages`: the HL7 section's retention, which the same jobs apply.
pub(super) fn read(r: &Reader, hl7_messages: Duration) -> Result<Jobs, ConfigError> {
    let hours = |var: &Var| -> Result<Duration, ConfigError> {
        r.number::<u64>(var).map(|h| Duration::from_secs(h * 3600))
    };
    Ok(Jobs {
        background: r.flag(&BACKGROUND)?,
        worker_bind: r.parse(&WORKER_BIND)?,
        audit_seal_interval: r.millis(&AUDIT_SEAL_INTERVAL)?,
        jobs: JobsConfig {
            interval: r.seconds(&INTERVAL)?,
            retention: portal_messaging::jobs::Retention {
                result_links: hours(&RESULT_LINK_RETENTION)?,
                idempotency_keys: hours(&IDEMPOTENCY_RETENTION)?,
                hl7_messages,
            },
        },
    })
}
