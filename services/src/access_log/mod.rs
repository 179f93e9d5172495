//! A patient's access history (`Patient.accessLog`): who looked at or changed their record,
//! what kind of record, when, how it ended, and what left the portal (disclosures, 45 CFR
//! 164.528). Read straight from the audit trail — the rows the chain check verifies — in
//! the patient's tenant, one indexed statement per page (`idx_audit_events_patient_history`).
//! See docs/patients.md, "Access history".

pub mod kinds;
pub mod who;

use chrono::{DateTime, Utc};
use portal_entities::{ResultStatus, audit_event, patient};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, FromQueryResult, Order, QueryFilter, QueryResult, QuerySelect,
};
use tracing::instrument;

use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest, PatientList};
use portal_core::release::ReleaseRule;

pub use kinds::{EntryOutcome, RecordKind};
pub use who::{Actor, ActorRole};

const READ: Access = Access::read("access_log.read", "AccessLog");

/// The filters of `Patient.accessLog`.
#[derive(Debug, Clone, Default)]
pub struct AccessLogFilter {
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// At or before.
    pub until: Option<DateTime<Utc>>,
    /// Any of these kinds; `None` for every kind.
    pub kinds: Option<Vec<RecordKind>>,
}

/// Where a disclosure went and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    pub recipient: String,
    pub purpose: String,
}

/// One entry of the history.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub kind: RecordKind,
    /// "results", a result's test name ("Hemoglobin A1c"), "a result", …
    pub what: String,
    /// The result's test name, when the entry is about one result the viewer may see now.
    pub result_name: Option<String>,
    pub outcome: EntryOutcome,
    pub disclosure: Option<Disclosure>,
}

/// The patient's history, newest first. Needs the `ACCESS_LOG` scope (the patient, a proxy
/// granted it, staff and admins); the read is itself audited (`access_log.read`).
#[instrument(skip(ctx, parent, patient, filter, page), fields(request_id = %ctx.request_id))]
pub async fn list(
    ctx: &RequestContext,
    parent: &PatientAccess,
    patient: &patient::Model,
    filter: &AccessLogFilter,
    page: &PageRequest,
) -> ServiceResult<Page<Entry>> {
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since > until
    {
        return Err(ServiceError::bad_input(
            "filter.since",
            "since must not be after until",
        ));
    }
    let viewer = ctx.viewer()?;
    let access = access::confirm(ctx, parent, Scope::AccessLog, READ)?;
    // Every read of the record adds to the history: an answer is never reused.
    ctx.note_until(portal_core::clock::now());
    let rule = ReleaseRule::for_request(ctx, &access).await?;
    let mut select = audit_event::Entity::find()
        .filter(audit_event::Column::PatientId.is_not_null())
        .expr_as(Expr::cust(CLINICIAN), "portal_clinician")
        .expr_as(Expr::cust(PROXY), "portal_proxy")
        .expr_as(Expr::cust(ORGANISATION), "portal_organisation")
        .expr_as(Expr::cust(result_name(&access, rule)), "portal_result");
    if let Some(since) = filter.since {
        select = select.filter(audit_event::Column::OccurredAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(audit_event::Column::OccurredAt.lte(until));
    }
    if let Some(kinds) = &filter.kinds {
        select = select.filter(RecordKind::condition(kinds));
    }
    let list = PatientList {
        tenant: audit_event::Column::TenantId,
        patient: audit_event::Column::PatientId,
        sort: Keyset {
            key: audit_event::Column::OccurredAt,
            id: audit_event::Column::Id,
            kind: KeyKind::Time,
            order: Order::Desc,
        },
    };
    let rows = list
        .fetch_into(ctx.db(), &access, select, page, |row: &Row| &row.event)
        .await?;
    let patient_name = format!("{} {}", patient.given_name, patient.family_name);
    let reader = who::Reader {
        viewer_subject: &viewer.subject,
        patient_subject: patient.user_subject.as_deref(),
        patient_name: &patient_name,
    };
    Ok(rows.map(|row| entry(row, &reader)))
}

// Names that go with each row, looked up in the same statement (correlated on the row).
const CLINICIAN: &str = "(SELECT c.display_name FROM clinicians c \
     WHERE c.tenant_id = audit_events.tenant_id AND c.user_subject = audit_events.subject)";
const PROXY: &str = "(SELECT g.grantee_name FROM proxy_grants g \
     WHERE g.tenant_id = audit_events.tenant_id AND g.patient_id = audit_events.patient_id \
     AND g.grantee_subject = audit_events.subject ORDER BY g.created_at DESC LIMIT 1)";
const ORGANISATION: &str = "(SELECT t.name FROM tenants t WHERE t.id = audit_events.tenant_id)";

/// The test name of the result a row is about, only when the viewer may see that result now:
/// the patient and their proxies see released results (not withdrawn, not held as
/// sensitive); anyone else every result that was not withdrawn.
fn result_name(access: &PatientAccess, rule: ReleaseRule) -> String {
    let status = |s: ResultStatus| match s {
        ResultStatus::Final => "'FINAL'",
        ResultStatus::Corrected => "'CORRECTED'",
        _ => "'ENTERED_IN_ERROR'",
    };
    let visible = if access.is_patient_facing() {
        let released = format!(
            "r.status IN ({}, {})",
            status(ResultStatus::Final),
            status(ResultStatus::Corrected)
        );
        if rule.holds_sensitive() {
            format!("{released} AND NOT tc.sensitive")
        } else {
            released
        }
    } else {
        format!("r.status <> {}", status(ResultStatus::EnteredInError))
    };
    format!(
        "(SELECT tc.display_name FROM test_results r \
         JOIN test_catalog tc ON tc.tenant_id = r.tenant_id AND tc.id = r.test_id \
         WHERE audit_events.entity_type = 'TestResult' AND r.tenant_id = audit_events.tenant_id \
         AND r.patient_id = audit_events.patient_id AND r.id = audit_events.entity_id \
         AND {visible})"
    )
}

/// An audit row with the names the page query brought along.
pub struct Row {
    event: audit_event::Model,
    clinician: Option<String>,
    proxy: Option<String>,
    organisation: Option<String>,
    result: Option<String>,
}

impl FromQueryResult for Row {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            event: audit_event::Model::from_query_result(row, pre)?,
            clinician: row.try_get(pre, "portal_clinician")?,
            proxy: row.try_get(pre, "portal_proxy")?,
            organisation: row.try_get(pre, "portal_organisation")?,
            result: row.try_get(pre, "portal_result")?,
        })
    }
}

fn entry(row: Row, reader: &who::Reader<'_>) -> Entry {
    let names = who::Names {
        clinician: row.clinician.as_deref(),
        proxy: row.proxy.as_deref(),
        organisation: row.organisation.as_deref(),
    };
    let actor = who::actor(&row.event, &names, reader);
    let event = &row.event;
    let kind = RecordKind::of(&event.action);
    let about_result = event.entity_type == "TestResult" && event.entity_id.is_some();
    let what = match (kind, about_result, &row.result) {
        (_, true, Some(name)) => name.clone(),
        (_, true, None) => "a result".to_owned(),
        (kind, false, _) => describe(kind).to_owned(),
    };
    let disclosure = kind
        .is_disclosure()
        .then(|| disclosure(kind, event, &actor));
    Entry {
        at: event.occurred_at,
        outcome: EntryOutcome::of(&event.action, kind, event.outcome),
        kind,
        what,
        result_name: if about_result { row.result } else { None },
        disclosure,
        actor,
    }
}

fn describe(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Results => "results",
        RecordKind::Appointments => "appointments",
        RecordKind::Coverage => "coverage and claims",
        RecordKind::Profile => "profile",
        RecordKind::Account => "account settings",
        RecordKind::Export => "an export of the record",
        RecordKind::AccessLog => "the access history",
        RecordKind::PublicHealthReport => "a result",
        RecordKind::ResultLink => "a result",
        RecordKind::Other => "the record",
    }
}

/// Recipient and purpose of a disclosure. A public-health row names its receiver (the
/// endpoint's host) in `reason`; an export's recipient is whoever took it.
fn disclosure(kind: RecordKind, event: &audit_event::Model, actor: &Actor) -> Disclosure {
    let (recipient, purpose) = match kind {
        RecordKind::PublicHealthReport => (
            format!(
                "public-health authority ({})",
                event.reason.as_deref().unwrap_or("the configured receiver")
            ),
            "public-health reporting required by law".to_owned(),
        ),
        RecordKind::ResultLink => (
            "the patient, by a link sent to the phone or email on file".to_owned(),
            "delivering a result to the patient".to_owned(),
        ),
        _ => (
            actor.display(),
            "a copy of the record requested through the portal".to_owned(),
        ),
    };
    Disclosure { recipient, purpose }
}
