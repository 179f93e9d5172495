//! ORU^R01: results, lab and imaging, through `portal_services::ingest` (the same path as
//! `addTestResult`). Each ORC/OBR group is one result under a savepoint of the message's
//! transaction: P/F add (or complete) the result of the order its filler number, else its
//! placer number and test identify, C corrects its current version, OBX-11 W on every
//! observation marks it entered in error, X cancels the order. Every group's problem is
//! collected (one ERR each); a refused group undoes the whole message unless the sending
//! facility accepts valid groups. A group carries an idempotency key (message row, OBR
//! sequence), so a resent or replayed message never stores a result twice.

use portal_core::RequestContext;
use portal_entities::{
    Interpretation, OrderSource, ResultStatus, TestCategory, facility, hl7_message, patient,
};
use portal_hl7::messages::{
    AbnormalFlag, Clinician, Header, Observation, ObservationStatus, ObservationValue, OrderGroup,
    OruR01, ResultStatus as Obr25,
};
use portal_hl7::{ErrorCode, Issue, Location, Message};
use portal_services::ServiceError;
use portal_services::appointments::scheduling;
use portal_services::directory::code_map::{self, CodeMapEntry};
use portal_services::ingest::{
    self, Correction, ExternalOrder, NewImagingReport, NewObservation, NewOrder, NewResult,
    OrderNumbers, OrderRef,
};
use uuid::Uuid;

use crate::codes;
use crate::details;
use crate::failure::{Applied, Failure, Kind};
use crate::{lookup, patient_match};

/// LOINC "Radiology Imaging study [Impression] (narrative)": the impression of a report.
const IMPRESSION: &str = "19005-8";
/// DICOM "Other" modality, when OBR-24 does not say.
const UNKNOWN_MODALITY: &str = "OT";
const MAX_REASON: usize = 2_000;

pub async fn apply(
    ctx: &RequestContext,
    message: &Message,
    oru: &OruR01,
    row: &hl7_message::Model,
    public_url: Option<&str>,
) -> Result<Applied, Failure> {
    let tenant = tenant(ctx)?;
    let matched =
        patient_match::oru_patient(ctx, tenant, message, &oru.header, &oru.patient, row.id).await?;
    let sender = lookup::sender(ctx, tenant, oru.header.sending_facility.as_ref())
        .await
        .map_err(|e| Failure::from_service(e, |_| Location::field("MSH", 1, 4)))?;
    let code_map = sender.as_ref().map(code_map::of).unwrap_or_default();
    let accept_valid = sender.as_ref().is_some_and(|f| f.accept_valid_groups);
    let mut applied = Applied::default();
    let mut refused = Vec::new();
    for group in &oru.orders {
        let group = Group {
            ctx,
            tenant,
            message,
            header: &oru.header,
            group,
            patient: &matched.patient,
            sender: sender.as_ref(),
            code_map: &code_map,
            key: format!("hl7:{}:{}", row.id, group.obr_sequence),
            resent: row.attempts > 1,
        };
        match group.apply_alone(&mut applied, accept_valid).await {
            Ok(()) => {}
            Err(failure) if failure.kind == Kind::Content => refused.push(failure.issue),
            Err(failure) => return Err(failure),
        }
    }
    if !refused.is_empty() && !accept_valid {
        // Nothing of a refused message is kept (the interface rolls it back).
        applied.changed = false;
    }
    applied.refused = refused;
    if let Some(warning) = patient_match::send_walk_in_links(ctx, &matched, public_url).await {
        applied.warnings.push(warning);
    }
    Ok(applied)
}

fn tenant(ctx: &RequestContext) -> Result<Uuid, Failure> {
    ctx.tenant().ok_or_else(Failure::system)
}

/// One ORC/OBR group being applied.
struct Group<'a> {
    ctx: &'a RequestContext,
    tenant: Uuid,
    message: &'a Message,
    header: &'a Header,
    group: &'a OrderGroup,
    patient: &'a patient::Model,
    /// The sending facility (MSH-4), when it is one of the portal's.
    sender: Option<&'a facility::Model>,
    /// The sending facility's local codes mapped to catalog codes.
    code_map: &'a [CodeMapEntry],
    key: String,
    /// The message came before (resent or replayed): a group may be stored already.
    resent: bool,
}

impl Group<'_> {
    /// Applies the group. For a sender that accepts valid groups it runs under a savepoint
    /// of its own, so a refused group leaves nothing behind while the others stay; otherwise
    /// the message's savepoint undoes the whole message when any group is refused, and the
    /// group's write is a savepoint of its own (the service's transaction).
    async fn apply_alone(&self, applied: &mut Applied, own_savepoint: bool) -> Result<(), Failure> {
        let savepoint = match own_savepoint {
            true => Some(self.ctx.begin_write().await.map_err(|error| {
                tracing::warn!(error = %error, "hl7.apply could not open a group's savepoint");
                Failure::system()
            })?),
            false => None,
        };
        let mut own = Applied::default();
        let result = self.apply(&mut own).await;
        let ended = match (savepoint, &result) {
            (None, _) => Ok(()),
            (Some(savepoint), Ok(())) => savepoint.commit().await,
            (Some(savepoint), Err(_)) => savepoint.rollback().await,
        };
        if let Err(error) = ended {
            tracing::warn!(error = %error, "hl7.apply could not end a group's savepoint");
            return Err(Failure::system());
        }
        result?;
        applied.changed |= own.changed;
        applied.warnings.extend(own.warnings);
        Ok(())
    }

    async fn apply(&self, applied: &mut Applied) -> Result<(), Failure> {
        if self.resent
            && ingest::stored_under_key(self.ctx, &self.key)
                .await
                .map_err(|e| self.failure(e))?
        {
            return Ok(());
        }
        let numbers = OrderNumbers {
            placer: self.group.placer_order.as_ref().map(|e| e.id.clone()),
            filler: self.group.filler_order.as_ref().map(|e| e.id.clone()),
            test_code: self.test_code(),
        };
        let existing = ingest::find_order(self.ctx, self.patient.id, &numbers)
            .await
            .map_err(|e| self.failure(e))?;
        let withdrawn = !self.group.observations.is_empty()
            && self
                .group
                .observations
                .iter()
                .all(|o| o.status == ObservationStatus::Wrong);
        let stored = match (self.group.status, existing) {
            (_, Some(order)) if withdrawn => {
                let current = self.current(&order).await?;
                ingest::mark_entered_in_error(self.ctx, current, &self.reason("entered in error"))
                    .await
                    .map(|s| !s.replayed)
            }
            (Obr25::Cancelled, Some(order)) => {
                ingest::cancel_order(self.ctx, order.id).await.map(|_| true)
            }
            (Obr25::Corrected, Some(order)) => {
                let current = self.current(&order).await?;
                let correction = self.correction().await?;
                ingest::correct_result(self.ctx, current, correction, &self.reason("corrected"))
                    .await
                    .map(|s| !s.replayed)
            }
            (Obr25::Preliminary | Obr25::Final, existing) => {
                let input = self.new_result(existing.map(|o| o.id), applied).await?;
                ingest::add_result(self.ctx, input)
                    .await
                    .map(|s| !s.replayed)
            }
            (_, None) => return Err(self.unknown_order()),
        };
        applied.changed |= stored.map_err(|e| self.failure(e))?;
        Ok(())
    }

    /// The result a correction or withdrawal replaces: the order's current one.
    async fn current(&self, order: &portal_entities::test_order::Model) -> Result<Uuid, Failure> {
        ingest::current_result(self.ctx, order)
            .await
            .map_err(|e| self.failure(e))?
            .map(|r| r.id)
            .ok_or_else(|| {
                Failure::content(
                    ErrorCode::UnknownKeyIdentifier,
                    self.obr(25),
                    "the order has no result to correct or withdraw",
                )
            })
    }

    fn unknown_order(&self) -> Failure {
        Failure::content(
            ErrorCode::UnknownKeyIdentifier,
            self.obr(3),
            "no order with this filler (OBR-3) or placer (OBR-2) order number to change",
        )
    }

    async fn new_result(
        &self,
        existing: Option<Uuid>,
        applied: &mut Applied,
    ) -> Result<NewResult, Failure> {
        let order = match existing {
            Some(id) => OrderRef::Existing(id),
            None => OrderRef::New(Box::new(self.new_order(applied).await?)),
        };
        let (observations, imaging_report) = self.content().await?;
        Ok(NewResult {
            patient_id: self.patient.id,
            order,
            status: if self.group.status == Obr25::Final {
                ResultStatus::Final
            } else {
                ResultStatus::Preliminary
            },
            issued_at: self.issued_at(),
            performing_lab: self
                .header
                .sending_facility
                .as_ref()
                .and_then(|hd| hd.namespace.clone()),
            conclusion: joined(&self.group.notes),
            observations,
            imaging_report,
            idempotency_key: Some(self.key.clone()),
            details: details::result(self.group, self.header.default_offset()),
        })
    }

    async fn correction(&self) -> Result<Correction, Failure> {
        let (observations, imaging_report) = self.content().await?;
        Ok(Correction {
            issued_at: Some(self.issued_at()),
            conclusion: joined(&self.group.notes),
            observations,
            imaging_report,
            details: details::result(self.group, self.header.default_offset()),
        })
    }

    /// Observations of a lab test, or the report of an imaging test (by the catalog).
    async fn content(&self) -> Result<(Vec<NewObservation>, Option<NewImagingReport>), Failure> {
        let code = self.test_code().unwrap_or_default();
        let category = lookup::test_category(self.ctx, self.tenant, &code)
            .await
            .map_err(|e| self.failure(e))?;
        if category == Some(TestCategory::Imaging) {
            return Ok((Vec::new(), Some(self.imaging_report()?)));
        }
        let observations = self
            .group
            .observations
            .iter()
            .filter(|o| !is_study_uid(o))
            .map(|o| observation(o, self.code_map, self.header.default_offset()))
            .collect();
        Ok((observations, None))
    }

    fn imaging_report(&self) -> Result<NewImagingReport, Failure> {
        let uid = self.group.study_instance_uid.clone().ok_or_else(|| {
            Failure::content(
                ErrorCode::RequiredFieldMissing,
                Location::segment("ZDS", 1),
                "DICOM Study Instance UID missing (OBX coded 113014^Study Instance UID^DCM, or ZDS-1)",
            )
        })?;
        let texts = |impression: bool| {
            let parts: Vec<&str> = self
                .group
                .observations
                .iter()
                .filter(|o| !is_study_uid(o))
                .filter(|o| (o.code.code.as_deref() == Some(IMPRESSION)) == impression)
                .filter_map(Observation::text)
                .collect();
            parts.join("\n")
        };
        let modality = self
            .obr_segment()
            .and_then(|obr| obr.field(24).text().map(String::from))
            .unwrap_or_else(|| UNKNOWN_MODALITY.to_owned());
        Ok(NewImagingReport {
            modality,
            study_instance_uid: uid,
            findings: texts(false),
            impression: texts(true),
        })
    }

    async fn new_order(&self, applied: &mut Applied) -> Result<NewOrder, Failure> {
        let facility = self.sender.ok_or_else(|| {
            Failure::content(
                ErrorCode::UnknownKeyIdentifier,
                Location::field("MSH", 1, 4),
                "the sending facility (MSH-4) is not a facility of the portal (by CLIA number or a registered identifier)",
            )
        })?;
        let provider = self.group.ordering_provider.as_ref();
        let clinician = match provider.and_then(Clinician::npi) {
            Some(npi) => lookup::clinician_by_npi(self.ctx, self.tenant, npi)
                .await
                .map_err(|e| self.failure(e))?,
            None => None,
        };
        if provider.is_some() && clinician.is_none() {
            applied.warnings.push(
                Issue::warning(
                    ErrorCode::UnknownKeyIdentifier,
                    "ordering provider's NPI is not known to the portal; the name from the message is kept",
                )
                .at(self.obr(16)),
            );
        }
        let placer = self.group.placer_order.as_ref().map(|e| e.id.clone());
        let appointment_id = match &placer {
            Some(number) => scheduling::appointment_for_order(self.ctx, self.patient.id, number)
                .await
                .map_err(|e| self.failure(e))?,
            None => None,
        };
        let filler = self.group.filler_order.as_ref().map(|e| e.id.clone());
        Ok(NewOrder {
            facility_id: facility.id,
            test_code: self.test_code().unwrap_or_default(),
            ordering_clinician_id: clinician.map(|c| c.id),
            referring_clinician_id: None,
            source: OrderSource::Referral,
            accession_number: filler.clone(),
            external: ExternalOrder {
                placer_order_number: placer,
                filler_order_number: filler,
                placer_group_number: self.group.placer_group.as_ref().map(|e| e.id.clone()),
                ordering_provider_name: provider.and_then(provider_name),
                appointment_id,
                ordering_facility_name: self.group.ordering_facility_name.clone(),
                ordering_facility_identifier: self.group.ordering_facility_identifier.clone(),
                entering_organization: self.group.entering_organization.clone(),
            },
        })
    }

    /// OBR-22, else MSH-7, else now.
    fn issued_at(&self) -> chrono::DateTime<chrono::Utc> {
        let offset = self.header.default_offset();
        self.group
            .reported_at
            .or(self.header.sent_at)
            .map(|t| t.to_utc(offset))
            .unwrap_or_else(portal_core::clock::now)
    }

    /// The lab's notes as the reason of a correction or withdrawal, else a plain reason.
    fn reason(&self, default: &str) -> String {
        let notes: Vec<String> = self
            .group
            .notes
            .iter()
            .chain(self.group.observations.iter().flat_map(|o| o.notes.iter()))
            .cloned()
            .collect();
        let reason = joined(&notes).unwrap_or_else(|| format!("{default} by the laboratory"));
        reason.chars().take(MAX_REASON).collect()
    }

    fn obr_segment(&self) -> Option<portal_hl7::parse::Segment<'_>> {
        self.message
            .segments("OBR")
            .find(|s| s.sequence() == self.group.obr_sequence)
    }

    /// The catalog code of the ordered test (OBR-4).
    fn test_code(&self) -> Option<String> {
        codes::catalog_code(&self.group.test, self.code_map)
    }

    fn obr(&self, field: usize) -> Location {
        Location::field("OBR", self.group.obr_sequence, field)
    }

    fn failure(&self, error: ServiceError) -> Failure {
        Failure::from_service(error, |field| self.locate(field))
    }

    /// Where in the message a service's input field came from.
    fn locate(&self, field: &str) -> Location {
        field_location(self.group.obr_sequence, |i| self.obx_sequence(i), field)
    }

    /// The OBX sequence of the i-th observation handed to the service.
    fn obx_sequence(&self, index: usize) -> Option<usize> {
        self.group
            .observations
            .iter()
            .filter(|o| !is_study_uid(o))
            .nth(index)
            .map(|o| o.segment_sequence)
    }
}

/// The HL7 location of a service input field (`input.observations[2].unit` → `OBX^<seq>^6`),
/// for the group of OBR `obr` whose i-th observation came from OBX `obx(i)`.
fn field_location(obr: usize, obx: impl Fn(usize) -> Option<usize>, field: &str) -> Location {
    let at = |n: usize| Location::field("OBR", obr, n);
    let field = field.strip_prefix("input.").unwrap_or(field);
    if let Some(rest) = field.strip_prefix("observations[") {
        let (index, part) = rest.split_once(']').unwrap_or((rest, ""));
        let Some(seq) = index.parse::<usize>().ok().and_then(&obx) else {
            return at(4);
        };
        let n = match part.trim_start_matches('.') {
            "code" => 3,
            "unit" => 6,
            "interpretation" => 8,
            _ => 5,
        };
        return Location::field("OBX", seq, n);
    }
    match field {
        "patientId" => Location::field("PID", 1, 3),
        "order.testCode" => at(4).with_component(1),
        "order.facilityId" | "performingLab" => Location::field("MSH", 1, 4),
        "order.orderingClinicianId" | "order.orderingProviderName" => at(16),
        "order.placerOrderNumber" => at(2),
        "order.fillerOrderNumber" | "orderId" | "order.accessionNumber" => at(3),
        "issuedAt" => at(22),
        "idempotencyKey" => Location::field("MSH", 1, 10),
        "reason" | "status" => at(25),
        _ => at(4),
    }
}

fn is_study_uid(observation: &Observation) -> bool {
    observation.code.is("113014", "DCM")
}

fn observation(
    o: &Observation,
    code_map: &[CodeMapEntry],
    offset: chrono::FixedOffset,
) -> NewObservation {
    let mut new = NewObservation {
        code: codes::catalog_code(&o.code, code_map).unwrap_or_default(),
        value_numeric: None,
        value_text: None,
        value_code: None,
        unit: o.units.as_ref().and_then(|u| u.code.clone()),
        interpretation: o.abnormal_flags.iter().find_map(interpretation),
        abnormal_flags: o
            .abnormal_flags
            .iter()
            .map(|f| f.code().to_owned())
            .collect(),
        details: details::observation(o, offset),
    };
    match &o.value {
        ObservationValue::Numeric { value, .. } => new.value_numeric = Some(*value),
        ObservationValue::Text(text) | ObservationValue::Other { text, .. } => {
            new.value_text = Some(text.clone());
        }
        ObservationValue::Coded(coded) => {
            new.value_code = coded.code.clone().or_else(|| coded.text.clone());
        }
        ObservationValue::StructuredNumeric(sn) => {
            new.value_numeric = sn.first;
            new.value_text = sn
                .first
                .map(|first| format!("{}{first}", sn.comparator.as_deref().unwrap_or_default()));
        }
        ObservationValue::Time(time) => new.value_text = Some(time.local.to_string()),
        ObservationValue::Empty => {}
    }
    new
}

/// OBX-8 (table 0078) in portal terms; flags without an equivalent are left to the range.
fn interpretation(flag: &AbnormalFlag) -> Option<Interpretation> {
    Some(match flag {
        AbnormalFlag::Low | AbnormalFlag::BelowLowScale => Interpretation::Low,
        AbnormalFlag::High | AbnormalFlag::AboveHighScale => Interpretation::High,
        AbnormalFlag::CriticalLow => Interpretation::CriticalLow,
        AbnormalFlag::CriticalHigh => Interpretation::CriticalHigh,
        AbnormalFlag::Normal => Interpretation::Normal,
        AbnormalFlag::Abnormal | AbnormalFlag::CriticalAbnormal => Interpretation::Abnormal,
        AbnormalFlag::Other(_) => return None,
    })
}

fn provider_name(c: &Clinician) -> Option<String> {
    let parts: Vec<&str> = [c.given.as_deref(), c.family.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn joined(notes: &[String]) -> Option<String> {
    let notes: Vec<&str> = notes
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    (!notes.is_empty()).then(|| notes.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(field: &str) -> String {
        // Observations 0, 1, 2 came from OBX 1, 2, 4 (OBX 3 was the study UID).
        field_location(2, |i| [1, 2, 4].get(i).copied(), field).to_string()
    }

    #[test]
    fn service_fields_map_back_to_the_hl7_fields_they_came_from() {
        assert_eq!(at("input.observations[2].unit"), "OBX^4^6");
        assert_eq!(at("input.observations[0].code"), "OBX^1^3");
        assert_eq!(at("input.observations[1].valueNumeric"), "OBX^2^5");
        assert_eq!(
            at("input.observations[9].code"),
            "OBR^2^4",
            "no such OBX: the OBR"
        );
        assert_eq!(at("input.order.testCode"), "OBR^2^4^1^1");
        assert_eq!(at("input.issuedAt"), "OBR^2^22");
        assert_eq!(at("input.patientId"), "PID^1^3");
        assert_eq!(at("input.order.facilityId"), "MSH^1^4");
        assert_eq!(at("reason"), "OBR^2^25");
        assert_eq!(at(""), "OBR^2^4");
    }

    #[test]
    fn flags_become_interpretations_and_unknown_flags_are_left_to_the_range() {
        assert_eq!(
            interpretation(&AbnormalFlag::CriticalHigh),
            Some(Interpretation::CriticalHigh)
        );
        assert_eq!(
            interpretation(&AbnormalFlag::BelowLowScale),
            Some(Interpretation::Low)
        );
        assert_eq!(interpretation(&AbnormalFlag::Other("W".into())), None);
    }
}
