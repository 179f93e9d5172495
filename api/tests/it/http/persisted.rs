//! Persisted queries: Apollo's automatic persisted queries over POST and GET, shared by
//! replicas through Redis, and the production mode that runs registered operations only
//! (a manifest written by `portal operations manifest`).

use portal_testkit::redis::RedisServer;
use serde_json::{Value, json};

use crate::http::client::{Reply, get, post_json};
use crate::support::binary::portal;
use crate::support::{Backend, TestApp};

const QUERY: &str = "query Typename { __typename }";

fn sha256(text: &str) -> String {
    portal_schema::persisted::sha256_hex(text)
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn by_hash(addr: std::net::SocketAddr, accept: Option<&str>, hash: &str) -> Reply {
    post_json(
        addr,
        accept,
        None,
        &json!({ "extensions": persisted(hash) }),
    )
    .await
}

#[tokio::test]
async fn a_client_sends_the_hash_then_the_text_once_and_the_hash_alone_afterwards() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let hash = sha256(QUERY);

    let unknown = by_hash(server.addr, None, &hash).await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (200, "PERSISTED_QUERY_NOT_FOUND")
    );
    let unknown = by_hash(
        server.addr,
        Some("application/graphql-response+json"),
        &hash,
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (404, "PERSISTED_QUERY_NOT_FOUND")
    );

    let register = json!({ "query": QUERY, "extensions": persisted(&hash) });
    let registered = post_json(server.addr, None, None, &register).await;
    assert_eq!(registered.body, r#"{"data":{"__typename":"Query"}}"#);

    let again = by_hash(server.addr, None, &hash).await;
    assert_eq!(again.body, r#"{"data":{"__typename":"Query"}}"#);
    let extensions = persisted(&hash).to_string();
    let over_get = get(
        server.addr,
        None,
        None,
        &[("extensions", extensions.as_str())],
    )
    .await;
    assert_eq!(
        (over_get.status, over_get.body.as_str()),
        (200, r#"{"data":{"__typename":"Query"}}"#)
    );

    let lying = json!({ "query": "{ viewer { subject } }", "extensions": persisted(&hash) });
    let lying = post_json(server.addr, None, None, &lying).await;
    assert_eq!(
        (lying.status, lying.code().as_str()),
        (400, "BAD_REQUEST"),
        "{}",
        lying.body
    );
    let malformed = by_hash(server.addr, None, "not-a-sha").await;
    assert_eq!(
        (malformed.status, malformed.code().as_str()),
        (400, "BAD_REQUEST")
    );
}

#[tokio::test]
async fn a_mutation_persisted_by_post_is_still_refused_by_get() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let mutation = "mutation { __typename }";
    let hash = sha256(mutation);
    post_json(
        server.addr,
        None,
        None,
        &json!({ "query": mutation, "extensions": persisted(&hash) }),
    )
    .await;
    let extensions = persisted(&hash).to_string();
    let reply = get(
        server.addr,
        None,
        None,
        &[("extensions", extensions.as_str())],
    )
    .await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (405, "METHOD_NOT_ALLOWED")
    );
}

#[tokio::test]
async fn with_redis_a_hash_registered_on_one_replica_is_known_to_the_others() {
    let redis = RedisServer::start();
    let url = redis.url();
    let first = TestApp::init(Backend::Sqlite)
        .with_secret("REDIS_URL", url.clone())
        .await;
    let second = TestApp::init(Backend::Sqlite)
        .with_secret("REDIS_URL", url)
        .await;
    let (a, b) = (first.serve().await, second.serve().await);
    let hash = sha256(QUERY);
    assert_eq!(
        by_hash(b.addr, None, &hash).await.code(),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    post_json(
        a.addr,
        None,
        None,
        &json!({ "query": QUERY, "extensions": persisted(&hash) }),
    )
    .await;
    let known = by_hash(b.addr, None, &hash).await;
    assert_eq!(
        known.body, r#"{"data":{"__typename":"Query"}}"#,
        "replica B knows A's hash"
    );
}

#[tokio::test]
async fn registered_only_runs_the_operations_of_the_manifest_and_nothing_else() {
    let dir = tempfile::tempdir().expect("dir");
    let document = dir.path().join("typename.graphql");
    std::fs::write(&document, QUERY).expect("write");
    let out = portal(dir.path())
        .args(["operations", "manifest"])
        .arg(&document)
        .output()
        .expect("portal operations manifest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = dir.path().join("operations.json");
    std::fs::write(&manifest, &out.stdout).expect("write manifest");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("manifest is JSON");
    assert_eq!(listed["format"], "apollo-persisted-query-manifest");
    assert_eq!(listed["operations"][0]["name"], "Typename");

    let app = TestApp::init(Backend::Sqlite)
        .with_config(move |c| {
            c.persisted_queries = portal_api::config::PersistedQueries::Registered(manifest);
        })
        .await;
    let server = app.serve().await;
    let hash = sha256(QUERY);
    let ok = r#"{"data":{"__typename":"Query"}}"#;
    assert_eq!(by_hash(server.addr, None, &hash).await.body, ok, "by hash");
    assert_eq!(
        post_json(server.addr, None, None, &json!({ "query": QUERY }))
            .await
            .body,
        ok,
        "by its exact text"
    );

    let other = "{ viewer { subject } }";
    let refused = post_json(
        server.addr,
        Some("application/graphql-response+json"),
        None,
        &json!({ "query": other }),
    )
    .await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "OPERATION_NOT_REGISTERED")
    );
    let register = json!({ "query": other, "extensions": persisted(&sha256(other)) });
    let refused = post_json(server.addr, None, None, &register).await;
    assert_eq!(
        refused.code(),
        "OPERATION_NOT_REGISTERED",
        "no registration at run time"
    );
    assert_eq!(
        by_hash(server.addr, None, &sha256(other)).await.code(),
        "PERSISTED_QUERY_NOT_FOUND"
    );
}
