//! Response fields come in the order of the selection set (GraphQL spec 7.2.2) — live, from
//! the read cache and over WebSocket — even where a field waits on the database and the
//! next one does not (async-graphql collects fields as they complete, its issue #612).
//!
//! The assertions read the raw bytes: a `serde_json::Value` sorts keys and would hide it.

use futures_util::{SinkExt, StreamExt};
use portal_entities::ResultStatus;
use portal_resolvers::ids::{NodeType, encode};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::http::client::post_json;
use crate::on_both_backends;
use crate::support::ws::WAIT;
use crate::support::{Backend, TestApp};

/// `results` and `test` need the database; `id`, `mrn`, `status` and `pageInfo` do not.
const QUERY: &str = "{ viewer { patient { results(first: 5) { edges { node { test { displayName } id status } } pageInfo { hasNextPage } } id mrn } } }";

/// The keys of the object at `path` in the raw JSON `raw`, in the order they were sent.
fn keys_at(raw: &str, path: &[&str]) -> Vec<String> {
    // async-graphql's value keeps the order of the text it was read from.
    let mut value: async_graphql::Value =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"));
    for step in path {
        value = match value {
            async_graphql::Value::Object(mut map) => map
                .shift_remove(*step)
                .unwrap_or_else(|| panic!("no {step} in {raw}")),
            async_graphql::Value::List(mut items) => {
                items.swap_remove(step.parse().expect("index"))
            }
            other => panic!("{step} of a scalar {other}"),
        };
    }
    match value {
        async_graphql::Value::Object(map) => map.keys().map(|k| k.to_string()).collect(),
        other => panic!("{path:?} is not an object: {other}"),
    }
}

fn assert_selection_order(raw: &str, pid: &str) {
    assert_eq!(
        keys_at(raw, &["data", "viewer", "patient"]),
        ["results", "id", "mrn"],
        "{raw}"
    );
    assert_eq!(
        keys_at(raw, &["data", "viewer", "patient", "results"]),
        ["edges", "pageInfo"],
        "{raw}"
    );
    let node = ["data", "viewer", "patient", "results", "edges", "0", "node"];
    assert_eq!(keys_at(raw, &node), ["test", "id", "status"], "{raw}");
    assert!(
        raw.ends_with(&format!(r#"}},"id":"{pid}","mrn":"P1"}}}}}}}}"#)),
        "{raw}"
    );
}

async fn fields_come_in_selection_order_live_and_from_the_cache(backend: Backend) {
    let app = TestApp::init(backend)
        .with_config(|c| c.cache_enabled = true)
        .await;
    let w = app.world().await;
    let server = app.serve().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let pid = encode(NodeType::Patient, w.p1).to_string();
    for round in ["live", "cached"] {
        let reply = post_json(server.addr, None, Some(&token), &json!({ "query": QUERY })).await;
        assert_eq!(reply.status, 200, "{round}: {}", reply.body);
        assert!(!reply.body.contains("errors"), "{round}: {}", reply.body);
        assert_selection_order(&reply.body, &pid);
    }
    assert!(
        app.state
            .cache
            .stats()
            .hit
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1,
        "the second answer came from the cache"
    );
}

async fn subscription_deliveries_come_in_selection_order(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let mut request = format!("ws://{}/graphql", server.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let send = |value: serde_json::Value| Message::Text(value.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })))
        .await
        .expect("init");
    let subscription = "subscription($p: ID!) { resultReady(patientId: $p) { result { test { displayName } id status } eventId } }";
    socket
        .send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription, "variables": { "p": encode(NodeType::Patient, w.p1).to_string() } } })))
        .await
        .expect("subscribe");
    app.wait_for_subscribers(1).await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    app.result_with_event(w.tenant_a, w.p1, order, w.cbc, ResultStatus::Final)
        .await;
    app.state.app.outbox_wake.notify_one();
    let raw = loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a delivery in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = frame
            && text.contains("\"next\"")
        {
            break text.to_string();
        }
    };
    assert!(!raw.contains("errors"), "{raw}");
    assert_eq!(
        keys_at(&raw, &["payload", "data", "resultReady"]),
        ["result", "eventId"],
        "{raw}"
    );
    assert_eq!(
        keys_at(&raw, &["payload", "data", "resultReady", "result"]),
        ["test", "id", "status"],
        "{raw}"
    );
}

on_both_backends!(
    fields_come_in_selection_order_live_and_from_the_cache,
    subscription_deliveries_come_in_selection_order,
);
