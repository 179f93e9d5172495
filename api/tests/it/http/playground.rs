//! The playground's development-only endpoints: the demo tokens and the mailbox exist in the
//! embedded default and say so; with the production environment they do not exist, even
//! with the playground turned on. The patient view and the favicon are served beside
//! GraphiQL; UNAUTHENTICATED says how to get a token in development only.

use serde_json::{Value, json};

use crate::http::client::post_json;
use crate::support::{Backend, TestApp};

async fn fetch(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_embedded_default_serves_demo_tokens_and_the_mailbox_and_says_they_are_development_only()
 {
    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| {
            c.playground = true;
            c.seed_demo = true;
        })
        .await;
    let server = app.serve().await;

    let (status, _, body) = fetch(server.addr, "/playground/tokens").await;
    assert_eq!(status, 200, "{body}");
    let tokens: Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        tokens["development"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist in production"),
        "{tokens:#}"
    );
    let labels: Vec<&str> = tokens["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["label"].as_str())
        .collect();
    assert!(labels.contains(&"Alice Nguyen — patient"), "{labels:?}");
    assert!(labels.contains(&"Riverside LIS — lab"), "{labels:?}");
    let alice = &tokens["users"][0];
    assert!(alice["patientId"].is_string() && alice["token"].is_string());

    // The token works: Alice reads herself.
    let me = post_json(
        server.addr,
        None,
        alice["token"].as_str(),
        &json!({ "query": "{ viewer { patient { givenName } } }" }),
    )
    .await;
    assert_eq!(me.json()["data"]["viewer"]["patient"]["givenName"], "Alice");

    let (status, _, body) = fetch(server.addr, "/playground/mailbox").await;
    assert_eq!(status, 200, "{body}");
    let mailbox: Value = serde_json::from_str(&body).expect("JSON");
    assert!(mailbox["development"].is_string(), "{mailbox:#}");
    assert!(mailbox["messages"].is_array(), "{mailbox:#}");

    let (status, content_type, page) = fetch(server.addr, "/playground/patient").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"));
    assert!(
        page.contains("\"tokensPath\":\"/playground/tokens\""),
        "{page}"
    );
    let (status, content_type, _) = fetch(server.addr, "/favicon.ico").await;
    assert_eq!((status, content_type.as_str()), (200, "image/svg+xml"));

    // A refused token's UNAUTHENTICATED says how to get one, and keeps its code.
    let message = refused_token_message(server.addr).await;
    assert!(message.contains("token --patient MRN1001"), "{message}");
}

#[tokio::test]
async fn in_production_the_demo_tokens_and_the_mailbox_do_not_exist() {
    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| {
            // Even with the playground turned on and demo data present.
            c.playground = true;
            c.seed_demo = true;
            c.env = portal_api::config::Environment::Production;
        })
        .await;
    let server = app.serve().await;
    for path in ["/playground/tokens", "/playground/mailbox"] {
        let (status, _, body) = fetch(server.addr, path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _, page) = fetch(server.addr, "/playground/patient").await;
    assert_eq!(status, 200);
    assert!(page.contains("\"tokensPath\":null"), "{page}");
    let (_, _, graphiql) = fetch(server.addr, "/").await;
    assert!(!graphiql.contains("Bearer ey"), "no token in the page");

    let message = refused_token_message(server.addr).await;
    assert!(!message.contains("development"), "{message}");
}

/// The message of the UNAUTHENTICATED error a malformed token gets.
async fn refused_token_message(addr: std::net::SocketAddr) -> String {
    let refused = post_json(
        addr,
        None,
        Some("not-a-token"),
        &json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(refused.code(), "UNAUTHENTICATED");
    refused.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
