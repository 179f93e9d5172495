//! ADT^A04/A08/A28/A31: a patient registered or updated from PID, and their coverages from
//! IN1, through `portal_services::patients::registration` and `coverage::registration`. The
//! patient is matched by PID-3 with its assigning authority (`patient_match`), and their
//! identifiers of sending facilities' authorities are stored with them; coverages are
//! matched by payer and member id. PID fields sent as `""` clear what the portal holds. A40 (merge) is not accepted.

use portal_core::RequestContext;
use portal_hl7::messages::{AdtMessage, Coverage, Demographics as Pid, Sex};
use portal_hl7::{ErrorCode, Location};
use portal_services::ServiceError;
use portal_services::coverage::registration::{CoverageRecord, upsert_coverage};
use portal_services::master::Change;
use portal_services::patients::registration::{self, Address, Demographics};

use crate::failure::{Applied, Failure};
use crate::patient_match;

pub async fn apply(ctx: &RequestContext, adt: &AdtMessage) -> Result<Applied, Failure> {
    let tenant = ctx.tenant().ok_or_else(Failure::system)?;
    let mut demographics = demographics(&adt.patient)?;
    let (mrn, identifiers) =
        patient_match::adt_identity(ctx, tenant, &adt.header, &adt.patient.identity).await?;
    demographics.mrn = mrn;
    let (patient, change) = registration::register_identified(ctx, demographics, &identifiers)
        .await
        .map_err(|e| Failure::from_service(e, pid_location))?;
    let mut applied = Applied {
        changed: change != Change::Unchanged,
        ..Applied::default()
    };
    for coverage in &adt.coverages {
        let record = coverage_record(coverage)?;
        let (_, change) = upsert_coverage(ctx, patient.id, record)
            .await
            .map_err(|e| in1_failure(coverage, e))?;
        applied.changed |= change != Change::Unchanged;
    }
    Ok(applied)
}

pub(crate) fn demographics(pid: &Pid) -> Result<Demographics, Failure> {
    let identity = &pid.identity;
    let name = identity.name.as_ref();
    let required = |value: Option<&String>, field: usize, what: &str| {
        value.cloned().ok_or_else(|| {
            Failure::content(
                ErrorCode::RequiredFieldMissing,
                Location::field("PID", 1, field),
                format!("{what} missing"),
            )
        })
    };
    let cleared = |field: usize| pid.cleared_fields.contains(&field);
    // The registration rule: None keeps what is stored, a blank string clears it.
    let given =
        |value: Option<String>, field: usize| value.or_else(|| cleared(field).then(String::new));
    let address = pid.addresses.first().map(|a| Address {
        line1: a.street.clone(),
        line2: a.other.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        county: None,
        country: a.country.clone(),
    });
    let address = address.or_else(|| {
        cleared(11).then(|| Address {
            line1: Some(String::new()),
            line2: Some(String::new()),
            city: Some(String::new()),
            state: Some(String::new()),
            postal_code: Some(String::new()),
            county: None,
            country: Some(String::new()),
        })
    });
    Ok(Demographics {
        mrn: identity.mrn.id.clone(),
        given_name: required(name.and_then(|n| n.given.as_ref()), 5, "PID-5.2 given name")?,
        family_name: required(
            name.and_then(|n| n.family.as_ref()),
            5,
            "PID-5.1 family name",
        )?,
        birth_date: pid.birth_date.ok_or_else(|| {
            Failure::content(
                ErrorCode::RequiredFieldMissing,
                Location::field("PID", 1, 7),
                "PID-7 date of birth missing",
            )
        })?,
        sex: given(pid.sex.map(sex_code).map(str::to_owned), 8),
        race: given(pid.races.first().and_then(|c| c.code.clone()), 10),
        ethnicity: given(pid.ethnic_groups.first().and_then(|c| c.code.clone()), 22),
        address,
        phone: given(pid.phones.first().and_then(|t| t.number.clone()), 13),
        email: given(pid.emails.first().cloned(), 13),
        language: given(
            pid.primary_language.as_ref().and_then(|c| c.code.clone()),
            15,
        ),
    })
}

fn sex_code(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "F",
        Sex::Male => "M",
        Sex::Other => "O",
        Sex::Unknown => "U",
        Sex::Ambiguous => "A",
        Sex::NotApplicable => "N",
    }
}

fn coverage_record(c: &Coverage) -> Result<CoverageRecord, Failure> {
    let member_id = c.member_id().map(str::to_owned).ok_or_else(|| {
        Failure::content(
            ErrorCode::RequiredFieldMissing,
            Location::field("IN1", c.segment_sequence, 49),
            "member id missing (IN1-49 insured's id, or IN1-36 policy number)",
        )
    })?;
    Ok(CoverageRecord {
        payer_id: Some(c.payer_id.clone()),
        payer_name: c.payer_name.clone().unwrap_or_else(|| c.payer_id.clone()),
        plan: c
            .plan
            .as_ref()
            .and_then(|p| p.text.clone().or_else(|| p.code.clone())),
        member_id,
        group_number: c.group_number.clone(),
        period_start: c.effective,
        period_end: c.expires,
    })
}

/// Where a registration input field came from in PID.
pub(crate) fn pid_location(field: &str) -> Location {
    let n = match field.trim_start_matches("input.") {
        "givenName" | "familyName" => 5,
        "birthDate" => 7,
        "sex" => 8,
        "race" => 10,
        f if f.starts_with("address") => 11,
        "phone" | "email" => 13,
        "language" => 15,
        "ethnicity" => 22,
        _ => 3,
    };
    Location::field("PID", 1, n)
}

fn in1_failure(c: &Coverage, error: ServiceError) -> Failure {
    let seq = c.segment_sequence;
    Failure::from_service(error, |field| {
        let n = match field.trim_start_matches("input.") {
            "payerId" => 3,
            "payerName" => 4,
            "plan" => 2,
            "groupNumber" => 8,
            "periodStart" => 12,
            "periodEnd" => 13,
            _ => 49,
        };
        Location::field("IN1", seq, n)
    })
}
