//! PostgreSQL outage on a dedicated cluster: while the database is stopped `/ready` is 503,
//! GraphQL answers UNAVAILABLE (bounded by DATABASE_TIMEOUT_MS, never a hang, never
//! INTERNAL) and `portal_db_up` is 0; once it is back, service resumes by itself.

use std::net::SocketAddr;
use std::time::Duration;

use portal_testkit::postgres::DedicatedCluster;
use serde_json::{Value, json};

use crate::operations::metrics::{post_graphql, sample, scrape};
use crate::support::ids::patient_gid;
use crate::support::{TestApp, error_code};

/// Bound on every single HTTP exchange: several times DATABASE_TIMEOUT_MS below.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the recovery after PostgreSQL restarts.
const RECOVERY: Duration = Duration::from_secs(30);

const PATIENT: &str =
    "query($id: ID!) { patient(id: $id) { results(first: 5) { edges { node { id } } } } }";

async fn ready_status(addr: SocketAddr) -> u16 {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client")
        .get(format!("http://{addr}/ready"))
        .send()
        .await
        .expect("GET /ready answers within the request timeout")
        .status()
        .as_u16()
}

async fn query_ok(addr: SocketAddr, token: &str, id: &str) -> Result<(), Value> {
    let response = post_graphql(addr, token, PATIENT, json!({ "id": id })).await;
    match response.get("errors") {
        None => Ok(()),
        Some(_) => Err(response),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_is_unavailable_quickly_and_service_resumes_when_it_returns() {
    let cluster =
        DedicatedCluster::start_new().unwrap_or_else(|e| panic!("dedicated cluster: {e}"));
    let app = TestApp::init_with_database_url(cluster.url())
        .with_config(|c| {
            c.database_timeout = Duration::from_millis(1000);
            c.database_max_connections = 4;
        })
        .await;
    let w = app.world().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let id = patient_gid(w.p1);
    let server = app.serve().await;
    assert_eq!(
        ready_status(server.addr).await,
        200,
        "ready before the outage"
    );
    query_ok(server.addr, &token, &id)
        .await
        .unwrap_or_else(|r| panic!("query before the outage: {r:#}"));

    cluster
        .stop()
        .unwrap_or_else(|e| panic!("stopping PostgreSQL: {e}"));
    assert_eq!(
        ready_status(server.addr).await,
        503,
        "/ready while PostgreSQL is down"
    );
    let down = post_graphql(server.addr, &token, PATIENT, json!({ "id": id })).await;
    assert_eq!(
        error_code(&down),
        Some("UNAVAILABLE"),
        "query while down: {down:#}"
    );
    let text = scrape(server.addr).await;
    assert_eq!(sample(&text, "portal_db_up", &[]), Some(0.0), "{text}");

    cluster
        .start()
        .unwrap_or_else(|e| panic!("restarting PostgreSQL: {e}"));
    let recovered = async {
        loop {
            if ready_status(server.addr).await == 200
                && query_ok(server.addr, &token, &id).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(RECOVERY, recovered)
        .await
        .unwrap_or_else(|_| {
            panic!("service did not resume within {RECOVERY:?} of PostgreSQL restarting")
        });
    let text = scrape(server.addr).await;
    assert_eq!(sample(&text, "portal_db_up", &[]), Some(1.0), "{text}");
}
