//! `portal import catalog FILE.csv`: one row per analyte, the rows of a test sharing its
//! code and repeating its test columns (a test without analytes is one row with empty
//! analyte columns); tests are matched by code. See docs/master-data.md, "CSV import".

use std::collections::HashMap;
use std::io::Read;

use portal_core::context::RequestContext;
use portal_entities::ValueType;
use portal_services::ServiceError;
use portal_services::catalog::admin::{self, AnalyteInput, CatalogTestPatch};
use portal_services::master::blank_clears;
use portal_services::master::update::Kept;

use super::cells::{MAX_ERRORS, Row, RowError, Table, snake_tail};
use super::{ImportError, Imported};

const REQUIRED: &[&str] = &["code", "code_system", "display_name", "category"];
const TEST_OPTIONAL: &[&str] = &[
    "specimen",
    "unit",
    "reference_low",
    "reference_high",
    "reference_text",
    "sensitive",
    "reportable",
    "device_model",
];
const ANALYTE: &[&str] = &[
    "analyte_code",
    "analyte_name",
    "analyte_value_type",
    "analyte_unit",
    "analyte_low",
    "analyte_high",
    "analyte_reference_text",
    "analyte_reportable",
];

/// One test of the file: its patch, the line of its first row and of each analyte row.
struct Test {
    first_line: u64,
    columns: Vec<String>,
    patch: CatalogTestPatch,
    analyte_lines: Vec<u64>,
}

impl Test {
    /// The line and column of a catalog field path (`input.analytes[2].code` is on the
    /// third analyte's row, column `analyte_code`).
    fn locate(&self, field: &str) -> (u64, String) {
        if let Some(rest) = field.strip_prefix("input.analytes[") {
            let index: usize = rest
                .split(']')
                .next()
                .and_then(|i| i.parse().ok())
                .unwrap_or(0);
            let line = self
                .analyte_lines
                .get(index)
                .copied()
                .unwrap_or(self.first_line);
            let column = match snake_tail(field).as_str() {
                "code" => "analyte_code",
                "display_name" => "analyte_name",
                "unit" => "analyte_unit",
                "reference_high" => "analyte_high",
                "reference_text" => "analyte_reference_text",
                _ => "analyte_code",
            };
            return (line, column.to_owned());
        }
        (self.first_line, snake_tail(field))
    }

    fn error(&self, err: ServiceError) -> ImportError {
        match err {
            ServiceError::BadUserInput { field, message } => {
                let (line, column) = self.locate(&field);
                ImportError::Rows(vec![RowError {
                    line,
                    column,
                    message,
                }])
            }
            ServiceError::Conflict(message) => ImportError::Rows(vec![RowError {
                line: self.first_line,
                column: "code".to_owned(),
                message,
            }]),
            other => other.into(),
        }
    }
}

pub(super) async fn import(
    ctx: &RequestContext,
    input: impl Read,
) -> Result<Imported, ImportError> {
    let tenant_id = admin::require_maintainer(ctx)?;
    let known: Vec<&str> = REQUIRED
        .iter()
        .chain(TEST_OPTIONAL)
        .chain(ANALYTE)
        .copied()
        .collect();
    let table = Table::read(input, &known, REQUIRED)?;
    let tests = parse(&table)?;
    let work = ctx.begin_write().await.map_err(ServiceError::from)?;
    let mut imported = Imported::default();
    for test in tests {
        match admin::upsert_in(&work, tenant_id, test.patch.clone()).await {
            Ok((_, change)) => imported.count(change),
            Err(err) => return Err(test.error(err)),
        }
    }
    work.commit().await.map_err(ServiceError::from)?;
    Ok(imported)
}

/// The tests of the file in the order they first appear, each checked, or every bad row.
fn parse(table: &Table) -> Result<Vec<Test>, ImportError> {
    let mut errors = Vec::new();
    let mut tests: Vec<Test> = Vec::new();
    let mut by_code: HashMap<String, usize> = HashMap::new();
    let with_analytes = table.has("analyte_code");
    for (line, record) in &table.rows {
        let mut row = Row {
            table,
            record,
            line: *line,
            errors: &mut errors,
        };
        let before = row.errors.len();
        let columns: Vec<String> = REQUIRED
            .iter()
            .chain(TEST_OPTIONAL)
            .map(|c| table.cell(record, c).unwrap_or_default().to_owned())
            .collect();
        let patch = test_columns(&mut row);
        let analyte = with_analytes.then(|| analyte_columns(&mut row)).flatten();
        if row.errors.len() > before {
            continue;
        }
        let code = patch.code.clone().unwrap_or_default();
        let index = match by_code.get(&code) {
            Some(&index) => {
                let test = &tests[index];
                if test.columns != columns {
                    row.error(
                        "code",
                        format!(
                            "the test columns differ from line {} of the same test",
                            test.first_line
                        ),
                    );
                    continue;
                }
                index
            }
            None => {
                by_code.insert(code, tests.len());
                tests.push(Test {
                    first_line: *line,
                    columns,
                    patch: CatalogTestPatch {
                        analytes: with_analytes.then(Vec::new),
                        ..patch
                    },
                    analyte_lines: Vec::new(),
                });
                tests.len() - 1
            }
        };
        if let (Some(analyte), Some(list)) = (analyte, tests[index].patch.analytes.as_mut()) {
            list.push(analyte);
            tests[index].analyte_lines.push(*line);
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    let mut checked = Vec::with_capacity(tests.len());
    for mut test in tests {
        match test.patch.clone().validated() {
            Ok(patch) => {
                test.patch = patch;
                checked.push(test);
            }
            Err(err) => match test.error(err) {
                ImportError::Rows(rows) => errors.extend(rows),
                other => return Err(other),
            },
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(ImportError::Rows(errors))
    }
}

fn test_columns(row: &mut Row<'_>) -> CatalogTestPatch {
    CatalogTestPatch {
        code: Some(row.required("code")),
        code_system: required_choice(row, "code_system", "LOINC, LOCAL"),
        display_name: Some(row.required("display_name")),
        category: required_choice(row, "category", "LAB, IMAGING"),
        specimen: blank_clears(row.text("specimen")),
        unit: blank_clears(row.text("unit")),
        reference_low: row.number("reference_low"),
        reference_high: row.number("reference_high"),
        reference_text: blank_clears(row.text("reference_text")),
        sensitive: row.flag("sensitive"),
        reportable: row.flag("reportable"),
        device_model: blank_clears(row.text("device_model")),
        analytes: None,
    }
}

/// An enumeration cell that must not be blank.
fn required_choice<T: serde::de::DeserializeOwned>(
    row: &mut Row<'_>,
    column: &str,
    names: &str,
) -> Option<T> {
    if row.text(column).is_none_or(|v| v.is_empty()) {
        row.error(column, "is required");
        return None;
    }
    row.choice(column, names)
}

/// The analyte of the row, or `None` when its analyte code is empty (a test with none).
fn analyte_columns(row: &mut Row<'_>) -> Option<AnalyteInput> {
    let code = row.text("analyte_code").filter(|c| !c.is_empty())?;
    Some(AnalyteInput {
        code,
        display_name: row.required("analyte_name"),
        value_type: required_choice(row, "analyte_value_type", "NUMERIC, TEXT, CODED")
            .unwrap_or(ValueType::Text),
        unit: row.text("analyte_unit"),
        reference_low: row.number("analyte_low").flatten(),
        reference_high: row.number("analyte_high").flatten(),
        reference_text: row.text("analyte_reference_text"),
        // Blank or absent: reported with its test.
        reportable: match row.text("analyte_reportable") {
            Some(cell) if !cell.is_empty() => row.flag("analyte_reportable").unwrap_or(true),
            _ => true,
        },
    })
}
