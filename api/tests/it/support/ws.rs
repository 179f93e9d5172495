//! A real server on a free loopback port (relay running) and a small `graphql-transport-ws`
//! client over tokio-tungstenite, for subscription tests.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestApp;

/// Every wait in these tests is bounded by this; the happy path takes milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);

/// The application's router served in this process, with the outbox relay running.
pub struct TestServer {
    pub addr: SocketAddr,
    server: JoinHandle<()>,
    relay: JoinHandle<()>,
}

impl TestApp {
    pub async fn serve(&self) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let router = self.router.clone();
        let relay = self.state.spawn_relay();
        let stopping = self.state.shutting_down();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopping)
            .await
            .expect("serve");
        });
        TestServer {
            addr,
            server,
            relay,
        }
    }

    /// Waits until `n` subscriptions listen on the bus: after that, a commit reaches them.
    pub async fn wait_for_subscribers(&self, n: usize) {
        self.wait_for_subscribers_within(n, WAIT).await;
    }

    /// Like `wait_for_subscribers`, for many subscriptions opened at once (each is
    /// authorized and audited on its own).
    pub async fn wait_for_subscribers_within(&self, n: usize, limit: Duration) {
        let waiting = async {
            while self.state.app.hub.subscription_count() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(limit, waiting)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "expected {n} live subscriptions, have {}",
                    self.state.app.hub.subscription_count()
                )
            });
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
        self.relay.abort();
    }
}

/// What the server sent.
#[derive(Debug)]
pub enum Incoming {
    Message(Value),
    Closed { code: u16, reason: String },
}

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Opens `/graphql` with the `graphql-transport-ws` protocol and sends `connection_init`
    /// with `payload`; the answer is read with `next`.
    pub async fn open(addr: SocketAddr, payload: Value) -> Self {
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (socket, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
                .await
                .expect("WebSocket handshake timed out")
                .expect("WebSocket handshake");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws")
        );
        let mut client = Self { socket };
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        client
    }

    /// Connected with `Authorization: Bearer <token>` and acknowledged.
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> Self {
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        let mut client = Self::open(addr, payload).await;
        match client.next().await {
            Incoming::Message(m) if m["type"] == "connection_ack" => client,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// The next message or close frame (pings are answered and skipped).
    pub async fn next(&mut self) -> Incoming {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("nothing from the server within {WAIT:?}"));
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("JSON message");
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Incoming::Message(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Incoming::Closed {
                        code: frame.as_ref().map_or(1005, |f| f.code.into()),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("WebSocket error: {e}"),
                None => {
                    return Incoming::Closed {
                        code: 1006,
                        reason: "connection dropped".into(),
                    };
                }
            }
        }
    }

    /// The payload of the next `next` message of subscription `id`; panics on anything else.
    pub async fn expect_next(&mut self, id: &str) -> Value {
        match self.next().await {
            Incoming::Message(m) if m["type"] == "next" && m["id"] == id => {
                assert!(
                    m["payload"].get("errors").is_none(),
                    "unexpected errors: {m:#}"
                );
                m["payload"]["data"].clone()
            }
            other => panic!("expected a `next` for {id}, got {other:?}"),
        }
    }

    /// Like `expect_next`, but `None` once the connection ends in any way (closed, dropped,
    /// reset), as when the server process is killed.
    pub async fn next_or_end(&mut self, id: &str) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("nothing from the server within {WAIT:?}"));
            let Some(Ok(message)) = message else {
                return None;
            };
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("JSON message");
                    if value["type"] == "ping" {
                        let _ = self
                            .socket
                            .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                            .await;
                        continue;
                    }
                    assert!(
                        value["type"] == "next" && value["id"] == id,
                        "expected a `next` for {id}, got {value:#}"
                    );
                    assert!(value["payload"].get("errors").is_none(), "{value:#}");
                    return Some(value["payload"]["data"].clone());
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The error code the subscription ended with: a `next` with errors, then `complete`.
    pub async fn expect_error(&mut self, id: &str) -> String {
        let code = match self.next().await {
            Incoming::Message(m) if m["type"] == "next" && m["id"] == id => m["payload"]["errors"]
                [0]["extensions"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("expected an error with a code, got {m:#}"))
                .to_owned(),
            Incoming::Message(m) if m["type"] == "error" && m["id"] == id => {
                m["payload"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or("NONE")
                    .to_owned()
            }
            other => panic!("expected an error for {id}, got {other:?}"),
        };
        self.expect_complete(id).await;
        code
    }

    /// Asserts the server sends nothing but pings for `quiet` (e.g. no duplicate delivery).
    pub async fn expect_silence(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(message) = tokio::time::timeout_at(deadline, self.socket.next()).await {
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("JSON message");
                    assert_eq!(value["type"], "ping", "expected silence, got {value:#}");
                    self.send(json!({ "type": "pong" })).await;
                }
                Some(Ok(Message::Close(frame))) => panic!("expected silence, got close {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("WebSocket error: {e}"),
                None => panic!("expected silence, the connection dropped"),
            }
        }
    }

    pub async fn expect_complete(&mut self, id: &str) {
        match self.next().await {
            Incoming::Message(m) if m["type"] == "complete" && m["id"] == id => {}
            other => panic!("expected `complete` for {id}, got {other:?}"),
        }
    }

    pub async fn expect_closed(&mut self) -> (u16, String) {
        match self.next().await {
            Incoming::Closed { code, reason } => (code, reason),
            other => panic!("expected the socket to close, got {other:?}"),
        }
    }

    async fn send(&mut self, value: Value) {
        self.socket
            .send(Message::Text(value.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
