//! Resuming a subscription is lossless when writes commit out of event-id order (events
//! are resumed by their publication sequence, not by id), on both backends.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use portal_core::db::TenantDb;
use portal_entities::{ResultStatus, outbox_event};
use portal_messaging::outbox::{self, Follow};
use portal_services::ServiceResult;
use portal_subscriptions::{Event, EventBus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::fixtures::{StoredResult, World, result_with_event};
use crate::support::ids::patient_gid;
use crate::support::ws::{WAIT, WsClient};
use crate::support::{Backend, TestApp};

const READY: &str = r#"subscription($patientId: ID!, $after: ID) {
  resultReady(patientId: $patientId, after: $after) { eventId result { id } }
}"#;

fn ready_vars(w: &World, after: Option<&str>) -> Value {
    json!({
        "patientId": patient_gid(w.p1),
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
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let earlier_taken = (Uuid::now_v7(), portal_core::clock::now());

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
    assert!(
        earlier.event_id < later.event_id,
        "the earlier id is smaller"
    );

    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client
        .subscribe("2", READY, ready_vars(&w, Some(&seen)))
        .await;
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

/// A follower of the tenant's events (of one patient, when given) on `bus`, from now on.
async fn follower(
    app: &TestApp,
    bus: &EventBus,
    tenant: Uuid,
    patient: Option<Uuid>,
) -> BoxStream<'static, ServiceResult<Event>> {
    let db = TenantDb::scoped(app.db.clone(), Some(tenant));
    let after = outbox::start_after(&db, tenant, None).await.expect("start");
    let follow = Follow {
        tenant_id: tenant,
        patient_id: patient,
        after,
    };
    outbox::follow(db, bus, follow)
}

async fn next_event(events: &mut BoxStream<'static, ServiceResult<Event>>) -> Event {
    match tokio::time::timeout(WAIT, events.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// The bus event of a committed, numbered outbox row, as a relay publishes it.
async fn published_form(app: &TestApp, id: Uuid) -> Event {
    let row = outbox_event::Entity::find_by_id(id)
        .one(&app.owner)
        .await
        .expect("outbox read")
        .expect("outbox row");
    Event {
        id: row.id,
        tenant_id: row.tenant_id,
        patient_id: row.patient_id,
        event_type: row.event_type,
        aggregate_id: row.aggregate_id,
        payload: row.payload,
        seq: row.publish_seq.expect("numbered"),
    }
}

/// Another relay published the later event first: the subscriber reads the earlier one from
/// the outbox and delivers both in number order, then drops the late copies.
async fn a_subscriber_that_sees_a_later_number_first_gets_the_earlier_event_first(
    backend: Backend,
) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let bus = EventBus::in_process(16);
    let mut events = follower(&app, &bus, w.tenant_a, None).await;
    let first = result_with_event(
        &app.owner,
        w.tenant_a,
        w.p1,
        order,
        w.cbc,
        ResultStatus::Final,
    )
    .await;
    let second = result_with_event(
        &app.owner,
        w.tenant_a,
        w.p1,
        order,
        w.cbc,
        ResultStatus::Final,
    )
    .await;
    let scope = TenantDb::scoped(app.db.clone(), Some(w.tenant_a));
    assert_eq!(outbox::sequence(&scope, 10).await.ok(), Some(2));
    let later = published_form(&app, second.event_id).await;
    bus.publish(later).await.expect("publish");

    let got = next_event(&mut events).await;
    assert_eq!(got.id, first.event_id, "the earlier number first");
    let got_second = next_event(&mut events).await;
    assert_eq!(got_second.id, second.event_id);
    assert_eq!(got_second.seq, got.seq + 1);

    assert_eq!(outbox::relay_once(&app.db, &bus, 10).await.ok(), Some(2));
    let third = result_with_event(
        &app.owner,
        w.tenant_a,
        w.p1,
        order,
        w.cbc,
        ResultStatus::Final,
    )
    .await;
    outbox::relay_once(&app.db, &bus, 10).await.expect("relay");
    assert_eq!(
        next_event(&mut events).await.id,
        third.event_id,
        "the relayed copies of the first two are not delivered again"
    );
}

async fn wait_until_published(app: &TestApp, id: Uuid) {
    let published = async {
        loop {
            let row = outbox_event::Entity::find_by_id(id)
                .one(&app.owner)
                .await
                .expect("outbox read");
            if row.is_some_and(|r| r.published_at.is_some()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, published)
        .await
        .expect("the relay publishes the event");
}

/// A resume `after` a UUID v7 that is no event (a time mark the client made before a write)
/// still delivers every event with a greater id.
async fn a_resume_after_a_time_mark_delivers_the_events_after_it(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let server = app.serve().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let token = app.as_patient("p1", w.tenant_a, w.p1).token();
    let before = app
        .result_with_event(w.tenant_a, w.p1, order, w.cbc, ResultStatus::Final)
        .await;
    wait_until_published(&app, before.event_id).await;
    let mark = Uuid::now_v7().to_string();
    let after_mark = app
        .result_with_event(w.tenant_a, w.p1, order, w.cbc, ResultStatus::Final)
        .await;
    let mut client = WsClient::connect(server.addr, Some(&token)).await;
    client
        .subscribe("1", READY, ready_vars(&w, Some(&mark)))
        .await;
    assert_eq!(
        event_id(&client.expect_next("1").await),
        after_mark.event_id.to_string(),
        "the event before the mark is not replayed; the one after it is"
    );
}

on_both_backends!(
    a_resume_after_a_later_event_delivers_an_earlier_event_that_committed_after_it,
    a_subscriber_that_sees_a_later_number_first_gets_the_earlier_event_first,
    a_resume_after_a_time_mark_delivers_the_events_after_it,
);

const WRITERS: usize = 4;
const WRITES_EACH: usize = 10;

/// Concurrent writers on PostgreSQL (as the app's owner) while two relays, each with small
/// batches, number and publish the outbox as the application role: each of three subscribers
/// (the tenant, P1, P2) receives each of its events exactly once, in number order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_deliver_every_event_once_in_number_order_to_every_subscriber() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    let orders = [
        app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await,
        app.order(w.tenant_a, w.p2, w.facility, w.cbc, None).await,
    ];
    let bus = EventBus::in_process(4096);
    let mut all = follower(&app, &bus, w.tenant_a, None).await;
    let mut of_p1 = follower(&app, &bus, w.tenant_a, Some(w.p1)).await;
    let mut of_p2 = follower(&app, &bus, w.tenant_a, Some(w.p2)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let relays: Vec<_> = (0..2)
        .map(|_| {
            let (db, bus, stop) = (app.db.clone(), bus.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    outbox::relay_once(&db, &bus, 3).await.expect("relay pass");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let owner = app.owner.clone();
            let (tenant, cbc) = (w.tenant_a, w.cbc);
            let (patient, order) = if i % 2 == 0 {
                (w.p1, orders[0])
            } else {
                (w.p2, orders[1])
            };
            tokio::spawn(async move {
                let mut stored: Vec<StoredResult> = Vec::new();
                for _ in 0..WRITES_EACH {
                    stored.push(
                        result_with_event(&owner, tenant, patient, order, cbc, ResultStatus::Final)
                            .await,
                    );
                }
                (patient, stored)
            })
        })
        .collect();
    let mut expected_all = HashSet::new();
    let mut expected_p1 = HashSet::new();
    let mut expected_p2 = HashSet::new();
    for writer in writers {
        let (patient, stored) = writer.await.expect("writer");
        for s in stored {
            expected_all.insert(s.event_id);
            if patient == w.p1 {
                expected_p1.insert(s.event_id);
            } else {
                expected_p2.insert(s.event_id);
            }
        }
    }

    let got_all = receive(&mut all, expected_all.len()).await;
    let got_p1 = receive(&mut of_p1, expected_p1.len()).await;
    let got_p2 = receive(&mut of_p2, expected_p2.len()).await;
    stop.store(true, Ordering::SeqCst);
    for relay in relays {
        relay.await.expect("relay task");
    }
    assert_once_in_order(&got_all, &expected_all, "tenant subscriber");
    assert_once_in_order(&got_p1, &expected_p1, "P1 subscriber");
    assert_once_in_order(&got_p2, &expected_p2, "P2 subscriber");
    let numbers: Vec<i64> = got_all.iter().map(|e| e.seq).collect();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..first + numbers.len() as i64).collect::<Vec<_>>(),
        "the tenant's numbers have no gap"
    );

    let last = result_with_event(
        &app.owner,
        w.tenant_a,
        w.p1,
        orders[0],
        w.cbc,
        ResultStatus::Final,
    )
    .await;
    outbox::relay_once(&app.db, &bus, 10).await.expect("relay");
    for (events, who) in [(&mut all, "tenant"), (&mut of_p1, "P1")] {
        assert_eq!(
            next_event(events).await.id,
            last.event_id,
            "{who}: nothing is delivered twice before the next event"
        );
    }
    let unpublished = outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .all(&app.owner)
        .await
        .expect("outbox");
    assert!(unpublished.is_empty(), "every event marked published");
}

async fn receive(events: &mut BoxStream<'static, ServiceResult<Event>>, n: usize) -> Vec<Event> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        got.push(next_event(events).await);
    }
    got
}

fn assert_once_in_order(got: &[Event], expected: &HashSet<Uuid>, who: &str) {
    let ids: HashSet<Uuid> = got.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), got.len(), "{who}: no event twice");
    assert_eq!(&ids, expected, "{who}: every event");
    assert!(
        got.windows(2).all(|p| p[0].seq < p[1].seq),
        "{who}: in number order"
    );
}
