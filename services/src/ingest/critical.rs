//! Critical values of a stored result version raise, update or close alerts in the result's
//! own transaction (added to its writes, with an outbox event each and the first delivery
//! job on the queue): FINAL, CORRECTED and PRELIMINARY versions, from every path that stores
//! results (GraphQL, batch, HL7). The patient's release is not touched.

use std::collections::HashMap;

use portal_entities::{
    CriticalAlertStatus, CriticalJobStatus, Interpretation, ResultStatus, critical_alert,
    critical_alert_job, facility, observation, outbox_event, test_order, test_result,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryTrait,
};
use uuid::Uuid;

use super::NewObservation;
use super::validate::Known;
use super::write::Writes;
use crate::master::escalation::{self, CriticalSettings};
use portal_core::error::ServiceResult;

pub const ALERT_RAISED: &str = "critical.raised";
pub const ALERT_UPDATED: &str = "critical.updated";
pub const ALERT_CLOSED: &str = "critical.closed";

/// Why an observation is critical, if it is: the lab's flag, else the catalog's limits.
pub fn critical_flag(
    obs: &observation::Model,
    lab_interpretation: Option<Interpretation>,
    limits: Option<(Option<f64>, Option<f64>)>,
) -> Option<String> {
    let flags: Vec<&str> = obs
        .abnormal_flags
        .as_deref()
        .map(|f| f.split('~').collect())
        .unwrap_or_default();
    if let Some(flag) = flags.iter().find(|f| matches!(**f, "LL" | "HH" | "AA")) {
        return Some((*flag).to_owned());
    }
    match lab_interpretation {
        Some(Interpretation::CriticalLow) => return Some("CRITICAL_LOW".into()),
        Some(Interpretation::CriticalHigh) => return Some("CRITICAL_HIGH".into()),
        _ => {}
    }
    if !flags.is_empty() || lab_interpretation.is_some() {
        // The lab flagged the value and did not call it critical.
        return None;
    }
    let (low, high) = limits?;
    let value = obs.value_numeric?;
    match (low, high) {
        (Some(l), _) if value <= l => Some("LIMIT_LOW".into()),
        (_, Some(h)) if value >= h => Some("LIMIT_HIGH".into()),
        _ => None,
    }
}

/// The facility whose switch, delay and chain an order's alerts follow: the ordering facility
/// when the order names one the portal knows (by name), else the order's facility.
async fn chain_facility<C: ConnectionTrait>(
    db: &C,
    order: &test_order::Model,
) -> ServiceResult<Uuid> {
    if let Some(name) = &order.ordering_facility_name {
        let known = facility::Entity::find()
            .filter(facility::Column::TenantId.eq(order.tenant_id))
            .filter(facility::Column::Name.eq(name.as_str()))
            .one(db)
            .await?;
        if let Some(f) = known {
            return Ok(f.id);
        }
    }
    Ok(order.facility_id)
}

/// Adds the alert writes of one stored version to `writes`: raised for a critical analyte
/// without an open alert, updated for one with, closed for an analyte reported again and no
/// longer critical (or every open alert of the order when the version withdraws it).
pub(super) async fn plan<C: ConnectionTrait>(
    db: &C,
    known: &mut Known,
    writes: &mut Writes,
    order: &test_order::Model,
    result: &test_result::Model,
    observations: &[observation::Model],
    given: &[NewObservation],
) -> ServiceResult<()> {
    let tenant = result.tenant_id;
    if result.status == ResultStatus::EnteredInError {
        for alert in open_alerts(db, tenant, order.id).await?.values() {
            close(writes, alert, result, "result entered in error");
        }
        return Ok(());
    }
    let facility_id = chain_facility(db, order).await?;
    // One read when the switch is off (the default): nothing else is looked up.
    let enabled = match known.critical_switches.get(&facility_id) {
        Some(enabled) => *enabled,
        None => {
            let enabled = escalation::enabled(db, tenant, facility_id).await?;
            known.critical_switches.insert(facility_id, enabled);
            enabled
        }
    };
    if !enabled {
        return Ok(());
    }
    let settings = escalation::settings(db, tenant, facility_id).await?;
    let open = open_alerts(db, tenant, order.id).await?;
    let limits: HashMap<String, (Option<f64>, Option<f64>)> =
        escalation::limits(db, tenant, result.test_id)
            .await?
            .into_iter()
            .map(|l| (l.analyte_code, (l.critical_low, l.critical_high)))
            .collect();
    for obs in observations {
        let lab = given
            .iter()
            .find(|g| g.code == obs.code)
            .and_then(|g| g.interpretation);
        let flag = critical_flag(obs, lab, limits.get(&obs.code).copied());
        match (flag, open.get(&obs.code)) {
            (Some(flag), Some(alert)) => update(writes, alert, result, &flag),
            (Some(flag), None) => raise(writes, order, result, &obs.code, &flag, &settings),
            (None, Some(alert)) => close(
                writes,
                alert,
                result,
                &format!(
                    "no longer critical in the {} version",
                    status_word(result.status)
                ),
            ),
            (None, None) => {}
        }
    }
    Ok(())
}

fn status_word(status: ResultStatus) -> &'static str {
    match status {
        ResultStatus::Preliminary => "preliminary",
        ResultStatus::Final => "final",
        ResultStatus::Corrected => "corrected",
        ResultStatus::EnteredInError => "entered-in-error",
    }
}

async fn open_alerts<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    order_id: Uuid,
) -> ServiceResult<HashMap<String, critical_alert::Model>> {
    Ok(critical_alert::Entity::find()
        .filter(critical_alert::Column::TenantId.eq(tenant))
        .filter(critical_alert::Column::OrderId.eq(order_id))
        .filter(critical_alert::Column::Status.eq(CriticalAlertStatus::Open))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.analyte_code.clone(), a))
        .collect())
}

/// Who an alert goes to first: the ordering clinician, else the referring one (step 0),
/// else the facility's first chain step (step 1), else nobody (counted by a metric).
pub fn first_addressee(
    order: &test_order::Model,
    settings: &CriticalSettings,
) -> (i32, Option<Uuid>, Option<String>) {
    if let Some(id) = order.ordering_clinician_id {
        return (0, Some(id), Some("ordering clinician".into()));
    }
    if let Some(id) = order.referring_clinician_id {
        return (0, Some(id), Some("referring clinician".into()));
    }
    match settings.chain.first() {
        Some(step) => (step.position, step.clinician_id, Some(step.label.clone())),
        None => (0, None, None),
    }
}

fn raise(
    writes: &mut Writes,
    order: &test_order::Model,
    result: &test_result::Model,
    code: &str,
    flag: &str,
    settings: &CriticalSettings,
) {
    let now = portal_core::clock::now();
    let (step, addressee, label) = first_addressee(order, settings);
    let alert = critical_alert::Model {
        id: Uuid::now_v7(),
        tenant_id: result.tenant_id,
        patient_id: result.patient_id,
        order_id: order.id,
        result_id: result.id,
        analyte_code: code.to_owned(),
        flag: flag.to_owned(),
        status: CriticalAlertStatus::Open,
        step,
        facility_id: settings.facility_id,
        addressee_clinician_id: addressee,
        addressee_label: label,
        raised_at: now,
        updated_at: now,
        acknowledged_at: None,
        acknowledged_by_clinician_id: None,
        acknowledged_by_subject: None,
        read_back: None,
        closed_at: None,
        close_reason: None,
    };
    writes.insert([alert.clone().into_active_model()]);
    event(writes, &alert, ALERT_RAISED);
    // The first delivery: the addressee now. It schedules the next step when it runs.
    writes.statement(
        critical_alert_job::Entity::insert(job(&alert, step, now).into_active_model())
            .on_conflict(
                OnConflict::columns([
                    critical_alert_job::Column::AlertId,
                    critical_alert_job::Column::Step,
                ])
                .do_nothing()
                .to_owned(),
            )
            .into_query(),
    );
}

/// A queue row for `step` of `alert`, due at `due`.
pub fn job(
    alert: &critical_alert::Model,
    step: i32,
    due: chrono::DateTime<chrono::Utc>,
) -> critical_alert_job::Model {
    critical_alert_job::Model {
        id: Uuid::now_v7(),
        tenant_id: alert.tenant_id,
        alert_id: alert.id,
        step,
        status: CriticalJobStatus::Ready,
        run_at: due,
        due_at: due,
        attempts: 0,
        last_error: None,
        created_at: portal_core::clock::now(),
        done_at: None,
    }
}

fn update(
    writes: &mut Writes,
    alert: &critical_alert::Model,
    result: &test_result::Model,
    flag: &str,
) {
    let now = portal_core::clock::now();
    writes.update(
        critical_alert::Entity::update_many()
            .col_expr(critical_alert::Column::ResultId, Expr::value(result.id))
            .col_expr(critical_alert::Column::Flag, Expr::value(flag))
            .col_expr(critical_alert::Column::UpdatedAt, Expr::value(now))
            .filter(critical_alert::Column::TenantId.eq(alert.tenant_id))
            .filter(critical_alert::Column::Id.eq(alert.id))
            .filter(critical_alert::Column::Status.eq(CriticalAlertStatus::Open))
            .into_query(),
    );
    let updated = critical_alert::Model {
        result_id: result.id,
        flag: flag.to_owned(),
        updated_at: now,
        ..alert.clone()
    };
    event(writes, &updated, ALERT_UPDATED);
}

fn close(
    writes: &mut Writes,
    alert: &critical_alert::Model,
    result: &test_result::Model,
    reason: &str,
) {
    let now = portal_core::clock::now();
    writes.update(
        critical_alert::Entity::update_many()
            .col_expr(critical_alert::Column::ResultId, Expr::value(result.id))
            .col_expr(
                critical_alert::Column::Status,
                Expr::value(CriticalAlertStatus::Closed),
            )
            .col_expr(critical_alert::Column::ClosedAt, Expr::value(now))
            .col_expr(critical_alert::Column::CloseReason, Expr::value(reason))
            .col_expr(critical_alert::Column::UpdatedAt, Expr::value(now))
            .filter(critical_alert::Column::TenantId.eq(alert.tenant_id))
            .filter(critical_alert::Column::Id.eq(alert.id))
            .filter(critical_alert::Column::Status.eq(CriticalAlertStatus::Open))
            .into_query(),
    );
    let closed = critical_alert::Model {
        result_id: result.id,
        status: CriticalAlertStatus::Closed,
        closed_at: Some(now),
        close_reason: Some(reason.to_owned()),
        updated_at: now,
        ..alert.clone()
    };
    event(writes, &closed, ALERT_CLOSED);
}

/// The outbox event of an alert change (one builder, shared with the escalation worker).
pub fn event_row(alert: &critical_alert::Model, event_type: &str) -> outbox_event::Model {
    portal_messaging::critical::alert_event(alert, event_type)
}

fn event(writes: &mut Writes, alert: &critical_alert::Model, event_type: &str) {
    writes.insert([event_row(alert, event_type).into_active_model()]);
}
