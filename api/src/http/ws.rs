//! `GET /graphql` upgraded to a WebSocket: GraphQL subscriptions over `graphql-transport-ws`.
//!
//! The token arrives in the `connection_init` payload (`{"Authorization": "Bearer <jwt>"}`)
//! and is verified exactly like the HTTP header; a bad token closes the socket with 4403.
//! When the server shuts down, every socket is closed with 1001 (going away).

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::Extensions;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use portal_schema::Subscriber;
use serde_json::Value;

use super::auth::{audit_rejection, authenticate};
use crate::metrics::Metrics;
use crate::state::AppState;

/// graphql-transport-ws: "Forbidden" (the token in `connection_init` was rejected).
const CLOSE_FORBIDDEN: u16 = 4403;
/// graphql-transport-ws: no `connection_init` within the allowed time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// A subscription of the connection did not read its events and its server-side buffer
/// (`PORTAL_EVENT_BUS_CAPACITY` events) filled up: reconnect and resume with `after`.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer of a WebSocket connection, allocated up front for every connection: clients
/// send a few small messages (`connection_init`, `subscribe`), and larger ones still work.
const WS_READ_BUFFER: usize = 1024;
/// The largest client message accepted (a GraphQL operation with its variables).
const WS_MAX_MESSAGE: usize = 1024 * 1024;

pub async fn upgrade(
    State(state): State<AppState>,
    extensions: Extensions,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let (connection_id, client) = super::request_id::origin(&extensions);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // Small buffers: the default 128 KiB read and write buffers made an idle subscription
        // cost ~170 KiB of RSS (bench/subscriptions.sh). Messages here are small; larger
        // ones still work, the buffers grow while they are handled.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(WS_MAX_MESSAGE)
        .on_upgrade(move |socket| serve(state, socket, protocol, connection_id, client))
}

async fn serve(
    state: AppState,
    socket: WebSocket,
    protocol: GraphQLProtocol,
    connection_id: String,
    client_addr: Option<String>,
) {
    let (mut sink, mut stream) = socket.split();
    // The first data frame should be `connection_init`; control frames before it are skipped.
    let first_data = async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    };
    let first = tokio::select! {
        message = tokio::time::timeout(INIT_TIMEOUT, first_data) => message,
        () = state.shutting_down() => Ok(None),
    };
    let first = match first {
        Ok(Some(Ok(first))) => first,
        Ok(_) => return,
        Err(_) => {
            close(
                &mut sink,
                CLOSE_INIT_TIMEOUT,
                "Connection initialisation timeout",
            )
            .await;
            return;
        }
    };
    let mut subscriber = Subscriber {
        viewer: None,
        client_addr,
        connection_id,
        closing: Arc::default(),
    };
    // Anything but `connection_init` first is a protocol error the GraphQL layer answers.
    if let Some(authorization) = init_authorization(&first) {
        // Boxed, like the rejection below: the socket's task keeps room for the largest
        // future it awaits for as long as the connection lives, and these run only once.
        match Box::pin(authenticate(&state, authorization.as_deref())).await {
            Ok(viewer) => subscriber.viewer = viewer,
            Err(err) => {
                Box::pin(audit_rejection(
                    &state,
                    &subscriber.connection_id,
                    subscriber.client_addr.clone(),
                    &err,
                ))
                .await;
                close(&mut sink, CLOSE_FORBIDDEN, "Forbidden").await;
                return;
            }
        }
    }
    let _open = state.metrics.as_ref().map(|m| m.connection_opened());
    let closing = subscriber.closing.clone();
    let data = portal_schema::connection_data(&state.schema, subscriber);
    let ended = {
        let closing = closing.clone();
        let shutting_down = state.shutting_down();
        async move {
            tokio::select! {
                () = shutting_down => {}
                () = closing.wait() => {}
            }
        }
    };
    let input = futures_util::stream::once(async { Ok(first) })
        .chain(stream)
        .take_until(ended);
    let metrics = state.metrics.clone();
    let out = (&mut sink).with(move |message| {
        futures_util::future::ready(Ok::<_, axum::Error>(outgoing(metrics.as_deref(), message)))
    });
    let executor = portal_schema::SocketExecutor(state.schema.clone());
    GraphQLWebSocket::new_with_pair(out, input, executor, protocol)
        .on_connection_init(|_| async { Ok(data) })
        .serve()
        .await;
    if state.is_shutting_down() {
        close(&mut sink, close_code::AWAY, "server shutting down").await;
    } else if closing.fired() {
        close(
            &mut sink,
            CLOSE_SLOW_CONSUMER,
            "slow consumer: resume with after",
        )
        .await;
    }
}

/// A message on its way to the client: errors of the GraphQL engine (validation, syntax)
/// get the `extensions.code` HTTP gives them (`BAD_USER_INPUT`), and every error is counted.
/// Only messages that carry errors are parsed.
fn outgoing(metrics: Option<&Metrics>, message: Message) -> Message {
    let Message::Text(text) = &message else {
        return message;
    };
    if !text.as_str().contains("\"errors\"") && !text.as_str().starts_with("{\"type\":\"error\"") {
        return message;
    }
    let Ok(mut value) = serde_json::from_str::<Value>(text.as_str()) else {
        return message;
    };
    let errors = match value.get_mut("payload") {
        Some(Value::Array(errors)) => errors,
        Some(payload) => match payload.get_mut("errors") {
            Some(Value::Array(errors)) => errors,
            _ => return message,
        },
        None => return message,
    };
    for error in errors.iter_mut() {
        let Some(error) = error.as_object_mut() else {
            continue;
        };
        let extensions = error
            .entry("extensions")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(extensions) = extensions.as_object_mut() {
            let code = extensions
                .entry("code")
                .or_insert_with(|| Value::from(portal_schema::ENGINE_ERROR_CODE));
            if let Some(metrics) = metrics {
                metrics.ws_error(code.as_str());
            }
        }
    }
    Message::Text(value.to_string().into())
}

/// For a `connection_init` message, its `Authorization` value (`None`: anonymous). A value
/// that is not a string is kept as an empty one so that it is rejected, not ignored.
fn init_authorization(message: &Message) -> Option<Option<String>> {
    let text = match message {
        Message::Text(text) => text.as_str(),
        _ => return None,
    };
    let value: Value = serde_json::from_str(text).ok()?;
    if value.get("type").and_then(Value::as_str) != Some("connection_init") {
        return None;
    }
    let payload = value.get("payload");
    let field = payload
        .and_then(|p| p.get("Authorization"))
        .or_else(|| payload.and_then(|p| p.get("authorization")));
    Some(field.map(|v| v.as_str().unwrap_or_default().to_owned()))
}

async fn close(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &'static str,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // The peer may be gone already; there is nobody left to tell.
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}
