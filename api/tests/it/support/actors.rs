//! Actors: who sends a request. Each holds a dev token minted for one user and sends GraphQL
//! through the application's real axum router in process (`Router::oneshot`), with the
//! headers and connection info the server would see.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use portal_api::AppState;
use portal_api::auth::{Role, Viewer};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use super::TestApp;

/// The client address the router sees (`ConnectInfo`), as a local `axum::serve` would give.
const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50000);

/// One caller of the API: a bearer token (none when anonymous) and the router it calls.
#[derive(Clone)]
pub struct Actor {
    router: Router,
    state: AppState,
    token: Option<String>,
    statements: Arc<AtomicUsize>,
}

impl TestApp {
    /// A patient user whose own record is `patient`.
    pub fn as_patient(&self, subject: &str, tenant: Uuid, patient: Uuid) -> Actor {
        self.as_user(subject, tenant, &[Role::Patient], Some(patient))
    }

    /// A patient user acting for someone else through a proxy grant to `subject`; `own` is
    /// the proxy's own patient record, if they have one.
    pub fn as_proxy(&self, subject: &str, tenant: Uuid, own: Option<Uuid>) -> Actor {
        self.as_user(subject, tenant, &[Role::Patient], own)
    }

    pub fn as_clinician(&self, subject: &str, tenant: Uuid) -> Actor {
        self.as_user(subject, tenant, &[Role::Clinician], None)
    }

    /// The tenant's laboratory information system (subject `lis`).
    pub fn as_lab(&self, tenant: Uuid) -> Actor {
        self.as_user("lis", tenant, &[Role::Lab], None)
    }

    /// Front-desk staff of the tenant (subject `staff`).
    pub fn as_staff(&self, tenant: Uuid) -> Actor {
        self.as_user("staff", tenant, &[Role::Staff], None)
    }

    /// A caller without a token.
    pub fn anonymous(&self) -> Actor {
        self.actor(None)
    }

    /// Any user: for table-driven tests over roles, and subjects a test checks by name.
    pub fn as_user(
        &self,
        subject: &str,
        tenant: Uuid,
        roles: &[Role],
        patient: Option<Uuid>,
    ) -> Actor {
        let dev = self.state.dev.as_ref().expect("dev signer in tests");
        let token = dev
            .signer
            .mint(subject, tenant, roles, patient, chrono::Duration::hours(1))
            .expect("mint");
        self.actor(Some(token))
    }

    fn actor(&self, token: Option<String>) -> Actor {
        Actor {
            router: self.router.clone(),
            state: self.state.clone(),
            token,
            statements: self.statements.clone(),
        }
    }
}

impl Actor {
    /// The bearer token, for clients outside the router (WebSocket, real HTTP).
    pub fn token(&self) -> String {
        self.token.clone().expect("an anonymous actor has no token")
    }

    /// The token verified exactly as the HTTP layer verifies it, for tests that call
    /// services directly.
    pub async fn viewer(&self) -> Viewer {
        self.state
            .verifier
            .verify(&self.token())
            .await
            .expect("dev token verifies")
    }

    /// Runs a GraphQL operation through the router; returns `{data, errors}` as JSON.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let (status, response) = self
            .post_graphql(json!({ "query": query, "variables": variables }))
            .await;
        assert_eq!(status, StatusCode::OK, "POST /graphql: {response:#}");
        response
    }

    /// Runs `query` and returns how many SQL statements the request issued.
    pub async fn count_statements(&self, query: &str, variables: Value) -> (Value, usize) {
        let before = self.statements.load(Ordering::SeqCst);
        let response = self.query(query, variables).await;
        (response, self.statements.load(Ordering::SeqCst) - before)
    }

    /// `POST /graphql` with `body` as JSON: the status and the JSON answer.
    pub async fn post_graphql(&self, body: Value) -> (StatusCode, Value) {
        let mut request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .extension(ConnectInfo(CLIENT));
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Body::from(body.to_string())).expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("response body");
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("POST /graphql answered {status} with a body that is not JSON ({e})")
        });
        (status, json)
    }
}
