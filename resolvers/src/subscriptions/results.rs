//! Live test results: `resultReady` for patients and proxies, `resultUpdated` for the care team.

use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use futures_util::stream::{BoxStream, StreamExt};
use portal_services::ServiceError;
use portal_services::live::{self, Live, Watch};
use uuid::Uuid;

use crate::context::{AppData, app, subscriber};
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
        // Boxed, here and below: the engine keeps room for this future inside the
        // subscription's stream for as long as it lives, so it must stay a pointer.
        Box::pin(async move {
            let patient_id = decode(&patient_id, NodeType::Patient, "patientId").gql()?;
            let after = event_id(after.as_ref()).gql()?;
            let subscriber = subscriber(ctx);
            let work = subscriber.subscribe_context(&app(ctx)?.db);
            let closer = Some(subscriber.closing.clone());
            // Waits for a turn when many subscribe at once (see `Hub::admission`).
            let turn = app(ctx)?.hub.admission().await;
            let watch = live::subscribe_ready(&work, patient_id, after, closer)
                .await
                .gql()?;
            drop(turn);
            deliver(app(ctx)?, watch).await
        })
        .await
    }

    /// Every stored result (released and PRELIMINARY) of the patients you may see, or of one
    /// patient: for clinicians, lab and staff. FORBIDDEN to patients.
    async fn result_updated(
        &self,
        ctx: &Context<'_>,
        patient_id: Option<ID>,
        after: Option<ID>,
    ) -> Result<BoxStream<'static, Result<ResultEvent>>> {
        Box::pin(async move {
            let patient_id = patient_id
                .map(|id| decode(&id, NodeType::Patient, "patientId"))
                .transpose()
                .gql()?;
            let after = event_id(after.as_ref()).gql()?;
            let subscriber = subscriber(ctx);
            let work = subscriber.subscribe_context(&app(ctx)?.db);
            let closer = Some(subscriber.closing.clone());
            // Waits for a turn when many subscribe at once (see `Hub::admission`).
            let turn = app(ctx)?.hub.admission().await;
            let watch = live::subscribe_updated(&work, patient_id, after, closer)
                .await
                .gql()?;
            drop(turn);
            deliver(app(ctx)?, watch).await
        })
        .await
    }
}

fn event_id(id: Option<&ID>) -> Result<Option<Uuid>, ServiceError> {
    id.map(|id| {
        Uuid::parse_str(id.as_str())
            .map_err(|_| ServiceError::bad_input("after", "not an event id"))
    })
    .transpose()
}

/// Registers the subscription with the replica's hub; each result the hub delivers becomes
/// one `ResultEvent`, and the hub's ending error (access lost, too slow, …) is delivered and
/// ends the stream.
async fn deliver(app: &AppData, watch: Watch) -> Result<BoxStream<'static, Result<ResultEvent>>> {
    let subscription = app.hub.subscribe(watch).await.gql()?;
    Ok(subscription
        .into_stream()
        .map(|live| match live {
            Live::Result {
                event_id,
                result,
                vis,
            } => Ok(ResultEvent {
                event_id: ID(event_id.to_string()),
                result: TestResult::shared(result, vis),
            }),
            Live::End(err) => Err(to_gql(&err)),
        })
        .boxed())
}
