//! The receiver's reading of an upload: ReportStream's CSV upload schema (`upload-covid-19`,
//! based on `covid-19`) and its `sender-automation` value sets, read from the files vendored
//! in `messaging/data/reportstream` (origin and commit in its `ORIGIN.md`), and a reader that
//! checks a CSV the way that schema reads it: required columns by exact header, no empty
//! required cell, coded cells in their value set, dates, phones and postal codes in accepted
//! shapes. Every row the portal writes goes through [`check_row`] before it is sent, and the
//! tests read every CSV they get with [`read`].

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use yaml_rust2::{Yaml, YamlLoader};

const UPLOAD_SCHEMA: &str = include_str!("../../data/reportstream/upload-covid-19.schema");
const BASE_SCHEMA: &str = include_str!("../../data/reportstream/covid-19.schema");
const VALUE_SETS: &str = include_str!("../../data/reportstream/sender-automation.valuesets");

/// One element of the upload schema, with what it inherits from the base schema.
#[derive(Debug, Clone, Default)]
struct Element {
    name: String,
    kind: Option<String>,
    cardinality: Option<String>,
    required: bool,
    default: Option<String>,
    value_set: Option<String>,
    csv_fields: Vec<(String, Option<String>)>,
    mapper: Option<String>,
    alt_values: Vec<String>,
}

/// The upload schema and the value sets it names.
#[derive(Debug)]
pub struct Schema {
    elements: Vec<Element>,
    by_name: HashMap<String, usize>,
    /// Value set name → the displays it accepts (compared without case, as the receiver does).
    value_sets: HashMap<String, Vec<String>>,
}

/// One thing the receiver would refuse: the data row (1 = first row after the header; 0 =
/// the header), the column and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub row: usize,
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.column, self.message)
    }
}

/// What the reader got from a CSV the receiver would accept.
#[derive(Debug)]
pub struct Read {
    /// Each data row by column name.
    pub rows: Vec<HashMap<String, String>>,
    /// Header columns the schema does not read (the receiver ignores them).
    pub ignored: Vec<String>,
}

static SCHEMA: LazyLock<Result<Schema, String>> = LazyLock::new(Schema::parse);

/// The vendored schema, parsed once.
pub fn schema() -> Result<&'static Schema, String> {
    SCHEMA.as_ref().map_err(Clone::clone)
}

/// Reads `csv` as the receiver reads an upload; `Err` lists every problem found.
pub fn read(csv: &str) -> Result<Read, Vec<Problem>> {
    let schema = schema().map_err(|e| {
        vec![Problem {
            row: 0,
            column: String::new(),
            message: e,
        }]
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(csv.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return Err(vec![problem(0, "", format!("unreadable header: {e}"))]),
    };
    let mut problems = schema.check_header(&header);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(i + 1, "", format!("unreadable row: {e}")));
                continue;
            }
        };
        let row: HashMap<String, String> = header
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        problems.extend(schema.check_cells(i + 1, &row));
        rows.push(row);
    }
    if problems.is_empty() {
        let known = schema.columns();
        let ignored = header
            .into_iter()
            .filter(|h| !known.contains(h.as_str()))
            .collect();
        Ok(Read { rows, ignored })
    } else {
        Err(problems)
    }
}

/// Checks one row (by column name) as the receiver would read it in an upload.
pub fn check_row(row: &HashMap<String, String>) -> Vec<Problem> {
    match schema() {
        Ok(schema) => schema.check_cells(1, row),
        Err(e) => vec![problem(1, "", e)],
    }
}

/// Whether the receiver takes `value` in `column` (its value set, date or phone shape).
pub fn accepts(column: &str, value: &str) -> bool {
    schema().is_ok_and(|schema| {
        schema.elements.iter().all(|e| {
            e.csv_fields
                .iter()
                .filter(|(c, _)| c == column)
                .all(|(_, format)| schema.check_value(e, format.as_deref(), value).is_ok())
        })
    })
}

fn problem(row: usize, column: &str, message: impl Into<String>) -> Problem {
    Problem {
        row,
        column: column.to_owned(),
        message: message.into(),
    }
}

impl Schema {
    fn parse() -> Result<Self, String> {
        let upload = elements_of(UPLOAD_SCHEMA, "upload-covid-19")?;
        let base: HashMap<String, Element> = elements_of(BASE_SCHEMA, "covid-19")?
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect();
        let elements: Vec<Element> = upload
            .into_iter()
            .map(|e| match base.get(&e.name) {
                Some(b) => inherit(e, b),
                None => e,
            })
            .collect();
        let by_name = elements
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Ok(Self {
            elements,
            by_name,
            value_sets: value_sets(VALUE_SETS)?,
        })
    }

    /// Every column the schema reads.
    pub fn columns(&self) -> HashSet<&str> {
        self.elements
            .iter()
            .flat_map(|e| e.csv_fields.iter().map(|(c, _)| c.as_str()))
            .collect()
    }

    /// The displays a value set accepts.
    pub fn value_set(&self, name: &str) -> Option<&[String]> {
        self.value_sets.get(name).map(Vec::as_slice)
    }

    fn check_header(&self, header: &[String]) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for h in header {
            if !seen.insert(h.as_str()) {
                problems.push(problem(0, h, "column appears twice"));
            }
        }
        let all: HashMap<String, String> =
            header.iter().map(|h| (h.clone(), "x".to_owned())).collect();
        for element in self.elements.iter().filter(|e| e.required) {
            if !self.present(element, &all, false, 0) {
                problems.push(problem(
                    0,
                    &self.column_of(element),
                    format!("required column missing (schema element {})", element.name),
                ));
            }
        }
        problems
    }

    fn check_cells(&self, row_no: usize, row: &HashMap<String, String>) -> Vec<Problem> {
        let mut problems = Vec::new();
        for element in &self.elements {
            for (column, format) in &element.csv_fields {
                let Some(value) = row.get(column).map(|v| v.trim()).filter(|v| !v.is_empty())
                else {
                    continue;
                };
                if let Err(message) = self.check_value(element, format.as_deref(), value) {
                    problems.push(problem(row_no, column, message));
                }
            }
        }
        for element in self.elements.iter().filter(|e| e.required) {
            if !self.present(element, row, true, 0) {
                problems.push(problem(
                    row_no,
                    &self.column_of(element),
                    format!("required cell empty (schema element {})", element.name),
                ));
            }
        }
        problems.sort_by(|a, b| a.column.cmp(&b.column));
        problems.dedup();
        problems
    }

    fn column_of(&self, element: &Element) -> String {
        element
            .csv_fields
            .first()
            .map_or_else(|| element.name.clone(), |(c, _)| c.clone())
    }

    fn check_value(
        &self,
        element: &Element,
        format: Option<&str>,
        value: &str,
    ) -> Result<(), String> {
        match element.kind.as_deref() {
            Some("CODE") if format == Some("$alt") => {
                if element.alt_values.iter().any(|a| a == value) {
                    Ok(())
                } else {
                    Err(format!(
                        "{value:?} is not one of {}",
                        element.alt_values.join(", ")
                    ))
                }
            }
            Some("CODE") => {
                let name = element.value_set.as_deref().unwrap_or_default();
                let accepted = self
                    .value_sets
                    .get(name)
                    .is_some_and(|displays| displays.iter().any(|d| d.eq_ignore_ascii_case(value)));
                if accepted {
                    Ok(())
                } else {
                    Err(format!("{value:?} is not in value set {name}"))
                }
            }
            Some("DATE" | "DATETIME") => {
                if is_date(value) {
                    Ok(())
                } else {
                    Err(format!("{value:?} is not a date the receiver parses"))
                }
            }
            Some("TELEPHONE") => {
                if is_phone(value) {
                    Ok(())
                } else {
                    Err(format!(
                        "{value:?} is not a telephone number the receiver parses"
                    ))
                }
            }
            Some("POSTAL_CODE") => {
                let ok = (3..=12).contains(&value.chars().count())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ');
                if ok {
                    Ok(())
                } else {
                    Err(format!("{value:?} is not a postal code"))
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether the receiver ends up with a value for `element` from `row`: from its own
    /// columns (with a valid value, when `valid` asks), its default, or the elements its
    /// mapper falls back on.
    fn present(
        &self,
        element: &Element,
        row: &HashMap<String, String>,
        valid: bool,
        depth: usize,
    ) -> bool {
        if depth > 8 {
            return false;
        }
        let from_columns = element.csv_fields.iter().any(|(c, format)| {
            row.get(c).is_some_and(|v| {
                let v = v.trim();
                !v.is_empty() && (!valid || self.check_value(element, format.as_deref(), v).is_ok())
            })
        });
        if from_columns || element.default.as_deref().is_some_and(|d| !d.is_empty()) {
            return true;
        }
        let Some(mapper) = element.mapper.as_deref() else {
            return false;
        };
        let (function, args) = mapper.split_once('(').map_or((mapper, ""), |(f, rest)| {
            (f.trim(), rest.trim_end_matches(')'))
        });
        let args = args
            .split(',')
            .map(str::trim)
            .filter(|a| !a.starts_with('$'));
        match function {
            // Values the receiver makes itself (its own ids, the sender's settings).
            "concat" | "useSenderSetting" => true,
            "use" | "ifNotPresent" => args.into_iter().any(|a| {
                self.by_name
                    .get(a)
                    .is_some_and(|i| self.present(&self.elements[*i], row, valid, depth + 1))
            }),
            _ => false,
        }
    }
}

/// The `elements` of a schema file.
fn elements_of(text: &str, what: &str) -> Result<Vec<Element>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("schema {what}: {e}"))?;
    let doc = docs
        .first()
        .ok_or_else(|| format!("schema {what} is empty"))?;
    let list = doc["elements"]
        .as_vec()
        .ok_or_else(|| format!("schema {what} has no elements"))?;
    Ok(list.iter().filter_map(element).collect())
}

fn element(y: &Yaml) -> Option<Element> {
    let text = |key: &str| scalar(&y[key]);
    let mut element = Element {
        name: text("name")?,
        kind: text("type"),
        cardinality: text("cardinality"),
        default: text("default"),
        value_set: text("valueSet"),
        csv_fields: y["csvFields"]
            .as_vec()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| Some((scalar(&f["name"])?, scalar(&f["format"]))))
                    .collect()
            })
            .unwrap_or_default(),
        mapper: text("mapper"),
        alt_values: y["altValues"]
            .as_vec()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| scalar(&v["display"]))
                    .collect()
            })
            .unwrap_or_default(),
        required: false,
    };
    element.required = is_required(&element);
    Some(element)
}

/// `[1..1]` and not a type that may be blank.
fn is_required(e: &Element) -> bool {
    let blank_allowed = e
        .kind
        .as_deref()
        .is_some_and(|k| k == "BLANK" || k.ends_with("_OR_BLANK"));
    e.cardinality.as_deref() == Some("ONE") && !blank_allowed
}

/// What the receiver takes from the base element when the upload element does not say.
fn inherit(mut e: Element, base: &Element) -> Element {
    if e.kind.is_none() {
        e.kind.clone_from(&base.kind);
    }
    if e.value_set.is_none() {
        e.value_set.clone_from(&base.value_set);
    }
    if e.default.is_none() {
        e.default.clone_from(&base.default);
    }
    if e.alt_values.is_empty() {
        e.alt_values.clone_from(&base.alt_values);
    }
    if e.cardinality.is_none() {
        e.cardinality.clone_from(&base.cardinality);
    }
    e.required = is_required(&e);
    e
}

fn value_sets(text: &str) -> Result<HashMap<String, Vec<String>>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("value sets: {e}"))?;
    let list = docs
        .first()
        .and_then(Yaml::as_vec)
        .ok_or("value sets: not a list")?;
    Ok(list
        .iter()
        .filter_map(|set| {
            let name = scalar(&set["name"])?;
            let displays = set["values"]
                .as_vec()?
                .iter()
                .filter_map(|v| scalar(&v["display"]))
                .collect();
            Some((name, displays))
        })
        .collect())
}

/// A YAML scalar as text (numbers and booleans as written).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Date and date-time shapes the receiver's date parser takes (HL7 DTM with or without an
/// offset, ISO 8601, `M/d/yyyy` with an optional time).
pub fn is_date(value: &str) -> bool {
    const DATES: [&str; 3] = ["%Y%m%d", "%Y-%m-%d", "%m/%d/%Y"];
    const TIMES: [&str; 7] = [
        "%Y%m%d%H%M",
        "%Y%m%d%H%M%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %H:%M:%S",
    ];
    const ZONED: [&str; 4] = [
        "%Y%m%d%H%M%S%z",
        "%Y%m%d%H%M%z",
        "%Y-%m-%dT%H:%M:%S%:z",
        "%Y-%m-%dT%H:%M%:z",
    ];
    let value = value.trim();
    let utc = value.strip_suffix('Z');
    DATES
        .iter()
        .any(|f| NaiveDate::parse_from_str(value, f).is_ok())
        || TIMES
            .iter()
            .any(|f| NaiveDateTime::parse_from_str(utc.unwrap_or(value), f).is_ok())
        || ZONED
            .iter()
            .any(|f| DateTime::parse_from_str(value, f).is_ok())
}

/// A North American number in a shape the receiver's phone check takes: an optional `+1` or
/// `1`, a three-digit area code (optionally in parentheses), three and four digits, each
/// group separated by nothing, a space or a hyphen; an extension (`x`, `ext`, `#`) may follow.
pub fn is_phone(value: &str) -> bool {
    let (number, _extension) = split_extension(value.trim());
    let number = number
        .strip_prefix("+1")
        .map(str::trim_start)
        .map(|n| n.trim_start_matches('-'))
        .unwrap_or(number);
    let mut groups: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut parens = false;
    for (i, c) in number.chars().enumerate() {
        match c {
            '0'..='9' => current.push(c),
            '(' if i == 0 => parens = true,
            ')' if parens && current.len() == 3 && groups.is_empty() => {
                groups.push(std::mem::take(&mut current));
            }
            ' ' | '-' if !current.is_empty() => groups.push(std::mem::take(&mut current)),
            ' ' if current.is_empty() && groups.len() == 1 && parens => {}
            _ => return false,
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    let lengths: Vec<usize> = groups.iter().map(String::len).collect();
    matches!(lengths.as_slice(), [10] | [3, 3, 4])
}

fn split_extension(value: &str) -> (&str, Option<&str>) {
    for marker in [" x", "x", " ext.", " ext", "ext", "#"] {
        if let Some((number, ext)) = value.split_once(marker)
            && !ext.trim().is_empty()
            && ext.trim().chars().all(|c| c.is_ascii_digit())
        {
            return (number.trim_end(), Some(ext.trim()));
        }
    }
    (value, None)
}

/// A telephone number in the one shape the portal writes (`NNN-NNN-NNNN`), from what was
/// stored (any separators, a leading `+1` or `1`); `None` when it is not a ten-digit North
/// American number.
pub fn phone_for_upload(stored: &str) -> Option<String> {
    let digits: String = stored.chars().filter(char::is_ascii_digit).collect();
    let national = match digits.len() {
        10 => digits.as_str(),
        11 if digits.starts_with('1') => &digits[1..],
        _ => return None,
    };
    Some(format!(
        "{}-{}-{}",
        &national[..3],
        &national[3..6],
        &national[6..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../data/reportstream/SR-UPLOAD.csv");

    #[test]
    fn the_vendored_schema_parses_with_its_value_sets() {
        let schema = schema().expect("vendored schema parses");
        for set in [
            "sender-automation/gender",
            "sender-automation/race",
            "sender-automation/ethnicity",
            "sender-automation/test_result",
            "sender-automation/specimen_type",
            "sender-automation/state",
        ] {
            assert!(
                schema.value_set(set).is_some_and(|v| !v.is_empty()),
                "{set}"
            );
        }
        assert!(schema.columns().contains("equipment_model_name"));
        assert!(
            !schema.columns().contains("message_id"),
            "the upload reads no message_id"
        );
    }

    #[test]
    fn reportstreams_own_simplereport_sample_passes_the_reader() {
        let read = read(SAMPLE).unwrap_or_else(|p| panic!("SR-UPLOAD.csv refused: {p:#?}"));
        assert!(read.rows.len() >= 2);
        assert!(read.ignored.is_empty(), "{:?}", read.ignored);
    }

    #[test]
    fn the_reader_refuses_what_the_schema_refuses() {
        let mut lines = SAMPLE.lines();
        let header = lines.next().expect("header");
        let row = lines.next().expect("row");
        let cols: Vec<&str> = header.split(',').collect();
        let at = |name: &str| cols.iter().position(|c| *c == name).expect("column");
        let with = |name: &str, value: &str| {
            let mut cells: Vec<String> = row.split(',').map(str::to_owned).collect();
            cells[at(name)] = value.to_owned();
            format!("{header}\n{}\n", cells.join(","))
        };
        let column_of = |csv: String| -> Vec<String> {
            let mut columns: Vec<String> = read(&csv)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.column)
                .collect();
            columns.dedup();
            columns
        };
        assert_eq!(
            column_of(with("test_result_status", "W")),
            ["test_result_status"]
        );
        assert_eq!(
            column_of(with("patient_phone_number", "1 340 5555555")),
            ["patient_phone_number"]
        );
        assert_eq!(column_of(with("patient_gender", "X")), ["patient_gender"]);
        assert_eq!(
            column_of(with("patient_last_name", "")),
            ["patient_last_name"]
        );
        assert_eq!(
            column_of(with("test_result_date", "yesterday")),
            ["test_result_date"]
        );
        assert!(column_of(with("test_result_status", "C")).is_empty());
        // The collection date falls back on the order date, as the schema's mapper does.
        assert!(column_of(with("specimen_collection_date", "")).is_empty());
        let without_header = SAMPLE.replacen("patient_dob", "patient_birth_date", 1);
        assert!(column_of(without_header).contains(&"patient_dob".to_owned()));
    }

    #[test]
    fn phones_are_written_in_one_accepted_shape() {
        assert_eq!(
            phone_for_upload("1 340 5555555").as_deref(),
            Some("340-555-5555")
        );
        assert_eq!(
            phone_for_upload("+1 (555) 555-0100").as_deref(),
            Some("555-555-0100")
        );
        assert_eq!(phone_for_upload("+44 20 7946 0958"), None);
        for ok in [
            "541-261-0980",
            "(541) 261-0980",
            "+1 541-261-0980",
            "5412610980",
            "541 261 0980 x12",
        ] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in ["1 340 5555555", "261-0980", "call me"] {
            assert!(!is_phone(bad), "{bad}");
        }
        for date in [
            "20240226",
            "2/26/2024",
            "20240226153000+0000",
            "2024-02-26T15:30:00Z",
        ] {
            assert!(is_date(date), "{date}");
        }
    }
}
