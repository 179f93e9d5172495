//! `GET /metrics` over HTTP: request and GraphQL error counters under route templates and
//! codes, open subscriptions, database gauges, no identifiers in the output.

use std::net::SocketAddr;
use std::time::Duration;

use portal_entities::ResultStatus;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::fixtures::result_with_event;
use crate::support::ids::patient_gid;
use crate::support::ws::{Incoming, WsClient};
use crate::support::{Backend, TestApp, error_code};

/// Every wait here is bounded by this; the happy path takes milliseconds.
const WAIT: Duration = Duration::from_secs(10);

const PATIENT: &str =
    "query($id: ID!) { patient(id: $id) { results(first: 5) { edges { node { id } } } } }";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("http client")
}

pub async fn post_graphql(addr: SocketAddr, token: &str, query: &str, variables: Value) -> Value {
    client()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("POST /graphql answers")
        .json()
        .await
        .expect("GraphQL JSON")
}

pub async fn scrape(addr: SocketAddr) -> String {
    let response = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics answers");
    assert_eq!(response.status(), 200, "GET /metrics status");
    response.text().await.expect("metrics text")
}

/// The value of the sample `name` whose labels include every pair of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?;
        if !(rest.is_empty() || rest.starts_with('{')) {
            return None;
        }
        labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_graphql_errors_by_code_without_identifiers() {
    let app = TestApp::init(Backend::Sqlite).await;
    let w = app.world().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let server = app.serve().await;
    let own = patient_gid(w.p1);
    let other = patient_gid(w.p2);

    let ok = post_graphql(server.addr, &token, PATIENT, json!({ "id": own })).await;
    assert!(ok.get("errors").is_none(), "own results: {ok:#}");
    let denied = post_graphql(server.addr, &token, PATIENT, json!({ "id": other })).await;
    let code = error_code(&denied)
        .unwrap_or_else(|| panic!("another patient's results are refused: {denied:#}"))
        .to_owned();

    let text = scrape(server.addr).await;
    let graphql = [("route", "/graphql"), ("status", "200")];
    assert_eq!(
        sample(&text, "portal_http_requests_total", &graphql),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "portal_graphql_errors_total", &[("code", &code)]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "portal_http_request_duration_seconds_count",
            &[("route", "/graphql")]
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        text.contains("portal_http_request_duration_seconds_bucket{"),
        "duration is a histogram: {text}"
    );
    assert_eq!(sample(&text, "portal_db_up", &[]), Some(1.0), "{text}");
    // Their values depend on the fixtures and the running relay; that they are sampled is
    // what this test checks.
    for (name, labels) in [
        ("portal_outbox_unpublished", &[][..]),
        ("portal_outbox_oldest_unpublished_age_seconds", &[][..]),
        ("portal_notifications", &[("status", "PENDING")][..]),
        ("portal_notifications", &[("status", "DEAD")][..]),
    ] {
        assert!(
            sample(&text, name, labels).is_some(),
            "{name} missing: {text}"
        );
    }
    for identifier in [w.p1.to_string(), w.p2.to_string(), own, other] {
        assert!(
            !text.contains(&identifier),
            "{identifier} leaked into /metrics"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_label_routes_by_template_and_count_the_scrape_itself() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let health = client()
        .get(format!("http://{}/health", server.addr))
        .send()
        .await
        .expect("GET /health answers");
    assert_eq!(health.status(), 200);
    scrape(server.addr).await;
    let text = scrape(server.addr).await;
    let health = [("route", "/health"), ("status", "200")];
    assert_eq!(
        sample(&text, "portal_http_requests_total", &health),
        Some(1.0),
        "{text}"
    );
    let metrics = [("route", "/metrics"), ("status", "200")];
    assert_eq!(
        sample(&text, "portal_http_requests_total", &metrics),
        Some(1.0),
        "{text}"
    );
}

const READY: &str =
    "subscription($p: ID!) { resultReady(patientId: $p) { eventId result { id } } }";

/// The first message of subscription `id`: its error code, from a `next` with errors or an
/// `error` message (what the engine sends for an operation it rejects).
async fn first_error_code(socket: &mut WsClient, id: &str) -> String {
    loop {
        match socket.next().await {
            Incoming::Message(m) if m["id"] == id && m["type"] == "next" => {
                return m["payload"]["errors"][0]["extensions"]["code"].to_string();
            }
            Incoming::Message(m) if m["id"] == id && m["type"] == "error" => {
                return m["payload"][0]["extensions"]["code"].to_string();
            }
            // The end of an earlier subscription.
            Incoming::Message(m) if m["id"] != id && m["type"] == "complete" => {}
            other => panic!("expected an error for {id}, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_subscriptions_are_separate_gauges_and_websocket_errors_are_counted() {
    let app = TestApp::init(Backend::Sqlite).await;
    let w = app.world().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let server = app.serve().await;
    let mut socket = WsClient::connect(server.addr, Some(&token)).await;
    let text = scrape(server.addr).await;
    assert_eq!(
        sample(&text, "portal_ws_connections_open", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "portal_subscriptions_open", &[]),
        Some(0.0),
        "{text}"
    );

    let own = json!({ "p": patient_gid(w.p1) });
    socket.subscribe("1", READY, own.clone()).await;
    socket.subscribe("2", READY, own).await;
    app.wait_for_subscribers(2).await;
    let text = scrape(server.addr).await;
    assert_eq!(
        sample(&text, "portal_ws_connections_open", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "portal_subscriptions_open", &[]),
        Some(2.0),
        "{text}"
    );

    // An operation the engine rejects carries the code it gets over HTTP.
    socket
        .subscribe(
            "3",
            "subscription($p: ID!) { resultReady(patientId: $p) { nope } }",
            json!({ "p": patient_gid(w.p1) }),
        )
        .await;
    assert_eq!(
        first_error_code(&mut socket, "3").await,
        "\"BAD_USER_INPUT\""
    );
    socket
        .subscribe("4", READY, json!({ "p": patient_gid(w.p2) }))
        .await;
    assert_eq!(first_error_code(&mut socket, "4").await, "\"FORBIDDEN\"");
    let text = scrape(server.addr).await;
    for code in ["BAD_USER_INPUT", "FORBIDDEN"] {
        assert_eq!(
            sample(&text, "portal_ws_errors_total", &[("code", code)]),
            Some(1.0),
            "{text}"
        );
    }

    socket.close().await;
    let closed = async {
        loop {
            let text = scrape(server.addr).await;
            let connections = sample(&text, "portal_ws_connections_open", &[]);
            let subscriptions = sample(&text, "portal_subscriptions_open", &[]);
            if connections == Some(0.0) && subscriptions == Some(0.0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, closed)
        .await
        .expect("both gauges return to 0 after the socket closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| c.metrics = false)
        .await;
    let server = app.serve().await;
    let response = client()
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .expect("GET /metrics answers");
    assert_eq!(response.status(), 404);
}

/// No relay runs here, so the stored event stays unpublished while the gauges are sampled.
async fn database_gauges_count_the_outbox_backlog_and_notifications(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    result_with_event(
        &app.owner,
        w.tenant_a,
        w.p1,
        order,
        w.cbc,
        ResultStatus::Final,
    )
    .await;

    let metrics = app
        .state
        .metrics
        .as_ref()
        .expect("metrics are on by default");
    let text = metrics.scrape(&app.db, Duration::from_secs(5)).await;
    assert_eq!(sample(&text, "portal_db_up", &[]), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "portal_outbox_unpublished", &[]),
        Some(1.0),
        "{text}"
    );
    let age = sample(&text, "portal_outbox_oldest_unpublished_age_seconds", &[]);
    assert!(age.is_some_and(|age| age >= 0.0), "{text}");
    let notifications: f64 = ["PENDING", "SENT", "FAILED", "SKIPPED", "DEAD"]
        .iter()
        .filter_map(|status| sample(&text, "portal_notifications", &[("status", status)]))
        .sum();
    assert_eq!(
        notifications, 1.0,
        "one notification per released result: {text}"
    );
}

on_both_backends!(database_gauges_count_the_outbox_backlog_and_notifications);
