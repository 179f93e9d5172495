//! Resuming a subscription is lossless when writes commit out of event-id order (events
//! are resumed by their publication sequence, not by id), on both backends.

use portal_entities::ResultStatus;
use portal_resolvers::ids::{NodeType, encode};
use portal_services::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::fixtures::World;
use crate::support::ws::WsClient;
use crate::support::{Backend, TestApp};

const READY: &str = r#"subscription($patientId: ID!, $after: ID) {
  resultReady(patientId: $patientId, after: $after) { eventId result { id } }
}"#;

fn ready_vars(w: &World, after: Option<&str>) -> Value {
    json!({
        "patientId": encode(NodeType::Patient, w.p1).to_string(),
        "after": after,
    })
}

fn event_id(data: &Value) -> String {
    data["resultReady"]["eventId"]
        .as_str()
        .unwrap_or_else(|| panic!("an eventId in {data}"))
        .to_owned()
}

/// The earlier write takes its event id (and time) first but commits only after the later
/// write was relayed and seen: the subscriber resumes after the later event and must still
/// receive the earlier one, exactly once.
async fn a_resume_after_a_later_event_delivers_an_earlier_event_that_committed_after_it(
    backend: Backend,
) {
    let app = TestApp::new(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let token = app.token("p1", w.tenant_a, &[Role::Patient], Some(w.p1));
    let earlier_taken = (Uuid::now_v7(), portal_services::clock::now());

    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("1", READY, ready_vars(&w, None)).await;
    app.wait_for_subscribers(1).await;
    let later = app
        .result_with_event(w.tenant_a, w.p1, order, w.cbc, ResultStatus::Final)
        .await;
    let seen = event_id(&client.expect_next("1").await);
    assert_eq!(seen, later.event_id.to_string());
    client.close().await;
    app.wait_for_subscribers(0).await;

    let earlier = app
        .result_with_event_taken(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            ResultStatus::Final,
            earlier_taken,
        )
        .await;
    assert!(earlier.event_id < later.event_id, "the earlier id is smaller");

    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("2", READY, ready_vars(&w, Some(&seen))).await;
    let data = client.expect_next("2").await;
    assert_eq!(
        event_id(&data),
        earlier.event_id.to_string(),
        "the event that committed after the one seen is replayed"
    );
    app.wait_for_subscribers(1).await;
    let next = app
        .result_with_event(w.tenant_a, w.p1, order, w.cbc, ResultStatus::Final)
        .await;
    assert_eq!(
        event_id(&client.expect_next("2").await),
        next.event_id.to_string(),
        "then the next live event, and the earlier one only once"
    );
}

on_both_backends!(
    a_resume_after_a_later_event_delivers_an_earlier_event_that_committed_after_it,
);
