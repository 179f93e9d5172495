//! Prometheus metrics (`GET /metrics`): HTTP traffic, GraphQL error codes (HTTP and
//! WebSocket), open WebSocket connections and subscriptions, the event hub, read cache
//! outcomes, HL7 messages by type and outcome, and database gauges (outbox, notifications,
//! the HL7 dead letter, the audit sealer's lag) sampled at scrape time.
//!
//! Each application owns its registry: a `PrometheusRecorder` built with `build_recorder()`
//! (never installed as the process-global recorder) and recorded into through
//! `metrics::with_local_recorder`. Tests build many apps in one process, and a shared global
//! registry would let them see each other's counters and gauges (`portal_db_up` of a stopped
//! test cluster next to a healthy one); one registry per app keeps every `/metrics` about
//! its own app, and needs no install-once guard. Labels carry only route templates, status
//! codes, error codes, notification, batch and upload statuses: never identifiers or values (no PHI).

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Response;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use portal_entities::BatchStatus;
use portal_entities::enums::NotificationStatus;
use portal_messaging::backlog;
use portal_messaging::public_health::{PassCounts, queue};
use sea_orm::{ActiveEnum, DatabaseConnection, Iterable};

const HTTP_REQUESTS: &str = "portal_http_requests_total";
const HTTP_DURATION: &str = "portal_http_request_duration_seconds";
const GRAPHQL_ERRORS: &str = "portal_graphql_errors_total";
const SUBSCRIPTIONS_OPEN: &str = "portal_subscriptions_open";
const WS_CONNECTIONS_OPEN: &str = "portal_ws_connections_open";
const WS_ERRORS: &str = "portal_ws_errors_total";
const SLOW_CLOSED: &str = "portal_subscriptions_slow_closed_total";
const HUB_EVENTS: &str = "portal_hub_events_total";
const OUTBOX_UNPUBLISHED: &str = "portal_outbox_unpublished";
const OUTBOX_OLDEST_AGE: &str = "portal_outbox_oldest_unpublished_age_seconds";
const NOTIFICATIONS: &str = "portal_notifications";
const DB_UP: &str = "portal_db_up";
const JOB_RUNS: &str = "portal_job_runs_total";
const JOB_ROWS: &str = "portal_job_rows_total";
const CACHE_REQUESTS: &str = "portal_cache_requests_total";
const PH_QUEUE_DEPTH: &str = "portal_public_health_queue_depth";
const PH_QUEUE_OLDEST_AGE: &str = "portal_public_health_queue_oldest_age_seconds";
const PH_ERRORS: &str = "portal_public_health_error_queue";
const PH_BATCHES: &str = "portal_public_health_batches";
const PH_UPLOADS: &str = "portal_public_health_uploads_total";
const PH_HELD: &str = "portal_public_health_held_total";
const HL7_MESSAGES: &str = "portal_hl7_messages_total";
const HL7_DEAD_LETTER: &str = "portal_hl7_dead_letter";
const HL7_DEAD_LETTER_OLDEST_AGE: &str = "portal_hl7_dead_letter_oldest_age_seconds";
const HL7_CONNECTIONS: &str = "portal_hl7_connections_total";
const AUDIT_UNSEALED: &str = "portal_audit_unsealed";
const AUDIT_UNSEALED_AGE: &str = "portal_audit_unsealed_oldest_age_seconds";

/// Request durations, in seconds: from a cached read to a request near the timeouts.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `extensions.code` values clients can see; anything else is counted as `OTHER`, so a
/// label can never carry free text.
const KNOWN_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL",
    // The HTTP edge's own (see `http::graphql::codes` and `portal_schema::limits`).
    "BAD_REQUEST",
    "METHOD_NOT_ALLOWED",
    "UNSUPPORTED_MEDIA_TYPE",
    "LIMIT_EXCEEDED",
    "PERSISTED_QUERY_NOT_FOUND",
    "OPERATION_NOT_REGISTERED",
];

/// One application's registry and the handle that renders it.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Metrics {
    pub fn new() -> Self {
        // The name and buckets are constants, so this cannot fail; without buckets the
        // exporter would fall back to a summary, which is still a valid exposition.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), DURATION_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle };
        metrics.record(|| metrics::gauge!(SUBSCRIPTIONS_OPEN).set(0.0));
        metrics
    }

    fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }

    /// One finished HTTP request; `route` is the route template, never the raw path.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_owned();
        self.record(|| {
            metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "status" => status.to_string())
                .increment(1);
            metrics::histogram!(HTTP_DURATION, "route" => route).record(elapsed.as_secs_f64());
        });
    }

    /// Counts each error of a GraphQL response by its `extensions.code`.
    pub fn graphql_errors(&self, response: &Response) {
        for error in &response.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .and_then(|value| match value {
                    async_graphql::Value::String(code) => Some(code.as_str()),
                    _ => None,
                });
            let code = known_code(code);
            self.record(|| metrics::counter!(GRAPHQL_ERRORS, "code" => code).increment(1));
        }
    }

    /// One run of a scheduled job: `outcome` is `done`, `skipped` (another worker ran it) or
    /// `failed`; `rows` were changed or deleted.
    pub fn job_run(&self, job: &'static str, outcome: &'static str, rows: u64) {
        self.record(|| {
            metrics::counter!(JOB_RUNS, "job" => job, "outcome" => outcome).increment(1);
            metrics::counter!(JOB_ROWS, "job" => job).increment(rows);
        });
    }

    /// The uploads of one public-health pass by outcome (`sent`, `retried`, `refused`).
    pub fn public_health_pass(&self, counts: &PassCounts) {
        self.record(|| {
            for (outcome, n) in [
                ("sent", counts.sent),
                ("retried", counts.retried),
                ("refused", counts.refused),
            ] {
                metrics::counter!(PH_UPLOADS, "outcome" => outcome).increment(n as u64);
            }
            for (hold, n) in counts.held.by_reason() {
                metrics::counter!(PH_HELD, "reason" => hold.as_str()).increment(n as u64);
            }
        });
    }

    /// One answered HL7 message: `message_type` is an accepted type or `other`, `outcome`
    /// one of accepted, duplicate, error (AE), rejected (AR, the message), failed (AR, here).
    pub fn hl7_message(&self, message_type: &str, outcome: &'static str) {
        let message_type = message_type.to_owned();
        self.record(|| {
            metrics::counter!(HL7_MESSAGES, "type" => message_type, "outcome" => outcome)
                .increment(1);
        });
    }

    /// One MLLP connection: `accepted`, or the refusal's reason (not_allowed,
    /// connection_limit, no_certificate, unknown_ca, certificate_expired, handshake_failed,
    /// unbound_certificate).
    pub fn hl7_connection(&self, outcome: &'static str) {
        self.record(|| {
            metrics::counter!(HL7_CONNECTIONS, "outcome" => outcome).increment(1);
        });
    }

    /// Counts one open WebSocket connection until the returned guard is dropped.
    pub fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        self.record(|| metrics::gauge!(WS_CONNECTIONS_OPEN).increment(1.0));
        OpenConnection(self.clone())
    }

    /// Counts one error sent over WebSocket by its `extensions.code`.
    pub fn ws_error(&self, code: Option<&str>) {
        let code = known_code(code);
        self.record(|| metrics::counter!(WS_ERRORS, "code" => code).increment(1));
    }

    /// Copies the event hub's gauges and counters: open subscriptions (not connections: one
    /// connection may carry many), slow subscribers closed, events routed.
    pub fn record_hub(&self, hub: &portal_services::live::Hub) {
        use std::sync::atomic::Ordering::Relaxed;
        let open = hub.subscription_count();
        let counters = hub.counters();
        self.record(|| {
            metrics::gauge!(SUBSCRIPTIONS_OPEN).set(open as f64);
            metrics::counter!(SLOW_CLOSED).absolute(counters.slow_closed.load(Relaxed));
            metrics::counter!(HUB_EVENTS).absolute(counters.events_served.load(Relaxed));
        });
    }

    /// Samples the database gauges (bounded by `timeout`), then renders the exposition.
    pub async fn scrape(&self, db: &DatabaseConnection, timeout: Duration) -> String {
        let sample = tokio::time::timeout(timeout, sample(db)).await;
        match sample {
            Ok(Ok(sample)) => self.record_sample(&sample),
            Ok(Err(err)) => {
                tracing::warn!(code = %err.code(), "metrics: database sample failed");
                self.record_db_down();
            }
            Err(_) => {
                tracing::warn!("metrics: database sample timed out");
                self.record_db_down();
            }
        }
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// Copies the read cache's counters (it counts on its own; no request waits on this).
    pub fn record_cache(&self, stats: &portal_schema::cache::Stats) {
        use std::sync::atomic::Ordering::Relaxed;
        let outcomes = [
            ("hit", &stats.hit),
            ("miss", &stats.miss),
            ("bypass", &stats.bypass),
            ("error", &stats.error),
        ];
        self.record(|| {
            for (outcome, counter) in outcomes {
                metrics::counter!(CACHE_REQUESTS, "outcome" => outcome)
                    .absolute(counter.load(Relaxed));
            }
        });
    }

    /// Drains histogram samples into the registry so memory stays bounded between scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    fn record_db_down(&self) {
        self.record(|| metrics::gauge!(DB_UP).set(0.0));
    }

    fn record_sample(&self, sample: &Sample) {
        let age = age_seconds(sample.outbox.oldest_created_at);
        self.record(|| {
            metrics::gauge!(DB_UP).set(1.0);
            metrics::gauge!(OUTBOX_UNPUBLISHED).set(sample.outbox.unpublished as f64);
            metrics::gauge!(OUTBOX_OLDEST_AGE).set(age);
            metrics::gauge!(HL7_DEAD_LETTER).set(sample.hl7_dead_letter.depth as f64);
            metrics::gauge!(HL7_DEAD_LETTER_OLDEST_AGE)
                .set(age_seconds(sample.hl7_dead_letter.oldest_created_at));
            metrics::gauge!(AUDIT_UNSEALED).set(sample.audit.unsealed as f64);
            metrics::gauge!(AUDIT_UNSEALED_AGE).set(age_seconds(sample.audit.oldest));
            for status in NotificationStatus::iter() {
                let count = sample
                    .notifications
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!(NOTIFICATIONS, "status" => status.to_value()).set(count as f64);
            }
            record_public_health(&sample.public_health);
        });
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrements `portal_ws_connections_open` when the connection ends, however it ends.
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0
            .record(|| metrics::gauge!(WS_CONNECTIONS_OPEN).decrement(1.0));
    }
}

struct Sample {
    outbox: backlog::OutboxBacklog,
    hl7_dead_letter: portal_messaging::queue::Backlog,
    notifications: Vec<(NotificationStatus, i64)>,
    public_health: queue::Backlog,
    audit: portal_core::audit::lag::Lag,
}

async fn sample(db: &DatabaseConnection) -> portal_services::ServiceResult<Sample> {
    Ok(Sample {
        outbox: backlog::outbox(db).await?,
        hl7_dead_letter: portal_hl7_inbound::store::dead_letter_backlog(db).await?,
        notifications: backlog::notifications_by_status(db).await?,
        public_health: queue::backlog(db).await?,
        audit: portal_core::audit::lag::lag(db).await?,
    })
}

/// Queue depth and age, the error queue, and batches per status (counts only).
fn record_public_health(backlog: &queue::Backlog) {
    metrics::gauge!(PH_QUEUE_DEPTH).set(backlog.depth as f64);
    metrics::gauge!(PH_QUEUE_OLDEST_AGE).set(age_seconds(backlog.oldest_created_at));
    metrics::gauge!(PH_ERRORS).set(backlog.errors as f64);
    for status in BatchStatus::iter() {
        let count = backlog
            .batches
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(PH_BATCHES, "status" => status.to_value()).set(count as f64);
    }
}

fn age_seconds(oldest: Option<chrono::DateTime<chrono::Utc>>) -> f64 {
    oldest
        .map(|oldest| (portal_core::clock::now() - oldest).num_milliseconds())
        .map_or(0.0, |ms| ms.max(0) as f64 / 1000.0)
}

fn known_code(code: Option<&str>) -> &'static str {
    code.and_then(|code| KNOWN_CODES.iter().copied().find(|known| *known == code))
        .unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_are_not_labels() {
        assert_eq!(known_code(Some("NOT_FOUND")), "NOT_FOUND");
        assert_eq!(known_code(Some("patient 42 is missing")), "OTHER");
        assert_eq!(known_code(None), "OTHER");
    }
}
