//! Live test results: `resultReady` for patients and proxies, `resultUpdated` for the care team.

use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use futures_util::stream::{BoxStream, StreamExt};
use portal_core::db::TenantDb;
use portal_messaging::outbox::{self, Follow};
use portal_services::ServiceError;
use portal_services::live::{self, Audience};
use uuid::Uuid;

use crate::context::{AppData, Subscriber, app, connection_db, subscriber};
use crate::error::{GqlResult, to_gql};
use crate::ids::{NodeType, decode};
use crate::types::result::TestResult;

#[derive(Default)]
pub struct ResultSubscription;

/// A result delivered by a subscription, with the event that announced it.
#[derive(SimpleObject)]
pub struct ResultEvent {
    /// The outbox event id: pass the last one you received as `after` when you reconnect
    /// and the events you missed are delivered first.
    pub event_id: ID,
    pub result: TestResult,
}

#[Subscription]
impl ResultSubscription {
    /// Released results of a patient, pushed after the write commits. Access is checked when
    /// you subscribe and again for every result; the subscription completes when access
    /// ends (e.g. a proxy grant is revoked). PRELIMINARY results never arrive here.
    async fn result_ready(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        after: Option<ID>,
    ) -> Result<BoxStream<'static, Result<ResultEvent>>> {
        let patient_id = decode(&patient_id, NodeType::Patient, "patientId").gql()?;
        let after = event_id(after.as_ref()).gql()?;
        let app = app(ctx)?.clone();
        let db = connection_db(ctx)?.clone();
        let subscriber = subscriber(ctx);
        let follow = live::subscribe_ready(&subscriber.request_context(&db), patient_id, after)
            .await
            .gql()?;
        Ok(deliver(app, db, subscriber, follow, Audience::Patient))
    }

    /// Every stored result (released and PRELIMINARY) of the patients you may see, or of one
    /// patient: for clinicians, lab and staff. FORBIDDEN to patients.
    async fn result_updated(
        &self,
        ctx: &Context<'_>,
        patient_id: Option<ID>,
        after: Option<ID>,
    ) -> Result<BoxStream<'static, Result<ResultEvent>>> {
        let patient_id = patient_id
            .map(|id| decode(&id, NodeType::Patient, "patientId"))
            .transpose()
            .gql()?;
        let after = event_id(after.as_ref()).gql()?;
        let app = app(ctx)?.clone();
        let db = connection_db(ctx)?.clone();
        let subscriber = subscriber(ctx);
        let follow = live::subscribe_updated(&subscriber.request_context(&db), patient_id, after)
            .await
            .gql()?;
        Ok(deliver(app, db, subscriber, follow, Audience::CareTeam))
    }
}

fn event_id(id: Option<&ID>) -> Result<Option<Uuid>, ServiceError> {
    id.map(|id| {
        Uuid::parse_str(id.as_str())
            .map_err(|_| ServiceError::bad_input("after", "not an event id"))
    })
    .transpose()
}

/// Each followed event that shows the subscriber a result becomes one `ResultEvent`; the
/// first error (access lost, database down) is delivered and ends the stream. `db` is the
/// connection's handle: each read runs in its own short transaction bound to the subscriber's
/// tenant, so nothing is held open while the socket is idle.
fn deliver(
    app: AppData,
    db: TenantDb,
    subscriber: Subscriber,
    follow: Follow,
    audience: Audience,
) -> BoxStream<'static, Result<ResultEvent>> {
    let events = outbox::follow(db.clone(), &app.bus, follow);
    let state = Some((events, db, subscriber));
    futures_util::stream::unfold(state, move |state| async move {
        let (mut events, db, subscriber) = state?;
        loop {
            let event = match events.next().await? {
                Ok(event) => event,
                Err(err) => return Some((Err(to_gql(&err)), None)),
            };
            // A unit of work of its own per delivery: access is decided afresh.
            let work = subscriber.request_context(&db);
            let found = live::result_for_event(&work, &event, audience).await;
            match found {
                Ok(Some((vis, model))) => {
                    let item = ResultEvent {
                        event_id: ID(event.id.to_string()),
                        result: TestResult::new(model, vis),
                    };
                    return Some((Ok(item), Some((events, db, subscriber))));
                }
                Ok(None) => {}
                Err(err) => return Some((Err(to_gql(&err)), None)),
            }
        }
    })
    .boxed()
}
