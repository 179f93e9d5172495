//! The reference GraphQL-over-HTTP audit (npm `graphql-http`, its `auditServer`) against the
//! real binary: no audit may fail. Needs node and `npm ci` in `api/tests/graphql-http`
//! (`.ci/run` does both); without them the test fails and says so.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::binary::start;

fn audit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/graphql-http")
}

#[tokio::test]
async fn the_graphql_over_http_audit_passes_with_no_failure() {
    let dir = audit_dir();
    assert!(
        Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "node is missing: install Node.js 18+ (Debian package nodejs) — .ci/run does"
    );
    assert!(
        dir.join("node_modules/graphql-http").is_dir(),
        "graphql-http is not installed: run `npm ci --prefix {}` — .ci/run does",
        dir.display()
    );
    let data = tempfile::tempdir().expect("dir");
    let server = start(data.path()).await;
    let url = format!("{}/graphql", server.base);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("audit.mjs"))
            .arg(url)
            .output()
            .expect("run node")
    })
    .await
    .expect("audit task");
    assert!(
        output.status.success(),
        "the audit script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("the audit prints JSON");
    assert!(results.len() > 50, "the whole audit ran: {results:?}");
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count();
    let failed: Vec<&Value> = results.iter().filter(|r| r["status"] == "error").collect();
    let warned: Vec<&Value> = results.iter().filter(|r| r["status"] == "warn").collect();
    eprintln!(
        "graphql-http audit: {} ok, {} warn, {} error",
        count("ok"),
        count("warn"),
        count("error")
    );
    assert!(failed.is_empty(), "failed audits: {failed:#?}");
    assert!(warned.is_empty(), "warnings: {warned:#?}");
}
