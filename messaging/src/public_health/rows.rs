//! One CSV row per report, from the stored result version, its order, patient, ordering
//! facility, ordering clinician, catalog test and observations, loaded once for the whole
//! batch (one query per table). A row that lacks a required column is returned as a
//! problem instead, naming the columns, and is never sent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use portal_entities::{
    ReportKind, ResultStatus, clinician, facility, observation, patient, public_health_report,
    test_catalog, test_order, test_result,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::columns::{COLUMNS, REQUIRED, index};
use portal_core::error::ServiceResult;

/// Values the configuration gives every row.
#[derive(Debug, Clone)]
pub struct RowSettings {
    /// `processing_mode_code`: P (production), T (training), D (debugging).
    pub processing_mode: String,
    /// `sender_id`: who sends (the ReportStream client name).
    pub sender_id: String,
}

/// The rendered batch: the CSV (header and rows), the reports in it, and the reports that
/// could not be written with the reason.
pub struct Rendered {
    pub csv: String,
    pub included: Vec<Uuid>,
    pub problems: Vec<(Uuid, String)>,
}

struct Loaded {
    results: HashMap<Uuid, test_result::Model>,
    orders: HashMap<Uuid, test_order::Model>,
    patients: HashMap<Uuid, patient::Model>,
    facilities: HashMap<Uuid, facility::Model>,
    clinicians: HashMap<Uuid, clinician::Model>,
    tests: HashMap<Uuid, test_catalog::Model>,
    observations: HashMap<Uuid, Vec<observation::Model>>,
    /// The report (message id) of each replaced result version, for corrections.
    earlier_reports: HashMap<Uuid, Uuid>,
}

/// Renders `reports` (all of one tenant) as one CSV.
pub async fn render<C: ConnectionTrait>(
    db: &C,
    reports: &[public_health_report::Model],
    settings: &RowSettings,
) -> ServiceResult<Rendered> {
    let loaded = load(db, reports).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(COLUMNS).map_err(csv_error)?;
    let mut included = Vec::new();
    let mut problems = Vec::new();
    for report in reports {
        match row(&loaded, report, settings) {
            Ok(values) => {
                writer.write_record(&values).map_err(csv_error)?;
                included.push(report.id);
            }
            Err(problem) => problems.push((report.id, problem)),
        }
    }
    let bytes = writer.into_inner().map_err(|e| csv_error(e.into_error()))?;
    let csv = String::from_utf8(bytes)
        .map_err(|_| portal_core::error::ServiceError::internal("report CSV is not UTF-8"))?;
    Ok(Rendered {
        csv,
        included,
        problems,
    })
}

fn csv_error(error: impl std::fmt::Display) -> portal_core::error::ServiceError {
    portal_core::error::ServiceError::internal(format!("writing the report CSV: {error}"))
}

async fn load<C: ConnectionTrait>(
    db: &C,
    reports: &[public_health_report::Model],
) -> ServiceResult<Loaded> {
    let result_ids: Vec<Uuid> = reports.iter().map(|r| r.result_id).collect();
    let results = by_id(
        test_result::Entity::find()
            .filter(test_result::Column::Id.is_in(result_ids))
            .all(db)
            .await?,
        |r| r.id,
    );
    let replaced: Vec<Uuid> = results
        .values()
        .filter_map(|r| r.replaces_result_id)
        .collect();
    let order_ids: Vec<Uuid> = results.values().map(|r| r.order_id).collect();
    let orders = by_id(
        test_order::Entity::find()
            .filter(test_order::Column::Id.is_in(order_ids))
            .all(db)
            .await?,
        |o| o.id,
    );
    let patients = by_id(
        patient::Entity::find()
            .filter(patient::Column::Id.is_in(results.values().map(|r| r.patient_id)))
            .all(db)
            .await?,
        |p| p.id,
    );
    let facilities = by_id(
        facility::Entity::find()
            .filter(facility::Column::Id.is_in(orders.values().map(|o| o.facility_id)))
            .all(db)
            .await?,
        |f| f.id,
    );
    let clinicians = by_id(
        clinician::Entity::find()
            .filter(
                clinician::Column::Id
                    .is_in(orders.values().filter_map(|o| o.ordering_clinician_id)),
            )
            .all(db)
            .await?,
        |c| c.id,
    );
    let tests = by_id(
        test_catalog::Entity::find()
            .filter(test_catalog::Column::Id.is_in(results.values().map(|r| r.test_id)))
            .all(db)
            .await?,
        |t| t.id,
    );
    let mut observations: HashMap<Uuid, Vec<observation::Model>> = HashMap::new();
    let wanted = results.keys().copied().chain(replaced.iter().copied());
    for obs in observation::Entity::find()
        .filter(observation::Column::ResultId.is_in(wanted))
        .order_by_asc(observation::Column::Position)
        .all(db)
        .await?
    {
        observations.entry(obs.result_id).or_default().push(obs);
    }
    let earlier_reports = public_health_report::Entity::find()
        .filter(public_health_report::Column::ResultId.is_in(replaced))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.result_id, r.id))
        .collect();
    Ok(Loaded {
        results,
        orders,
        patients,
        facilities,
        clinicians,
        tests,
        observations,
        earlier_reports,
    })
}

fn by_id<T>(rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> HashMap<Uuid, T> {
    rows.into_iter().map(|row| (id(&row), row)).collect()
}

/// Writes one row by column name; `Err` names the missing required columns.
fn row(
    loaded: &Loaded,
    report: &public_health_report::Model,
    settings: &RowSettings,
) -> Result<Vec<String>, String> {
    let result = loaded
        .results
        .get(&report.result_id)
        .ok_or("the result is gone")?;
    let order = loaded
        .orders
        .get(&result.order_id)
        .ok_or("the order is gone")?;
    let patient = loaded
        .patients
        .get(&result.patient_id)
        .ok_or("the patient is gone")?;
    let test = loaded
        .tests
        .get(&result.test_id)
        .ok_or("the catalog test is gone")?;
    let facility = loaded.facilities.get(&order.facility_id);
    let provider = order
        .ordering_clinician_id
        .and_then(|id| loaded.clinicians.get(&id));
    let mut row = Row::default();
    row.set("message_id", report.id.to_string());
    row.set("sender_id", settings.sender_id.clone());
    row.set("processing_mode_code", settings.processing_mode.clone());
    result_columns(&mut row, loaded, report, result, test);
    order_columns(&mut row, order);
    patient_columns(&mut row, patient);
    if let Some(facility) = facility {
        facility_columns(&mut row, facility);
    }
    if let Some(provider) = provider {
        row.set_opt("ordering_provider_first_name", provider.given_name.clone());
        row.set_opt("ordering_provider_last_name", provider.family_name.clone());
        row.set_opt("ordering_provider_id", provider.npi.clone());
    }
    // Ask-on-entry questions the portal does not ask: unknown, as SimpleReport sends them.
    for question in [
        "employed_in_healthcare",
        "first_test",
        "hospitalized",
        "icu",
        "resident_congregate_setting",
        "symptomatic_for_disease",
    ] {
        row.set(question, "UNK".to_owned());
    }
    row.set("pregnant", "261665006".to_owned());
    row.finish()
}

fn result_columns(
    row: &mut Row,
    loaded: &Loaded,
    report: &public_health_report::Model,
    result: &test_result::Model,
    test: &test_catalog::Model,
) {
    let (status, comment) = match report.kind {
        ReportKind::Original => ("F", None),
        ReportKind::Correction => ("C", Some("corrects")),
        ReportKind::Withdrawal => ("W", Some("withdraws")),
    };
    row.set("test_result_status", status.to_owned());
    if let (Some(verb), Some(replaced)) = (comment, result.replaces_result_id) {
        let earlier = loaded.earlier_reports.get(&replaced).map_or_else(
            || format!("result {replaced}"),
            |id| format!("message_id {id}"),
        );
        row.set("comment", format!("{verb} {earlier}"));
    }
    // A withdrawal carries the value it withdraws: that of the version it replaces.
    let values_of = match (result.status, result.replaces_result_id) {
        (ResultStatus::EnteredInError, Some(replaced)) => replaced,
        _ => result.id,
    };
    let observations = loaded
        .observations
        .get(&values_of)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let main = observations
        .iter()
        .find(|o| o.code == test.code)
        .or_else(|| observations.first());
    row.set_opt("test_result", main.and_then(observation_value));
    row.set("test_performed_code", test.code.clone());
    row.set_opt("equipment_model_name", test.device_model.clone());
    row.set_opt("specimen_type", test.specimen.clone());
    row.set("test_result_date", datetime(result.issued_at));
    row.set("date_result_released", datetime(result.issued_at));
}

fn observation_value(obs: &observation::Model) -> Option<String> {
    obs.value_code
        .clone()
        .or_else(|| obs.value_text.clone())
        .or_else(|| obs.value_numeric.map(|v| v.to_string()))
}

fn order_columns(row: &mut Row, order: &test_order::Model) {
    // The portal keeps no separate collection or receipt time: the order's time stands in.
    for column in [
        "order_test_date",
        "specimen_collection_date",
        "testing_lab_specimen_received_date",
    ] {
        row.set(column, datetime(order.ordered_at));
    }
    row.set("placer_order_id", order.id.to_string());
    row.set_opt("accession_number", order.accession_number.clone());
    row.set_opt("testing_lab_specimen_id", order.accession_number.clone());
}

fn patient_columns(row: &mut Row, patient: &patient::Model) {
    row.set("patient_first_name", patient.given_name.clone());
    row.set("patient_last_name", patient.family_name.clone());
    row.set(
        "patient_dob",
        patient.birth_date.format("%Y%m%d").to_string(),
    );
    row.set("patient_id", patient.mrn.clone());
    row.set("patient_id_type", "MR".to_owned());
    // Unknown demographics are sent as the schema's "unknown" codes, as SimpleReport does.
    row.set(
        "patient_gender",
        patient.sex.clone().unwrap_or_else(|| "U".into()),
    );
    row.set(
        "patient_race",
        patient.race.clone().unwrap_or_else(|| "UNK".into()),
    );
    row.set(
        "patient_ethnicity",
        patient.ethnicity.clone().unwrap_or_else(|| "U".into()),
    );
    row.set_opt("patient_street", patient.address_line1.clone());
    row.set_opt("patient_street2", patient.address_line2.clone());
    row.set_opt("patient_city", patient.city.clone());
    row.set_opt("patient_state", patient.state.clone());
    row.set_opt("patient_zip_code", patient.postal_code.clone());
    row.set_opt("patient_county", patient.county.clone());
    row.set_opt("patient_email", patient.email.clone());
    row.set_opt("patient_phone_number", patient.phone.clone());
    row.set_opt("patient_preferred_language", patient.language.clone());
}

/// The order's facility is the ordering facility, the testing lab and the reporting
/// facility; the ordering provider's address and phone are the facility's (the portal
/// keeps no clinician address).
fn facility_columns(row: &mut Row, facility: &facility::Model) {
    for prefix in ["ordering_facility", "testing_lab", "ordering_provider"] {
        row.set_opt(&format!("{prefix}_street"), facility.address.clone());
        row.set_opt(&format!("{prefix}_city"), facility.city.clone());
        row.set_opt(&format!("{prefix}_state"), facility.state.clone());
        row.set_opt(&format!("{prefix}_zip_code"), facility.postal_code.clone());
        row.set_opt(&format!("{prefix}_phone_number"), facility.phone.clone());
    }
    for column in [
        "ordering_facility_name",
        "testing_lab_name",
        "reporting_facility_name",
    ] {
        row.set(column, facility.name.clone());
    }
    for column in ["testing_lab_clia", "reporting_facility_clia"] {
        row.set_opt(column, facility.clia_number.clone());
    }
}

/// HL7 DTM with its offset, as the schema's DATETIME columns take it.
fn datetime(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H%M%S+0000").to_string()
}

/// A row by column name; columns never set stay empty.
struct Row(Vec<String>);

impl Default for Row {
    fn default() -> Self {
        Self(vec![String::new(); COLUMNS.len()])
    }
}

impl Row {
    fn set(&mut self, column: &str, value: String) {
        if let Some(i) = index(column) {
            self.0[i] = value;
        }
    }

    fn set_opt(&mut self, column: &str, value: Option<String>) {
        if let Some(value) = value {
            self.set(column, value);
        }
    }

    fn finish(self) -> Result<Vec<String>, String> {
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|c| index(c).is_some_and(|i| self.0[i].trim().is_empty()))
            .collect();
        if missing.is_empty() {
            Ok(self.0)
        } else {
            Err(format!("missing required columns: {}", missing.join(", ")))
        }
    }
}
