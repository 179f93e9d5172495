//! Reading CSV rows by column name, and reporting a bad cell by its line and column.

use std::collections::HashMap;
use std::io::Read;

use chrono::NaiveDate;
use csv::StringRecord;
use portal_services::ServiceError;
use serde::de::DeserializeOwned;

use super::ImportError;

/// A bad row: its line in the file (the header is line 1), the column and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// At most this many bad rows are listed.
pub const MAX_ERRORS: usize = 50;

/// A file's rows with the columns its header names.
pub struct Table {
    columns: HashMap<String, usize>,
    pub rows: Vec<(u64, StringRecord)>,
}

impl Table {
    /// Reads the whole file; every column must be one of `known`, and `required` ones must
    /// be there. A malformed file is reported at the line where it breaks.
    pub fn read(input: impl Read, known: &[&str], required: &[&str]) -> Result<Self, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(input);
        let header = reader.headers().map_err(malformed)?.clone();
        let mut columns = HashMap::new();
        let mut errors = Vec::new();
        for (index, name) in header.iter().enumerate() {
            let name = name.to_lowercase();
            if !known.contains(&name.as_str()) {
                errors.push(header_error(&name, "unknown column"));
            } else if columns.insert(name.clone(), index).is_some() {
                errors.push(header_error(&name, "the column appears twice"));
            }
        }
        for name in required {
            if !columns.contains_key(*name) {
                errors.push(header_error(name, "required column missing"));
            }
        }
        if !errors.is_empty() {
            return Err(ImportError::Rows(errors));
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(malformed)?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record));
        }
        Ok(Self { columns, rows })
    }

    /// Whether the header names the column (an absent optional column keeps what is stored).
    pub fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// The cell, trimmed; `None` when the column is absent.
    pub fn cell<'r>(&self, record: &'r StringRecord, column: &str) -> Option<&'r str> {
        self.columns.get(column).and_then(|&i| record.get(i))
    }
}

fn header_error(column: &str, message: &str) -> RowError {
    RowError {
        line: 1,
        column: column.to_owned(),
        message: message.to_owned(),
    }
}

fn malformed(err: csv::Error) -> ImportError {
    let line = err.position().map_or(0, |p| p.line());
    ImportError::Rows(vec![RowError {
        line,
        column: "-".to_owned(),
        message: format!("not valid CSV: {}", err.kind_name()),
    }])
}

/// A short name of what broke, without the cell's content (it may be PHI).
trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for csv::Error {
    fn kind_name(&self) -> &'static str {
        match self.kind() {
            csv::ErrorKind::Utf8 { .. } => "not UTF-8",
            csv::ErrorKind::UnequalLengths { .. } => "a row with a different number of fields",
            csv::ErrorKind::Io(_) => "the file could not be read",
            _ => "malformed",
        }
    }
}

/// The errors of one row, collected while its cells are read.
pub struct Row<'t> {
    pub table: &'t Table,
    pub record: &'t StringRecord,
    pub line: u64,
    pub errors: &'t mut Vec<RowError>,
}

impl Row<'_> {
    pub fn error(&mut self, column: &str, message: impl Into<String>) {
        self.errors.push(RowError {
            line: self.line,
            column: column.to_owned(),
            message: message.into(),
        });
    }

    /// A required cell: blank is an error.
    pub fn required(&mut self, column: &str) -> String {
        match self.table.cell(self.record, column) {
            Some(v) if !v.is_empty() => v.to_owned(),
            _ => {
                self.error(column, "is required");
                String::new()
            }
        }
    }

    /// An optional cell: `None` when the column is absent, `Some(blank)` clears.
    pub fn text(&self, column: &str) -> Option<String> {
        self.table.cell(self.record, column).map(str::to_owned)
    }

    /// A date cell (YYYY-MM-DD); `None` when absent or blank.
    pub fn date(&mut self, column: &str) -> Option<NaiveDate> {
        let value = self
            .table
            .cell(self.record, column)
            .filter(|v| !v.is_empty())?;
        match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.error(column, "must be a date YYYY-MM-DD");
                None
            }
        }
    }

    /// A number cell; `Some(None)` when blank (clears), `None` when the column is absent.
    pub fn number(&mut self, column: &str) -> Option<Option<f64>> {
        let value = self.table.cell(self.record, column)?;
        if value.is_empty() {
            return Some(None);
        }
        match value.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(Some(n)),
            _ => {
                self.error(column, "must be a number");
                Some(None)
            }
        }
    }

    /// A yes/no cell (true/false, yes/no, 1/0); blank is `false`, absent is `None`.
    pub fn flag(&mut self, column: &str) -> Option<bool> {
        let value = self.table.cell(self.record, column)?.to_lowercase();
        match value.as_str() {
            "" | "false" | "no" | "0" => Some(false),
            "true" | "yes" | "1" => Some(true),
            _ => {
                self.error(column, "must be true or false");
                None
            }
        }
    }

    /// An enumeration cell in its stored upper-case name (LOINC, LAB, NUMERIC ...).
    pub fn choice<T: DeserializeOwned>(&mut self, column: &str, names: &str) -> Option<T> {
        let value = self
            .table
            .cell(self.record, column)
            .filter(|v| !v.is_empty())?;
        let parsed = serde_json::from_value(serde_json::Value::String(value.to_uppercase()));
        match parsed {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(column, format!("must be one of {names}"));
                None
            }
        }
    }

    /// A rule of the service the row breaks, at the column `column_of` names for its field.
    pub fn refused(&mut self, err: ServiceError, column_of: impl Fn(&str) -> String) {
        match err {
            ServiceError::BadUserInput { field, message } => {
                self.error(&column_of(&field), message);
            }
            other => self.error("-", other.to_string()),
        }
    }
}

/// `input.address.postalCode` → `postal_code`: the last segment of a field path in
/// snake case (indexes dropped).
pub fn snake_tail(field: &str) -> String {
    let tail = field.rsplit('.').next().unwrap_or(field);
    let mut out = String::new();
    for c in tail.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
