//! Coverage and ExplanationOfBenefit (claims). Both need the COVERAGE scope. A payer is not
//! master data of its own yet: it is served as the Organization whose id is the Coverage's.

use portal_entities::{claim, coverage};
use portal_services::coverage::{self as service, ClaimFilter};
use portal_services::nodes;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{concept, date, instant, prune, reference, searched_patient};
use crate::bundle::{self, Entry};
use crate::codes::{self, ADJUDICATION, CARIN_ADJUDICATION, CLAIM_TYPE, COVERAGE_CLASS};
use crate::edge::Call;
use crate::outcome::FhirResult;
use crate::params::Search;

pub async fn read_coverage(call: &Call, id: Uuid) -> FhirResult<Value> {
    Ok(coverage(&nodes::coverage(&call.ctx, id).await?))
}

pub async fn read_claim(call: &Call, id: Uuid) -> FhirResult<Value> {
    Ok(explanation(&nodes::claim(&call.ctx, id).await?))
}

/// `patient` (required); latest period first.
pub async fn search_coverages(call: &Call, search: &Search) -> FhirResult<Value> {
    let access = searched_patient(call, search).await?;
    let (_, page) = service::coverages(&call.ctx, &access, &call.page(search)?).await?;
    let entries = page
        .items
        .iter()
        .map(|c| Entry::matched(coverage(c)))
        .collect();
    Ok(bundle::searchset(
        &call.base, "Coverage", search, &page, entries,
    ))
}

/// `patient` (required); latest service date first.
pub async fn search_claims(call: &Call, search: &Search) -> FhirResult<Value> {
    let access = searched_patient(call, search).await?;
    let filter = ClaimFilter::default();
    let (_, page) = service::claims(&call.ctx, &access, &filter, &call.page(search)?).await?;
    let entries = page
        .items
        .iter()
        .map(|c| Entry::matched(explanation(c)))
        .collect();
    Ok(bundle::searchset(
        &call.base,
        "ExplanationOfBenefit",
        search,
        &page,
        entries,
    ))
}

/// The payer named by a coverage, as an Organization (id: the coverage's).
pub fn payer(row: &coverage::Model) -> Value {
    json!({
        "resourceType": "Organization",
        "id": row.id.to_string(),
        "active": true,
        "type": [concept(codes::ORGANIZATION_TYPE, "pay", Some("Payer"))],
        "name": row.payer,
    })
}

fn class(kind: &str, display: &str, value: &str, name: &str) -> Value {
    json!({
        "type": concept(COVERAGE_CLASS, kind, Some(display)),
        "value": value,
        "name": name,
    })
}

pub fn coverage(row: &coverage::Model) -> Value {
    let mut classes = vec![class("plan", "Plan", &row.plan_name, &row.plan_name)];
    if let Some(group) = &row.group_number {
        classes.push(class("group", "Group", group, group));
    }
    let mut payor = reference("Organization", row.id);
    payor["display"] = json!(row.payer);
    prune(json!({
        "resourceType": "Coverage",
        "id": row.id.to_string(),
        "identifier": [{ "type": concept(codes::V2_0203, "MB", Some("Member Number")), "value": row.member_id }],
        "status": codes::coverage_status(row.status),
        "subscriberId": row.member_id,
        "beneficiary": reference("Patient", row.patient_id),
        "period": prune(json!({
            "start": date(row.period_start),
            "end": row.period_end.map(date),
        })),
        "payor": [payor],
        "class": classes,
    }))
}

/// An amount in the claim's currency (cents to units).
fn money(cents: i64, currency: &str) -> Value {
    json!({ "value": cents as f64 / 100.0, "currency": currency })
}

fn total(system: &str, code: &str, display: &str, cents: i64, currency: &str) -> Value {
    json!({
        "category": concept(system, code, Some(display)),
        "amount": money(cents, currency),
    })
}

pub fn explanation(row: &claim::Model) -> Value {
    let currency = row.currency.as_str();
    let paid_by_payer = (row.allowed_cents - row.patient_responsibility_cents).max(0);
    prune(json!({
        "resourceType": "ExplanationOfBenefit",
        "id": row.id.to_string(),
        "identifier": [{ "type": concept(codes::V2_0203, "FILL", Some("Filler Identifier")), "value": row.claim_number }],
        "status": "active",
        "type": concept(CLAIM_TYPE, "professional", Some("Professional")),
        "use": "claim",
        "patient": reference("Patient", row.patient_id),
        "billablePeriod": { "start": date(row.service_date), "end": date(row.service_date) },
        "created": instant(row.created_at),
        "insurer": reference("Organization", row.coverage_id),
        "provider": reference("Organization", row.tenant_id),
        "outcome": codes::claim_outcome(row.status),
        "disposition": format!("{:?}", row.status).to_uppercase(),
        "insurance": [{ "focal": true, "coverage": reference("Coverage", row.coverage_id) }],
        "item": [{
            "sequence": 1,
            "productOrService": { "text": row.description },
            "servicedDate": date(row.service_date),
            "net": money(row.billed_cents, currency),
        }],
        "total": [
            total(ADJUDICATION, "submitted", "Submitted Amount", row.billed_cents, currency),
            total(ADJUDICATION, "eligible", "Eligible Amount", row.allowed_cents, currency),
            total(ADJUDICATION, "benefit", "Benefit Amount", paid_by_payer, currency),
            total(CARIN_ADJUDICATION, "paidbypatient", "Paid by patient", row.patient_responsibility_cents, currency),
        ],
    }))
}
