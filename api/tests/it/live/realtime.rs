//! Live results end to end: commit → outbox → relay → bus → GraphQL subscription over a
//! real WebSocket, on both backends.

use chrono::{Duration, Utc};
use futures_util::StreamExt;
use portal_core::db::TenantDb;
use portal_entities::{ResultStatus, outbox_event};
use portal_messaging::outbox::{self, Follow};
use portal_subscriptions::{Delivery, EventBus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::fixtures::World;
use crate::support::ids::{NodeType, gid, patient_gid, result_gid};
use crate::support::ws::{WAIT, WsClient};
use crate::support::{Backend, Role, TestApp};

const READY: &str = r#"subscription($patientId: ID!, $after: ID) {
  resultReady(patientId: $patientId, after: $after) { eventId result { id status observations { code } } }
}"#;
const REVOKE: &str = "mutation($id: ID!) { revokeProxyAccess(id: $id) { grant { id } } }";
const UPDATED: &str = r#"subscription($patientId: ID) {
  resultUpdated(patientId: $patientId) { eventId result { id status } }
}"#;

fn patient(id: Uuid) -> Value {
    json!({ "patientId": patient_gid(id) })
}

/// A fresh order of P1 to attach new results to.
async fn p1_order(app: &TestApp, w: &World) -> Uuid {
    app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await
}

async fn store(app: &TestApp, w: &World, order: Uuid, status: ResultStatus) -> (Uuid, Uuid) {
    let stored = app
        .result_with_event(w.tenant_a, w.p1, order, w.cbc, status)
        .await;
    (stored.result_id, stored.event_id)
}

async fn relay_publishes_committed_events_in_order_and_marks_them(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = p1_order(&app, &w).await;
    let mut live = app.state.app.bus.subscribe();
    let (_, first) = store(&app, &w, order, ResultStatus::Preliminary).await;
    let (_, second) = store(&app, &w, order, ResultStatus::Final).await;
    let relayed = outbox::relay_once(&app.db, &app.state.app.bus, 10)
        .await
        .expect("relay");
    assert_eq!(relayed, 2);
    for expected in [first, second] {
        match tokio::time::timeout(WAIT, live.next()).await {
            Ok(Some(Delivery::Event(e))) => assert_eq!(e.id, expected),
            other => panic!("expected event {expected}, got {other:?}"),
        }
    }
    let unpublished = outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .all(&app.owner)
        .await
        .expect("outbox");
    assert!(unpublished.is_empty(), "all marked published");
    assert_eq!(
        outbox::relay_once(&app.db, &app.state.app.bus, 10)
            .await
            .ok(),
        Some(0),
        "nothing is published twice by the relay"
    );
}

async fn a_lagging_subscriber_catches_up_from_the_outbox_without_duplicates(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = p1_order(&app, &w).await;
    // One slot per subscriber, no relay running: one relay pass of five events must lag it.
    let bus = EventBus::in_process(1);
    let scoped = TenantDb::scoped(app.db.clone(), Some(w.tenant_a));
    let follow = Follow {
        tenant_id: w.tenant_a,
        patient_id: Some(w.p1),
        after: outbox::start_after(&scoped, w.tenant_a, None)
            .await
            .expect("start"),
    };
    let mut events = outbox::follow(scoped, &bus, follow);
    let mut stored = Vec::new();
    for _ in 0..5 {
        stored.push(store(&app, &w, order, ResultStatus::Final).await.1);
    }
    assert_eq!(outbox::relay_once(&app.db, &bus, 10).await.ok(), Some(5));
    let mut received = Vec::new();
    for _ in 0..5 {
        match tokio::time::timeout(WAIT, events.next()).await {
            Ok(Some(Ok(event))) => received.push(event.id),
            other => panic!("expected an event, got {other:?} after {received:?}"),
        }
    }
    assert_eq!(received, stored, "every event once, in order");
    let (_, sixth) = store(&app, &w, order, ResultStatus::Final).await;
    outbox::relay_once(&app.db, &bus, 10).await.expect("relay");
    match tokio::time::timeout(WAIT, events.next()).await {
        Ok(Some(Ok(event))) => assert_eq!(event.id, sixth, "no duplicate before the next event"),
        other => panic!("expected the sixth event, got {other:?}"),
    }
}

async fn patient_receives_a_released_result_after_commit(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("1", READY, patient(w.p1)).await;
    app.wait_for_subscribers(1).await;
    let (result, event) = store(&app, &w, p1_order(&app, &w).await, ResultStatus::Final).await;
    let data = client.expect_next("1").await;
    assert_eq!(data["resultReady"]["eventId"], event.to_string());
    assert_eq!(data["resultReady"]["result"]["id"], result_gid(result));
    assert_eq!(data["resultReady"]["result"]["status"], "FINAL");
    assert_eq!(
        data["resultReady"]["result"]["observations"],
        json!([]),
        "fields of the result resolve through the connection's loader"
    );
    let audited = app
        .audit_rows()
        .await
        .into_iter()
        .any(|r| r.action == "result.read" && r.entity_id == Some(result));
    assert!(audited, "the delivered read is in the audit trail");
    client.close().await;
}

async fn patient_never_receives_preliminary_or_held_sensitive_results(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    app.hold_sensitive(w.tenant_a, w.p1).await;
    let server = app.serve().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("1", READY, patient(w.p1)).await;
    app.wait_for_subscribers(1).await;
    let order = p1_order(&app, &w).await;
    store(&app, &w, order, ResultStatus::Preliminary).await;
    let hiv_order = app.order(w.tenant_a, w.p1, w.facility, w.hiv, None).await;
    app.result_with_event(w.tenant_a, w.p1, hiv_order, w.hiv, ResultStatus::Final)
        .await;
    let (final_result, _) = store(&app, &w, order, ResultStatus::Final).await;
    let data = client.expect_next("1").await;
    assert_eq!(
        data["resultReady"]["result"]["id"],
        result_gid(final_result),
        "the first delivery is the CBC result, committed after the PRELIMINARY and the held one"
    );
}

async fn unauthorised_subscribers_get_an_error_and_nothing_else(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let cases = [
        (
            "another patient",
            Some(app.as_patient("p2", w.tenant_a, w.p2).token()),
            "FORBIDDEN",
        ),
        (
            "another tenant",
            Some(app.as_patient("q1", w.tenant_b, w.q1).token()),
            "NOT_FOUND",
        ),
        ("no token", None, "UNAUTHENTICATED"),
    ];
    for (who, token, code) in cases {
        let mut client = WsClient::connect(server.addr, token.as_deref()).await;
        client.subscribe("1", READY, patient(w.p1)).await;
        assert_eq!(client.expect_error("1").await, code, "{who}");
        client.close().await;
    }
    assert_eq!(
        app.state.app.hub.subscription_count(),
        0,
        "no subscription stays open"
    );
}

async fn bad_token_closes_the_connection_and_is_audited(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let mut forged = app.as_patient("p1", w.tenant_a, w.p1).token();
    forged.push('x');
    for payload in [
        json!({ "Authorization": format!("Bearer {forged}") }),
        json!({ "authorization": "Basic cDE6c2VjcmV0" }),
    ] {
        let mut client = WsClient::open(server.addr, payload.clone()).await;
        let (code, _) = client.expect_closed().await;
        assert_eq!(code, 4403, "{payload}");
    }
    let denied = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "auth.login" && r.client_addr.as_deref() == Some("127.0.0.1"))
        .count();
    assert_eq!(denied, 2, "each rejected token is audited");
}

async fn reconnect_with_after_receives_exactly_the_missed_events(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let order = p1_order(&app, &w).await;
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("1", READY, patient(w.p1)).await;
    app.wait_for_subscribers(1).await;
    let (_, seen) = store(&app, &w, order, ResultStatus::Final).await;
    let data = client.expect_next("1").await;
    assert_eq!(data["resultReady"]["eventId"], seen.to_string());
    client.close().await;
    app.wait_for_subscribers(0).await;

    let (missed_1, _) = store(&app, &w, order, ResultStatus::Final).await;
    store(&app, &w, order, ResultStatus::Preliminary).await;
    let (missed_2, _) = store(&app, &w, order, ResultStatus::Corrected).await;
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    let mut vars = patient(w.p1);
    vars["after"] = json!(seen.to_string());
    client.subscribe("2", READY, vars).await;
    for expected in [missed_1, missed_2] {
        let data = client.expect_next("2").await;
        assert_eq!(data["resultReady"]["result"]["id"], result_gid(expected));
    }
    app.wait_for_subscribers(1).await;
    let (live, _) = store(&app, &w, order, ResultStatus::Final).await;
    let data = client.expect_next("2").await;
    assert_eq!(
        data["resultReady"]["result"]["id"],
        result_gid(live),
        "after the replay comes the next live result, no duplicate"
    );
}

async fn proxy_stops_receiving_when_the_grant_is_revoked(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let grant = app
        .grant(
            w.tenant_a,
            w.p1,
            "proxy.parent",
            "RESULTS",
            Some(Utc::now() + Duration::days(30)),
            None,
        )
        .await;
    let server = app.serve().await;
    let token = app.as_proxy("proxy.parent", w.tenant_a, Some(w.p2)).token();
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("1", READY, patient(w.p1)).await;
    app.wait_for_subscribers(1).await;
    let order = p1_order(&app, &w).await;
    let (first, _) = store(&app, &w, order, ResultStatus::Final).await;
    let data = client.expect_next("1").await;
    assert_eq!(data["resultReady"]["result"]["id"], result_gid(first));
    // Through the service, as the patient: the revocation is an outbox event, and the hub
    // ends the subscription as soon as it sees it, before any further result.
    let revoked = app
        .as_patient("p1", w.tenant_a, w.p1)
        .query(REVOKE, json!({ "id": gid(NodeType::ProxyGrant, grant) }))
        .await;
    assert!(revoked.get("errors").is_none(), "{revoked}");
    assert_eq!(client.expect_error("1").await, "FORBIDDEN");
    assert_eq!(app.state.app.hub.subscription_count(), 0);
    store(&app, &w, order, ResultStatus::Final).await;
    client
        .expect_silence(std::time::Duration::from_millis(300))
        .await;
    let denied =
        app.audit_rows().await.into_iter().any(|r| {
            r.action == "results.subscribe" && r.reason.as_deref() == Some("grant revoked")
        });
    assert!(denied, "the end of access is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_ends_when_its_token_expires() {
    let app = TestApp::init(Backend::Sqlite).await;
    let w = app.world().await;
    let server = app.serve().await;
    let signer = &app.state.dev.as_ref().expect("dev signer").signer;
    let token = signer
        .mint(
            "p1",
            w.tenant_a,
            &[Role::Patient],
            Some(w.p1),
            Duration::seconds(2),
        )
        .expect("short-lived token");
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("1", READY, patient(w.p1)).await;
    app.wait_for_subscribers(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    store(&app, &w, p1_order(&app, &w).await, ResultStatus::Final).await;
    assert_eq!(client.expect_error("1").await, "UNAUTHENTICATED");
    app.wait_for_subscribers(0).await;
}

async fn result_updated_delivers_preliminary_results_to_the_care_team_only(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let patient_token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let mut as_patient = WsClient::connect(server.addr, Some(&patient_token)).await;
    as_patient.subscribe("1", UPDATED, json!({})).await;
    assert_eq!(as_patient.expect_error("1").await, "FORBIDDEN");
    as_patient.subscribe("2", UPDATED, patient(w.p1)).await;
    assert_eq!(as_patient.expect_error("2").await, "FORBIDDEN");

    let clinician_token = app.as_clinician("dr.a", w.tenant_a).token();
    let mut clinician = WsClient::connect(server.addr, Some(&clinician_token)).await;
    clinician.subscribe("1", UPDATED, json!({})).await;
    app.wait_for_subscribers(1).await;
    // P2 is not dr.a's patient: that event is skipped, P1's arrives.
    let order2 = app.order(w.tenant_a, w.p2, w.facility, w.cbc, None).await;
    app.result_with_event(w.tenant_a, w.p2, order2, w.cbc, ResultStatus::Preliminary)
        .await;
    let (preliminary, _) = store(
        &app,
        &w,
        p1_order(&app, &w).await,
        ResultStatus::Preliminary,
    )
    .await;
    let data = clinician.expect_next("1").await;
    assert_eq!(
        data["resultUpdated"]["result"]["id"],
        result_gid(preliminary)
    );
    assert_eq!(data["resultUpdated"]["result"]["status"], "PRELIMINARY");
}

async fn server_shutdown_closes_open_subscriptions(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client.subscribe("1", READY, patient(w.p1)).await;
    app.wait_for_subscribers(1).await;
    app.state.shutdown();
    let (code, _) = client.expect_closed().await;
    assert_eq!(code, 1001, "going away");
    app.wait_for_subscribers(0).await;
}

on_both_backends!(
    relay_publishes_committed_events_in_order_and_marks_them,
    a_lagging_subscriber_catches_up_from_the_outbox_without_duplicates,
    patient_receives_a_released_result_after_commit,
    patient_never_receives_preliminary_or_held_sensitive_results,
    unauthorised_subscribers_get_an_error_and_nothing_else,
    bad_token_closes_the_connection_and_is_audited,
    reconnect_with_after_receives_exactly_the_missed_events,
    proxy_stops_receiving_when_the_grant_is_revoked,
    result_updated_delivers_preliminary_results_to_the_care_team_only,
    server_shutdown_closes_open_subscriptions,
);
