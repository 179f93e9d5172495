//! DiagnosticReport: a result version. Lab panels (LAB) point to their Observations; imaging
//! reports (RAD) carry the impression as conclusion, the findings as a text attachment and
//! the DICOM study instance UID.
//!
//! Versions: our corrections are new results with new ids, linked in a chain. The FHIR
//! logical id of every version is the chain's id (the id of its first version), so an id a
//! client once received always reads the current version; `meta.versionId` is the version's
//! own id, and `_history` lists every version the viewer may see.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portal_entities::{
    TestCategory, imaging_report, observation, test_catalog, test_order, test_result,
};
use portal_services::lookup::by_keys;
use portal_services::results::{self, ResultFilter, TestCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::provenance::{self, Details};
use super::{concept, effective, instant, prune, reference, searched_patient, uuid_identifier};
use crate::bundle::{self, Entry};
use crate::codes::{self, DICOM_UID, V2_0074};
use crate::dates;
use crate::edge::Call;
use crate::outcome::{FhirError, FhirResult};
use crate::params::{Search, tokens};
use crate::resources::observation as fhir_observation;

/// What a page of results points to, loaded with one query per kind for the whole page.
pub struct Parts {
    observations: HashMap<Uuid, Vec<observation::Model>>,
    tests: HashMap<Uuid, test_catalog::Model>,
    imaging: HashMap<Uuid, imaging_report::Model>,
    orders: HashMap<Uuid, test_order::Model>,
    details: Details,
}

impl Parts {
    /// The observations, catalog tests, imaging reports and orders of `results`: four
    /// statements, however many results there are.
    pub async fn load(call: &Call, results: &[test_result::Model]) -> FhirResult<Self> {
        let db = call.ctx.db();
        let tenant = call.ctx.viewer()?.tenant_id;
        let ids: Vec<Uuid> = results.iter().map(|r| r.id).collect();
        let test_ids: Vec<Uuid> = results.iter().map(|r| r.test_id).collect();
        let order_ids: Vec<Uuid> = results.iter().map(|r| r.order_id).collect();
        let mut observations: HashMap<Uuid, Vec<observation::Model>> = HashMap::new();
        let rows = by_keys::<observation::Entity, _>(
            db,
            observation::Column::TenantId,
            tenant,
            observation::Column::ResultId,
            &ids,
        )
        .await?;
        for row in rows {
            observations.entry(row.result_id).or_default().push(row);
        }
        for list in observations.values_mut() {
            list.sort_by_key(|o| o.position);
        }
        let imaging_ids: Vec<Uuid> = results
            .iter()
            .filter(|r| r.category == TestCategory::Imaging)
            .map(|r| r.id)
            .collect();
        let imaging = by_keys::<imaging_report::Entity, _>(
            db,
            imaging_report::Column::TenantId,
            tenant,
            imaging_report::Column::ResultId,
            &imaging_ids,
        )
        .await?;
        let tests = by_keys::<test_catalog::Entity, _>(
            db,
            test_catalog::Column::TenantId,
            tenant,
            test_catalog::Column::Id,
            &test_ids,
        )
        .await?;
        let orders = by_keys::<test_order::Entity, _>(
            db,
            test_order::Column::TenantId,
            tenant,
            test_order::Column::Id,
            &order_ids,
        )
        .await?;
        let details = Details::load(call, &ids).await?;
        Ok(Self {
            details,
            observations,
            tests: tests.into_iter().map(|t| (t.id, t)).collect(),
            imaging: imaging.into_iter().map(|i| (i.result_id, i)).collect(),
            orders: orders.into_iter().map(|o| (o.id, o)).collect(),
        })
    }

    pub fn observations_of(&self, result_id: Uuid) -> &[observation::Model] {
        self.observations
            .get(&result_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The current version of a chain, by the chain's id.
pub async fn read(call: &Call, id: Uuid) -> FhirResult<Value> {
    let versions = chain(call, id).await?;
    let replaced: Vec<Uuid> = versions
        .iter()
        .filter_map(|v| v.replaces_result_id)
        .collect();
    let current = versions
        .iter()
        .find(|v| !replaced.contains(&v.id))
        .or(versions.last())
        .ok_or(FhirError::Service(portal_core::ServiceError::NotFound(
            "diagnostic report",
        )))?;
    let parts = Parts::load(call, std::slice::from_ref(current)).await?;
    Ok(resource(current, &parts))
}

/// Every version of the chain the viewer may see, newest first.
pub async fn history(call: &Call, id: Uuid) -> FhirResult<Value> {
    let versions = chain(call, id).await?;
    let parts = Parts::load(call, &versions).await?;
    let resources = versions.iter().map(|v| resource(v, &parts)).collect();
    Ok(bundle::history(&call.base, resources))
}

/// One version (`_history/{versionId}`), the version's own id.
pub async fn vread(call: &Call, id: Uuid, version: Uuid) -> FhirResult<Value> {
    let versions = chain(call, id).await?;
    let found = versions
        .iter()
        .find(|v| v.id == version)
        .ok_or(FhirError::Service(portal_core::ServiceError::NotFound(
            "version",
        )))?;
    let parts = Parts::load(call, std::slice::from_ref(found)).await?;
    Ok(resource(found, &parts))
}

async fn chain(call: &Call, id: Uuid) -> FhirResult<Vec<test_result::Model>> {
    let (_, versions) = results::chain(&call.ctx, id).await?;
    Ok(versions)
}

/// `patient` (required), `category`, `date`, `issued`, `status`, `code`; `_include=DiagnosticReport:result`.
pub async fn search(call: &Call, search: &Search) -> FhirResult<Value> {
    let access = searched_patient(call, search).await?;
    let filter = filter(search)?;
    let (_, page) = results::list(&call.ctx, &access, &filter, &call.page(search)?).await?;
    let parts = Parts::load(call, &page.items).await?;
    let mut entries: Vec<Entry> = page
        .items
        .iter()
        .map(|r| Entry::matched(resource(r, &parts)))
        .collect();
    if !search.includes.is_empty() {
        for result in &page.items {
            for obs in parts.observations_of(result.id) {
                entries.push(Entry::included(fhir_observation::resource(
                    obs,
                    result,
                    &parts.details,
                )));
            }
        }
    }
    Ok(bundle::searchset(
        &call.base,
        "DiagnosticReport",
        search,
        &page,
        entries,
    ))
}

fn filter(search: &Search) -> FhirResult<ResultFilter> {
    let mut filter = ResultFilter::default();
    if let Some(value) = search.one("category") {
        let mut categories = Vec::new();
        for token in tokens(value)? {
            if token.system.is_some_and(|s| s != V2_0074) {
                return Err(FhirError::invalid(format!(
                    "category system must be {V2_0074}"
                )));
            }
            let category = codes::report_category_of(token.code).ok_or_else(|| {
                FhirError::invalid(format!("category {} is not LAB or RAD", token.code))
            })?;
            categories.push(category);
        }
        categories.dedup();
        if let [one] = categories.as_slice() {
            filter.category = Some(*one);
        }
    }
    if let Some(value) = search.one("status") {
        let mut statuses = Vec::new();
        for token in tokens(value)? {
            let found = codes::result_statuses_of(token.code).ok_or_else(|| {
                FhirError::invalid(format!("{} is not a DiagnosticReport status", token.code))
            })?;
            statuses.extend(found);
        }
        filter.statuses = Some(statuses);
    }
    if let Some(value) = search.one("code") {
        let mut tests = Vec::new();
        for token in tokens(value)? {
            let system = match token.system {
                None => None,
                Some(uri) => Some(codes::test_code_system_of(uri).ok_or_else(|| {
                    FhirError::invalid(format!("code system {uri} is not known here"))
                })?),
            };
            tests.push(TestCode {
                system,
                code: token.code.to_owned(),
            });
        }
        filter.tests = Some(tests);
    }
    let now = portal_core::clock::now();
    filter.within = dates::within(search, "date", effective::COLUMN, now)?;
    let issued = dates::within(search, "issued", test_result::Column::IssuedAt, now)?;
    filter.within.extend(issued);
    Ok(filter)
}

/// One result version as a DiagnosticReport (logical id: its chain's id).
pub fn resource(result: &test_result::Model, parts: &Parts) -> Value {
    let (category_code, category_display) = codes::report_category(result.category);
    let code = match parts.tests.get(&result.test_id) {
        Some(test) => concept(
            codes::test_code_system(test.code_system),
            &test.code,
            Some(&test.display_name),
        ),
        None => json!({ "text": "Unknown test" }),
    };
    let detail = parts.details.result(result.id);
    let laboratory = detail.and_then(provenance::performer);
    let specimen = detail.and_then(provenance::specimen);
    let performer = laboratory.map(|lab| json!([lab])).or_else(|| {
        parts.orders.get(&result.order_id).map(|order| {
            let mut performer = reference("Organization", order.facility_id);
            if let Some(lab) = &result.performing_lab {
                performer["display"] = json!(lab);
            }
            json!([performer])
        })
    });
    let observations: Vec<Value> = parts
        .observations_of(result.id)
        .iter()
        .map(|o| reference("Observation", o.id))
        .collect();
    let imaging = parts.imaging.get(&result.id);
    let conclusion = imaging
        .map(|i| i.impression.clone())
        .or_else(|| result.conclusion.clone());
    prune(json!({
        "resourceType": "DiagnosticReport",
        "id": result.chain_id.to_string(),
        "meta": { "versionId": result.id.to_string(), "lastUpdated": instant(result.created_at) },
        "identifier": [uuid_identifier(result.id)],
        "basedOn": [reference("ServiceRequest", result.order_id)],
        "status": codes::result_status(result.status),
        "category": [concept(V2_0074, category_code, Some(category_display))],
        "code": code,
        "subject": reference("Patient", result.patient_id),
        "contained": specimen.as_ref().map(|s| json!([s])),
        "effectiveDateTime": instant(provenance::effective_time(result, &parts.details)),
        "issued": instant(result.issued_at),
        "performer": performer,
        "specimen": specimen.map(|_| json!([{ "reference": format!("#{}", provenance::SPECIMEN_ID) }])),
        "result": if observations.is_empty() { Value::Null } else { json!(observations) },
        "imagingStudy": imaging.map(study),
        "conclusion": conclusion,
        "presentedForm": imaging.map(findings),
    }))
}

/// The imaging study, by its DICOM study instance UID (ImagingStudy is not served).
fn study(report: &imaging_report::Model) -> Value {
    json!([{
        "type": "ImagingStudy",
        "identifier": {
            "system": DICOM_UID,
            "value": format!("urn:oid:{}", report.study_instance_uid),
        },
        "display": format!("{} study", report.modality),
    }])
}

fn findings(report: &imaging_report::Model) -> Value {
    json!([{
        "contentType": "text/plain; charset=utf-8",
        "title": "Findings",
        "data": STANDARD.encode(report.findings.as_bytes()),
    }])
}
