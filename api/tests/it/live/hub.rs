//! The replica's event hub with many in-process subscriptions (the real schema, connection
//! data as a WebSocket connection gets it, the real relay and bus): each event is read once
//! and audited in one append however many subscribers it reaches, and a subscriber that does
//! not drain its buffer is dropped without holding up the others.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Request, Response, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use portal_entities::ResultStatus;
use portal_messaging::outbox;
use portal_schema::Subscriber;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::ids::patient_gid;
use crate::support::ws::WAIT;
use crate::support::{Backend, TestApp};

const NESTED: &str = r#"subscription($patientId: ID!) {
  resultReady(patientId: $patientId) {
    eventId
    result { id status observations { code } test { code displayName } history { id status } }
  }
}"#;

/// A subscription run as a WebSocket connection's would be, in process.
fn subscribe(
    app: &TestApp,
    viewer: portal_core::identity::Viewer,
    patient: Uuid,
) -> BoxStream<'static, Response> {
    let schema = app.state.schema.clone();
    let subscriber = Subscriber {
        viewer: Some(viewer),
        client_addr: Some("127.0.0.1".into()),
        connection_id: format!("conn-{}", Uuid::now_v7()),
        closing: Arc::default(),
    };
    let data = portal_schema::connection_data(&schema, subscriber);
    let request = Request::new(NESTED).variables(Variables::from_json(
        json!({ "patientId": patient_gid(patient) }),
    ));
    schema
        .execute_stream_with_session_data(request, Arc::new(data))
        .boxed()
}

/// Several patients, each with `per_patient` subscriptions of their own.
struct Crowd {
    patients: Vec<(Uuid, Uuid)>,
}

async fn crowd(app: &TestApp, tenant: Uuid, facility: Uuid, test: Uuid, n: usize) -> Crowd {
    let mut patients = Vec::new();
    for i in 0..n {
        let patient = app
            .patient(tenant, &format!("HUB-{i}"), Some(&format!("hub.p{i}")))
            .await;
        let order = app.order(tenant, patient, facility, test, None).await;
        patients.push((patient, order));
    }
    Crowd { patients }
}

fn value(response: &Response) -> Value {
    serde_json::to_value(response).expect("response as JSON")
}

async fn thousands_of_subscriptions_share_one_read_and_one_audit_append_per_event(
    backend: Backend,
) {
    const PATIENTS: usize = 5;
    const PER_PATIENT: usize = 400;
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let crowd = crowd(&app, w.tenant_a, w.facility, w.cbc, PATIENTS).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Value)>();
    for (i, (patient, _)) in crowd.patients.iter().enumerate() {
        let viewer = app
            .as_patient(&format!("hub.p{i}"), w.tenant_a, *patient)
            .viewer()
            .await;
        for _ in 0..PER_PATIENT {
            let mut stream = subscribe(&app, viewer.clone(), *patient);
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(response) = stream.next().await {
                    let _ = tx.send((i, value(&response)));
                }
            });
        }
    }
    app.wait_for_subscribers_within(PATIENTS * PER_PATIENT, Duration::from_secs(120))
        .await;

    let mut events = Vec::new();
    for (patient, order) in &crowd.patients {
        let stored = app
            .result_with_event(w.tenant_a, *patient, *order, w.cbc, ResultStatus::Final)
            .await;
        events.push(stored);
    }
    app.record_sql();
    let relayed = outbox::relay_once(&app.db, &app.state.app.bus, 100)
        .await
        .expect("relay");
    assert_eq!(relayed, PATIENTS);
    let mut received = vec![0usize; PATIENTS];
    for _ in 0..PATIENTS * PER_PATIENT {
        let (i, data) = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {received:?} deliveries arrived"))
            .expect("subscribers alive");
        assert!(data.get("errors").is_none(), "{data}");
        let ready = &data["data"]["resultReady"];
        assert_eq!(ready["eventId"], events[i].event_id.to_string());
        assert_eq!(ready["result"]["observations"], json!([]));
        assert_eq!(ready["result"]["test"]["code"], "58410-2", "{ready}");
        assert_eq!(ready["result"]["history"].as_array().map(Vec::len), Some(1));
        received[i] += 1;
    }
    assert_eq!(received, vec![PER_PATIENT; PATIENTS]);
    // Let any late statement land before the log is read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sql = app.recorded_sql();
    let count = |needle: &str| sql.iter().filter(|s| s.contains(needle)).count();
    // The events relayed together are served together: at most one read and one append per
    // event however many subscribers it reaches (one for the whole batch when they arrive in
    // one go).
    let per_event = 1..=PATIENTS;
    assert!(
        per_event.contains(&count(r#"INSERT INTO "audit_events""#)),
        "at most one audit append per event:\n{sql:#?}"
    );
    assert_eq!(
        count(r#"FROM "observations""#),
        PATIENTS,
        "observations read once per event"
    );
    assert_eq!(
        count(r#"FROM "test_catalog""#),
        PATIENTS,
        "the test read once per event"
    );
    assert!(
        count(r#"FROM "test_results""#) <= 2 * PATIENTS,
        "the result (once per batch at most per event) and its history (once per event)\n{sql:#?}"
    );
    assert!(
        sql.len() < 25 * PATIENTS,
        "{} statements for {PATIENTS} events to {} subscribers",
        sql.len(),
        PATIENTS * PER_PATIENT
    );
    let audited = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "result.read")
        .count();
    assert_eq!(audited, PATIENTS * PER_PATIENT, "every delivery audited");
}

/// A subscriber whose buffer fills is dropped with UNAVAILABLE after what it had buffered;
/// another subscriber of the same patient receives every event meanwhile.
async fn a_subscriber_that_does_not_drain_is_dropped_and_the_others_are_not_held_up(
    backend: Backend,
) {
    const BUFFER: usize = 2;
    let app = TestApp::init(backend)
        .with_config(|c| c.event_bus_capacity = BUFFER)
        .await;
    let w = app.world().await;
    let viewer = app.as_patient("p1", w.tenant_a, w.p1).viewer().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let mut slow = subscribe(&app, viewer.clone(), w.p1);
    let mut fast = subscribe(&app, viewer, w.p1);
    // Drive both until they are registered, then stop reading the slow one.
    tokio::select! {
        _ = slow.next() => panic!("nothing was published yet"),
        _ = fast.next() => panic!("nothing was published yet"),
        () = app.wait_for_subscribers(2) => {}
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(response) = fast.next().await {
            let _ = tx.send(value(&response));
        }
    });
    let total = BUFFER + 3;
    let mut stored = Vec::new();
    for _ in 0..total {
        let s = app
            .result_with_event(w.tenant_a, w.p1, order, w.cbc, ResultStatus::Final)
            .await;
        stored.push(s.event_id.to_string());
        outbox::relay_once(&app.db, &app.state.app.bus, 10)
            .await
            .expect("relay");
        // The fast subscriber takes each event before the next is written (with a buffer of
        // two, a burst could overrun it too); the slow one never reads.
        let data = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("the fast subscriber is not held up")
            .expect("open");
        assert_eq!(
            data["data"]["resultReady"]["eventId"],
            s.event_id.to_string(),
            "{data}"
        );
    }
    app.wait_for_subscribers(1).await;
    assert_eq!(
        app.state.app.hub.subscription_count(),
        1,
        "the slow one left the hub"
    );
    for expected in &stored[..BUFFER] {
        let data = value(
            &tokio::time::timeout(WAIT, slow.next())
                .await
                .expect("buffered")
                .expect("item"),
        );
        assert_eq!(&data["data"]["resultReady"]["eventId"], expected, "{data}");
    }
    let ended = value(
        &tokio::time::timeout(WAIT, slow.next())
            .await
            .expect("ends")
            .expect("item"),
    );
    assert_eq!(
        ended["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{ended}"
    );
    assert!(
        tokio::time::timeout(WAIT, slow.next())
            .await
            .expect("ends")
            .is_none(),
        "the slow subscription ends after its error"
    );
    assert_eq!(
        app.state
            .app
            .hub
            .counters()
            .slow_closed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

on_both_backends!(
    thousands_of_subscriptions_share_one_read_and_one_audit_append_per_event,
    a_subscriber_that_does_not_drain_is_dropped_and_the_others_are_not_held_up,
);
