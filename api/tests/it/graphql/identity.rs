//! Failure catalog, identity provider: the real binary verifies RS256 tokens against a local
//! JWKS server; when it stops, cached keys keep working for `JWT_JWKS_MAX_STALE_SECONDS`,
//! then requests answer UNAVAILABLE; when it is back, tokens work again without a restart.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::http::auth::{rs256, rsa_key_pair};
use crate::support::binary::{Server, post, start_with};

/// A JWKS endpoint on loopback that can be stopped (connections closed) and started again
/// on the same port.
struct JwksServer {
    addr: SocketAddr,
    keys: Value,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl JwksServer {
    async fn start(keys: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind JWKS");
        let addr = listener.local_addr().expect("JWKS address");
        let mut server = Self {
            addr,
            keys,
            running: None,
        };
        server.serve(listener);
        server
    }

    fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let keys = self.keys.clone();
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(keys) }),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        self.running = Some((stop, task));
    }

    async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await.expect("JWKS server task");
        }
    }

    async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind JWKS again on the same port");
        self.serve(listener);
    }
}

/// `Ok(subject)` or the error code of the answer.
async fn whoami(server: &Server, token: &str) -> Result<String, String> {
    let (_, body) = post(
        server,
        Some(token),
        json!({ "query": "{ viewer { subject } }" }),
        "idp",
    )
    .await;
    match body["data"]["viewer"]["subject"].as_str() {
        Some(subject) => Ok(subject.to_owned()),
        None => Err(format!(
            "{} {}",
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("?"),
            body["errors"][0]["message"].as_str().unwrap_or("?")
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_jwks_keys_outlast_an_identity_provider_outage_for_the_stale_window_only() {
    let dir = tempfile::tempdir().expect("dir");
    let (private, _, modulus) = rsa_key_pair(dir.path());
    let n = URL_SAFE_NO_PAD.encode(hex::decode(modulus).expect("hex modulus"));
    let keys = json!({ "keys": [{ "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB" }] });
    let mut jwks = JwksServer::start(keys).await;
    let url = jwks.url();
    let env = [
        ("JWT_JWKS_URL", url.as_str()),
        ("JWT_ISSUER", "https://idp.test/realms/portal"),
        ("JWT_AUDIENCE", "portal"),
        // Refetch on every token, so the outage is noticed at once; keep serving stale keys
        // for 3 s after the last successful fetch.
        ("JWT_JWKS_CACHE_SECONDS", "0"),
        ("JWT_JWKS_MAX_STALE_SECONDS", "3"),
    ];
    let server = start_with(dir.path(), &env).await;
    let token = rs256(&private, Some("k1"));
    assert_eq!(whoami(&server, &token).await.as_deref(), Ok("p1"));

    jwks.stop().await;
    assert_eq!(
        whoami(&server, &token).await.as_deref(),
        Ok("p1"),
        "within the stale window the cached key verifies"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        match whoami(&server, &token).await {
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "stale keys were used past the bound"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(refused) => break refused,
        }
    };
    assert_eq!(
        refused, "UNAVAILABLE service temporarily unavailable",
        "past the bound the provider's outage is UNAVAILABLE (retry), not a bad token"
    );

    jwks.restart().await;
    assert_eq!(
        whoami(&server, &token).await.as_deref(),
        Ok("p1"),
        "the provider is back: no restart needed"
    );
}
