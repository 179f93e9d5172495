//! The executor behind WebSocket connections: the schema, with the same request limits as
//! HTTP and every delivery's fields in selection order.

use std::sync::Arc;

use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::{Data, Executor, Request, Response};

use crate::PortalSchema;
use crate::limits::{RequestLimits, check_variables};
use crate::order::ResponseOrder;

#[derive(Clone)]
pub struct SocketExecutor(pub PortalSchema);

impl SocketExecutor {
    /// The request refused by a limit, if it is; parses it once (the engine reuses it).
    fn refused(&self, request: &mut Request) -> Option<Response> {
        let limits = self.0.data::<RequestLimits>().cloned().unwrap_or_default();
        let checked = limits
            .check_text(&request.query)
            .and_then(|()| check_variables(&request.variables))
            .and_then(|()| match request.parsed_query() {
                Ok(document) => limits.check_document(document),
                // The engine reports the syntax error.
                Err(_) => Ok(()),
            });
        checked
            .err()
            .map(|refusal| Response::from_errors(vec![refusal.to_server_error()]))
    }
}

impl Executor for SocketExecutor {
    async fn execute(&self, mut request: Request) -> Response {
        if let Some(refused) = self.refused(&mut request) {
            return refused;
        }
        let order = ResponseOrder::of(&mut request);
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
        if let Some(refused) = self.refused(&mut request) {
            return stream::once(async move { refused }).boxed();
        }
        let order = ResponseOrder::of(&mut request);
        self.0
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |response| match &order {
                Some(order) => order.apply(response),
                None => response,
            })
            .boxed()
    }
}
