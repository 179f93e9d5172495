//! Where a tenant's batches go and how one is sent: an HTTP POST of the CSV (ReportStream's
//! `/api/reports` style) with the batch id as `Idempotency-Key` and `payloadname`, or, in the
//! embedded default, a file named by the batch id. The answer is classified here; the CSV and
//! the receiver's body are never logged.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use uuid::Uuid;

/// Most of a receiver's answer kept with a refused row.
const MAX_RESPONSE: usize = 8 * 1024;

/// A tenant's reporting endpoint.
#[derive(Clone)]
pub enum Destination {
    Http(HttpEndpoint),
    /// `<dir>/<batch id>.csv`; writing a batch again replaces the same file.
    Directory(PathBuf),
}

impl Destination {
    /// The receiver as the audit trail names it (a disclosure's recipient): the endpoint's
    /// host, never its path, query or credentials.
    pub fn receiver(&self) -> String {
        match self {
            Self::Http(endpoint) => reqwest::Url::parse(&endpoint.url)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_else(|| "the public-health endpoint".to_owned()),
            Self::Directory(_) => "the public-health report folder".to_owned(),
        }
    }
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(_) => f.write_str("Destination::Http"),
            Self::Directory(dir) => write!(f, "Destination::Directory({})", dir.display()),
        }
    }
}

/// The receiver's URL, the `client` header naming the sender, an optional auth header
/// (`x-functions-key: …` or `Authorization: Bearer …`) and a request timeout.
#[derive(Clone)]
pub struct HttpEndpoint {
    url: String,
    client_name: Option<String>,
    auth: Option<(HeaderName, HeaderValue)>,
    http: reqwest::Client,
}

impl HttpEndpoint {
    /// `auth_header` is `Name: value`. Errors never quote the value (it is a secret).
    pub fn new(
        url: String,
        client_name: Option<String>,
        auth_header: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let auth = auth_header.map(parse_header).transpose()?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the public-health HTTP client: {e}"))?;
        Ok(Self {
            url,
            client_name,
            auth,
            http,
        })
    }

    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }
}

/// `Name: value` as a header; the message names the problem, never the value.
pub fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or("the auth header must look like `Name: value`")?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| "the auth header's name is not a valid header name")?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| "the auth header's value is not a valid header value")?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// What the receiver's answer means for the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: the batch is delivered.
    Accepted(u16),
    /// 5xx, 401/403 (credentials), 408/409/429, a timeout or no connection: the receiver may or
    /// may not have it. The same batch is sent again, under the same id, after a backoff.
    Retry { status: Option<u16>, reason: String },
    /// Any other 4xx: the receiver refused the batch. `rows` are the tracking ids
    /// (`message_id`) it named, with its message for each.
    Refused {
        status: u16,
        rows: Vec<(String, String)>,
        body: String,
    },
}

/// Sends one batch: the same bytes and the same id on every attempt.
pub async fn send(destination: &Destination, batch_id: Uuid, payload: &str) -> Answer {
    match destination {
        Destination::Http(endpoint) => post(endpoint, batch_id, payload).await,
        Destination::Directory(dir) => write_file(dir, batch_id, payload).await,
    }
}

async fn post(endpoint: &HttpEndpoint, batch_id: Uuid, payload: &str) -> Answer {
    let id = batch_id.to_string();
    let mut request = endpoint
        .http
        .post(&endpoint.url)
        .query(&[("payloadname", id.as_str())])
        .header(CONTENT_TYPE, "text/csv")
        .header("Idempotency-Key", id.as_str())
        .body(payload.to_owned());
    if let Some(client) = &endpoint.client_name {
        request = request.header("client", client);
    }
    if let Some((name, value)) = &endpoint.auth {
        request = request.header(name.clone(), value.clone());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return unreachable(&error),
    };
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Answer::Accepted(status);
    }
    if !is_refusal(status) {
        return Answer::Retry {
            status: Some(status),
            reason: format!("receiver answered HTTP {status}"),
        };
    }
    let body = match response.text().await {
        Ok(text) => truncate(text),
        Err(_) => String::new(),
    };
    Answer::Refused {
        status,
        rows: named_rows(&body),
        body,
    }
}

fn unreachable(error: &reqwest::Error) -> Answer {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "unreachable"
    } else {
        "request failed"
    };
    Answer::Retry {
        status: None,
        reason: format!("receiver {kind}"),
    }
}

/// A 4xx that says "this batch, as sent, will never be accepted". 401/403 (our credentials),
/// 408 (timeout), 409 (the receiver is still processing this idempotency key) and 429 (rate
/// limit) are not: the same batch may be accepted later.
pub fn is_refusal(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 408 | 409 | 429)
}

/// The rows a ReportStream-style answer names: `errors[].trackingIds` with the entry's
/// `message`. Anything else (no JSON, no tracking ids) names no row.
pub fn named_rows(body: &str) -> Vec<(String, String)> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let Some(errors) = json.get("errors").and_then(|e| e.as_array()) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for error in errors {
        let message = error
            .get("message")
            .or_else(|| error.get("details"))
            .and_then(|m| m.as_str())
            .unwrap_or("refused by the receiver");
        let ids = error.get("trackingIds").and_then(|t| t.as_array());
        for id in ids.into_iter().flatten().filter_map(|id| id.as_str()) {
            rows.push((id.to_owned(), message.to_owned()));
        }
    }
    rows
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_RESPONSE {
        let mut end = MAX_RESPONSE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

async fn write_file(dir: &std::path::Path, batch_id: Uuid, payload: &str) -> Answer {
    let written = async {
        tokio::fs::create_dir_all(dir).await?;
        let temp = dir.join(format!(".{batch_id}.csv.tmp"));
        tokio::fs::write(&temp, payload).await?;
        tokio::fs::rename(&temp, dir.join(format!("{batch_id}.csv"))).await
    }
    .await;
    match written {
        Ok(()) => Answer::Accepted(200),
        Err(error) => Answer::Retry {
            status: None,
            reason: format!("cannot write the report file: {}", error.kind()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_client_errors_refuse_a_batch() {
        for code in [400, 404, 413, 415, 422] {
            assert!(is_refusal(code), "{code}");
        }
        for code in [401, 403, 408, 409, 429, 500, 502, 504, 200] {
            assert!(!is_refusal(code), "{code}");
        }
    }

    #[test]
    fn tracking_ids_name_the_refused_rows() {
        let body = r#"{"errors":[{"scope":"item","trackingIds":["a","b"],"message":"bad zip"},
            {"scope":"report","message":"whole"}]}"#;
        assert_eq!(
            named_rows(body),
            vec![
                ("a".to_owned(), "bad zip".to_owned()),
                ("b".to_owned(), "bad zip".to_owned())
            ]
        );
        assert!(named_rows("<html>Bad Request</html>").is_empty());
    }

    #[test]
    fn the_auth_header_is_name_and_value() {
        let (name, value) = parse_header("x-functions-key: s3cret").expect("valid");
        assert_eq!(name.as_str(), "x-functions-key");
        assert!(value.is_sensitive());
        let error = parse_header("just-a-token").err().unwrap_or_default();
        assert!(!error.contains("just-a-token"));
    }
}
