//! Strict reading of search parameters: a parameter the CapabilityStatement does not list, a
//! modifier, a repeated single-valued parameter or a value that cannot be read is a 400, never
//! silently ignored (a client that filters by something the server ignores would get more
//! data than it asked for).

use uuid::Uuid;

use crate::capability::Served;
use crate::outcome::{FhirError, FhirResult};

/// The parameters of one search, checked against what the resource type serves.
#[derive(Debug)]
pub struct Search {
    pairs: Vec<(String, String)>,
    /// `_count` as given (bounded by the page request).
    pub count: Option<i32>,
    /// `_cursor`: where the previous page ended (opaque to clients).
    pub cursor: Option<String>,
    pub includes: Vec<String>,
}

impl Search {
    pub fn parse(served: &Served, query: Vec<(String, String)>) -> FhirResult<Self> {
        let mut search = Self {
            pairs: Vec::new(),
            count: None,
            cursor: None,
            includes: Vec::new(),
        };
        for (name, value) in query {
            if value.is_empty() {
                return Err(FhirError::invalid(format!("parameter {name} has no value")));
            }
            if name.contains(':') {
                return Err(FhirError::invalid(format!(
                    "parameter {name}: modifiers are not supported"
                )));
            }
            match name.as_str() {
                "_format" => {}
                "_count" => search.count = Some(parse_count(&value)?),
                "_cursor" => search.cursor = Some(value.clone()),
                "_include" if served.includes.contains(&value.as_str()) => {
                    search.includes.push(value.clone());
                }
                "_include" => {
                    return Err(FhirError::invalid(format!(
                        "_include={value} is not supported for {}",
                        served.kind
                    )));
                }
                "_sort" if served.sorts.contains(&value.as_str()) => {}
                "_sort" => {
                    return Err(FhirError::invalid(format!(
                        "_sort={value} is not supported for {} (supported: {})",
                        served.kind,
                        served.sorts.join(", ")
                    )));
                }
                _ => {
                    let Some(param) = served.search.iter().find(|p| p.name == name) else {
                        return Err(FhirError::invalid(format!(
                            "unknown search parameter {name} for {}",
                            served.kind
                        )));
                    };
                    if !param.ranged() && search.pairs.iter().any(|(n, _)| *n == name) {
                        return Err(FhirError::invalid(format!(
                            "parameter {name} may be given once (use a comma for OR)"
                        )));
                    }
                }
            }
            // The links repeat what the client asked, in its order, past the cursor.
            if !matches!(name.as_str(), "_cursor" | "_format") {
                search.pairs.push((name, value));
            }
        }
        Ok(search)
    }

    /// The value of a single-valued parameter.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter (AND).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The parameters as given, without the cursor: the query of the self and next links.
    pub fn link_query(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The patient a search is about (`patient` is required wherever it is served).
    pub fn patient(&self) -> FhirResult<Uuid> {
        let value = self
            .one("patient")
            .ok_or_else(|| FhirError::invalid("the patient parameter is required"))?;
        patient_reference(value)
    }
}

fn parse_count(value: &str) -> FhirResult<i32> {
    value
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| FhirError::invalid("_count must be a whole number of at least 1"))
}

/// `Patient/{id}` or `{id}`.
pub fn patient_reference(value: &str) -> FhirResult<Uuid> {
    let id = value.strip_prefix("Patient/").unwrap_or(value);
    Uuid::parse_str(id)
        .map_err(|_| FhirError::invalid("patient must be Patient/{id} with the patient's id"))
}

/// A resource id in a path.
pub fn resource_id(value: &str) -> FhirResult<Uuid> {
    Uuid::parse_str(value)
        .map_err(|_| FhirError::Service(portal_core::ServiceError::NotFound("resource")))
}

/// One `[system|]code` of a token list: `system` is `None` when not given, `Some("")` for
/// `|code` (explicitly no system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub system: Option<&'a str>,
    pub code: &'a str,
}

/// A comma-separated token list (OR).
pub fn tokens(value: &str) -> FhirResult<Vec<Token<'_>>> {
    value
        .split(',')
        .map(|part| {
            let (system, code) = match part.split_once('|') {
                Some((system, code)) => (Some(system), code),
                None => (None, part),
            };
            if code.is_empty() {
                return Err(FhirError::invalid(format!("token {part} has no code")));
            }
            Ok(Token { system, code })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::served;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_parameters_and_modifiers_are_refused() {
        let reports = served("DiagnosticReport").expect("served");
        assert!(Search::parse(reports, query(&[("patient", "x"), ("performer", "y")])).is_err());
        assert!(Search::parse(reports, query(&[("code:text", "y")])).is_err());
        assert!(Search::parse(reports, query(&[("status", "final"), ("status", "x")])).is_err());
        assert!(Search::parse(reports, query(&[("_count", "0")])).is_err());
        assert!(
            Search::parse(reports, query(&[("_include", "DiagnosticReport:subject")])).is_err()
        );
        let ok = Search::parse(
            reports,
            query(&[("date", "ge2024"), ("date", "lt2025"), ("_count", "5")]),
        )
        .expect("valid");
        assert_eq!(ok.all("date").len(), 2);
        assert_eq!(ok.count, Some(5));
    }

    #[test]
    fn tokens_keep_their_system() {
        let list = tokens("http://loinc.org|718-7,|x,y").expect("valid");
        assert_eq!(list[0].system, Some("http://loinc.org"));
        assert_eq!(list[1].system, Some(""));
        assert_eq!(list[2].system, None);
        assert!(tokens("http://loinc.org|").is_err());
    }
}
