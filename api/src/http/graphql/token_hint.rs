//! Development only: an `UNAUTHENTICATED` error's message also says how to get a token (the
//! playground's demo tokens, or `portal token`). The code stays `UNAUTHENTICATED`; production
//! answers are never touched.

use async_graphql::{Response, Value};

/// `response` with the hint appended to each `UNAUTHENTICATED` message; `None` when it has
/// no such error (answer it as it is).
pub fn add(response: &Response, program: &str) -> Option<Response> {
    let unauthenticated = |e: &async_graphql::ServerError| {
        e.extensions.as_ref().and_then(|x| x.get("code"))
            == Some(&Value::String("UNAUTHENTICATED".into()))
    };
    if !response.errors.iter().any(unauthenticated) {
        return None;
    }
    // `Response` is not `Clone`: rebuild it with every part the reply writes.
    let mut hinted = Response::new(response.data.clone());
    hinted.extensions = response.extensions.clone();
    hinted.http_headers = response.http_headers.clone();
    hinted.errors = response.errors.clone();
    for error in hinted.errors.iter_mut().filter(|e| unauthenticated(e)) {
        error.message.push_str(&hint(program));
    }
    Some(hinted)
}

fn hint(program: &str) -> String {
    format!(
        " (development: send `Authorization: Bearer <token>`; the playground at / holds the \
         demo users' tokens, or run `{program} token --patient MRN1001`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unauthenticated_errors_get_the_hint_and_keep_their_code() {
        let denied = portal_schema::coded_error("a bearer token is required", "UNAUTHENTICATED");
        let other = portal_schema::coded_error("no such result", "NOT_FOUND");
        let response = Response::from_errors(vec![denied, other]);
        let hinted = add(&response, "portal").expect("hinted");
        assert!(
            hinted.errors[0]
                .message
                .starts_with("a bearer token is required (development: ")
        );
        assert!(
            hinted.errors[0]
                .message
                .contains("`portal token --patient MRN1001`")
        );
        assert_eq!(
            hinted.errors[0]
                .extensions
                .as_ref()
                .and_then(|x| x.get("code")),
            Some(&Value::String("UNAUTHENTICATED".into()))
        );
        assert_eq!(hinted.errors[1].message, "no such result");
        let clean = Response::from_errors(vec![portal_schema::coded_error("x", "NOT_FOUND")]);
        assert!(add(&clean, "portal").is_none());
    }
}
