//! Mutations on test results: laboratories add and correct them, patients mark them viewed.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use portal_services::ingest::{
    self, Correction, NewImagingReport, NewObservation, NewOrder, NewResult, OrderRef, Stored,
};
use portal_services::{ServiceError, ServiceResult, results};

use crate::context::{app, request};
use crate::error::{GqlResult, to_gql};
use crate::ids::{NodeType, decode};
use crate::types::enums::{Interpretation, OrderSource, ResultStatus};
use crate::types::result::TestResult;

#[derive(Default)]
pub struct ResultMutation;

#[derive(SimpleObject)]
pub struct MarkResultViewedPayload {
    pub result: TestResult,
    /// When the viewer first opened the result.
    pub viewed_at: DateTime<Utc>,
}

/// A result as a laboratory information system reports it.
#[derive(InputObject)]
pub struct AddTestResultInput {
    pub patient_id: ID,
    /// The order this result completes; or give `order` to create one with the result.
    pub order_id: Option<ID>,
    pub order: Option<NewOrderInput>,
    /// PRELIMINARY or FINAL. A FINAL result for an order with a preliminary one replaces it.
    pub status: ResultStatus,
    pub issued_at: DateTime<Utc>,
    pub performing_lab: Option<String>,
    pub conclusion: Option<String>,
    /// Required for laboratory tests; each analyte must belong to the test in the catalog.
    #[graphql(default)]
    pub observations: Vec<ObservationInput>,
    /// Required for imaging tests.
    pub imaging_report: Option<ImagingReportInput>,
    /// A retry with the same key returns the first outcome and stores nothing new.
    pub idempotency_key: Option<String>,
    /// When the specimen was collected.
    pub collected_at: Option<DateTime<Utc>>,
    /// When the laboratory received the specimen.
    pub received_at: Option<DateTime<Utc>>,
    pub specimen: Option<super::result_details::SpecimenInput>,
    /// The laboratory that performed the test (kept as sent).
    pub performing_laboratory: Option<super::result_details::PerformingLaboratoryInput>,
}

#[derive(InputObject)]
pub struct NewOrderInput {
    pub facility_id: ID,
    /// Catalog code (LOINC where known).
    pub test_code: String,
    pub ordering_clinician_id: Option<ID>,
    pub referring_clinician_id: Option<ID>,
    #[graphql(default_with = "OrderSource::Portal")]
    pub source: OrderSource,
    pub accession_number: Option<String>,
}

/// One value; set the field matching the analyte's value type.
#[derive(InputObject)]
pub struct ObservationInput {
    pub code: String,
    pub value_numeric: Option<f64>,
    pub value_text: Option<String>,
    pub value_code: Option<String>,
    /// The laboratory's unit; defaults to the catalog's.
    pub unit: Option<String>,
    /// Derived from the reference range when omitted.
    pub interpretation: Option<Interpretation>,
    /// The laboratory's abnormal flags as sent (HL7 table 0078: `H`, `HH`, `AA`, …), kept
    /// beside the interpretation; `LL`, `HH` and `AA` make the value critical.
    pub abnormal_flags: Option<Vec<String>>,
    /// The reference range as the laboratory writes it (e.g. `4.3 to 6.2`, `<10`); the
    /// catalog's applies when omitted.
    pub reference_range: Option<String>,
    /// When the observation was made.
    pub observed_at: Option<DateTime<Utc>>,
    /// The device or test kit used.
    pub device: Option<String>,
}

#[derive(InputObject)]
pub struct ImagingReportInput {
    pub modality: String,
    pub study_instance_uid: String,
    pub findings: String,
    pub impression: String,
}

/// The corrected content of a result.
#[derive(InputObject)]
pub struct CorrectTestResultInput {
    pub issued_at: Option<DateTime<Utc>>,
    pub conclusion: Option<String>,
    #[graphql(default)]
    pub observations: Vec<ObservationInput>,
    pub imaging_report: Option<ImagingReportInput>,
}

/// A notification queued with the result.
#[derive(SimpleObject)]
pub struct QueuedNotification {
    /// EMAIL, SMS or PUSH.
    pub channel: String,
    /// PENDING, or SKIPPED when the channel has no address or the result is held.
    pub status: String,
}

#[derive(SimpleObject)]
pub struct AddTestResultPayload {
    pub result: TestResult,
    /// The outbox event written with the result (null when `replayed`).
    pub event_id: Option<ID>,
    pub notifications: Vec<QueuedNotification>,
    /// True when the idempotency key matched an earlier call: nothing new was stored.
    pub replayed: bool,
}

/// The outcome of one input of a batch.
#[derive(SimpleObject)]
pub struct AddTestResultsItem {
    pub index: i32,
    pub payload: Option<AddTestResultPayload>,
    pub error: Option<ItemError>,
}

#[derive(SimpleObject)]
pub struct ItemError {
    pub code: String,
    pub message: String,
    /// The input field at fault, e.g. `inputs[3].observations[0].unit`.
    pub field: Option<String>,
}

#[derive(SimpleObject)]
pub struct AddTestResultsPayload {
    pub items: Vec<AddTestResultsItem>,
    pub succeeded: i32,
    pub failed: i32,
}

#[Object]
impl ResultMutation {
    /// Records that the viewer opened a result; repeating it keeps the first time.
    async fn mark_result_viewed(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<MarkResultViewedPayload> {
        let id = decode(&id, NodeType::TestResult, "id").gql()?;
        let (vis, model, viewed_at) = results::mark_viewed(request(ctx)?, id).await.gql()?;
        Ok(MarkResultViewedPayload {
            result: TestResult::new(model, vis),
            viewed_at,
        })
    }

    /// Stores a result (lab, clinician, staff): creates or completes the order, writes the
    /// outbox event and queues notifications per the patient's preferences, atomically.
    ///
    /// Validation, against the tenant's catalog: the patient, order, facility and
    /// clinicians exist; the test code is in the catalog; laboratory results carry
    /// observations (each analyte of the test, once, with the value of its type and the
    /// catalog's unit), imaging results an imaging report; `issuedAt` is not in the future;
    /// texts have no control characters and fit their limits. The interpretation is derived
    /// from the reference range when omitted.
    ///
    /// Errors (`extensions.code`): UNAUTHENTICATED without a token; FORBIDDEN for patients
    /// and proxies; BAD_USER_INPUT with `extensions.field` naming the input at fault (e.g.
    /// `input.observations[0].unit`); CONFLICT when the order was cancelled, already has a
    /// released result (use correctTestResult), or the idempotencyKey was used with a
    /// different request; UNAVAILABLE when the database is unreachable (retry with the same
    /// idempotencyKey).
    ///
    /// Idempotency: with `idempotencyKey`, a retry of the same request returns the first
    /// outcome with `replayed: true` and stores nothing new; without one, each call stores a
    /// new result (and a new order when `order` is given).
    async fn add_test_result(
        &self,
        ctx: &Context<'_>,
        input: AddTestResultInput,
    ) -> Result<AddTestResultPayload> {
        let input = new_result(input, "input").gql()?;
        let stored = ingest::add_result(request(ctx)?, input).await.gql()?;
        payload(ctx, stored).await
    }

    /// Stores up to 500 results. Each stands or falls alone: every input gets its own
    /// outcome (payload or error), and one input's failure never loses another's. The
    /// inputs share a transaction (one per 100 inputs), each in a savepoint of its own: an
    /// input that fails leaves nothing behind, one that failed on a database error is tried
    /// again alone after the shared commit, and if the shared commit fails every input is
    /// stored again alone, one transaction each, so nothing is lost and nothing is stored
    /// twice. Every stored result is committed when the answer is sent; an input repeating
    /// an earlier input's idempotencyKey replays it.
    ///
    /// Each input is validated as in addTestResult; its error is in its item (`code`,
    /// `message`, `field` such as `inputs[3].observations[0].unit`), not in `errors`. The
    /// whole call fails only when it cannot run: UNAUTHENTICATED, FORBIDDEN (patients and
    /// proxies), BAD_USER_INPUT for no input or more than 500, UNAVAILABLE.
    async fn add_test_results(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<AddTestResultInput>,
    ) -> Result<AddTestResultsPayload> {
        let inputs = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| new_result(input, &format!("inputs[{i}]")))
            .collect();
        let outcomes = ingest::add_results(request(ctx)?, inputs).await.gql()?;
        let mut items = Vec::with_capacity(outcomes.len());
        for (index, outcome) in outcomes.into_iter().enumerate() {
            items.push(item(ctx, index, outcome).await?);
        }
        let succeeded = items.iter().filter(|i| i.error.is_none()).count() as i32;
        Ok(AddTestResultsPayload {
            failed: items.len() as i32 - succeeded,
            succeeded,
            items,
        })
    }

    /// Corrects a released result: a new CORRECTED version replaces it, the original stays
    /// in the history, and the patient is notified again.
    ///
    /// `id` must be the current version of a FINAL or CORRECTED result; the input is
    /// validated as in addTestResult and `reason` is required (1 to 2000 characters).
    /// Errors: UNAUTHENTICATED; FORBIDDEN for patients and proxies; NOT_FOUND for an
    /// unknown result; BAD_USER_INPUT with `extensions.field`; CONFLICT when the result is
    /// PRELIMINARY (add the final result instead), ENTERED_IN_ERROR, or was already
    /// replaced (correct its current version). Not idempotent: a repeated call is a
    /// CONFLICT, since the first one replaced the version it names.
    async fn correct_test_result(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CorrectTestResultInput,
        reason: String,
    ) -> Result<AddTestResultPayload> {
        let id = decode(&id, NodeType::TestResult, "id").gql()?;
        let correction = Correction {
            issued_at: input.issued_at,
            conclusion: input.conclusion,
            observations: input.observations.into_iter().map(observation).collect(),
            imaging_report: input.imaging_report.map(imaging),
            details: Default::default(),
        };
        let stored = ingest::correct_result(request(ctx)?, id, correction, &reason)
            .await
            .gql()?;
        payload(ctx, stored).await
    }

    /// Withdraws a released result: a new ENTERED_IN_ERROR version replaces it.
    ///
    /// `reason` is required (1 to 2000 characters). Errors as for correctTestResult:
    /// UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, and CONFLICT for a
    /// PRELIMINARY, already withdrawn or already replaced version — so repeating the call is
    /// a CONFLICT and never withdraws twice.
    async fn mark_test_result_entered_in_error(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> Result<AddTestResultPayload> {
        let id = decode(&id, NodeType::TestResult, "id").gql()?;
        let stored = ingest::mark_entered_in_error(request(ctx)?, id, &reason)
            .await
            .gql()?;
        payload(ctx, stored).await
    }
}

fn new_result(input: AddTestResultInput, at: &str) -> ServiceResult<NewResult> {
    let order = match (input.order_id, input.order) {
        (Some(id), None) => {
            OrderRef::Existing(decode(&id, NodeType::TestOrder, &format!("{at}.orderId"))?)
        }
        (None, Some(order)) => OrderRef::New(Box::new(NewOrder {
            facility_id: decode(
                &order.facility_id,
                NodeType::Facility,
                &format!("{at}.order.facilityId"),
            )?,
            test_code: order.test_code,
            ordering_clinician_id: order
                .ordering_clinician_id
                .map(|id| {
                    decode(
                        &id,
                        NodeType::Clinician,
                        &format!("{at}.order.orderingClinicianId"),
                    )
                })
                .transpose()?,
            referring_clinician_id: order
                .referring_clinician_id
                .map(|id| {
                    decode(
                        &id,
                        NodeType::Clinician,
                        &format!("{at}.order.referringClinicianId"),
                    )
                })
                .transpose()?,
            source: order.source.into(),
            accession_number: order.accession_number,
            external: Default::default(),
        })),
        _ => OrderRef::Ambiguous,
    };
    Ok(NewResult {
        patient_id: decode(
            &input.patient_id,
            NodeType::Patient,
            &format!("{at}.patientId"),
        )?,
        order,
        status: input.status.into(),
        issued_at: input.issued_at,
        performing_lab: input.performing_lab,
        conclusion: input.conclusion,
        observations: input.observations.into_iter().map(observation).collect(),
        imaging_report: input.imaging_report.map(imaging),
        idempotency_key: input.idempotency_key,
        details: super::result_details::result_details(
            input.collected_at,
            input.received_at,
            input.specimen,
            input.performing_laboratory,
        ),
    })
}

fn observation(o: ObservationInput) -> NewObservation {
    NewObservation {
        code: o.code,
        value_numeric: o.value_numeric,
        value_text: o.value_text,
        value_code: o.value_code,
        unit: o.unit,
        interpretation: o.interpretation.map(Into::into),
        abnormal_flags: o.abnormal_flags.unwrap_or_default(),
        details: super::result_details::observation_details(
            o.observed_at,
            o.reference_range,
            o.device,
        ),
    }
}

fn imaging(r: ImagingReportInput) -> NewImagingReport {
    NewImagingReport {
        modality: r.modality,
        study_instance_uid: r.study_instance_uid,
        findings: r.findings,
        impression: r.impression,
    }
}

/// The payload shows the result as the writer sees it (care-team rules). A new outbox event
/// wakes the relay, so subscribers hear of the result at once rather than at its next poll.
async fn payload(ctx: &Context<'_>, stored: Stored) -> Result<AddTestResultPayload> {
    if !stored.replayed {
        app(ctx)?.outbox_wake.notify_one();
    }
    let vis = results::writer_visibility(request(ctx)?, &stored.result)
        .await
        .gql()?;
    Ok(AddTestResultPayload {
        event_id: (!stored.replayed).then(|| ID(stored.event_id.to_string())),
        notifications: stored
            .notifications
            .iter()
            .map(|n| QueuedNotification {
                channel: format!("{:?}", n.channel).to_uppercase(),
                status: format!("{:?}", n.status).to_uppercase(),
            })
            .collect(),
        replayed: stored.replayed,
        result: TestResult::new(stored.result, vis),
    })
}

async fn item(
    ctx: &Context<'_>,
    index: usize,
    outcome: ServiceResult<Stored>,
) -> Result<AddTestResultsItem> {
    Ok(match outcome {
        Ok(stored) => AddTestResultsItem {
            index: index as i32,
            payload: Some(payload(ctx, stored).await?),
            error: None,
        },
        Err(err) => {
            // Logs internal detail like any other error; the item carries only the safe part.
            let _ = to_gql(&err);
            let field = match &err {
                ServiceError::BadUserInput { field, .. } => Some(field.clone()),
                _ => None,
            };
            AddTestResultsItem {
                index: index as i32,
                payload: None,
                error: Some(ItemError {
                    code: err.code().as_str().to_owned(),
                    message: err.to_string(),
                    field,
                }),
            }
        }
    })
}
