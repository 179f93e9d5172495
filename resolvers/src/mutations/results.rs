//! Mutations on test results.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use portal_services::results;

use crate::context::{db, request};
use crate::error::GqlResult;
use crate::ids::{NodeType, decode};
use crate::types::result::TestResult;

#[derive(Default)]
pub struct ResultMutation;

#[derive(SimpleObject)]
pub struct MarkResultViewedPayload {
    pub result: TestResult,
    /// When the viewer first opened the result.
    pub viewed_at: DateTime<Utc>,
}

#[Object]
impl ResultMutation {
    /// Records that the viewer opened a result; repeating it keeps the first time.
    async fn mark_result_viewed(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<MarkResultViewedPayload> {
        let id = decode(&id, NodeType::TestResult, "id").gql()?;
        let (vis, model, viewed_at) = results::mark_viewed(db(ctx)?, request(ctx)?, id)
            .await
            .gql()?;
        Ok(MarkResultViewedPayload {
            result: TestResult::new(model, vis),
            viewed_at,
        })
    }
}
