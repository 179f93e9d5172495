//! Critical results in GraphQL: the alerts (`criticalAlerts`, `CriticalAlert`),
//! `acknowledgeCriticalResult`, and the master data they run on (clinician contacts, a
//! facility's switch and escalation chain, catalog critical limits). Each field calls one
//! service of `portal_services::critical` or `portal_services::master::escalation`.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use portal_entities::{
    self as db, clinician_contact, critical_alert, critical_limit, escalation_step,
};
use portal_services::critical;
use portal_services::master::escalation::{
    self, ContactPatch, CriticalSettings, CriticalSettingsPatch, StepInput,
};
use portal_services::master::{Patch, blank_clears};

use crate::context::request;
use crate::error::GqlResult;
use crate::ids::{NodeType, decode, encode};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::CriticalAlertStatus")]
pub enum CriticalAlertStatus {
    Open,
    Acknowledged,
    Closed,
}

/// A critical value of one analyte of an order, for clinicians and staff (never patients):
/// whom it is addressed to, and who acknowledged it, when, with which read-back. The value
/// itself is read through the result (`resultId`), under the result's access rules.
pub struct CriticalAlert(pub critical_alert::Model);

#[Object]
impl CriticalAlert {
    pub async fn id(&self) -> ID {
        encode(NodeType::CriticalAlert, self.0.id)
    }
    async fn status(&self) -> CriticalAlertStatus {
        self.0.status.into()
    }
    /// Why the value is critical: the lab's flag (`LL`, `HH`, `AA`, `CRITICAL_LOW`,
    /// `CRITICAL_HIGH`) or the catalog's limits (`LIMIT_LOW`, `LIMIT_HIGH`).
    async fn flag(&self) -> &str {
        &self.0.flag
    }
    async fn analyte_code(&self) -> &str {
        &self.0.analyte_code
    }
    async fn patient_id(&self) -> ID {
        encode(NodeType::Patient, self.0.patient_id)
    }
    async fn order_id(&self) -> ID {
        encode(NodeType::TestOrder, self.0.order_id)
    }
    /// The latest result version that raised, updated or closed the alert.
    async fn result_id(&self) -> ID {
        encode(NodeType::TestResult, self.0.result_id)
    }
    /// 0 while addressed to the ordering (or referring) clinician; n at escalation step n.
    async fn step(&self) -> i32 {
        self.0.step
    }
    async fn addressee_clinician_id(&self) -> Option<ID> {
        self.0
            .addressee_clinician_id
            .map(|id| encode(NodeType::Clinician, id))
    }
    /// "ordering clinician", "referring clinician" or the chain step's label.
    async fn addressee_label(&self) -> Option<&str> {
        self.0.addressee_label.as_deref()
    }
    async fn raised_at(&self) -> DateTime<Utc> {
        self.0.raised_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
    async fn acknowledged_by_clinician_id(&self) -> Option<ID> {
        self.0
            .acknowledged_by_clinician_id
            .map(|id| encode(NodeType::Clinician, id))
    }
    async fn read_back(&self) -> Option<&str> {
        self.0.read_back.as_deref()
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    async fn close_reason(&self) -> Option<&str> {
        self.0.close_reason.as_deref()
    }
}

#[derive(Default)]
pub struct CriticalQuery;

#[Object]
impl CriticalQuery {
    /// Critical-result alerts, newest first: a clinician's own (addressed to them now or at
    /// an earlier step), or all of the organisation's for staff and admins. `after` is the
    /// id of the last alert of the previous page.
    async fn critical_alerts(
        &self,
        ctx: &Context<'_>,
        status: Option<CriticalAlertStatus>,
        first: Option<i32>,
        after: Option<ID>,
    ) -> Result<Vec<CriticalAlert>> {
        let after = after
            .map(|id| decode(&id, NodeType::CriticalAlert, "after"))
            .transpose()
            .gql()?;
        let first = first.unwrap_or(20).clamp(1, critical::MAX_PAGE as i32) as u64;
        let rows = critical::list(request(ctx)?, status.map(Into::into), first, after)
            .await
            .gql()?;
        Ok(rows.into_iter().map(CriticalAlert).collect())
    }
}

#[derive(SimpleObject)]
pub struct AcknowledgeCriticalResultPayload {
    pub alert: CriticalAlert,
}

/// How a clinician is reached with a critical result.
#[derive(SimpleObject)]
pub struct ClinicianContact {
    pub clinician_id: ID,
    pub email: Option<String>,
    pub sms_phone: Option<String>,
    pub on_call: bool,
}

impl From<clinician_contact::Model> for ClinicianContact {
    fn from(m: clinician_contact::Model) -> Self {
        Self {
            clinician_id: encode(NodeType::Clinician, m.clinician_id),
            email: m.email,
            sms_phone: m.sms_phone,
            on_call: m.on_call,
        }
    }
}

#[derive(InputObject)]
pub struct ClinicianContactInput {
    pub email: MaybeUndefined<String>,
    /// E.164 or national digits, as a facility phone.
    pub sms_phone: MaybeUndefined<String>,
    pub on_call: Option<bool>,
}

fn text(value: MaybeUndefined<String>) -> Patch<String> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => blank_clears(Some(v)),
    }
}

#[derive(SimpleObject)]
pub struct EscalationStep {
    pub position: i32,
    pub clinician_id: Option<ID>,
    pub label: String,
    pub phone: Option<String>,
}

impl From<escalation_step::Model> for EscalationStep {
    fn from(m: escalation_step::Model) -> Self {
        Self {
            position: m.position,
            clinician_id: m.clinician_id.map(|id| encode(NodeType::Clinician, id)),
            label: m.label,
            phone: m.phone,
        }
    }
}

/// A facility's critical-results configuration.
#[derive(SimpleObject)]
pub struct CriticalResultSettings {
    pub facility_id: ID,
    /// Off unless set: a lab that phones critical values itself is not doubled.
    pub enabled: bool,
    /// How long an alert waits for an acknowledgement before the next step.
    pub escalation_seconds: i32,
    pub chain: Vec<EscalationStep>,
}

impl From<CriticalSettings> for CriticalResultSettings {
    fn from(s: CriticalSettings) -> Self {
        Self {
            facility_id: encode(NodeType::Facility, s.facility_id),
            enabled: s.enabled,
            escalation_seconds: s.escalation_seconds,
            chain: s.chain.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(InputObject)]
pub struct EscalationStepInput {
    pub clinician_id: Option<ID>,
    /// What the step is, e.g. "Lab supervisor".
    pub label: String,
    /// An on-call number, for a step that is no clinician.
    pub phone: Option<String>,
}

#[derive(InputObject)]
pub struct CriticalResultSettingsInput {
    pub enabled: Option<bool>,
    pub escalation_seconds: Option<i32>,
    /// Replaces the chain when given (in order: first step first).
    pub chain: Option<Vec<EscalationStepInput>>,
}

#[derive(SimpleObject)]
pub struct CriticalLimit {
    pub analyte_code: String,
    pub critical_low: Option<f64>,
    pub critical_high: Option<f64>,
}

impl From<critical_limit::Model> for CriticalLimit {
    fn from(m: critical_limit::Model) -> Self {
        Self {
            analyte_code: m.analyte_code,
            critical_low: m.critical_low,
            critical_high: m.critical_high,
        }
    }
}

#[derive(Default)]
pub struct CriticalMutation;

#[Object]
impl CriticalMutation {
    /// Records that the viewing clinician took the critical value, with the read-back they
    /// gave. Only a clinician the alert is or was addressed to; acknowledging again returns
    /// the first acknowledgement.
    async fn acknowledge_critical_result(
        &self,
        ctx: &Context<'_>,
        alert_id: ID,
        read_back: String,
    ) -> Result<AcknowledgeCriticalResultPayload> {
        let id = decode(&alert_id, NodeType::CriticalAlert, "alertId").gql()?;
        let row = critical::ack::acknowledge(request(ctx)?, id, &read_back)
            .await
            .gql()?;
        Ok(AcknowledgeCriticalResultPayload {
            alert: CriticalAlert(row),
        })
    }

    /// Sets a clinician's contact channels for critical results and on-call flag (staff,
    /// admin).
    async fn set_clinician_contact(
        &self,
        ctx: &Context<'_>,
        clinician_id: ID,
        input: ClinicianContactInput,
    ) -> Result<ClinicianContact> {
        let id = decode(&clinician_id, NodeType::Clinician, "clinicianId").gql()?;
        let patch = ContactPatch {
            email: text(input.email),
            sms_phone: text(input.sms_phone),
            on_call: input.on_call,
        };
        let row = escalation::set_clinician_contact(request(ctx)?, id, patch)
            .await
            .gql()?;
        Ok(row.into())
    }

    /// Sets a facility's critical-results switch, escalation delay and chain (staff, admin).
    async fn set_critical_result_settings(
        &self,
        ctx: &Context<'_>,
        facility_id: ID,
        input: CriticalResultSettingsInput,
    ) -> Result<CriticalResultSettings> {
        let id = decode(&facility_id, NodeType::Facility, "facilityId").gql()?;
        let chain = match input.chain {
            Some(steps) => Some(
                steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        Ok(StepInput {
                            clinician_id: s
                                .clinician_id
                                .map(|c| {
                                    decode(
                                        &c,
                                        NodeType::Clinician,
                                        &format!("input.chain[{i}].clinicianId"),
                                    )
                                })
                                .transpose()?,
                            label: s.label,
                            phone: s.phone,
                        })
                    })
                    .collect::<Result<Vec<_>, portal_services::ServiceError>>()
                    .gql()?,
            ),
            None => None,
        };
        let patch = CriticalSettingsPatch {
            enabled: input.enabled,
            escalation_seconds: input.escalation_seconds,
            chain,
        };
        let settings = escalation::set_critical_settings(request(ctx)?, id, patch)
            .await
            .gql()?;
        Ok(settings.into())
    }

    /// Sets the critical limits of one analyte of a catalog test, used when the lab sends no
    /// flag; neither limit removes them (staff, admin).
    async fn set_critical_limits(
        &self,
        ctx: &Context<'_>,
        test_id: ID,
        analyte_code: String,
        critical_low: Option<f64>,
        critical_high: Option<f64>,
    ) -> Result<Option<CriticalLimit>> {
        let id = decode(&test_id, NodeType::TestCatalogItem, "testId").gql()?;
        let row = escalation::set_critical_limits(
            request(ctx)?,
            id,
            &analyte_code,
            critical_low,
            critical_high,
        )
        .await
        .gql()?;
        Ok(row.map(Into::into))
    }
}
