//! Versions over HTTP: a versioned resource is read with its `ETag` (`W/"<meta.versionId>"`)
//! and `Last-Modified` (`meta.lastUpdated`, to the second as HTTP dates are), and a client
//! whose copy is current gets 304 Not Modified: `If-None-Match` naming the version (or `*`),
//! or, without `If-None-Match`, `If-Modified-Since` at or after the last update.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;

use crate::edge::json;

/// The answer to a read of `resource`: with its version headers when it has a version.
pub fn answer(request: &HeaderMap, resource: &Value) -> Response {
    let Some(version) = resource["meta"]["versionId"].as_str() else {
        return json(StatusCode::OK, resource);
    };
    let modified = resource["meta"]["lastUpdated"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc).trunc_subsecs(0));
    let current = match request.get(header::IF_NONE_MATCH) {
        Some(tags) => names(tags, version),
        None => modified.zip(since(request)).is_some_and(|(m, s)| m <= s),
    };
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json(StatusCode::OK, resource)
    };
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&etag(version)) {
        headers.insert(header::ETAG, tag);
    }
    if let Some(date) = modified.and_then(|m| HeaderValue::from_str(&http_date(m)).ok()) {
        headers.insert(header::LAST_MODIFIED, date);
    }
    response
}

pub fn etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

/// An HTTP date (IMF-fixdate).
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether an `If-None-Match` list names `version` (weak comparison) or is `*`.
fn names(tags: &HeaderValue, version: &str) -> bool {
    let wanted = format!("\"{version}\"");
    tags.to_str().unwrap_or_default().split(',').any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == wanted
    })
}

/// `If-Modified-Since`, when it is a date (anything else is ignored, as HTTP says).
fn since(request: &HeaderMap) -> Option<DateTime<Utc>> {
    let value = request.get(header::IF_MODIFIED_SINCE)?.to_str().ok()?;
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(headers: &[(header::HeaderName, &str)]) -> StatusCode {
        let mut request = HeaderMap::new();
        for (name, value) in headers {
            request.insert(name, HeaderValue::from_str(value).expect("header"));
        }
        let resource = serde_json::json!({
            "resourceType": "DiagnosticReport",
            "meta": { "versionId": "v2", "lastUpdated": "2024-03-05T10:15:30.123456Z" },
        });
        answer(&request, &resource).status()
    }

    #[test]
    fn a_current_copy_is_not_sent_again() {
        use header::{IF_MODIFIED_SINCE as SINCE, IF_NONE_MATCH as MATCH};
        assert_eq!(status(&[]), StatusCode::OK);
        assert_eq!(status(&[(MATCH, "W/\"v2\"")]), StatusCode::NOT_MODIFIED);
        assert_eq!(
            status(&[(MATCH, "\"v1\", \"v2\"")]),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(status(&[(MATCH, "*")]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&[(MATCH, "W/\"v1\"")]), StatusCode::OK);
        let at = "Tue, 05 Mar 2024 10:15:30 GMT";
        assert_eq!(status(&[(SINCE, at)]), StatusCode::NOT_MODIFIED);
        let before = "Tue, 05 Mar 2024 10:15:29 GMT";
        assert_eq!(status(&[(SINCE, before)]), StatusCode::OK);
        assert_eq!(status(&[(SINCE, "yesterday")]), StatusCode::OK);
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(status(&[(MATCH, "W/\"v1\""), (SINCE, at)]), StatusCode::OK);
    }

    #[test]
    fn last_modified_is_an_http_date() {
        let at = DateTime::parse_from_rfc3339("2024-03-05T10:15:30Z").expect("instant");
        assert_eq!(
            http_date(at.with_timezone(&Utc)),
            "Tue, 05 Mar 2024 10:15:30 GMT"
        );
    }
}
