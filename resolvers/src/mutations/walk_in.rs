//! Walk-in result links: lab or staff send a patient without an account a link to one result.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use portal_services::walk_in;

use crate::context::{app, request};
use crate::error::GqlResult;
use crate::ids::{NodeType, decode};
use crate::types::enums::{NotificationStatus, ResultLinkChannel};
use crate::types::result::TestResult;

#[derive(Default)]
pub struct WalkInMutation;

#[derive(SimpleObject)]
pub struct SendResultLinkPayload {
    pub result: TestResult,
    pub channel: ResultLinkChannel,
    /// PENDING when queued; SKIPPED when the patient has no address on that channel.
    pub delivery_status: NotificationStatus,
    /// When the new link stops working (null when nothing was sent).
    pub expires_at: Option<DateTime<Utc>>,
}

#[Object]
impl WalkInMutation {
    /// Sends the patient a secret link to a released result (lab, staff, admin). Sending again
    /// replaces the earlier link.
    async fn send_result_link(
        &self,
        ctx: &Context<'_>,
        result_id: ID,
        channel: ResultLinkChannel,
    ) -> Result<SendResultLinkPayload> {
        let result_id = decode(&result_id, NodeType::TestResult, "resultId").gql()?;
        let app = app(ctx)?;
        let sent = walk_in::send(request(ctx)?, result_id, channel.into(), &app.public_url)
            .await
            .gql()?;
        Ok(SendResultLinkPayload {
            result: TestResult::new(sent.result, sent.vis),
            channel,
            delivery_status: sent.status.into(),
            expires_at: sent.expires_at,
        })
    }
}
