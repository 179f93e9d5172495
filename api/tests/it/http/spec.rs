//! `/graphql` as the GraphQL-over-HTTP spec describes it: media types and their status codes,
//! GET for queries only, 415 for bodies that are not JSON, 400 for requests that are not
//! GraphQL requests, a browser sent to the playground, and errors without false locations.

use serde_json::json;

use crate::http::client::{get, post, post_json};
use crate::support::{Backend, TestApp};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn graphql_response_json_clients_get_4xx_without_data_for_request_errors() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let ok = post_json(
        server.addr,
        Some(GRAPHQL_RESPONSE),
        None,
        &json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.content_type().starts_with(GRAPHQL_RESPONSE),
        "{}",
        ok.content_type()
    );
    assert_eq!(ok.body, r#"{"data":{"__typename":"Query"}}"#);

    for query in ["{", "{ noSuchField }", "query($id: ID!) { __typename }"] {
        let reply = post_json(
            server.addr,
            Some(GRAPHQL_RESPONSE),
            None,
            &json!({ "query": query, "variables": { "id": null } }),
        )
        .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        let body = reply.json();
        assert!(
            body.get("data").is_none(),
            "no data entry for {query}: {body}"
        );
        assert_eq!(reply.code(), "BAD_USER_INPUT", "{query}");
    }
}

#[tokio::test]
async fn application_json_clients_get_200_for_graphql_errors_and_json_by_default() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    for accept in [None, Some("application/json"), Some("*/*")] {
        let reply = post_json(
            server.addr,
            accept,
            None,
            &json!({ "query": "{ noSuchField }" }),
        )
        .await;
        assert_eq!(reply.status, 200, "{accept:?}");
        assert!(
            reply.content_type().starts_with("application/json"),
            "{accept:?}: {}",
            reply.content_type()
        );
        assert_eq!(reply.code(), "BAD_USER_INPUT");
    }
    let reply = post_json(
        server.addr,
        None,
        None,
        &json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(
        reply
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations_with_405() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let reply = get(
        server.addr,
        Some(GRAPHQL_RESPONSE),
        None,
        &[
            (
                "query",
                "query Type($name: String!) { __type(name: $name) { name } }",
            ),
            ("variables", r#"{"name":"Patient"}"#),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, r#"{"data":{"__type":{"name":"Patient"}}}"#);

    let mutation = "mutation { markResultViewed(id: \"x\") { id } }";
    let reply = get(
        server.addr,
        Some(GRAPHQL_RESPONSE),
        None,
        &[("query", mutation)],
    )
    .await;
    assert_eq!(reply.status, 405, "{}", reply.body);
    assert_eq!(
        reply.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    assert_eq!(reply.code(), "METHOD_NOT_ALLOWED");
    let named = get(
        server.addr,
        None,
        None,
        &[
            ("query", "query A { __typename } mutation B { __typename }"),
            ("operationName", "B"),
        ],
    )
    .await;
    assert_eq!(
        named.status, 405,
        "the selected operation decides: {}",
        named.body
    );

    let missing = get(server.addr, Some("application/json"), None, &[]).await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (400, "BAD_REQUEST")
    );
    let bad_variables = get(
        server.addr,
        None,
        None,
        &[("query", "{ __typename }"), ("variables", "{not json")],
    )
    .await;
    assert_eq!(
        (bad_variables.status, bad_variables.code().as_str()),
        (400, "BAD_REQUEST")
    );
}

#[tokio::test]
async fn a_body_that_is_not_application_json_is_415_and_never_runs() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let body = json!({ "query": "{ __typename }" }).to_string();
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/graphql"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=latin1"),
    ] {
        let reply = post(server.addr, content_type, None, None, body.clone()).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.body);
        assert_eq!(reply.code(), "UNSUPPORTED_MEDIA_TYPE");
        assert!(!reply.body.contains("Query"), "nothing ran: {}", reply.body);
    }
    let utf8 = post(
        server.addr,
        Some("application/json; charset=utf-8"),
        None,
        None,
        body,
    )
    .await;
    assert_eq!(utf8.status, 200);
}

#[tokio::test]
async fn requests_that_are_not_graphql_requests_are_400() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    for body in [
        "",
        "{ \"not a JSON",
        r#"{"notquery":"{ __typename }"}"#,
        r#"{"query":0}"#,
        r#"{"query":["array"]}"#,
        r#"{"query":"{ __typename }","variables":"string"}"#,
        r#"{"query":"{ __typename }","variables":[1]}"#,
        r#"{"query":"{ __typename }","operationName":false}"#,
        r#"{"query":"{ __typename }","extensions":0}"#,
        r#"[{"query":"{ __typename }"}]"#,
    ] {
        for accept in [None, Some(GRAPHQL_RESPONSE)] {
            let reply = post(server.addr, Some("application/json"), accept, None, body).await;
            assert_eq!(reply.status, 400, "{body} ({accept:?}): {}", reply.body);
            assert_eq!(reply.code(), "BAD_REQUEST", "{body}");
        }
    }
}

#[tokio::test]
async fn a_rejected_token_is_401_for_new_clients_and_carries_no_locations() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let body = json!({ "query": "{ viewer { subject } }" });
    let reply = post_json(
        server.addr,
        Some(GRAPHQL_RESPONSE),
        Some("not.a.token"),
        &body,
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(
        reply
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_eq!(reply.code(), "UNAUTHENTICATED");
    assert!(
        reply.json()["errors"][0].get("locations").is_none(),
        "{}",
        reply.body
    );
    let legacy = post_json(server.addr, None, Some("not.a.token"), &body).await;
    assert_eq!(
        (legacy.status, legacy.code().as_str()),
        (200, "UNAUTHENTICATED")
    );
}

#[tokio::test]
async fn a_browser_opening_graphql_is_sent_to_the_playground() {
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| c.playground = true)
        .await;
    let server = app.serve().await;
    let reply = get(server.addr, Some(browser), None, &[]).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(
        reply.headers.get("location").and_then(|v| v.to_str().ok()),
        Some("/")
    );

    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| c.playground = false)
        .await;
    let server = app.serve().await;
    let reply = get(server.addr, Some(browser), None, &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type().starts_with("text/html"));
    assert!(reply.body.contains("GraphQL endpoint"), "{}", reply.body);
    let query = get(
        server.addr,
        Some(browser),
        None,
        &[("query", "{ __typename }")],
    )
    .await;
    assert_eq!(
        query.body, r#"{"data":{"__typename":"Query"}}"#,
        "a query is a query"
    );
}
