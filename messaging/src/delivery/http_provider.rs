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

    /// Posts `payload`; any 2xx is success, and [`is_permanent_status`] decides whether a
    /// refusal is retried. The response body is never read or stored.
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
        let code = status.as_u16();
        if is_permanent_status(code) {
            return Err(SendFailure::permanent(format!(
                "{} provider refused the recipient: HTTP {code}",
                self.name
            )));
        }
        Err(SendFailure::temporary(format!(
            "{} provider answered HTTP {code}",
            self.name
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
        SendFailure::temporary(format!("{} provider {kind}", self.name))
    }
}

/// The provider answers that this message can never be delivered as addressed: 400 (bad
/// request, e.g. an invalid number), 404 (unknown recipient or unregistered push token), 410
/// (token gone) and 422 (unprocessable recipient). Every other refusal is temporary: 401/403
/// (the portal's credentials, fixable by the operator), 408 and 429 (timeout, rate limit) and
/// all 5xx.
pub fn is_permanent_status(code: u16) -> bool {
    matches!(code, 400 | 404 | 410 | 422)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_recipient_refusals_are_permanent() {
        for code in [400, 404, 410, 422] {
            assert!(is_permanent_status(code), "{code}");
        }
        for code in [401, 403, 408, 429, 500, 502, 503] {
            assert!(!is_permanent_status(code), "{code}");
        }
    }
}
