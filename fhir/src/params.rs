//! Strict reading of search parameters: a parameter the CapabilityStatement does not list, a
//! modifier, a repeated single-valued parameter or a value that cannot be read is a 400, never
//! silently ignored (a client that filters by something the server ignores would get more
//! data than it asked for).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::capability::{ParamType, Served};
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
                    let repeats = param.kind == ParamType::Date && param.name != "birthdate";
                    if !repeats && search.pairs.iter().any(|(n, _)| *n == name) {
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

/// Inclusive bounds of an interval of time; `None` is unbounded.
pub type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The interval the `date` values (each `[prefix]value`, ANDed) allow: inclusive bounds.
pub fn date_range(values: &[&str]) -> FhirResult<Bounds> {
    let tick = Duration::microseconds(1);
    let (mut since, mut until): Bounds = (None, None);
    for value in values {
        let (prefix, rest) = match value.get(..2) {
            Some(p) if p.chars().all(|c| c.is_ascii_lowercase()) => (p, &value[2..]),
            _ => ("eq", *value),
        };
        let (start, end) = interval(rest)?;
        let (low, high) = match prefix {
            "eq" => (Some(start), Some(end - tick)),
            "ge" => (Some(start), None),
            "gt" => (Some(end), None),
            "le" => (None, Some(end - tick)),
            "lt" => (None, Some(start - tick)),
            other => {
                return Err(FhirError::invalid(format!(
                    "date prefix {other} is not supported (eq, ge, gt, le, lt)"
                )));
            }
        };
        since = since.max(low);
        until = match (until, high) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(FhirError::invalid("the date values exclude each other"));
    }
    Ok((since, until))
}

/// The instant a date value starts and the one its precision ends (exclusive).
fn interval(value: &str) -> FhirResult<(DateTime<Utc>, DateTime<Utc>)> {
    // A `+` offset arrives as a space when the client did not encode it.
    let value = value.replace(' ', "+");
    let bad = || {
        FhirError::invalid(format!(
            "date {value} must be YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with a time zone"
        ))
    };
    let day = |date: NaiveDate| Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN));
    match value.len() {
        4 => {
            let year: i32 = value.parse().map_err(|_| bad())?;
            let start = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad)?;
            let end = NaiveDate::from_ymd_opt(year + 1, 1, 1).ok_or_else(bad)?;
            Ok((day(start), day(end)))
        }
        7 => {
            let start =
                NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d").map_err(|_| bad())?;
            let end = start
                .checked_add_months(chrono::Months::new(1))
                .ok_or_else(bad)?;
            Ok((day(start), day(end)))
        }
        10 => {
            let start = NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| bad())?;
            Ok((day(start), day(start + Duration::days(1))))
        }
        _ => {
            let at = DateTime::parse_from_rfc3339(&value)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| {
                    // `YYYY-MM-DDThh:mm` with a zone, seconds left out.
                    let (local, zone) = value.split_at(value.len().min(16));
                    NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
                        .ok()
                        .and_then(|naive| {
                            DateTime::parse_from_rfc3339(&format!(
                                "{}:00{zone}",
                                naive.format("%Y-%m-%dT%H:%M")
                            ))
                            .ok()
                        })
                        .map(|t| t.with_timezone(&Utc))
                        .ok_or(())
                })
                .map_err(|_| bad())?;
            Ok((at, at + Duration::microseconds(1)))
        }
    }
}

/// `birthdate`: a day, `eq` or no prefix.
pub fn birth_date(value: &str) -> FhirResult<NaiveDate> {
    let value = value.strip_prefix("eq").unwrap_or(value);
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| FhirError::invalid("birthdate must be YYYY-MM-DD"))
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
    fn date_prefixes_make_inclusive_bounds() {
        let (since, until) = date_range(&["ge2024-03", "lt2024-04-10"]).expect("valid");
        assert_eq!(
            since.map(|t| t.to_rfc3339()),
            Some("2024-03-01T00:00:00+00:00".into())
        );
        let until = until.expect("until");
        assert_eq!(until.date_naive().to_string(), "2024-04-09");
        let (since, _) = date_range(&["gt2024-03-05"]).expect("valid");
        assert_eq!(
            since.map(|t| t.date_naive().to_string()),
            Some("2024-03-06".into())
        );
        assert!(date_range(&["sa2024"]).is_err());
        assert!(date_range(&["ge2025", "le2024"]).is_err());
        assert!(date_range(&["2024-13"]).is_err());
        assert!(date_range(&["2024-03-05T10:00:00"]).is_err());
        assert!(date_range(&["2024-03-05T10:00:00Z"]).is_ok());
        assert!(date_range(&["2024-03-05T10:00 01:00"]).is_ok());
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
