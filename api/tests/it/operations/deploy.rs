//! The deployment (deploy/, Dockerfile, docs/operations.md): its validators, the metrics its
//! alerts and dashboard read against a real `portal serve` and `portal worker`, a real
//! Prometheus firing and resolving an alert, the shutdown drain, and two migrations racing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use portal_testkit::postgres::DedicatedCluster;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};

use crate::support::binary::{self, Server};
use crate::support::ws::WsClient;

/// Every wait here is bounded by this; the happy path takes seconds.
const WAIT: Duration = Duration::from_secs(90);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `python3 deploy/check.py ARGS`, with the variables the portal declares secret.
fn check_script(args: &[&str]) -> Output {
    let secrets: Vec<&str> = portal_api::config::variables()
        .filter(|var| var.secret)
        .map(|var| var.name)
        .collect();
    Command::new("python3")
        .arg(repo().join("deploy/check.py"))
        .args(args)
        .env("PORTAL_SECRET_VARIABLES", secrets.join(","))
        .output()
        .unwrap_or_else(|e| panic!("python3 deploy/check.py must run (install python3): {e}"))
}

#[test]
fn deployment_artifacts_pass_kubernetes_crd_checkov_promtool_and_compose_validation() {
    let out = check_script(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "deploy/check.py failed (a MISSING TOOLS line means .ci/run did not install them):\n{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_compose_service_environment_passes_portal_config_check() {
    let out = check_script(&["--compose-env"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let services: Value = serde_json::from_slice(&out.stdout).expect("compose env JSON");
    let services = services.as_object().expect("services");
    assert!(
        services.len() >= 4,
        "migrate, two API replicas and a worker: {services:?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, service) in services {
        let mut command = binary::portal(dir.path());
        for (key, value) in service["environment"].as_object().expect("environment") {
            command.env(key, value.as_str().expect("string value"));
        }
        // The compose hosts do not resolve here: the role check is skipped quickly.
        let out = command
            .env("DATABASE_TIMEOUT_MS", "500")
            .args(["config", "check"])
            .output()
            .expect("portal config check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("configuration OK"),
            "compose service {name}: portal config check failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("environment: Production"),
            "{name} runs in production"
        );
    }
}

/// The series names of a Prometheus exposition.
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200, "GET {base}/metrics");
    response.text().await.expect("metrics text")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// One framed ORU^R01 whose patient does not exist: answered, counted, nothing stored
/// beyond the dead letter.
async fn send_one_hl7_message(port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let message = "MSH|^~\\&|LIS|LAB|PORTAL|HOSP|20261208010000||ORU^R01|MSG-DEPLOY-1|P|2.5.1\r\
                   PID|1||NO-SUCH-MRN^^^HOSP^MR||DOE^JANE\r";
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("MLLP connect");
    let mut frame = vec![0x0B];
    frame.extend_from_slice(message.as_bytes());
    frame.extend_from_slice(&[0x1C, 0x0D]);
    stream.write_all(&frame).await.expect("MLLP write");
    let mut ack = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, stream.read(&mut ack))
        .await
        .expect("ACK in time")
        .expect("MLLP read");
    assert!(n > 0, "an ACK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_alerts_dashboard_and_autoscalers_read_is_exported() {
    let out = check_script(&["--metric-names"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let used: Vec<String> = serde_json::from_slice(&out.stdout).expect("names JSON");

    let database = portal_testkit::postgres::fresh_database();
    let dir = tempfile::tempdir().expect("temp dir");
    let mllp = free_port();
    let mllp_bind = format!("127.0.0.1:{mllp}");
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("PORTAL_BACKGROUND", "false"),
        ("PORTAL_MLLP_BIND", mllp_bind.as_str()),
    ];
    let serve = binary::start_with(dir.path(), &env).await;
    let worker = binary::start_worker(dir.path(), &[("DATABASE_URL", database.as_str())]).await;

    // Warm-up: a GraphQL error, an HL7 message, a WebSocket with an error.
    let (_, body) = binary::graphql(&serve, None, "{ noSuchField }").await;
    assert!(body["errors"].is_array(), "an error: {body}");
    send_one_hl7_message(mllp).await;
    let token = binary::token_with(
        dir.path(),
        &[("DATABASE_URL", database.as_str())],
        &["--role", "clinician"],
    );
    let mut ws = WsClient::connect(serve.addr(), Some(&token)).await;
    ws.subscribe("1", "subscription { noSuchField }", json!({}))
        .await;
    ws.expect_error("1").await;

    let mut exported = exported_names(&scrape(&serve.base).await);
    exported.extend(exported_names(&scrape(&worker.base).await));
    let missing: Vec<&String> = used
        .iter()
        // Prometheus' own series for every target.
        .filter(|name| name.as_str() != "up")
        .filter(|name| !exported.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "read by deploy/ (alerts, dashboard, KEDA) but not in any /metrics: {missing:?}\nexported: {exported:?}"
    );
    drop(ws);
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shipped rules with every `for:` cut to 2 s, so the test need not wait minutes.
fn rules_with_short_for() -> String {
    let rules =
        std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yaml")).expect("alerts.yaml");
    rules
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 2s", &line[..line.len() - line.trim_start().len()]),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The state of `alert` in Prometheus (`firing`, `pending`), or None when inactive.
async fn alert_state(prometheus: &str, alert: &str) -> Option<String> {
    let body: Value = reqwest::get(format!("{prometheus}/api/v1/alerts"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == alert)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

async fn instant_query(prometheus: &str, query: &str) -> Option<String> {
    let body: Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_owned)
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fires_the_database_alert_when_postgres_stops_and_resolves_it_after() {
    assert!(
        Command::new("prometheus").arg("--version").output().is_ok(),
        "the prometheus binary is missing (Debian's `prometheus` package; .ci/run installs it)"
    );
    let cluster =
        DedicatedCluster::start_new().unwrap_or_else(|e| panic!("dedicated cluster: {e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let portal = binary::start_with(
        dir.path(),
        &[
            ("DATABASE_URL", cluster.url()),
            ("DATABASE_TIMEOUT_MS", "300"),
        ],
    )
    .await;

    let rules = dir.path().join("alerts.yaml");
    std::fs::write(&rules, rules_with_short_for()).expect("rules");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: portal-api\n    static_configs:\n      - targets: ['{target}']\n",
            rules = rules.display(),
            target = portal.addr(),
        ),
    )
    .expect("prometheus.yml");
    let port = free_port();
    let _prometheus = Process(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let prometheus = format!("http://127.0.0.1:{port}");

    let p = prometheus.as_str();
    wait_until("Prometheus scrapes portal_db_up = 1", || async move {
        instant_query(p, "min(portal_db_up)").await.as_deref() == Some("1")
    })
    .await;
    assert_eq!(alert_state(p, "PortalDatabaseDown").await, None);

    cluster
        .stop()
        .unwrap_or_else(|e| panic!("stopping PostgreSQL: {e}"));
    wait_until("PortalDatabaseDown fires", || async move {
        alert_state(p, "PortalDatabaseDown").await.as_deref() == Some("firing")
    })
    .await;

    cluster
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"));
    wait_until("PortalDatabaseDown resolves", || async move {
        alert_state(p, "PortalDatabaseDown").await.is_none()
    })
    .await;
    drop(portal);
}

async fn ready(base: &str) -> Option<(u16, Value)> {
    let response = reqwest::get(format!("{base}/ready")).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_as_soon_as_sigterm_arrives_while_requests_are_still_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = binary::start_with(dir.path(), &[("PORTAL_SHUTDOWN_DRAIN_SECS", "10")]).await;
    assert_eq!(ready(&server.base).await.map(|r| r.0), Some(200));

    signal(&server, "TERM");
    let deadline = Instant::now() + WAIT;
    let body = loop {
        if let Some((503, body)) = ready(&server.base).await {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/ready answers 503 after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["status"], "shutting down", "{body}");
    // Still serving during the drain: the load balancer's last requests are answered.
    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .expect("GET /health during the drain");
    assert_eq!(health.status(), 200);

    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server exits after the drain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "a graceful exit: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_migrations_take_turns_under_the_advisory_lock() {
    let database = portal_testkit::postgres::fresh_database();
    let holder = portal_core::db::connect(&database, 1, Duration::from_secs(5))
        .await
        .expect("connect");
    let key = portal_api::migrate::MIGRATION_LOCK_KEY;
    let lock =
        |sql: &str| Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, [key.into()]);
    holder
        .execute_raw(lock("SELECT pg_advisory_lock($1)"))
        .await
        .expect("take the migration lock");

    let dir = tempfile::tempdir().expect("temp dir");
    let spawn = || {
        Process(
            binary::portal(dir.path())
                .arg("migrate")
                .env("DATABASE_URL", &database)
                .stdout(Stdio::null())
                .spawn()
                .expect("portal migrate"),
        )
    };
    let mut first = spawn();
    let mut second = spawn();

    // Both wait on the lock this test holds (none can have migrated meanwhile).
    let waiting = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let h = &holder;
    wait_until(
        "both `portal migrate` wait for the migration lock",
        || async move {
            let row = h
                .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, waiting))
                .await
                .ok()
                .flatten();
            row.and_then(|r| r.try_get::<i64>("", "n").ok()) == Some(2)
        },
    )
    .await;
    let tables = holder
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT to_regclass('seaql_migrations') IS NULL AS none",
        ))
        .await
        .expect("query")
        .expect("row");
    assert!(
        tables.try_get::<bool>("", "none").expect("none"),
        "nothing migrated while the lock was held"
    );

    holder
        .execute_raw(lock("SELECT pg_advisory_unlock($1)"))
        .await
        .expect("release");
    for (name, process) in [("first", &mut first), ("second", &mut second)] {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = process.0.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "the {name} migration finishes");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(
            status.success(),
            "the {name} `portal migrate` succeeds: {status}"
        );
    }
    assert_eq!(
        portal_api::migrate::pending(&holder)
            .await
            .expect("pending"),
        0,
        "every migration applied once"
    );
}
