//! Content negotiation: this server speaks FHIR JSON only. `_format` wins over `Accept`;
//! XML (or anything else that is not JSON) is refused with 406.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::outcome::{FhirError, FhirResult};

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// `_format` values and `Accept` media types answered with FHIR JSON.
const JSON_TYPES: [&str; 5] = [
    "json",
    "application/json",
    "application/fhir+json",
    "application/json+fhir",
    "text/json",
];
const ANY: [&str; 2] = ["*/*", "application/*"];

/// Checks that the client accepts FHIR JSON (`_format` first, then `Accept`; neither means
/// JSON).
pub fn negotiate(format: Option<&str>, accept: Option<&str>) -> FhirResult<()> {
    if let Some(format) = format {
        // `application/fhir+json` unencoded in a query string arrives with a space for `+`.
        let wanted = media_type(&format.replace(' ', "+"));
        if JSON_TYPES.contains(&wanted.as_str()) {
            return Ok(());
        }
        return Err(FhirError::NotAcceptable(format!(
            "_format {wanted} is not supported: this server answers application/fhir+json only"
        )));
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|range| {
        let (wanted, refused) = weighed(range);
        !refused && (JSON_TYPES.contains(&wanted.as_str()) || ANY.contains(&wanted.as_str()))
    });
    if acceptable {
        Ok(())
    } else {
        Err(FhirError::NotAcceptable(
            "this server answers application/fhir+json only (XML is not supported)".into(),
        ))
    }
}

/// The media type without parameters (`fhirVersion`, `charset`), lower case.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A media range and whether its quality is zero (`q=0`: not acceptable).
fn weighed(range: &str) -> (String, bool) {
    let refused = range.split(';').skip(1).any(|param| {
        let param = param.trim().replace(' ', "");
        param
            .strip_prefix("q=")
            .and_then(|q| q.parse::<f32>().ok())
            .is_some_and(|q| q <= 0.0)
    });
    (media_type(range), refused)
}

/// FHIR JSON text: every object that is a resource (the answer, a Bundle's entries, ...)
/// starts with `resourceType`, as R4's JSON format asks; the other members keep their order.
pub fn text(value: &Value) -> String {
    serde_json::to_string(&ResourceFirst(value)).unwrap_or_default()
}

struct ResourceFirst<'a>(&'a Value);

impl Serialize for ResourceFirst<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                if let Some(kind) = members.get("resourceType") {
                    map.serialize_entry("resourceType", kind)?;
                }
                for (name, member) in members.iter().filter(|(n, _)| *n != "resourceType") {
                    map.serialize_entry(name, &ResourceFirst(member))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&ResourceFirst(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_type_comes_first_at_every_level() {
        let bundle = serde_json::json!({
            "type": "searchset",
            "resourceType": "Bundle",
            "entry": [{ "resource": { "id": "1", "meta": {}, "resourceType": "Patient" } }],
        });
        assert_eq!(
            text(&bundle),
            r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"1","meta":{}}}],"type":"searchset"}"#
        );
    }

    #[test]
    fn json_is_accepted_in_every_spelling() {
        assert!(negotiate(None, None).is_ok());
        assert!(negotiate(Some("json"), Some("application/fhir+xml")).is_ok());
        assert!(negotiate(Some("application/fhir json"), None).is_ok());
        assert!(negotiate(None, Some("application/fhir+json; fhirVersion=4.0")).is_ok());
        assert!(negotiate(None, Some("text/html, */*;q=0.8")).is_ok());
    }

    #[test]
    fn xml_is_refused() {
        assert!(negotiate(Some("xml"), None).is_err());
        assert!(negotiate(Some("application/fhir+xml"), None).is_err());
        assert!(negotiate(None, Some("application/fhir+xml")).is_err());
        assert!(negotiate(None, Some("application/json;q=0, application/xml")).is_err());
    }
}
