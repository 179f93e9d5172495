//! `portal import patients FILE.csv`: one patient per row, matched by MRN (see
//! docs/master-data.md, "CSV import", for the columns). A present column with an empty cell
//! clears the field; an absent optional column leaves it as stored.

use std::collections::HashMap;
use std::io::Read;

use portal_core::context::RequestContext;
use portal_services::ServiceError;
use portal_services::master::blank_clears;
use portal_services::master::update::Kept;
use portal_services::patients::registration::{self, PatientPatch};

use super::cells::{MAX_ERRORS, Row, RowError, Table, snake_tail};
use super::{ImportError, Imported};

const REQUIRED: &[&str] = &["mrn", "given_name", "family_name", "birth_date"];
const OPTIONAL: &[&str] = &[
    "sex",
    "race",
    "ethnicity",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "county",
    "country",
    "phone",
    "email",
    "language",
];

/// The column of a registration field path.
fn column_of(field: &str) -> String {
    match field {
        "input.address.line1" => "address_line1".to_owned(),
        "input.address.line2" => "address_line2".to_owned(),
        other => snake_tail(other),
    }
}

pub(super) async fn import(
    ctx: &RequestContext,
    input: impl Read,
) -> Result<Imported, ImportError> {
    let tenant_id = registration::require_registrar(ctx)?;
    let known: Vec<&str> = REQUIRED.iter().chain(OPTIONAL).copied().collect();
    let table = Table::read(input, &known, REQUIRED)?;
    let rows = parse(&table)?;
    let work = ctx.begin_write().await.map_err(ServiceError::from)?;
    let patches: Vec<PatientPatch> = rows.iter().map(|(_, p)| p.clone()).collect();
    let changes = registration::register_all_in(&work, tenant_id, &patches)
        .await
        .map_err(|failure| match failure.index.and_then(|i| rows.get(i)) {
            Some((line, _)) => at_line(*line, failure.error),
            None => failure.error.into(),
        })?;
    work.commit().await.map_err(ServiceError::from)?;
    let mut imported = Imported::default();
    for change in changes {
        imported.count(change);
    }
    Ok(imported)
}

/// A row the database refused (a duplicate key): reported at its line.
fn at_line(line: u64, err: ServiceError) -> ImportError {
    match err {
        ServiceError::BadUserInput { field, message } => ImportError::Rows(vec![RowError {
            line,
            column: column_of(&field),
            message,
        }]),
        ServiceError::Conflict(message) => ImportError::Rows(vec![RowError {
            line,
            column: "mrn".to_owned(),
            message,
        }]),
        other => other.into(),
    }
}

/// Every row as a checked patch, or every bad row.
fn parse(table: &Table) -> Result<Vec<(u64, PatientPatch)>, ImportError> {
    let mut errors = Vec::new();
    let mut patches = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, record) in &table.rows {
        let before = errors.len();
        let mut row = Row {
            table,
            record,
            line: *line,
            errors: &mut errors,
        };
        let patch = PatientPatch {
            mrn: Some(row.required("mrn")),
            given_name: Some(row.required("given_name")),
            family_name: Some(row.required("family_name")),
            birth_date: row.date("birth_date"),
            sex: blank_clears(row.text("sex")),
            race: blank_clears(row.text("race")),
            ethnicity: blank_clears(row.text("ethnicity")),
            address_line1: blank_clears(row.text("address_line1")),
            address_line2: blank_clears(row.text("address_line2")),
            city: blank_clears(row.text("city")),
            state: blank_clears(row.text("state")),
            postal_code: blank_clears(row.text("postal_code")),
            county: blank_clears(row.text("county")),
            country: blank_clears(row.text("country")),
            phone: blank_clears(row.text("phone")),
            email: blank_clears(row.text("email")),
            language: blank_clears(row.text("language")),
        };
        if patch.birth_date.is_none() && row.errors.len() == before {
            row.error("birth_date", "is required");
        }
        if row.errors.len() > before {
            continue;
        }
        match patch.validated() {
            Ok(patch) => {
                let mrn = patch.mrn.clone().unwrap_or_default();
                if let Some(first) = seen.insert(mrn, *line) {
                    row.error("mrn", format!("the MRN is on line {first} already"));
                    continue;
                }
                patches.push((*line, patch));
            }
            Err(err) => row.refused(err, column_of),
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(patches)
    } else {
        Err(ImportError::Rows(errors))
    }
}
