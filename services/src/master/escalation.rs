//! Master data for critical results: a clinician's contact channels and on-call flag, a
//! facility's critical-results switch (off unless set), escalation delay and chain, and the
//! catalog's critical limits per analyte. Staff and admins keep them, through the GraphQL
//! mutations and `portal import`; the alerts that use them are `crate::critical`.

use portal_core::access::Access;
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{
    catalog_analyte, clinician, clinician_contact, critical_limit, escalation_step, facility,
    facility_critical_setting,
};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use tracing::instrument;
use uuid::Uuid;

use super::fields::{self, MAX_TEXT};
use super::{Change, MAINTAINERS, Patch, done, given, now, patch, require};

const SET_CONTACT: Access = Access::write("clinician.contact", "Clinician");
const SET_CRITICAL: Access = Access::write("facility.critical_results", "Facility");
const SET_LIMITS: Access = Access::write("catalog_test.critical_limits", "TestCatalogItem");

/// How long an alert waits for an acknowledgement before it escalates, unless the facility
/// says otherwise (30 minutes).
pub const DEFAULT_ESCALATION_SECONDS: i32 = 1800;
/// Bounds of a facility's escalation delay: one second (tests, drills) to one day.
const ESCALATION_SECONDS: std::ops::RangeInclusive<i32> = 1..=86_400;
/// Most steps a chain has.
const MAX_STEPS: usize = 10;

/// A change to a clinician's contact channels.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub email: Patch<String>,
    pub sms_phone: Patch<String>,
    pub on_call: Option<bool>,
}

/// Sets what is given of a clinician's contact channels and on-call flag.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn set_clinician_contact(
    ctx: &RequestContext,
    clinician_id: Uuid,
    input: ContactPatch,
) -> ServiceResult<clinician_contact::Model> {
    let what = SET_CONTACT.entity(clinician_id);
    let tenant_id = require(ctx, MAINTAINERS, what, None)?;
    let fail = |e| ctx.failed(what, None, e);
    if let Some(email) = given(&input.email) {
        fields::email("input.email", email).map_err(fail)?;
    }
    if let Some(phone) = given(&input.sms_phone) {
        fields::phone("input.smsPhone", phone).map_err(fail)?;
    }
    let work = ctx.begin_write().await?;
    clinician::Entity::find_by_id(clinician_id)
        .filter(clinician::Column::TenantId.eq(tenant_id))
        .one(work.txn())
        .await?
        .ok_or_else(|| fail(ServiceError::NotFound("clinician")))?;
    let current = contact(work.txn(), tenant_id, clinician_id).await?;
    let mut next = current.clone().unwrap_or(clinician_contact::Model {
        clinician_id,
        tenant_id,
        email: None,
        sms_phone: None,
        on_call: false,
        updated_at: now(),
    });
    patch(&mut next.email, input.email);
    patch(&mut next.sms_phone, input.sms_phone);
    super::set(&mut next.on_call, input.on_call);
    let change = match &current {
        Some(c) if same_contact(c, &next) => Change::Unchanged,
        Some(_) => Change::Updated,
        None => Change::Created,
    };
    if change != Change::Unchanged {
        next.updated_at = now();
        upsert_contact(&work, &next).await?;
    }
    work.commit().await?;
    done(ctx, what, None, change);
    Ok(next)
}

fn same_contact(a: &clinician_contact::Model, b: &clinician_contact::Model) -> bool {
    (&a.email, &a.sms_phone, a.on_call) == (&b.email, &b.sms_phone, b.on_call)
}

async fn upsert_contact(work: &Writing<'_>, row: &clinician_contact::Model) -> ServiceResult<()> {
    clinician_contact::Entity::insert(row.clone().into_active_model())
        .on_conflict(
            OnConflict::column(clinician_contact::Column::ClinicianId)
                .update_columns([
                    clinician_contact::Column::Email,
                    clinician_contact::Column::SmsPhone,
                    clinician_contact::Column::OnCall,
                    clinician_contact::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(work.txn())
        .await?;
    Ok(())
}

/// A clinician's contact channels, if any were set.
pub async fn contact<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    clinician_id: Uuid,
) -> ServiceResult<Option<clinician_contact::Model>> {
    Ok(clinician_contact::Entity::find_by_id(clinician_id)
        .filter(clinician_contact::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}

/// One step of a facility's escalation chain: a clinician, or a labelled on-call number.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInput {
    pub clinician_id: Option<Uuid>,
    pub label: String,
    pub phone: Option<String>,
}

/// A change to a facility's critical-results configuration; a given chain replaces the old.
#[derive(Debug, Clone, Default)]
pub struct CriticalSettingsPatch {
    pub enabled: Option<bool>,
    pub escalation_seconds: Option<i32>,
    pub chain: Option<Vec<StepInput>>,
}

/// A facility's critical-results configuration as it applies (the defaults when never set).
#[derive(Debug, Clone, PartialEq)]
pub struct CriticalSettings {
    pub facility_id: Uuid,
    pub enabled: bool,
    pub escalation_seconds: i32,
    pub chain: Vec<escalation_step::Model>,
}

/// Sets what is given of a facility's critical-results switch, delay and chain.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn set_critical_settings(
    ctx: &RequestContext,
    facility_id: Uuid,
    input: CriticalSettingsPatch,
) -> ServiceResult<CriticalSettings> {
    let what = SET_CRITICAL.entity(facility_id);
    let tenant_id = require(ctx, MAINTAINERS, what, None)?;
    let fail = |e| ctx.failed(what, None, e);
    check_settings(&input).map_err(fail)?;
    let work = ctx.begin_write().await?;
    facility::Entity::find_by_id(facility_id)
        .filter(facility::Column::TenantId.eq(tenant_id))
        .one(work.txn())
        .await?
        .ok_or_else(|| fail(ServiceError::NotFound("facility")))?;
    if let Some(chain) = &input.chain {
        for (i, step) in chain.iter().enumerate() {
            if let Some(id) = step.clinician_id {
                let known = clinician::Entity::find_by_id(id)
                    .filter(clinician::Column::TenantId.eq(tenant_id))
                    .one(work.txn())
                    .await?;
                if known.is_none() {
                    return Err(fail(ServiceError::bad_input(
                        format!("input.chain[{i}].clinicianId"),
                        "is no clinician of the organisation",
                    )));
                }
            }
        }
    }
    let current = settings(work.txn(), tenant_id, facility_id).await?;
    let next = CriticalSettings {
        facility_id,
        enabled: input.enabled.unwrap_or(current.enabled),
        escalation_seconds: input
            .escalation_seconds
            .unwrap_or(current.escalation_seconds),
        chain: match &input.chain {
            Some(chain) => steps(tenant_id, facility_id, chain),
            None => current.chain.clone(),
        },
    };
    let change = if same_settings(&current, &next) {
        Change::Unchanged
    } else {
        write_settings(&work, tenant_id, &next, input.chain.is_some()).await?;
        Change::Updated
    };
    work.commit().await?;
    done(ctx, what, None, change);
    Ok(next)
}

fn check_settings(input: &CriticalSettingsPatch) -> ServiceResult<()> {
    if let Some(seconds) = input.escalation_seconds
        && !ESCALATION_SECONDS.contains(&seconds)
    {
        return Err(ServiceError::bad_input(
            "input.escalationSeconds",
            "must be between 1 second and 1 day",
        ));
    }
    let Some(chain) = &input.chain else {
        return Ok(());
    };
    if chain.len() > MAX_STEPS {
        return Err(ServiceError::bad_input(
            "input.chain",
            format!("at most {MAX_STEPS} steps"),
        ));
    }
    for (i, step) in chain.iter().enumerate() {
        fields::required(&format!("input.chain[{i}].label"), &step.label, MAX_TEXT)?;
        if let Some(phone) = &step.phone {
            fields::phone(&format!("input.chain[{i}].phone"), phone)?;
        }
        if step.clinician_id.is_none() && step.phone.is_none() {
            return Err(ServiceError::bad_input(
                format!("input.chain[{i}]"),
                "a step reaches a clinician or an on-call phone number",
            ));
        }
    }
    Ok(())
}

fn steps(tenant_id: Uuid, facility_id: Uuid, chain: &[StepInput]) -> Vec<escalation_step::Model> {
    chain
        .iter()
        .enumerate()
        .map(|(i, s)| escalation_step::Model {
            id: Uuid::now_v7(),
            tenant_id,
            facility_id,
            position: i as i32 + 1,
            clinician_id: s.clinician_id,
            label: s.label.trim().to_owned(),
            phone: s.phone.clone(),
        })
        .collect()
}

fn same_settings(a: &CriticalSettings, b: &CriticalSettings) -> bool {
    let key =
        |s: &escalation_step::Model| (s.position, s.clinician_id, s.label.clone(), s.phone.clone());
    a.enabled == b.enabled
        && a.escalation_seconds == b.escalation_seconds
        && a.chain.iter().map(key).eq(b.chain.iter().map(key))
}

async fn write_settings(
    work: &Writing<'_>,
    tenant_id: Uuid,
    next: &CriticalSettings,
    chain_given: bool,
) -> ServiceResult<()> {
    let row = facility_critical_setting::Model {
        facility_id: next.facility_id,
        tenant_id,
        enabled: next.enabled,
        escalation_seconds: next.escalation_seconds,
        updated_at: now(),
    };
    facility_critical_setting::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::column(facility_critical_setting::Column::FacilityId)
                .update_columns([
                    facility_critical_setting::Column::Enabled,
                    facility_critical_setting::Column::EscalationSeconds,
                    facility_critical_setting::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(work.txn())
        .await?;
    if chain_given {
        escalation_step::Entity::delete_many()
            .filter(escalation_step::Column::TenantId.eq(tenant_id))
            .filter(escalation_step::Column::FacilityId.eq(next.facility_id))
            .exec(work.txn())
            .await?;
        if !next.chain.is_empty() {
            escalation_step::Entity::insert_many(
                next.chain
                    .iter()
                    .cloned()
                    .map(IntoActiveModel::into_active_model),
            )
            .exec_without_returning(work.txn())
            .await?;
        }
    }
    Ok(())
}

/// Whether a facility's critical-results switch is on (off unless set).
pub async fn enabled<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    facility_id: Uuid,
) -> ServiceResult<bool> {
    Ok(facility_critical_setting::Entity::find_by_id(facility_id)
        .filter(facility_critical_setting::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .is_some_and(|r| r.enabled))
}

/// A facility's critical-results configuration: its row and chain, or the defaults (off,
/// 30 minutes, no chain).
pub async fn settings<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    facility_id: Uuid,
) -> ServiceResult<CriticalSettings> {
    let row = facility_critical_setting::Entity::find_by_id(facility_id)
        .filter(facility_critical_setting::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?;
    let chain = escalation_step::Entity::find()
        .filter(escalation_step::Column::TenantId.eq(tenant_id))
        .filter(escalation_step::Column::FacilityId.eq(facility_id))
        .order_by_asc(escalation_step::Column::Position)
        .all(db)
        .await?;
    Ok(CriticalSettings {
        facility_id,
        enabled: row.as_ref().is_some_and(|r| r.enabled),
        escalation_seconds: row.map_or(DEFAULT_ESCALATION_SECONDS, |r| r.escalation_seconds),
        chain,
    })
}

/// Sets (or, with neither limit, removes) the critical limits of one analyte of a catalog
/// test.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn set_critical_limits(
    ctx: &RequestContext,
    test_id: Uuid,
    analyte_code: &str,
    low: Option<f64>,
    high: Option<f64>,
) -> ServiceResult<Option<critical_limit::Model>> {
    let what = SET_LIMITS.entity(test_id);
    let tenant_id = require(ctx, MAINTAINERS, what, None)?;
    let fail = |e| ctx.failed(what, None, e);
    fields::range("input", low, high).map_err(fail)?;
    let work = ctx.begin_write().await?;
    let analyte = catalog_analyte::Entity::find()
        .filter(catalog_analyte::Column::TenantId.eq(tenant_id))
        .filter(catalog_analyte::Column::TestId.eq(test_id))
        .filter(catalog_analyte::Column::Code.eq(analyte_code))
        .one(work.txn())
        .await?;
    let code = analyte
        .ok_or_else(|| fail(ServiceError::NotFound("analyte of the catalog test")))?
        .code;
    let current = critical_limit::Entity::find()
        .filter(critical_limit::Column::TenantId.eq(tenant_id))
        .filter(critical_limit::Column::TestId.eq(test_id))
        .filter(critical_limit::Column::AnalyteCode.eq(code.as_str()))
        .one(work.txn())
        .await?;
    let (row, change) = match (current, low.is_some() || high.is_some()) {
        (None, false) => (None, Change::Unchanged),
        (Some(c), false) => {
            critical_limit::Entity::delete_by_id(c.id)
                .exec(work.txn())
                .await?;
            (None, Change::Updated)
        }
        (Some(c), true) if (c.critical_low, c.critical_high) == (low, high) => {
            (Some(c), Change::Unchanged)
        }
        (current, true) => {
            let row = critical_limit::Model {
                id: current.as_ref().map_or_else(Uuid::now_v7, |c| c.id),
                tenant_id,
                test_id,
                analyte_code: code,
                critical_low: low,
                critical_high: high,
            };
            if current.is_some() {
                critical_limit::Entity::update(row.clone().into_active_model())
                    .exec(work.txn())
                    .await?;
            } else {
                critical_limit::Entity::insert(row.clone().into_active_model())
                    .exec_without_returning(work.txn())
                    .await?;
            }
            (
                Some(row),
                if current.is_some() {
                    Change::Updated
                } else {
                    Change::Created
                },
            )
        }
    };
    work.commit().await?;
    done(ctx, what, None, change);
    Ok(row)
}

/// The critical limits of a test's analytes.
pub async fn limits<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    test_id: Uuid,
) -> ServiceResult<Vec<critical_limit::Model>> {
    Ok(critical_limit::Entity::find()
        .filter(critical_limit::Column::TenantId.eq(tenant_id))
        .filter(critical_limit::Column::TestId.eq(test_id))
        .all(db)
        .await?)
}
