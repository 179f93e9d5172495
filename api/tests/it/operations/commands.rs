//! Failure catalog, operations of the real binary: JSON logs carry request ids and no PHI,
//! even for failing requests; SIGTERM lets an in-flight request finish, then exits 0.

use std::process::Command;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use crate::support::binary::{Server, post, start_logged, start_with, token, token_with};

const PATIENT: &str = "query($id: ID!) { patient(id: $id) { mrn givenName familyName birthDate email phone results(first: 20) { edges { node { observations { displayValue valueText } } } } } }";
const ADD_RESULT: &str = "mutation($input: AddTestResultInput!) { addTestResult(input: $input) { eventId result { id } } }";

async fn viewer_patient_id(server: &Server, token: &str) -> Value {
    let query = json!({ "query": "{ viewer { patient { id } } }" });
    let (_, body) = post(server, Some(token), query, "setup").await;
    let id = body["data"]["viewer"]["patient"]["id"].clone();
    assert!(id.is_string(), "{body:#}");
    id
}

fn sigterm(server: &Server) {
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
}

fn wait_exit(server: &mut Server) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            return exit;
        }
        assert!(
            Instant::now() < deadline,
            "portal did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every string leaf of `value` (names, MRN, dates, contact details, result values).
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_no_phi_even_for_failing_requests() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("portal.log");
    let env = [
        ("PORTAL_LOG_FORMAT", "json"),
        (
            "RUST_LOG",
            "info,portal_api=debug,portal_services=debug,portal_schema=debug,\
             portal_resolvers=debug,portal_subscriptions=debug,sqlx=warn,sea_orm=warn",
        ),
    ];
    let mut server = start_logged(dir.path(), &env, &log).await;
    let alice = token(dir.path(), &["--patient", "MRN1001"]);
    let carol = token(dir.path(), &["--patient", "MRN1002"]);
    let lab = token(dir.path(), &["--role", "lab"]);
    let alice_id = viewer_patient_id(&server, &alice).await;
    let carol_id = viewer_patient_id(&server, &carol).await;

    let mut answered = Vec::new();
    let read = json!({ "query": PATIENT, "variables": { "id": alice_id } });
    let (headers, own) = post(&server, Some(&alice), read.clone(), "phi-own-read").await;
    assert!(own.get("errors").is_none(), "{own:#}");
    answered.push(headers);
    let (headers, body) = post(
        &server,
        Some("eyJhbGciOiJIUzI1NiJ9.e30.bad"),
        read,
        "phi-bad-token",
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    answered.push(headers);
    let other = json!({ "query": PATIENT, "variables": { "id": carol_id } });
    let (headers, body) = post(&server, Some(&alice), other, "phi-forbidden").await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body:#}"
    );
    answered.push(headers);
    let bad_input = json!({ "query": ADD_RESULT, "variables": { "input": {
        "patientId": alice_id,
        "order": { "facilityId": alice_id, "testCode": "no-such-test" },
        "status": "FINAL",
        "issuedAt": chrono::Utc::now().to_rfc3339(),
        "observations": [{ "code": "no-such-analyte", "valueText": "Nguyen positive 7.77" }] } } });
    let (headers, body) = post(&server, Some(&lab), bad_input, "phi-bad-input").await;
    let code = body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        ["BAD_USER_INPUT", "NOT_FOUND"].contains(&code.as_str()),
        "{body:#}"
    );
    answered.push(headers);
    let no_id = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(&alice)
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .expect("POST without a request id");
    answered.push(no_id.headers().clone());

    sigterm(&server);
    assert!(wait_exit(&mut server).success());
    let text = std::fs::read_to_string(&log).expect("read log");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 5, "the server logged: {text}");
    for headers in &answered {
        let id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id header");
        let logged = lines
            .iter()
            .any(|line| line["span"]["request_id"] == id && line["message"] == "request finished");
        assert!(logged, "no request line with request_id {id}: {text}");
    }
    for line in lines.iter().filter(|l| l["message"] == "request finished") {
        assert!(line["span"]["request_id"].is_string(), "{line}");
    }

    let mut phi = Vec::new();
    strings(&own["data"]["patient"], &mut phi);
    phi.extend([
        "Nguyen".to_owned(),
        "Alice".to_owned(),
        // The whole free text: "7.77" alone also matches a logged latency such as 17.771 ms.
        "Nguyen positive 7.77".to_owned(),
        alice.clone(),
        carol.clone(),
        lab.clone(),
        "eyJhbGciOiJIUzI1NiJ9.e30.bad".to_owned(),
    ]);
    phi.retain(|s| s.len() >= 4);
    assert!(
        phi.iter().any(|s| s.contains('@')),
        "the read returned contact details: {phi:?}"
    );
    for secret in &phi {
        assert!(
            !text.contains(secret.as_str()),
            "PHI or a token in the log: {secret:?}"
        );
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_blocked_in_flight_request_finish_with_its_answer_then_exits_zero() {
    let database = portal_testkit::postgres::fresh_database();
    let dir = tempfile::tempdir().expect("dir");
    let env = [("DATABASE_URL", database.as_str())];
    let mut server = start_with(dir.path(), &env).await;
    let alice = token_with(dir.path(), &env, &["--patient", "MRN1001"]);
    let lab = token_with(dir.path(), &env, &["--role", "lab"]);
    let (alice_id, facility) = crate::live::replicas::alice_and_facility(&server, &alice).await;

    let db = portal_core::db::connect(&database, 2, Duration::from_secs(5))
        .await
        .expect("connect");
    let holder = db.begin().await.expect("begin");
    // Reads go on; the result insert of the request waits for this lock.
    holder
        .execute_unprepared("LOCK TABLE test_results IN EXCLUSIVE MODE")
        .await
        .expect("lock test_results");
    let base = server.base.clone();
    let in_flight = tokio::spawn(async move {
        let body = json!({ "query": ADD_RESULT, "variables": { "input": {
            "patientId": alice_id,
            "order": { "facilityId": facility, "testCode": "4548-4" },
            "status": "FINAL",
            "issuedAt": chrono::Utc::now().to_rfc3339(),
            "observations": [{ "code": "4548-4", "valueNumeric": 5.9 }] } } });
        reqwest::Client::new()
            .post(format!("{base}/graphql"))
            .bearer_auth(&lab)
            .json(&body)
            .send()
            .await
            .expect("the in-flight request is answered")
            .json::<Value>()
            .await
            .expect("JSON answer")
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT count(*) AS n FROM pg_locks WHERE NOT granted",
            ))
            .await
            .expect("pg_locks")
            .and_then(|row| row.try_get::<i64>("", "n").ok())
            .unwrap_or(0);
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the request never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    sigterm(&server);
    // The server stops accepting connections but keeps the blocked request.
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{}/health", server.base))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.child.try_wait().expect("wait").is_none(),
        "exited with a request in flight"
    );
    holder.rollback().await.expect("release the lock");
    let answer = in_flight.await.expect("request task");
    assert!(answer.get("errors").is_none(), "{answer:#}");
    assert!(
        answer["data"]["addTestResult"]["eventId"].is_string(),
        "{answer:#}"
    );
    assert!(
        wait_exit(&mut server).success(),
        "exit code 0 after draining"
    );
}
