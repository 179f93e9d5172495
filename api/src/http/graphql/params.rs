//! The parameters of a GraphQL-over-HTTP request (`query`, `operationName`, `variables`,
//! `extensions`), read from a POSTed JSON body or a GET query string and checked by type, as
//! the GraphQL-over-HTTP spec describes them.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::reply::EdgeError;

/// What the client asked for, before any persisted query is looked up.
#[derive(Debug, Default)]
pub struct Params {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Map<String, Value>,
    pub extensions: Map<String, Value>,
}

impl Params {
    /// A POST body: one JSON object (`application/json`). Batches are not accepted.
    pub fn from_body(body: &[u8]) -> Result<Self, EdgeError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(EdgeError::bad_request("the request body is empty"));
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| EdgeError::bad_request("the request body is not valid JSON"))?;
        let Value::Object(mut fields) = value else {
            return Err(EdgeError::bad_request(
                "the request body must be a JSON object (batches are not accepted)",
            ));
        };
        Ok(Self {
            query: string(fields.remove("query"), "query")?,
            operation_name: string(fields.remove("operationName"), "operationName")?,
            variables: map(fields.remove("variables"), "variables")?,
            extensions: map(fields.remove("extensions"), "extensions")?,
        })
    }

    /// A GET query string: `variables` and `extensions` are JSON text.
    pub fn from_query_string(pairs: HashMap<String, String>) -> Result<Self, EdgeError> {
        let json = |name: &str| -> Result<Option<Value>, EdgeError> {
            match pairs.get(name).map(String::as_str) {
                None | Some("") => Ok(None),
                Some(text) => serde_json::from_str(text).map(Some).map_err(|_| {
                    EdgeError::bad_request(format!("the {name} parameter is not valid JSON"))
                }),
            }
        };
        Ok(Self {
            query: pairs.get("query").filter(|q| !q.is_empty()).cloned(),
            operation_name: pairs
                .get("operationName")
                .filter(|o| !o.is_empty())
                .cloned(),
            variables: map(json("variables")?, "variables")?,
            extensions: map(json("extensions")?, "extensions")?,
        })
    }
}

fn string(value: Option<Value>, name: &str) -> Result<Option<String>, EdgeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(EdgeError::bad_request(format!(
            "the {name} parameter must be a string"
        ))),
    }
}

fn map(value: Option<Value>, name: &str) -> Result<Map<String, Value>, EdgeError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(fields)) => Ok(fields),
        Some(_) => Err(EdgeError::bad_request(format!(
            "the {name} parameter must be a map (a JSON object)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_one_object_with_typed_parameters() {
        let params = Params::from_body(
            br#"{"query":"{ a }","operationName":null,"variables":{"x":1},"extensions":null}"#,
        )
        .expect("valid");
        assert_eq!(params.query.as_deref(), Some("{ a }"));
        assert_eq!(params.variables.get("x"), Some(&Value::from(1)));
        for bad in [
            &b""[..],
            b"  ",
            b"{ \"not a JSON",
            b"[{\"query\":\"{ a }\"}]",
            b"{\"query\":0}",
            b"{\"query\":\"{ a }\",\"variables\":\"string\"}",
            b"{\"query\":\"{ a }\",\"extensions\":[1]}",
            b"{\"query\":\"{ a }\",\"operationName\":false}",
        ] {
            assert!(
                Params::from_body(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_query_string_carries_json_variables() {
        let pairs = HashMap::from([
            ("query".to_owned(), "{ a }".to_owned()),
            ("variables".to_owned(), "{\"name\":\"x\"}".to_owned()),
        ]);
        let params = Params::from_query_string(pairs).expect("valid");
        assert_eq!(params.variables.get("name"), Some(&Value::from("x")));
        let pairs = HashMap::from([("variables".to_owned(), "[1]".to_owned())]);
        assert!(Params::from_query_string(pairs).is_err());
    }
}
