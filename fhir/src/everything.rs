//! `Patient/{id}/$everything`: the patient's compartment as one paged searchset — the
//! Patient, then each compartment type the server serves, each read through that type's own
//! search (so the access rules, the release policy, the proxy scopes and the audit are the
//! searches' own). A type the viewer may not read (a proxy without the COVERAGE scope) is left
//! out, not an error; `_type` narrows the types, `_since` keeps resources whose
//! `meta.lastUpdated` is at or after it (types that carry no update time are kept whole).

use chrono::{DateTime, Utc};
use portal_core::ServiceError;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::capability::served;
use crate::edge::Call;
use crate::outcome::{FhirError, FhirResult};
use crate::params::Search;
use crate::resources;

/// The compartment's types, in the order they are listed (the Patient first, orders before
/// the reports and observations that answer them).
pub const TYPES: &[&str] = &[
    "Patient",
    "ServiceRequest",
    "DiagnosticReport",
    "Observation",
    "Appointment",
    "Coverage",
    "ExplanationOfBenefit",
];

/// What the operation was asked.
#[derive(Debug)]
pub struct Everything {
    types: Vec<&'static str>,
    since: Option<DateTime<Utc>>,
    count: Option<i32>,
    /// Where the previous page ended: the type's position in `types` and that type's own
    /// search cursor (empty at the start of a type).
    cursor: Option<(usize, String)>,
    /// The parameters as given (without `_cursor` and `_format`), repeated in the links.
    pairs: Vec<(String, String)>,
}

impl Everything {
    pub fn parse(query: Vec<(String, String)>) -> FhirResult<Self> {
        let mut asked = Self {
            types: TYPES.to_vec(),
            since: None,
            count: None,
            cursor: None,
            pairs: Vec::new(),
        };
        for (name, value) in query {
            if value.is_empty() {
                return Err(FhirError::invalid(format!("parameter {name} has no value")));
            }
            match name.as_str() {
                "_format" => continue,
                "_cursor" => {
                    asked.cursor = Some(parse_cursor(&value)?);
                    continue;
                }
                "_type" => asked.types = parse_types(&value)?,
                "_since" => asked.since = Some(parse_instant(&value)?),
                "_count" => {
                    let count = value.parse::<i32>().ok().filter(|n| *n >= 1);
                    asked.count = Some(count.ok_or_else(|| {
                        FhirError::invalid("_count must be a whole number of at least 1")
                    })?);
                }
                other => {
                    return Err(FhirError::invalid(format!(
                        "unknown parameter {other} for $everything (served: _type, _since, \
                         _count)"
                    )));
                }
            }
            if asked.pairs.iter().any(|(n, _)| *n == name) {
                return Err(FhirError::invalid(format!(
                    "parameter {name} may be given once"
                )));
            }
            asked.pairs.push((name, value));
        }
        if let Some((position, _)) = &asked.cursor
            && *position >= asked.types.len()
        {
            return Err(invalid_cursor());
        }
        Ok(asked)
    }
}

/// One page of the patient's compartment.
pub async fn page(call: &Call, patient: Uuid, asked: &Everything) -> FhirResult<Value> {
    let size = usize::try_from(call.page_size(asked.count)).unwrap_or(usize::MAX);
    let (mut position, mut inner) = asked.cursor.clone().unwrap_or((0, String::new()));
    let mut entries = Vec::new();
    let mut next = None;
    while position < asked.types.len() {
        let kind = asked.types[position];
        let room = size - entries.len();
        let (found, more) = read_type(call, patient, kind, room, &inner).await?;
        entries.extend(
            found
                .into_iter()
                .filter(|entry| updated_since(&entry["resource"], asked.since)),
        );
        match more {
            Some(cursor) => {
                next = Some((position, cursor));
                break;
            }
            None => {
                position += 1;
                inner.clear();
                if entries.len() >= size {
                    if position < asked.types.len() {
                        next = Some((position, String::new()));
                    }
                    break;
                }
            }
        }
    }
    let base = format!("{}/Patient/{patient}/$everything", call.base);
    let mut links = vec![link("self", &base, &asked.pairs, None)];
    if let Some((position, cursor)) = next {
        let cursor = format!("{position}.{cursor}");
        links.push(link("next", &base, &asked.pairs, Some(&cursor)));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(bundle)
}

/// Up to `room` entries of one type, and the type's own cursor when it has more.
async fn read_type(
    call: &Call,
    patient: Uuid,
    kind: &str,
    room: usize,
    cursor: &str,
) -> FhirResult<(Vec<Value>, Option<String>)> {
    if kind == "Patient" {
        let resource = resources::read(call, kind, patient).await?;
        return Ok((vec![entry(&call.base, resource)], None));
    }
    let served = served(kind).ok_or_else(|| FhirError::UnknownType(kind.to_owned()))?;
    let mut query = vec![
        ("patient".to_owned(), patient.to_string()),
        ("_count".to_owned(), room.max(1).to_string()),
    ];
    if !cursor.is_empty() {
        query.push(("_cursor".to_owned(), cursor.to_owned()));
    }
    let search = Search::parse(served, query)?;
    let bundle = match resources::search(call, kind, &search).await {
        Ok(bundle) => bundle,
        // A type this viewer may not read (a proxy's scopes) is not part of their export.
        Err(FhirError::Service(ServiceError::Forbidden(_))) => return Ok((Vec::new(), None)),
        Err(err) => return Err(err),
    };
    let entries = bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| entry(&call.base, e["resource"].clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok((entries, next_cursor(&bundle)))
}

/// The `_cursor` of a searchset's next link.
fn next_cursor(bundle: &Value) -> Option<String> {
    let url = bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")?["url"]
        .as_str()?;
    let query = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(name, _)| name == "_cursor")
        .map(|(_, value)| value)
}

fn entry(base: &str, resource: Value) -> Value {
    let kind = resource["resourceType"].as_str().unwrap_or_default();
    let id = resource["id"].as_str().unwrap_or_default();
    json!({
        "fullUrl": format!("{base}/{kind}/{id}"),
        "resource": resource,
        "search": { "mode": "match" },
    })
}

fn updated_since(resource: &Value, since: Option<DateTime<Utc>>) -> bool {
    let Some(since) = since else { return true };
    match resource["meta"]["lastUpdated"].as_str() {
        Some(updated) => DateTime::parse_from_rfc3339(updated)
            .map(|at| at.with_timezone(&Utc) >= since)
            .unwrap_or(true),
        None => true,
    }
}

fn link(relation: &str, base: &str, pairs: &[(String, String)], cursor: Option<&str>) -> Value {
    let mut pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Some(cursor) = cursor {
        pairs.push(("_cursor", cursor));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let url = if encoded.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{encoded}")
    };
    json!({ "relation": relation, "url": url })
}

fn parse_types(value: &str) -> FhirResult<Vec<&'static str>> {
    let mut types = Vec::new();
    for name in value.split(',') {
        let kind = TYPES.iter().find(|t| **t == name).ok_or_else(|| {
            FhirError::invalid(format!(
                "_type {name} is not in the patient compartment served here ({})",
                TYPES.join(", ")
            ))
        })?;
        if !types.contains(kind) {
            types.push(*kind);
        }
    }
    // The listing order is the compartment's, whatever order the client named them in.
    types.sort_by_key(|kind| TYPES.iter().position(|t| t == kind));
    Ok(types)
}

/// `_since` is an instant: a full date and time with its zone.
fn parse_instant(value: &str) -> FhirResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| FhirError::invalid("_since must be an instant, e.g. 2026-01-01T00:00:00Z"))
}

fn parse_cursor(value: &str) -> FhirResult<(usize, String)> {
    let (position, inner) = value.split_once('.').ok_or_else(invalid_cursor)?;
    let position = position.parse().map_err(|_| invalid_cursor())?;
    Ok((position, inner.to_owned()))
}

fn invalid_cursor() -> FhirError {
    FhirError::invalid("invalid _cursor: follow Bundle.link next")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_read_strictly() {
        let asked = Everything::parse(query(&[
            ("_type", "Observation,Patient"),
            ("_since", "2026-01-01T00:00:00Z"),
            ("_count", "3"),
            ("_cursor", "1.abc"),
        ]))
        .expect("valid");
        assert_eq!(asked.types, vec!["Patient", "Observation"]);
        assert_eq!(asked.count, Some(3));
        assert_eq!(asked.cursor, Some((1, "abc".to_owned())));
        assert_eq!(asked.pairs.len(), 3, "the cursor is not repeated in links");
        for bad in [
            ("_type", "Practitioner"),
            ("_since", "2026-01-01"),
            ("_count", "0"),
            ("_cursor", "x"),
            ("start", "2026"),
        ] {
            assert!(Everything::parse(query(&[bad])).is_err(), "{bad:?} refused");
        }
        assert!(
            Everything::parse(query(&[("_type", "Patient"), ("_cursor", "1.")])).is_err(),
            "a cursor past the types asked"
        );
    }

    #[test]
    fn since_keeps_resources_without_an_update_time() {
        let since = parse_instant("2026-01-01T00:00:00Z").ok();
        assert!(updated_since(
            &json!({"meta": {"lastUpdated": "2026-02-01T00:00:00Z"}}),
            since
        ));
        assert!(!updated_since(
            &json!({"meta": {"lastUpdated": "2025-12-31T23:59:59Z"}}),
            since
        ));
        assert!(updated_since(
            &json!({"resourceType": "Appointment"}),
            since
        ));
    }
}
