//! End to end: the real `portal` binary on a free loopback port, driven over HTTP.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::binary::{graphql, portal, start, token};

#[tokio::test]
async fn the_binary_serves_graphiql_and_graphql_on_demo_data() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;

    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .expect("health");
    assert!(health.status().is_success());
    let page = reqwest::get(format!("{}/", server.base))
        .await
        .expect("GET /")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("/playground/assets/") && page.contains("Bearer "),
        "GraphiQL page with a dev token"
    );
    let asset = page
        .split('"')
        .find(|s| s.starts_with("/playground/assets/") && s.ends_with(".js"))
        .expect("a script asset");
    let script = reqwest::get(format!("{}{asset}", server.base))
        .await
        .expect("asset");
    assert!(script.status().is_success(), "{asset} is served");

    let alice = token(dir.path(), &["--patient", "MRN1001"]);
    let query =
        "{ viewer { subject patient { mrn results(first: 50) { edges { node { status } } } } } }";
    let (headers, body) = graphql(&server, Some(&alice), query).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("e2e-request-1")
    );
    assert_eq!(body["data"]["viewer"]["patient"]["mrn"], "MRN1001");
    let results = body["data"]["viewer"]["patient"]["results"].to_string();
    assert!(
        results.contains("FINAL") && !results.contains("PRELIMINARY"),
        "{results}"
    );

    let (_, body) = graphql(&server, Some("not.a.token"), query).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body:#}"
    );
    let (_, body) = graphql(&server, None, query).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body:#}"
    );
    assert!(
        !body.to_string().to_lowercase().contains("select"),
        "no SQL in errors"
    );

    drop(server);
    let server = start(dir.path()).await;
    let staff = token(dir.path(), &["--role", "staff"]);
    let (_, body) = graphql(
        &server,
        Some(&staff),
        "{ viewer { patients(first: 50) { edges { node { mrn } } } } }",
    )
    .await;
    assert_eq!(
        body["data"]["viewer"]["patients"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(4),
        "restart seeds nothing twice"
    );
}

#[test]
fn dev_tokens_are_refused_in_production_configuration() {
    let dir = tempfile::tempdir().expect("dir");
    let out = portal(dir.path())
        .args(["token", "--role", "lab"])
        .env("PORTAL_ENV", "production")
        .env("DATABASE_URL", "postgres://portal@127.0.0.1:1/portal")
        .env("JWT_JWKS_URL", "http://127.0.0.1:1/jwks")
        .env("JWT_ISSUER", "https://idp.test")
        .env("JWT_AUDIENCE", "portal")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused in production"));
}

#[test]
fn config_check_reports_missing_production_settings_clearly() {
    let dir = tempfile::tempdir().expect("dir");
    let out = portal(dir.path())
        .args(["config", "check"])
        .env("PORTAL_ENV", "production")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL is required in production")
    );
    let out = portal(dir.path())
        .args(["config", "check"])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
}

#[test]
fn config_check_lists_every_declared_variable_and_never_prints_a_secret() {
    let dir = tempfile::tempdir().expect("dir");
    let out = portal(dir.path())
        .args(["config", "check"])
        .env("SMTP_URL", "smtps://mailer:s3cret@127.0.0.1:465")
        .env("NOTIFY_POLL_MS", "750")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("configuration OK"), "{stdout}");
    for var in portal_api::config::variables() {
        assert!(
            stdout.contains(&format!("    {} = ", var.name)),
            "{} missing:\n{stdout}",
            var.name
        );
    }
    assert!(stdout.contains("SMTP_URL = [secret] (set)"), "{stdout}");
    assert!(
        stdout.contains("NOTIFY_POLL_MS = \"750\" (set)"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn config_reference_prints_the_generated_reference_without_a_valid_configuration() {
    let dir = tempfile::tempdir().expect("dir");
    let out = portal(dir.path())
        .args(["config", "reference"])
        .env("PORTAL_ENV", "production")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        portal_api::config::reference::markdown()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_lab_result_over_http_reaches_the_subscriber_and_the_mailbox_then_sigterm_closes_sockets()
{
    use crate::support::ws::{Incoming, WsClient};

    let dir = tempfile::tempdir().expect("dir");
    let mut server = start(dir.path()).await;
    let alice_token = token(dir.path(), &["--patient", "MRN1001"]);
    let lab_token = token(dir.path(), &["--role", "lab"]);
    let (_, body) = graphql(
        &server,
        Some(&alice_token),
        "{ viewer { patient { id orders(first: 1) { edges { node { facility { id } } } } } } }",
    )
    .await;
    let alice_gid = body["data"]["viewer"]["patient"]["id"].clone();
    let facility =
        body["data"]["viewer"]["patient"]["orders"]["edges"][0]["node"]["facility"]["id"].clone();
    assert!(alice_gid.is_string() && facility.is_string(), "{body:#}");

    let addr = server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let mut client = WsClient::connect(addr, Some(&alice_token)).await;
    // The subscription may start listening a moment after `subscribe` returns: resuming from
    // a mark taken before the write makes the result arrive exactly once either way.
    let mark = uuid::Uuid::now_v7();
    client
        .subscribe(
            "1",
            "subscription($p: ID!, $a: ID) { resultReady(patientId: $p, after: $a) { eventId result { id status observations { displayValue } } } }",
            json!({ "p": alice_gid, "a": mark.to_string() }),
        )
        .await;
    let add = json!({ "query": "mutation($input: AddTestResultInput!) { addTestResult(input: $input) { eventId result { id } } }",
        "variables": { "input": {
            "patientId": alice_gid,
            "order": { "facilityId": facility, "testCode": "4548-4" },
            "status": "FINAL",
            "issuedAt": chrono::Utc::now().to_rfc3339(),
            "observations": [{ "code": "4548-4", "valueNumeric": 6.3 }] } } });
    let added: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(&lab_token)
        .json(&add)
        .send()
        .await
        .expect("POST addTestResult")
        .json()
        .await
        .expect("json");
    assert!(added.get("errors").is_none(), "{added:#}");
    let data = client.expect_next("1").await;
    assert_eq!(
        data["resultReady"]["eventId"], added["data"]["addTestResult"]["eventId"],
        "{data:#}"
    );
    assert_eq!(
        data["resultReady"]["result"]["observations"][0]["displayValue"],
        "6.3 %"
    );

    // The delivery worker of `portal serve` writes the email to the mailbox folder.
    let mailbox = dir.path().join("data").join("mailbox");
    let deadline = Instant::now() + Duration::from_secs(15);
    let email = loop {
        let found = std::fs::read_dir(&mailbox).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        });
        if let Some(entry) = found {
            break std::fs::read_to_string(entry.path()).expect("read email");
        }
        assert!(
            Instant::now() < deadline,
            "no email in {} within 15 s",
            mailbox.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        email.contains("alice@example.org") && email.contains("A new result is ready"),
        "{email}"
    );
    assert!(
        !email.contains("6.3") && !email.contains("Nguyen") && !email.contains("A1c"),
        "no PHI: {email}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    match client.next().await {
        Incoming::Closed { code, .. } => assert_eq!(code, 1001, "going away"),
        other => panic!("expected the socket to close on shutdown, got {other:?}"),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "portal did not stop within 10 s of SIGTERM with a subscription open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "graceful exit: {exit:?}");
}
