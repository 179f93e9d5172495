//! The CSV rows of each report: one row per reportable analyte the result version performed
//! (panels included), from the version, its order, patient, facilities, ordering clinician,
//! catalog test and observations, loaded once for the whole batch (one query per table).
//! Every row is checked as the receiver reads it ([`super::receiver::check_row`]); a report
//! whose rows cannot all be sent — a withdrawal, a test the endpoint does not take, a missing
//! or refused value — is returned as a problem with its reason, and none of its rows is sent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use portal_entities::{
    ReportKind, catalog_analyte, clinician, facility, observation, patient, public_health_report,
    test_catalog, test_order, test_result,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::EndpointRules;
use super::columns::{COLUMNS, REQUIRED, index};
use super::facts::{Place, ResultFacts, facts_from_stored_result};
use super::receiver;
use portal_core::error::ServiceResult;

/// Values the configuration gives every row.
#[derive(Debug, Clone)]
pub struct RowSettings {
    /// `processing_mode_code`: P (production), T (training), D (debugging).
    pub processing_mode: String,
    /// `sender_id`: who sends (the ReportStream client name).
    pub sender_id: String,
    /// What the tenant's endpoint accepts and whom it names as reporter.
    pub rules: EndpointRules,
}

/// Why a report is held back in the error queue instead of being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A withdrawal: the upload schema has no way to carry it.
    Withdrawal,
    /// A test the endpoint does not accept.
    OutOfScope,
    /// Missing data, or a value the receiver would refuse.
    InvalidRow,
}

impl Hold {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Withdrawal => "withdrawal",
            Self::OutOfScope => "out_of_scope",
            Self::InvalidRow => "invalid_row",
        }
    }
}

/// The error-queue message of a withdrawal (docs/public-health.md#manual-procedure).
pub const WITHDRAWAL_HELD: &str = "withdrawal not sent: ReportStream's CSV upload schema takes \
    test_result_status F or C only, so a withdrawn (entered-in-error) result cannot be uploaded; \
    tell the jurisdiction by the manual procedure (docs/public-health.md, Manual procedure), \
    then resolve this entry";

/// The rendered batch: the CSV (header and rows), the reports in it, and the reports that
/// could not be written with the reason.
pub struct Rendered {
    pub csv: String,
    pub included: Vec<Uuid>,
    pub problems: Vec<(Uuid, Hold, String)>,
}

struct Loaded {
    results: HashMap<Uuid, test_result::Model>,
    orders: HashMap<Uuid, test_order::Model>,
    patients: HashMap<Uuid, patient::Model>,
    facilities: HashMap<Uuid, facility::Model>,
    clinicians: HashMap<Uuid, clinician::Model>,
    tests: HashMap<Uuid, test_catalog::Model>,
    /// The analytes of each catalog test, in order.
    analytes: HashMap<Uuid, Vec<catalog_analyte::Model>>,
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
        match report_rows(&loaded, report, settings) {
            Ok(rows) => {
                for values in &rows {
                    writer.write_record(values).map_err(csv_error)?;
                }
                included.push(report.id);
            }
            Err((hold, problem)) => problems.push((report.id, hold, problem)),
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
    let clinician_ids = orders
        .values()
        .filter_map(|o| o.ordering_clinician_id)
        .chain(
            facilities
                .values()
                .filter_map(|f| f.default_ordering_clinician_id),
        );
    let clinicians = by_id(
        clinician::Entity::find()
            .filter(clinician::Column::Id.is_in(clinician_ids))
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
    let mut analytes: HashMap<Uuid, Vec<catalog_analyte::Model>> = HashMap::new();
    for analyte in catalog_analyte::Entity::find()
        .filter(catalog_analyte::Column::TestId.is_in(tests.keys().copied()))
        .order_by_asc(catalog_analyte::Column::Position)
        .all(db)
        .await?
    {
        analytes.entry(analyte.test_id).or_default().push(analyte);
    }
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
        analytes,
        observations,
        earlier_reports,
    })
}

fn by_id<T>(rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> HashMap<Uuid, T> {
    rows.into_iter().map(|row| (id(&row), row)).collect()
}

/// Every row of one report, or why none of them can be sent.
fn report_rows(
    loaded: &Loaded,
    report: &public_health_report::Model,
    settings: &RowSettings,
) -> Result<Vec<Vec<String>>, (Hold, String)> {
    let invalid = |m: &str| (Hold::InvalidRow, m.to_owned());
    let result = loaded
        .results
        .get(&report.result_id)
        .ok_or_else(|| invalid("the result is gone"))?;
    let order = loaded
        .orders
        .get(&result.order_id)
        .ok_or_else(|| invalid("the order is gone"))?;
    let patient = loaded
        .patients
        .get(&result.patient_id)
        .ok_or_else(|| invalid("the patient is gone"))?;
    let test = loaded
        .tests
        .get(&result.test_id)
        .ok_or_else(|| invalid("the catalog test is gone"))?;
    if report.kind == ReportKind::Withdrawal {
        return Err((Hold::Withdrawal, WITHDRAWAL_HELD.to_owned()));
    }
    if let Some(accepted) = &settings.rules.accepts
        && !accepted.contains(&test.code)
    {
        return Err((
            Hold::OutOfScope,
            format!(
                "test {} ({}) is not among the tests this endpoint accepts ({}); \
                 report it to the jurisdiction another way, or add it to the endpoint's \
                 `accepts` list if the receiver takes it",
                test.code,
                test.display_name,
                accepted.join(", ")
            ),
        ));
    }
    let facility = loaded.facilities.get(&order.facility_id);
    let facts = facts_from_stored_result(result, order, facility, test);
    let mut base = Row::default();
    base.set("message_id", report.id.to_string());
    base.set("sender_id", settings.sender_id.clone());
    base.set("processing_mode_code", settings.processing_mode.clone());
    base.set(
        "test_result_status",
        if report.kind == ReportKind::Correction {
            "C"
        } else {
            "F"
        }
        .to_owned(),
    );
    base.set_opt("specimen_type", test.specimen.clone());
    base.set("test_result_date", datetime(result.issued_at));
    base.set("date_result_released", datetime(result.issued_at));
    order_columns(&mut base, order, &facts);
    patient_columns(&mut base, patient);
    if let Some(facility) = facility {
        place_columns(&mut base, "ordering_facility", &Place::from(facility));
        // The portal keeps no clinician address: the ordering facility's stands in.
        place_columns(&mut base, "ordering_provider", &Place::from(facility));
    }
    place_columns(&mut base, "testing_lab", &facts.testing_lab);
    base.set("testing_lab_name", facts.testing_lab.name.clone());
    base.set_opt("testing_lab_clia", facts.testing_lab.clia.clone());
    reporter_columns(&mut base, settings, &facts.testing_lab);
    base.set_opt("equipment_model_name", facts.device.clone());
    let provider = order
        .ordering_clinician_id
        .or_else(|| facility.and_then(|f| f.default_ordering_clinician_id))
        .and_then(|id| loaded.clinicians.get(&id));
    if let Some(provider) = provider {
        base.set_opt("ordering_provider_first_name", provider.given_name.clone());
        base.set_opt("ordering_provider_last_name", provider.family_name.clone());
        base.set_opt("ordering_provider_id", provider.npi.clone());
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
        base.set(question, "UNK".to_owned());
    }
    base.set("pregnant", "261665006".to_owned());
    base.set("comment", comment(loaded, report, result, &facts));
    let performed = reported_observations(loaded, result, test);
    if performed.is_empty() {
        return Err(invalid(
            "no reportable analyte of the test has a value in this result",
        ));
    }
    performed
        .into_iter()
        .map(|obs| {
            let mut row = base.clone();
            row.set("test_performed_code", obs.code.clone());
            row.set_opt("test_result", observation_value(obs));
            row.finish()
                .map_err(|problem| (Hold::InvalidRow, format!("analyte {}: {problem}", obs.code)))
        })
        .collect()
}

/// The observations reported: those of the test's reportable analytes, in order; for a
/// test without analytes, the one coded as the test, else the first. A correction reports
/// its own values (ReportStream replaces the row with the same accession and test code).
fn reported_observations<'a>(
    loaded: &'a Loaded,
    result: &test_result::Model,
    test: &test_catalog::Model,
) -> Vec<&'a observation::Model> {
    let observations = loaded
        .observations
        .get(&result.id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let with_value = |o: &&observation::Model| observation_value(o).is_some();
    match loaded.analytes.get(&test.id).filter(|a| !a.is_empty()) {
        Some(analytes) => observations
            .iter()
            .filter(|o| analytes.iter().any(|a| a.reportable && a.code == o.code))
            .filter(with_value)
            .collect(),
        None => observations
            .iter()
            .find(|o| o.code == test.code)
            .or_else(|| observations.first())
            .filter(with_value)
            .into_iter()
            .collect(),
    }
}

/// What the receiver shows staff beside the row: what it corrects, and what stands in for a
/// fact the result does not carry.
fn comment(
    loaded: &Loaded,
    report: &public_health_report::Model,
    result: &test_result::Model,
    facts: &ResultFacts,
) -> String {
    let mut parts = Vec::new();
    if report.kind == ReportKind::Correction {
        let earlier = result
            .replaces_result_id
            .and_then(|r| loaded.earlier_reports.get(&r))
            .map_or_else(String::new, |id| format!(" (message_id {id})"));
        let reason = result
            .correction_reason
            .as_deref()
            .map_or_else(String::new, |r| format!(": {r}"));
        parts.push(format!("corrects the earlier report{earlier}{reason}"));
    }
    parts.extend(facts.fallback_note());
    parts.join("; ")
}

fn observation_value(obs: &observation::Model) -> Option<String> {
    obs.value_code
        .clone()
        .or_else(|| obs.value_text.clone())
        .or_else(|| obs.value_numeric.map(|v| v.to_string()))
}

/// The order time, the collection and receipt times of the facts, and the identifiers the
/// receiver files rows under: the accession (its `filler_order_id`), the same for every
/// version of a result, so a correction reaches the rows it corrects.
fn order_columns(row: &mut Row, order: &test_order::Model, facts: &ResultFacts) {
    row.set("order_test_date", datetime(order.ordered_at));
    row.set("specimen_collection_date", datetime(facts.collected.at));
    row.set(
        "testing_lab_specimen_received_date",
        datetime(facts.received.at),
    );
    let accession = order
        .accession_number
        .clone()
        .or_else(|| order.filler_order_number.clone())
        .unwrap_or_else(|| order.id.to_string());
    row.set("placer_order_id", order.id.to_string());
    row.set("testing_lab_specimen_id", accession.clone());
    row.set("accession_number", accession);
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
    // Optional values the receiver would refuse are left out rather than holding the report.
    row.set_opt(
        "patient_phone_number",
        patient
            .phone
            .as_deref()
            .and_then(receiver::phone_for_upload),
    );
    row.set_opt(
        "patient_preferred_language",
        patient
            .language
            .clone()
            .filter(|l| receiver::accepts("patient_preferred_language", l)),
    );
}

/// `<prefix>_street`, `_city`, `_state`, `_zip_code` and `_phone_number` of a place.
fn place_columns(row: &mut Row, prefix: &str, place: &Place) {
    row.set_opt(&format!("{prefix}_street"), place.street.clone());
    row.set_opt(&format!("{prefix}_city"), place.city.clone());
    row.set_opt(&format!("{prefix}_state"), place.state.clone());
    row.set_opt(&format!("{prefix}_zip_code"), place.zip.clone());
    row.set_opt(
        &format!("{prefix}_phone_number"),
        place.phone.as_deref().and_then(receiver::phone_for_upload),
    );
    if prefix == "ordering_facility" {
        row.set("ordering_facility_name", place.name.clone());
    }
}

/// The reporting facility: the endpoint's configured reporter, else the testing lab (as the
/// receiver itself fills it when the column is empty).
fn reporter_columns(row: &mut Row, settings: &RowSettings, testing_lab: &Place) {
    match &settings.rules.reporter {
        Some(reporter) => {
            row.set("reporting_facility_name", reporter.name.clone());
            row.set("reporting_facility_clia", reporter.clia.clone());
        }
        None => {
            row.set("reporting_facility_name", testing_lab.name.clone());
            row.set_opt("reporting_facility_clia", testing_lab.clia.clone());
        }
    }
}

/// HL7 DTM with its offset, as the schema's DATETIME columns take it.
fn datetime(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H%M%S+0000").to_string()
}

/// A row by column name; columns never set stay empty.
#[derive(Clone)]
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
        if !missing.is_empty() {
            return Err(format!("missing required columns: {}", missing.join(", ")));
        }
        let by_name: HashMap<String, String> = COLUMNS
            .iter()
            .map(|c| (*c).to_owned())
            .zip(self.0.iter().cloned())
            .collect();
        let refused: Vec<String> = receiver::check_row(&by_name)
            .iter()
            .map(ToString::to_string)
            .collect();
        if refused.is_empty() {
            Ok(self.0)
        } else {
            Err(format!("the receiver would refuse {}", refused.join("; ")))
        }
    }
}
