//! SMS and push providers over HTTP: a JSON POST with an optional bearer token.

use std::time::Duration;

use serde::Serialize;

use super::SendFailure;

#[derive(Clone)]
pub struct HttpProvider {
    name: &'static str,
    url: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl HttpProvider {
    /// `name` (`sms`, `push`) appears in errors instead of the URL, which may carry a key.
    /// `timeout` (`NOTIFY_SEND_TIMEOUT_MS`) is kept well under the worker's claim lease, so a
    /// slow provider cannot cause a double send.
    pub fn new(
        name: &'static str,
        url: String,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the {name} provider's HTTP client: {e}"))?;
        Ok(Self {
            name,
            url,
            token,
            client,
        })
    }

    /// Posts `payload`; any 2xx is success. The response body is never read or stored.
    pub async fn post(&self, payload: &impl Serialize) -> Result<(), SendFailure> {
        let mut request = self.client.post(&self.url).json(payload);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(SendFailure(format!(
            "{} provider answered HTTP {}",
            self.name,
            status.as_u16()
        )))
    }

    fn unreachable(&self, error: &reqwest::Error) -> SendFailure {
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "unreachable"
        } else {
            "request failed"
        };
        SendFailure(format!("{} provider {kind}", self.name))
    }
}
