//! Checks a new result against the request and the tenant's data before anything is written;
//! every complaint names the input field it is about.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use portal_entities::{
    OrderStatus, ResultStatus, TestCategory, ValueType, appointment, catalog_analyte, clinician,
    facility, notification_preference, observation, patient, push_token, test_catalog, test_order,
    test_result,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait,
};
use uuid::Uuid;

use super::events::Reach;
use super::interpretation::interpret;
use super::{ExternalOrder, NewImagingReport, NewObservation, NewResult, OrderRef, is_reportable};
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::policy::default_preferences;

const MAX_TEXT: usize = 10_000;
const MAX_OBSERVATIONS: usize = 200;
/// Clock skew tolerated between a laboratory system and the portal.
const FUTURE_SKEW_MINUTES: i64 = 5;

fn bad(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
    ServiceError::bad_input(field, message)
}

/// Checks that need no database: statuses, times, sizes, the order reference.
pub(super) fn shape(input: &NewResult, at: &str) -> ServiceResult<()> {
    if !is_reportable(input.status) {
        return Err(bad(
            format!("{at}.status"),
            "status must be PRELIMINARY or FINAL; use correctTestResult or markTestResultEnteredInError",
        ));
    }
    not_in_future(input.issued_at, &format!("{at}.issuedAt"))?;
    if matches!(input.order, OrderRef::Ambiguous) {
        return Err(bad(
            format!("{at}.orderId"),
            "give either orderId or order, not both or neither",
        ));
    }
    if let Some(key) = &input.idempotency_key
        && (key.is_empty() || key.len() > 200)
    {
        return Err(bad(
            format!("{at}.idempotencyKey"),
            "idempotencyKey must be 1 to 200 characters",
        ));
    }
    if let Some(key) = &input.idempotency_key {
        portal_core::text::check(&format!("{at}.idempotencyKey"), key)?;
    }
    text(&input.performing_lab, &format!("{at}.performingLab"))?;
    text(&input.conclusion, &format!("{at}.conclusion"))?;
    input.details.check(at)?;
    if input.observations.len() > MAX_OBSERVATIONS {
        return Err(bad(
            format!("{at}.observations"),
            format!("at most {MAX_OBSERVATIONS} observations"),
        ));
    }
    Ok(())
}

pub(super) fn not_in_future(time: chrono::DateTime<Utc>, field: &str) -> ServiceResult<()> {
    if time > Utc::now() + Duration::minutes(FUTURE_SKEW_MINUTES) {
        return Err(bad(field, "must not be in the future"));
    }
    Ok(())
}

pub(super) fn text(value: &Option<String>, field: &str) -> ServiceResult<()> {
    match value {
        Some(v) if v.len() > MAX_TEXT => Err(bad(field, format!("at most {MAX_TEXT} characters"))),
        Some(v) => portal_core::text::check(field, v),
        None => Ok(()),
    }
}

/// The patient with what their notifications need (preferences, active push tokens), in one
/// statement.
pub(super) async fn patient<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    at: &str,
) -> ServiceResult<(patient::Model, Reach)> {
    let push_tokens = Query::select()
        .expr(Expr::col(push_token::Column::Id).count())
        .from(push_token::Entity)
        .and_where(push_token::Column::TenantId.eq(tenant))
        .and_where(push_token::Column::PatientId.eq(id))
        .and_where(push_token::Column::RevokedAt.is_null())
        .to_owned();
    let select = patient::Entity::find_by_id(id)
        .filter(patient::Column::TenantId.eq(tenant))
        .find_also_related(notification_preference::Entity)
        .expr_as(
            Expr::SubQuery(None, Box::new(push_tokens.into())),
            "push_tokens",
        )
        .build(db.get_database_backend());
    let row = db
        .query_one_raw(select)
        .await?
        .ok_or_else(|| bad(format!("{at}.patientId"), "unknown patient"))?;
    let patient = patient::Model::from_query_result(&row, "A_")?;
    let prefs = notification_preference::Model::from_query_result_optional(&row, "B_")?
        .unwrap_or_else(|| default_preferences(patient.tenant_id, patient.id));
    let push_tokens = row.try_get::<i64>("", "push_tokens")?;
    Ok((patient, Reach { prefs, push_tokens }))
}

pub(super) async fn existing_order<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    patient_id: Uuid,
    order_id: Uuid,
    at: &str,
) -> ServiceResult<test_order::Model> {
    let order = test_order::Entity::find_by_id(order_id)
        .filter(test_order::Column::TenantId.eq(tenant))
        .filter(test_order::Column::PatientId.eq(patient_id))
        .one(db)
        .await?
        .ok_or_else(|| bad(format!("{at}.orderId"), "unknown order for this patient"))?;
    if order.status == OrderStatus::Cancelled {
        return Err(ServiceError::Conflict("the order was cancelled".into()));
    }
    Ok(order)
}

/// A catalog test with its analytes (read together).
#[derive(Debug, Clone)]
pub(super) struct CatalogTest {
    pub(super) test: test_catalog::Model,
    pub(super) analytes: Vec<catalog_analyte::Model>,
}

async fn catalog_test<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    filter: sea_orm::sea_query::SimpleExpr,
) -> ServiceResult<Option<CatalogTest>> {
    let found = test_catalog::Entity::find()
        .filter(test_catalog::Column::TenantId.eq(tenant))
        .filter(filter)
        .find_with_related(catalog_analyte::Entity)
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .next()
        .map(|(test, analytes)| CatalogTest { test, analytes }))
}

/// The category of the tenant's catalog test with this code, if it is known; the test and
/// its analytes are kept for the request (the result written next needs them).
pub async fn catalog_category(
    ctx: &portal_core::context::RequestContext,
    tenant: Uuid,
    code: &str,
) -> ServiceResult<Option<portal_entities::TestCategory>> {
    let Some(found) = catalog_test(ctx.db(), tenant, test_catalog::Column::Code.eq(code)).await?
    else {
        return Ok(None);
    };
    let category = found.test.category;
    ctx.prefetch().put_catalog_test(found.test, found.analytes);
    Ok(Some(category))
}

async fn test_by_code<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    code: &str,
    field: &str,
) -> ServiceResult<CatalogTest> {
    catalog_test(db, tenant, test_catalog::Column::Code.eq(code))
        .await?
        .ok_or_else(|| bad(field, format!("unknown test code {code:?}")))
}

/// Catalog tests (by code) and facilities already read in this transaction: the items of a
/// batch read each once. Only what was found is kept.
#[derive(Default)]
pub(super) struct Known {
    tests: HashMap<String, CatalogTest>,
    facilities: HashSet<Uuid>,
    /// Facilities' critical-results switches (`critical::plan`), read once per batch.
    pub(super) critical_switches: HashMap<Uuid, bool>,
}

impl Known {
    /// Takes what the request read already (an HL7 message's sender and test) as known.
    pub(super) fn from_request(
        prefetch: &portal_core::prefetch::Prefetch,
        order: &super::OrderRef,
    ) -> Self {
        let mut known = Self::default();
        if let super::OrderRef::New(new) = order {
            if prefetch.has_facility(new.facility_id) {
                known.facilities.insert(new.facility_id);
            }
            if let Some((test, analytes)) = prefetch.catalog_test(&new.test_code) {
                known
                    .tests
                    .insert(new.test_code.clone(), CatalogTest { test, analytes });
            }
        }
        known
    }

    pub(super) async fn test_by_code<C: ConnectionTrait>(
        &mut self,
        db: &C,
        tenant: Uuid,
        code: &str,
        field: &str,
    ) -> ServiceResult<CatalogTest> {
        if let Some(test) = self.tests.get(code) {
            return Ok(test.clone());
        }
        let test = test_by_code(db, tenant, code, field).await?;
        self.tests.insert(code.to_owned(), test.clone());
        Ok(test)
    }

    pub(super) async fn facility_exists<C: ConnectionTrait>(
        &mut self,
        db: &C,
        tenant: Uuid,
        id: Uuid,
        field: &str,
    ) -> ServiceResult<()> {
        if !self.facilities.contains(&id) {
            facility_exists(db, tenant, id, field).await?;
            self.facilities.insert(id);
        }
        Ok(())
    }
}

pub(super) async fn test_by_id<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
) -> ServiceResult<CatalogTest> {
    catalog_test(db, tenant, test_catalog::Column::Id.eq(id))
        .await?
        .ok_or_else(|| ServiceError::internal("order refers to a missing catalog test"))
}

async fn facility_exists<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    field: &str,
) -> ServiceResult<()> {
    let found = facility::Entity::find_by_id(id)
        .filter(facility::Column::TenantId.eq(tenant))
        .one(db)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| bad(field, "unknown facility"))
}

/// The external order numbers and provider name are bounded text; the appointment must be
/// the patient's.
pub(super) async fn external<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    patient_id: Uuid,
    external: &ExternalOrder,
    at: &str,
) -> ServiceResult<()> {
    for (value, name) in [
        (&external.placer_order_number, "placerOrderNumber"),
        (&external.filler_order_number, "fillerOrderNumber"),
        (&external.placer_group_number, "placerGroupNumber"),
        (&external.ordering_provider_name, "orderingProviderName"),
    ] {
        match value {
            Some(v) if v.trim().is_empty() || v.len() > 200 => {
                return Err(bad(format!("{at}.{name}"), "1 to 200 characters"));
            }
            _ => {}
        }
    }
    let Some(id) = external.appointment_id else {
        return Ok(());
    };
    let found = appointment::Entity::find_by_id(id)
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::PatientId.eq(patient_id))
        .one(db)
        .await?;
    found.map(|_| ()).ok_or_else(|| {
        bad(
            format!("{at}.appointmentId"),
            "unknown appointment for this patient",
        )
    })
}

pub(super) async fn clinician_exists<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Option<Uuid>,
    field: &str,
) -> ServiceResult<()> {
    let Some(id) = id else { return Ok(()) };
    let found = clinician::Entity::find_by_id(id)
        .filter(clinician::Column::TenantId.eq(tenant))
        .one(db)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| bad(field, "unknown clinician"))
}

/// The result of an order that nothing replaced yet, if any.
pub(super) async fn current_result_of_order<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    order_id: Uuid,
) -> ServiceResult<Option<test_result::Model>> {
    let results = test_result::Entity::find()
        .filter(test_result::Column::TenantId.eq(tenant))
        .filter(test_result::Column::OrderId.eq(order_id))
        .all(db)
        .await?;
    let replaced: Vec<Uuid> = results
        .iter()
        .filter_map(|r| r.replaces_result_id)
        .collect();
    Ok(results.into_iter().find(|r| !replaced.contains(&r.id)))
}

/// Checks observations against the catalog (known analyte, value type, unit) and turns
/// them into rows; the interpretation is derived from the reference range when not given.
pub(super) fn observations(
    catalog: &CatalogTest,
    result_id: Uuid,
    given: &[NewObservation],
    imaging: Option<&NewImagingReport>,
    at: &str,
) -> ServiceResult<Vec<observation::Model>> {
    match catalog.test.category {
        TestCategory::Lab if given.is_empty() => {
            return Err(bad(
                format!("{at}.observations"),
                "a laboratory result needs at least one observation",
            ));
        }
        TestCategory::Imaging if imaging.is_none() => {
            return Err(bad(
                format!("{at}.imagingReport"),
                "an imaging result needs an imaging report",
            ));
        }
        TestCategory::Lab if imaging.is_some() => {
            return Err(bad(
                format!("{at}.imagingReport"),
                "a laboratory test has no imaging report",
            ));
        }
        _ => {}
    }
    if let Some(report) = imaging {
        let texts = [
            ("modality", &report.modality),
            ("studyInstanceUid", &report.study_instance_uid),
            ("findings", &report.findings),
            ("impression", &report.impression),
        ];
        for (name, value) in texts {
            portal_core::text::check(&format!("{at}.imagingReport.{name}"), value)?;
        }
    }
    let (test, analytes) = (&catalog.test, &catalog.analytes);
    let mut rows = Vec::with_capacity(given.len());
    for (i, obs) in given.iter().enumerate() {
        let field = format!("{at}.observations[{i}]");
        if given[..i].iter().any(|o| o.code == obs.code) {
            return Err(bad(format!("{field}.code"), "analyte reported twice"));
        }
        let analyte = analytes
            .iter()
            .find(|a| a.code == obs.code)
            .ok_or_else(|| {
                bad(
                    format!("{field}.code"),
                    format!("{} is not an analyte of test {}", obs.code, test.code),
                )
            })?;
        rows.push(observation_row(test, analyte, result_id, i, obs, &field)?);
    }
    Ok(rows)
}

fn observation_row(
    test: &test_catalog::Model,
    analyte: &catalog_analyte::Model,
    result_id: Uuid,
    position: usize,
    obs: &NewObservation,
    field: &str,
) -> ServiceResult<observation::Model> {
    let value_field = match analyte.value_type {
        ValueType::Numeric => "valueNumeric",
        ValueType::Text => "valueText",
        ValueType::Coded => "valueCode",
    };
    let matches = match analyte.value_type {
        ValueType::Numeric => obs.value_numeric.is_some_and(f64::is_finite),
        ValueType::Text => obs
            .value_text
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty()),
        ValueType::Coded => obs
            .value_code
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty()),
    };
    if !matches {
        return Err(bad(
            format!("{field}.{value_field}"),
            format!(
                "{} takes a {:?} value in {value_field}",
                analyte.code, analyte.value_type
            )
            .to_lowercase(),
        ));
    }
    text(&obs.value_text, &format!("{field}.valueText"))?;
    obs.details.check(field)?;
    // The laboratory's unit and range as sent (CLIA wants the laboratory's reference
    // interval on the report); the catalog's only when the laboratory sends none. The
    // catalog's range does not apply to a value in another unit.
    let unit = obs.unit.clone().or_else(|| analyte.unit.clone());
    let catalog_applies = unit == analyte.unit;
    let (reference_low, reference_high, reference_text) = match &obs.details.reference_range {
        Some(sent) => {
            let (low, high) = super::details::bounds(sent);
            (low, high, Some(sent.clone()))
        }
        None if catalog_applies => (
            analyte.reference_low,
            analyte.reference_high,
            analyte.reference_text.clone(),
        ),
        None => (None, None, None),
    };
    let interpretation = obs.interpretation.or_else(|| {
        obs.value_numeric
            .map(|v| interpret(v, reference_low, reference_high))
    });
    Ok(observation::Model {
        id: Uuid::now_v7(),
        tenant_id: test.tenant_id,
        result_id,
        position: position as i32,
        code: analyte.code.clone(),
        display_name: analyte.display_name.clone(),
        value_type: analyte.value_type,
        value_numeric: obs.value_numeric,
        value_text: obs.value_text.clone(),
        value_code: obs.value_code.clone(),
        unit,
        reference_low,
        reference_high,
        reference_text,
        interpretation,
        abnormal_flags: abnormal_flags(&obs.abnormal_flags, &format!("{field}.abnormalFlags"))?,
    })
}

/// Most abnormal flags one observation keeps, and the longest flag (table 0078 codes are
/// one or two characters; local codes a little longer).
const MAX_FLAGS: usize = 10;
const MAX_FLAG_LEN: usize = 10;

/// The flags as stored: joined by `~` (the HL7 repetition separator), none as NULL.
fn abnormal_flags(flags: &[String], field: &str) -> ServiceResult<Option<String>> {
    let flags: Vec<&str> = flags
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect();
    if flags.len() > MAX_FLAGS
        || flags
            .iter()
            .any(|f| f.len() > MAX_FLAG_LEN || f.contains('~') || f.chars().any(char::is_control))
    {
        return Err(bad(
            field.to_owned(),
            format!("at most {MAX_FLAGS} flags of at most {MAX_FLAG_LEN} characters, without '~'"),
        ));
    }
    Ok((!flags.is_empty()).then(|| flags.join("~")))
}

/// A released result can only be replaced through a correction.
pub(super) fn replaceable_by_new_result(current: &test_result::Model) -> ServiceResult<()> {
    if current.status == ResultStatus::Preliminary {
        Ok(())
    } else {
        Err(ServiceError::Conflict(
            "the order already has a released result; use correctTestResult or markTestResultEnteredInError".into(),
        ))
    }
}
