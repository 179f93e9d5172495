//! `portal import code-map FILE.csv --facility ID`: a sending facility's whole code map (its
//! local codes mapped to catalog codes), one row per local code, replacing the stored map
//! through `updateFacility`'s service. The facility is named by its CLIA number or one of
//! its alias identifiers. See docs/master-data.md, "CSV import".

use std::io::Read;

use portal_core::context::RequestContext;
use portal_services::ServiceError;
use portal_services::directory::admin::{self, FacilityPatch};
use portal_services::directory::code_map::{self, CodeMapEntry};
use portal_services::directory::identifiers::{self, FacilityIdentifier};
use portal_services::master::Change;

use super::cells::{Row, RowError, Table, snake_tail};
use super::{ImportError, Imported};

const REQUIRED: &[&str] = &["local_code", "code"];
const KNOWN: &[&str] = &["local_code", "local_system", "code"];

pub(super) async fn import(
    ctx: &RequestContext,
    facility: &str,
    input: impl Read,
) -> Result<Imported, ImportError> {
    let tenant = ctx.tenant().ok_or(ServiceError::Forbidden(
        "an import needs an organisation".into(),
    ))?;
    let table = Table::read(input, KNOWN, REQUIRED)?;
    let (entries, lines) = parse(&table)?;
    let named = FacilityIdentifier {
        universal_id: Some(facility.to_owned()),
        ..FacilityIdentifier::default()
    };
    let found = match identifiers::facility_named(ctx.db(), tenant, &named).await? {
        Some(found) => Some(found),
        None => {
            let by_namespace = FacilityIdentifier {
                namespace_id: Some(facility.to_owned()),
                ..FacilityIdentifier::default()
            };
            identifiers::facility_named(ctx.db(), tenant, &by_namespace).await?
        }
    };
    let found = found.ok_or_else(|| {
        ImportError::Refused(format!(
            "no facility with the CLIA number or identifier `{facility}`"
        ))
    })?;
    let stored = code_map::of(&found);
    let mut imported = Imported::default();
    for entry in &entries {
        let before = stored
            .iter()
            .find(|s| s.local_code == entry.local_code && s.local_system == entry.local_system);
        imported.count(match before {
            None => Change::Created,
            Some(s) if s.code != entry.code => Change::Updated,
            Some(_) => Change::Unchanged,
        });
    }
    let patch = FacilityPatch {
        code_map: Some(entries),
        ..FacilityPatch::default()
    };
    admin::update_facility(ctx, found.id, patch)
        .await
        .map_err(|err| refused_row(err, &lines))?;
    Ok(imported)
}

/// The entries of the file, with the line of each, or every bad row.
fn parse(table: &Table) -> Result<(Vec<CodeMapEntry>, Vec<u64>), ImportError> {
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    let mut lines = Vec::new();
    for (line, record) in &table.rows {
        let mut row = Row {
            table,
            record,
            line: *line,
            errors: &mut errors,
        };
        let entry = CodeMapEntry {
            local_code: row.required("local_code"),
            local_system: row.text("local_system").filter(|s| !s.is_empty()),
            code: row.required("code"),
        };
        entries.push(entry);
        lines.push(*line);
    }
    if errors.is_empty() {
        Ok((entries, lines))
    } else {
        Err(ImportError::Rows(errors))
    }
}

/// A rule of the map the service refused, at the row and column it came from
/// (`input.codeMap[3].localCode` → the fourth row, `local_code`).
fn refused_row(err: ServiceError, lines: &[u64]) -> ImportError {
    let ServiceError::BadUserInput { field, message } = err else {
        return ImportError::from(err);
    };
    let index = field
        .strip_prefix("input.codeMap[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|i| i.parse::<usize>().ok());
    match index.and_then(|i| lines.get(i)) {
        Some(line) => ImportError::Rows(vec![RowError {
            line: *line,
            column: snake_tail(&field),
            message,
        }]),
        None => ImportError::Refused(message),
    }
}
