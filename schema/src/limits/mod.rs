//! Request limits, checked before an operation is validated and run, each refused with a
//! coded error: the query's length and token count, then — on the parsed document — field
//! selections (duplicates counted), aliases and directives at one place; and text inputs
//! (variables and string literals) that hold control characters.
//!
//! The body size is the HTTP edge's (it never reaches here). The engine's own depth and
//! complexity limits still apply after these.

mod document;
mod tokens;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, Variables};

pub use document::{Measure, has_control_character, is_refused_text, measure};

/// The code of an error that reports an exceeded limit (`extensions.limit` names it,
/// `extensions.max` gives the allowed value).
pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";

/// The limits of one request; see docs/http.md, "Limits", for the defaults.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Bytes of the query text.
    pub max_query_bytes: usize,
    /// Lexical tokens of the query text (names, punctuators, values).
    pub max_tokens: usize,
    /// Field selections, every occurrence counted (the same field asked twice counts twice,
    /// a fragment counts each time it is spread).
    pub max_selections: usize,
    pub max_aliases: usize,
    /// Directives on one field, fragment or operation.
    pub max_directives: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_query_bytes: 32 * 1024,
            max_tokens: 5_000,
            max_selections: 2_000,
            max_aliases: 50,
            max_directives: 5,
        }
    }
}

/// Why a request was refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// LIMIT_EXCEEDED: `limit` is one of `query_bytes`, `tokens`, `selections`, `aliases`,
    /// `directives`.
    Limit { limit: &'static str, max: usize },
    /// BAD_USER_INPUT: a text input holds a control character; `field` is the variable path
    /// (`variables.input.conclusion`) or the literal's `field.argument`.
    ControlCharacter { field: String },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Limit { .. } => LIMIT_EXCEEDED,
            Self::ControlCharacter { .. } => "BAD_USER_INPUT",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Limit { limit, max } => {
                format!("the request exceeds the {limit} limit (at most {max})")
            }
            Self::ControlCharacter { field } => format!(
                "{field} holds a control character (only tab, line feed and carriage return are allowed)"
            ),
        }
    }

    /// The refusal as a GraphQL error with its code and details in `extensions`.
    pub fn to_server_error(&self) -> ServerError {
        let mut error = crate::coded_error(self.message(), self.code());
        if let Some(ext) = error.extensions.as_mut() {
            match self {
                Refusal::Limit { limit, max } => {
                    ext.set("limit", *limit);
                    ext.set("max", *max as u64);
                }
                Refusal::ControlCharacter { field } => ext.set("field", field.as_str()),
            }
        }
        error
    }
}

impl RequestLimits {
    /// Length and tokens of the query text: cheap, and done before parsing.
    pub fn check_text(&self, query: &str) -> Result<(), Refusal> {
        if query.len() > self.max_query_bytes {
            return Err(limit("query_bytes", self.max_query_bytes));
        }
        if tokens::count_at_most(query, self.max_tokens).is_none() {
            return Err(limit("tokens", self.max_tokens));
        }
        Ok(())
    }

    /// Selections, aliases, directives and text literals of the parsed document.
    pub fn check_document(&self, doc: &ExecutableDocument) -> Result<(), Refusal> {
        let measured = measure(doc);
        if measured.selections > self.max_selections {
            return Err(limit("selections", self.max_selections));
        }
        if measured.aliases > self.max_aliases {
            return Err(limit("aliases", self.max_aliases));
        }
        if measured.directives_at_one_place > self.max_directives {
            return Err(limit("directives", self.max_directives));
        }
        if let Some(field) = document::control_character(doc) {
            return Err(Refusal::ControlCharacter { field });
        }
        Ok(())
    }
}

/// The first variable whose text holds a control character, by its path.
pub fn check_variables(variables: &Variables) -> Result<(), Refusal> {
    for (name, value) in variables.iter() {
        if let Some(path) = refused_path(value, format!("variables.{name}")) {
            return Err(Refusal::ControlCharacter { field: path });
        }
    }
    Ok(())
}

fn refused_path(value: &async_graphql::Value, path: String) -> Option<String> {
    use async_graphql::Value;
    match value {
        Value::String(text) => is_refused_text(text).then_some(path),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| refused_path(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields
            .iter()
            .find_map(|(key, item)| refused_path(item, format!("{path}.{key}"))),
        _ => None,
    }
}

fn limit(limit: &'static str, max: usize) -> Refusal {
    Refusal::Limit { limit, max }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_come_before_parsing() {
        let limits = RequestLimits::default();
        let whitespace = format!("{{ a {} }}", " ".repeat(1 << 20));
        assert_eq!(
            limits.check_text(&whitespace),
            Err(limit("query_bytes", 32 * 1024))
        );
        let many = format!("{{ {} }}", "a ".repeat(6_000));
        assert_eq!(limits.check_text(&many), Err(limit("tokens", 5_000)));
        assert_eq!(limits.check_text("{ __typename }"), Ok(()));
    }

    #[test]
    fn variables_with_control_characters_are_named_by_path() {
        let variables = Variables::from_json(serde_json::json!({
            "input": { "observations": [{ "valueText": "ok" }, { "valueText": "a\u{0}b" }] }
        }));
        assert_eq!(
            check_variables(&variables),
            Err(Refusal::ControlCharacter {
                field: "variables.input.observations[1].valueText".into()
            })
        );
        let fine = Variables::from_json(serde_json::json!({ "text": "line\nnext\ttab" }));
        assert_eq!(check_variables(&fine), Ok(()));
    }

    #[test]
    fn refusals_carry_their_code_and_details() {
        let error = limit("aliases", 50).to_server_error();
        let ext = error.extensions.expect("extensions");
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from(LIMIT_EXCEEDED))
        );
        assert_eq!(
            ext.get("limit"),
            Some(&async_graphql::Value::from("aliases"))
        );
        assert!(error.locations.is_empty(), "no line 0 column 0");
    }
}
