//! A small HTTP client for the tests of the `/graphql` edge: raw status, headers and body
//! bytes, so a test can look at what went over the wire (field order included).

use std::net::SocketAddr;

use reqwest::header::HeaderMap;
use serde_json::Value;

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `extensions.code` of the first error.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/graphql")
}

/// POSTs `body` with the given `content-type` and `accept` (None: header left out).
pub async fn post(
    addr: SocketAddr,
    content_type: Option<&str>,
    accept: Option<&str>,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = reqwest::Client::new().post(url(addr)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    reply(request).await
}

/// POSTs a JSON body as `application/json`.
pub async fn post_json(
    addr: SocketAddr,
    accept: Option<&str>,
    token: Option<&str>,
    body: &Value,
) -> Reply {
    post(
        addr,
        Some("application/json"),
        accept,
        token,
        body.to_string(),
    )
    .await
}

/// GETs `/graphql` with the given query-string pairs.
pub async fn get(
    addr: SocketAddr,
    accept: Option<&str>,
    token: Option<&str>,
    pairs: &[(&str, &str)],
) -> Reply {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = client.get(url(addr)).query(pairs);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    reply(request).await
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}
