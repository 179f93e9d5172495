//! Public-health reporting against real components: a loopback HTTP server stands in for
//! ReportStream (scripted answers, every request kept), results go in through GraphQL, and
//! the reporting worker runs for real (in process, or as `portal worker` processes).

mod atomic;
mod csv_file;
mod delivery;
mod disclosure;
mod operations;
mod refusals;
mod rows;
mod takeover;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use portal_api::auth::Role;
use portal_api::config::PublicHealthConfig;
use portal_entities::{ReportStatus, clinician, facility, patient, public_health_report};
use portal_messaging::public_health::{Destinations, PassCounts, Settings, queue, receiver};
use portal_resolvers::ids::{NodeType, encode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Actor, Backend, TestApp, no_errors};

/// One answer of the stand-in receiver.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Answers `status` after `delay` (a slow receiver, or one that stalls while a worker dies).
    Slow(Duration, u16),
    /// 400 naming every row whose `patient_zip_code` is `00000` (ReportStream's item errors:
    /// a code of valid shape its ZIP lookup does not know), else 200.
    Validate,
}

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: Option<String>,
    pub payloadname: Option<String>,
    pub client: Option<String>,
    pub auth: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
    pub answered: u16,
}

#[derive(Clone)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    default: Reply,
    received: Arc<Mutex<Vec<Received>>>,
}

/// The stand-in for ReportStream on a loopback port.
pub struct Receiver {
    pub url: String,
    script: Script,
}

impl Receiver {
    /// Answers `replies` in order, then `default` to every further request.
    pub async fn start(replies: &[Reply], default: Reply) -> Self {
        let script = Script {
            replies: Arc::new(Mutex::new(replies.iter().copied().collect())),
            default,
            received: Arc::default(),
        };
        let router = Router::new()
            .route("/api/reports", post(report))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://{addr}/api/reports"),
            script,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().expect("received").clone()
    }
}

async fn report(
    State(script): State<Script>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let reply = script
        .replies
        .lock()
        .expect("replies")
        .pop_front()
        .unwrap_or(script.default);
    let (delay, status, answer) = match reply {
        Reply::Status(status) => (Duration::ZERO, status, String::new()),
        Reply::Slow(delay, status) => (delay, status, String::new()),
        Reply::Validate => {
            let bad = rows_where(&body, "patient_zip_code", UNKNOWN_ZIP);
            if bad.is_empty() {
                (Duration::ZERO, 200, String::new())
            } else {
                let errors = json!({ "errors": [{
                    "scope": "item", "trackingIds": bad,
                    "message": "patient_zip_code: 00000 is not a US ZIP code" }] });
                (Duration::ZERO, 400, errors.to_string())
            }
        }
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    script.received.lock().expect("received").push(Received {
        idempotency_key: header("idempotency-key"),
        payloadname: query.get("payloadname").cloned(),
        client: header("client"),
        auth: header("x-functions-key"),
        content_type: header("content-type"),
        body,
        answered: status,
    });
    tokio::time::sleep(delay).await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        answer,
    )
}

/// Parses a batch with a standard CSV reader: the header and one map per row. Every batch
/// is first read as ReportStream reads an upload (the reader built from its vendored schema
/// and value sets), so no test passes with a CSV the receiver would refuse.
pub fn parse(body: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
    if let Err(problems) = receiver::read(body) {
        panic!("the receiver would refuse this batch: {problems:#?}");
    }
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("CSV header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.expect("CSV record");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

/// The `message_id`s of the rows whose `column` is `value`.
fn rows_where(body: &str, column: &str, value: &str) -> Vec<String> {
    parse(body)
        .1
        .into_iter()
        .filter(|row| row.get(column).map(String::as_str) == Some(value))
        .filter_map(|row| row.get("message_id").cloned())
        .collect()
}

/// Every `message_id` per batch id (`Idempotency-Key`), over the requests answered `status`
/// (or all when `None`); checks each batch id always came with the same body.
pub fn batches(received: &[Received], status: Option<u16>) -> HashMap<String, Vec<String>> {
    let mut bodies: HashMap<String, &str> = HashMap::new();
    let mut by_batch = HashMap::new();
    for r in received {
        let key = r
            .idempotency_key
            .clone()
            .expect("every upload carries its batch id");
        assert_eq!(
            r.payloadname.as_deref(),
            Some(key.as_str()),
            "payloadname is the batch id"
        );
        let first = bodies.entry(key.clone()).or_insert(&r.body);
        assert_eq!(
            *first, r.body,
            "a resend of batch {key} must send the same rows"
        );
        if status.is_none_or(|s| s == r.answered) {
            let ids: Vec<String> = parse(&r.body)
                .1
                .into_iter()
                .filter_map(|row| row.get("message_id").cloned())
                .collect();
            by_batch.insert(key, ids);
        }
    }
    by_batch
}

/// Asserts no `message_id` is in two batches; returns each one's batch.
pub fn one_batch_each(by_batch: &HashMap<String, Vec<String>>) -> HashMap<String, String> {
    let mut owner = HashMap::new();
    for (batch, ids) in by_batch {
        for id in ids {
            if let Some(other) = owner.insert(id.clone(), batch.clone()) {
                panic!("report {id} was sent in two batches: {other} and {batch}");
            }
        }
    }
    owner
}

/// The demo hospital, a lab viewer, the lab facility and Dr. Patel, with the reporting
/// worker's configuration from `vars`.
pub struct Hospital {
    pub app: TestApp,
    pub tenant: Uuid,
    pub lab: Actor,
    pub facility: String,
    pub clinician: String,
}

impl Hospital {
    pub async fn new(backend: Backend, vars: &[(&str, &str)]) -> Self {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let app = TestApp::init(backend)
            .with_config(move |c| {
                c.public_health = PublicHealthConfig::from_vars(&vars, &c.data_dir, true)
                    .expect("public-health settings");
            })
            .await;
        let (tenant, _) = portal_demo::seed(&app.db).await.expect("seed");
        let lab = app.as_lab(tenant);
        let facility = facility::Entity::find()
            .filter(facility::Column::Name.eq("Riverside Main Laboratory"))
            .one(&app.owner)
            .await
            .expect("q")
            .expect("lab facility");
        let clinician = clinician::Entity::find()
            .filter(clinician::Column::UserSubject.eq("dr.patel"))
            .one(&app.owner)
            .await
            .expect("q")
            .expect("Dr. Patel");
        Self {
            app,
            tenant,
            lab,
            facility: encode(NodeType::Facility, facility.id).to_string(),
            clinician: encode(NodeType::Clinician, clinician.id).to_string(),
        }
    }

    pub async fn patient(&self, mrn: &str) -> patient::Model {
        portal_services::patients::find_by_mrn(&self.app.owner, self.tenant, mrn)
            .await
            .expect("q")
            .expect("demo patient")
    }

    /// Adds a result of catalog test `code` through `addTestResult`; returns its global id.
    pub async fn add(&self, mrn: &str, code: &str, status: &str, value: Value) -> String {
        let response = self
            .lab
            .query(
                ADD,
                json!({ "input": self.input(mrn, code, status, value).await }),
            )
            .await;
        no_errors(&response);
        response["data"]["addTestResult"]["result"]["id"]
            .as_str()
            .expect("result id")
            .to_owned()
    }

    pub async fn input(&self, mrn: &str, code: &str, status: &str, value: Value) -> Value {
        let patient = self.patient(mrn).await;
        let mut observation = json!({ "code": code });
        observation
            .as_object_mut()
            .expect("object")
            .extend(value.as_object().cloned().unwrap_or_default());
        json!({
            "patientId": encode(NodeType::Patient, patient.id).to_string(),
            "order": { "facilityId": self.facility, "testCode": code, "source": "WALK_IN",
                       "orderingClinicianId": self.clinician, "accessionNumber": "ACC-1" },
            "status": status,
            "issuedAt": chrono::Utc::now().to_rfc3339(),
            "observations": [observation],
        })
    }

    pub async fn pass(&self) -> PassCounts {
        let config = &self.app.state.config.public_health;
        let destinations: Destinations =
            portal_api::public_health::destinations(config).expect("destinations");
        let settings: Settings = portal_api::public_health::settings(config);
        portal_api::public_health::run_pass(&self.app.state, &destinations, &settings, &|| false)
            .await
            .expect("a pass runs")
    }

    /// Runs passes until the queue is empty (at most `max`), returning every pass's counts.
    pub async fn drain(&self, max: usize) -> Vec<PassCounts> {
        let mut passes = Vec::new();
        for _ in 0..max {
            passes.push(self.pass().await);
            if queue::backlog(&self.app.db).await.expect("backlog").depth == 0 {
                return passes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the queue did not drain in {max} passes: {passes:?}");
    }

    pub async fn reports(&self) -> Vec<public_health_report::Model> {
        public_health_report::Entity::find()
            .all(&self.app.owner)
            .await
            .expect("reports")
    }

    pub async fn reports_in(&self, status: ReportStatus) -> usize {
        self.reports()
            .await
            .iter()
            .filter(|r| r.status == status)
            .count()
    }
}

/// A SNOMED CT coded result of the SARS-CoV-2 RNA test.
pub fn coded(code: &str) -> Value {
    json!({ "valueCode": code })
}

pub const SARS: &str = "94500-6";
/// A ZIP code of valid shape the stand-in receiver refuses (`Reply::Validate`).
pub const UNKNOWN_ZIP: &str = "00000";
pub const HIV: &str = "56888-1";
pub const HBA1C: &str = "4548-4";
pub const DETECTED: &str = "260373001";
pub const NOT_DETECTED: &str = "260415000";
pub const NEGATIVE: &str = "260385009";

pub const ADD: &str = r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) { result { id status } } }"#;
pub const CORRECT: &str = r#"mutation($id: ID!, $input: CorrectTestResultInput!, $reason: String!) {
  correctTestResult(id: $id, input: $input, reason: $reason) { result { id status } } }"#;
pub const WITHDRAW: &str = r#"mutation($id: ID!, $reason: String!) { markTestResultEnteredInError(id: $id, reason: $reason) { result { id status } } }"#;

/// Configuration pointing the default tenant at `receiver`, with a quick backoff.
pub fn receiver_vars(url: &str) -> Vec<(&str, &str)> {
    vec![
        ("PUBLIC_HEALTH_URL", url),
        ("PUBLIC_HEALTH_CLIENT", "riverside.default"),
        ("PUBLIC_HEALTH_AUTH_HEADER", "x-functions-key: test-key"),
        ("PUBLIC_HEALTH_TIMEOUT_MS", "2000"),
        ("PUBLIC_HEALTH_LEASE_SECS", "30"),
        ("PUBLIC_HEALTH_BACKOFF_MS", "1"),
        ("PUBLIC_HEALTH_BACKOFF_MAX_MS", "10"),
    ]
}

/// Rows in all three reporting tables for `tenant` (the demo tenant), for the row-level
/// security checks: two reportable results are queued, one patient lacks a street (its
/// report goes to the error queue), and a pass writes the other's batch to a folder.
pub async fn rows_for_rls(app: &TestApp, tenant: Uuid) {
    use portal_messaging::public_health::{Destination, report_due};
    use sea_orm::sea_query::Expr;
    let lab = app.as_user("lis.riverside", tenant, &[Role::Lab], None);
    let facility = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(tenant))
        .one(&app.owner)
        .await
        .expect("q")
        .expect("facility");
    let clinician = clinician::Entity::find()
        .filter(clinician::Column::TenantId.eq(tenant))
        .one(&app.owner)
        .await
        .expect("q")
        .expect("clinician");
    for mrn in ["MRN1001", "MRN1004"] {
        let patient = portal_services::patients::find_by_mrn(&app.owner, tenant, mrn)
            .await
            .expect("q")
            .expect("patient");
        let input = json!({
            "patientId": encode(NodeType::Patient, patient.id).to_string(),
            "order": { "facilityId": encode(NodeType::Facility, facility.id).to_string(),
                       "orderingClinicianId": encode(NodeType::Clinician, clinician.id).to_string(),
                       "testCode": SARS, "source": "WALK_IN" },
            "status": "FINAL",
            "issuedAt": chrono::Utc::now().to_rfc3339(),
            "observations": [{ "code": SARS, "valueCode": DETECTED }],
        });
        no_errors(&lab.query(ADD, json!({ "input": input })).await);
    }
    patient::Entity::update_many()
        .col_expr(
            patient::Column::AddressLine1,
            Expr::value(Option::<String>::None),
        )
        .filter(patient::Column::Mrn.eq("MRN1004"))
        .exec(&app.owner)
        .await
        .expect("no street");
    let destinations = Destinations {
        default: Some(Destination::Directory(app.data_dir().join("rls-reports"))),
        per_tenant: HashMap::new(),
        ..Destinations::default()
    };
    let settings = portal_api::public_health::settings(&app.state.config.public_health);
    let pass = report_due(&app.db, &destinations, &settings, &|| false)
        .await
        .expect("pass");
    assert_eq!((pass.sent, pass.errors), (1, 1), "{pass:?}");
}
