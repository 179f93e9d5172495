//! The executor behind WebSocket connections: the schema, with the same request limits as
//! HTTP, each document parsed once (`Documents`), and every delivery's fields in selection
//! order.

use std::sync::Arc;

use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::{Data, Executor, Request, Response};

use crate::PortalSchema;
use crate::documents::Documents;
use crate::limits::{Refusal, RequestLimits, check_variables};
use crate::order::ResponseOrder;

#[derive(Clone)]
pub struct SocketExecutor(pub PortalSchema);

impl SocketExecutor {
    /// Checks `request` against the limits on its document, parsed once (`Documents`), and
    /// hands the engine that parse; the order its answers take, or the refusal.
    fn prepare(&self, request: &mut Request) -> Result<Option<ResponseOrder>, Box<Response>> {
        let limits = self.0.data::<RequestLimits>().cloned().unwrap_or_default();
        let refuse =
            |refusal: Refusal| Box::new(Response::from_errors(vec![refusal.to_server_error()]));
        limits.check_text(&request.query).map_err(refuse)?;
        check_variables(&request.variables).map_err(refuse)?;
        // Not parsed: the engine parses it again and reports the syntax error.
        let Some(parsed) = self.0.data::<Documents>().and_then(|d| d.get(request)) else {
            return Ok(None);
        };
        limits.check_document(&parsed.document).map_err(refuse)?;
        request.set_parsed_query(parsed.document.clone());
        Ok(Some(ResponseOrder::new(parsed, request)))
    }
}

impl Executor for SocketExecutor {
    async fn execute(&self, mut request: Request) -> Response {
        let order = match self.prepare(&mut request) {
            Ok(order) => order,
            Err(refused) => return *refused,
        };
        let response = self.0.execute(request).await;
        match order {
            Some(order) => order.apply(response),
            None => response,
        }
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let order = match self.prepare(&mut request) {
            Ok(order) => order,
            Err(refused) => return stream::once(async move { *refused }).boxed(),
        };
        self.0
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |response| match &order {
                Some(order) => order.apply(response),
                None => response,
            })
            .boxed()
    }
}
