//! Master-data mutations and the staff patient search on both backends: each kind created
//! and updated, roles refused and audited, duplicate keys, field paths, search and tenants.

use portal_api::auth::Role;
use portal_entities::AuditOutcome;
use portal_resolvers::ids::{NodeType, encode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::actors::Actor;
use crate::support::{Backend, TestApp, error_code, no_errors};

const CREATE_FACILITY: &str = r#"mutation($input: CreateFacilityInput!) {
  createFacility(input: $input) { facility { id name cliaNumber address city state postalCode country phone } }
}"#;
const UPDATE_FACILITY: &str = r#"mutation($id: ID!, $input: UpdateFacilityInput!) {
  updateFacility(id: $id, input: $input) { facility { id name phone city } }
}"#;
const CREATE_CLINICIAN: &str = r#"mutation($input: CreateClinicianInput!) {
  createClinician(input: $input) { clinician { id displayName givenName familyName npi } }
}"#;
const UPDATE_CLINICIAN: &str = r#"mutation($id: ID!, $input: UpdateClinicianInput!) {
  updateClinician(id: $id, input: $input) { clinician { id displayName npi } }
}"#;
const CREATE_TEST: &str = r#"mutation($input: CreateCatalogTestInput!) {
  createCatalogTest(input: $input) { test { id code displayName reportable sensitive analytes { code valueType unit referenceRange { low high text } } } }
}"#;
const UPDATE_TEST: &str = r#"mutation($id: ID!, $input: UpdateCatalogTestInput!) {
  updateCatalogTest(id: $id, input: $input) { test { id displayName reportable analytes { code unit } } }
}"#;
const REGISTER: &str = r#"mutation($input: RegisterPatientInput!) {
  registerPatient(input: $input) { patient { id mrn givenName familyName birthDate sex race ethnicity phone email language
    address { line1 line2 city state postalCode county country } } }
}"#;
const UPDATE_PATIENT: &str = r#"mutation($id: ID!, $input: UpdatePatientInput!) {
  updatePatient(id: $id, input: $input) { patient { id mrn familyName email sex address { line1 city postalCode } } }
}"#;
const ADD_COVERAGE: &str = r#"mutation($patient: ID!, $input: AddCoverageInput!) {
  addCoverage(patientId: $patient, input: $input) { coverage { id payer payerId planName memberId periodStart status } }
}"#;
const UPDATE_COVERAGE: &str = r#"mutation($id: ID!, $input: UpdateCoverageInput!) {
  updateCoverage(id: $id, input: $input) { coverage { id status planName periodEnd } }
}"#;
const ADD_CLAIM: &str = r#"mutation($coverage: ID!, $input: AddClaimInput!) {
  addClaim(coverageId: $coverage, input: $input) { claim { id claimNumber status billed { amount } coverage { memberId } } }
}"#;
const UPDATE_CLAIM: &str = r#"mutation($id: ID!, $input: UpdateClaimInput!) {
  updateClaim(id: $id, input: $input) { claim { id status allowed { amount } patientResponsibility { amount } } }
}"#;
const SEARCH: &str = r#"query($search: PatientSearchInput, $first: Int, $after: String) {
  viewer { patients(search: $search, first: $first, after: $after) {
    edges { cursor node { mrn givenName familyName birthDate } } pageInfo { hasNextPage endCursor } } }
}"#;

fn alice() -> Value {
    json!({
        "mrn": "MRN-77", "givenName": "Alice", "familyName": "Zhou", "birthDate": "1990-04-01",
        "sex": "f", "race": "2028-9", "ethnicity": "2186-5", "phone": "+1 217 555 0101",
        "email": "alice.zhou@example.org", "language": "en",
        "address": { "line1": "1 Main St", "line2": "Apt 2", "city": "Springfield", "state": "IL",
                     "postalCode": "62701", "county": "Sangamon", "country": "USA" }
    })
}

fn covid_test() -> Value {
    json!({
        "code": "94500-6", "codeSystem": "LOINC", "category": "LAB", "reportable": true,
        "displayName": "SARS-CoV-2 RNA [Presence] by NAA", "specimen": "Nasopharyngeal swab",
        "analytes": [{ "code": "94500-6", "displayName": "SARS-CoV-2 RNA", "valueType": "CODED",
                       "referenceText": "Not detected" }]
    })
}

fn staff(app: &TestApp, tenant: Uuid) -> Actor {
    app.as_user("staff.a", tenant, &[Role::Staff], None)
}

/// Runs a mutation that must succeed and returns its `data`.
async fn ok(viewer: &Actor, query: &str, variables: Value) -> Value {
    let response = viewer.query(query, variables).await;
    no_errors(&response);
    response["data"].clone()
}

fn allowed(rows: &[portal_entities::audit_event::Model], action: &str) -> bool {
    rows.iter()
        .any(|r| r.action == action && r.outcome == AuditOutcome::Allowed)
}

async fn staff_creates_and_updates_every_kind_of_master_data(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let staff = staff(&app, w.tenant_a);

    let data = ok(
        &staff,
        CREATE_FACILITY,
        json!({ "input": {
        "name": "North Clinic", "cliaNumber": "05d1234567", "address": "9 North Rd",
        "city": "Springfield", "state": "IL", "postalCode": "62702", "country": "USA",
        "phone": "+1 217 555 0199" } }),
    )
    .await;
    let facility = &data["createFacility"]["facility"];
    assert_eq!(facility["cliaNumber"], "05D1234567");
    assert_eq!(facility["postalCode"], "62702");
    let data = ok(
        &staff,
        UPDATE_FACILITY,
        json!({ "id": facility["id"], "input": { "phone": null, "city": "Chatham" } }),
    )
    .await;
    assert_eq!(data["updateFacility"]["facility"]["phone"], Value::Null);
    assert_eq!(data["updateFacility"]["facility"]["city"], "Chatham");
    assert_eq!(data["updateFacility"]["facility"]["name"], "North Clinic");

    let data = ok(&staff, CREATE_CLINICIAN, json!({ "input": {
        "displayName": "Dr. Maya Patel", "givenName": "Maya", "familyName": "Patel", "npi": "1234567893" } })).await;
    let clinician = &data["createClinician"]["clinician"];
    assert_eq!(clinician["npi"], "1234567893");
    let data = ok(
        &staff,
        UPDATE_CLINICIAN,
        json!({ "id": clinician["id"], "input": { "displayName": "Maya Patel, MD" } }),
    )
    .await;
    assert_eq!(
        data["updateClinician"]["clinician"]["displayName"],
        "Maya Patel, MD"
    );
    assert_eq!(data["updateClinician"]["clinician"]["npi"], "1234567893");

    let data = ok(&staff, CREATE_TEST, json!({ "input": covid_test() })).await;
    let test = &data["createCatalogTest"]["test"];
    assert_eq!(test["reportable"], true);
    assert_eq!(test["analytes"][0]["valueType"], "CODED");
    let data = ok(&staff, UPDATE_TEST, json!({ "id": test["id"], "input": {
        "displayName": "SARS-CoV-2 RNA", "analytes": [
            { "code": "94500-6", "displayName": "SARS-CoV-2 RNA", "valueType": "CODED" },
            { "code": "94309-2", "displayName": "SARS-CoV-2 RNA NAA", "valueType": "TEXT", "unit": "" } ] } })).await;
    let updated = &data["updateCatalogTest"]["test"];
    assert_eq!(updated["displayName"], "SARS-CoV-2 RNA");
    assert_eq!(updated["reportable"], true, "an omitted flag stays");
    assert_eq!(updated["analytes"].as_array().map(Vec::len), Some(2));
    assert_eq!(updated["analytes"][1]["unit"], Value::Null);

    let data = ok(&staff, REGISTER, json!({ "input": alice() })).await;
    let patient = &data["registerPatient"]["patient"];
    assert_eq!(patient["sex"], "F");
    assert_eq!(patient["address"]["county"], "Sangamon");
    assert_eq!(patient["language"], "en");
    let data = ok(&staff, UPDATE_PATIENT, json!({ "id": patient["id"], "input": {
        "email": null, "familyName": "Zhou-Li", "address": { "city": "Chatham", "postalCode": "62629" } } })).await;
    let updated = &data["updatePatient"]["patient"];
    assert_eq!(updated["email"], Value::Null);
    assert_eq!(updated["familyName"], "Zhou-Li");
    assert_eq!(updated["sex"], "F", "an omitted field stays");
    assert_eq!(updated["address"]["line1"], "1 Main St");
    assert_eq!(updated["address"]["city"], "Chatham");

    let data = ok(
        &staff,
        ADD_COVERAGE,
        json!({ "patient": patient["id"], "input": {
        "payerId": "60054", "payerName": "Aetna", "plan": "Choice POS II", "memberId": "W123456789",
        "periodStart": "2026-01-01" } }),
    )
    .await;
    let coverage = &data["addCoverage"]["coverage"];
    assert_eq!(coverage["status"], "ACTIVE");
    assert_eq!(coverage["payerId"], "60054");
    let data = ok(
        &staff,
        UPDATE_COVERAGE,
        json!({ "id": coverage["id"], "input": {
        "status": "CANCELLED", "periodEnd": "2026-06-30" } }),
    )
    .await;
    assert_eq!(data["updateCoverage"]["coverage"]["status"], "CANCELLED");
    assert_eq!(
        data["updateCoverage"]["coverage"]["planName"],
        "Choice POS II"
    );

    let data = ok(&staff, ADD_CLAIM, json!({ "coverage": coverage["id"], "input": {
        "claimNumber": "CLM-1", "serviceDate": "2026-02-03", "description": "Lab panel", "billedCents": 12500 } })).await;
    let claim = &data["addClaim"]["claim"];
    assert_eq!(claim["status"], "SUBMITTED");
    assert_eq!(claim["billed"]["amount"], "125.00");
    assert_eq!(claim["coverage"]["memberId"], "W123456789");
    let data = ok(
        &staff,
        UPDATE_CLAIM,
        json!({ "id": claim["id"], "input": {
        "status": "PAID", "allowedCents": 9000, "patientResponsibilityCents": 1500 } }),
    )
    .await;
    assert_eq!(data["updateClaim"]["claim"]["status"], "PAID");
    assert_eq!(
        data["updateClaim"]["claim"]["patientResponsibility"]["amount"],
        "15.00"
    );

    let rows = app.audit_rows().await;
    for action in [
        "facility.create",
        "facility.update",
        "clinician.create",
        "clinician.update",
        "catalog_test.create",
        "catalog_test.update",
        "patient.create",
        "patient.update",
        "coverage.create",
        "coverage.update",
        "claim.create",
        "claim.update",
    ] {
        assert!(allowed(&rows, action), "{action} audited as allowed");
    }
}

async fn patients_and_clinicians_may_not_change_master_data_and_are_audited(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let patient = app.as_user("p1", w.tenant_a, &[Role::Patient], Some(w.p1));
    let clinician = app.as_user("dr.a", w.tenant_a, &[Role::Clinician], None);
    let p1 = encode(NodeType::Patient, w.p1).to_string();
    let attempts = [
        (CREATE_FACILITY, json!({ "input": { "name": "X" } })),
        (CREATE_CLINICIAN, json!({ "input": { "displayName": "X" } })),
        (CREATE_TEST, json!({ "input": covid_test() })),
        (REGISTER, json!({ "input": alice() })),
        (
            UPDATE_PATIENT,
            json!({ "id": p1, "input": { "familyName": "Changed" } }),
        ),
        (
            ADD_COVERAGE,
            json!({ "patient": p1, "input": { "payerName": "Aetna", "memberId": "M1" } }),
        ),
    ];
    for viewer in [&patient, &clinician] {
        for (query, variables) in &attempts {
            let response = viewer.query(query, variables.clone()).await;
            assert_eq!(
                error_code(&response),
                Some("FORBIDDEN"),
                "{query}: {response:#}"
            );
        }
    }
    let response = app
        .anonymous()
        .query(CREATE_FACILITY, json!({ "input": { "name": "X" } }))
        .await;
    assert_eq!(
        error_code(&response),
        Some("UNAUTHENTICATED"),
        "{response:#}"
    );
    let rows = app.audit_rows().await;
    for subject in ["p1", "dr.a"] {
        let denied = rows
            .iter()
            .filter(|r| r.subject.as_deref() == Some(subject) && r.outcome == AuditOutcome::Denied)
            .filter(|r| r.reason.as_deref() == Some("role not permitted"))
            .count();
        assert_eq!(denied, attempts.len(), "every refusal of {subject} audited");
    }
    assert!(rows.iter().any(|r| r.action == "patient.update"
        && r.outcome == AuditOutcome::Denied
        && r.patient_id == Some(w.p1)));
    let unchanged = staff(&app, w.tenant_a)
        .query(
            "query($id: ID!) { patient(id: $id) { familyName } }",
            json!({ "id": p1 }),
        )
        .await;
    assert_eq!(unchanged["data"]["patient"]["familyName"], "FamilyP1");

    let lab = app.as_user("lis", w.tenant_a, &[Role::Lab], None);
    ok(&lab, REGISTER, json!({ "input": alice() })).await;
    let response = lab
        .query(CREATE_FACILITY, json!({ "input": { "name": "X" } }))
        .await;
    assert_eq!(
        error_code(&response),
        Some("FORBIDDEN"),
        "the lab registers, it does not keep the directory"
    );
}

async fn duplicate_keys_are_conflicts_within_a_tenant_only(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let staff_a = staff(&app, w.tenant_a);
    let staff_b = app.as_user("staff.b", w.tenant_b, &[Role::Staff], None);
    ok(&staff_a, REGISTER, json!({ "input": alice() })).await;
    let again = staff_a.query(REGISTER, json!({ "input": alice() })).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again:#}");
    ok(&staff_b, REGISTER, json!({ "input": alice() })).await;

    let npi = json!({ "input": { "displayName": "Dr. One", "npi": "1245319599" } });
    ok(&staff_a, CREATE_CLINICIAN, npi.clone()).await;
    let again = staff_a.query(CREATE_CLINICIAN, npi.clone()).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again:#}");
    ok(&staff_b, CREATE_CLINICIAN, npi).await;

    let mut cbc = covid_test();
    cbc["code"] = json!("58410-2");
    let again = staff_a.query(CREATE_TEST, json!({ "input": cbc })).await;
    assert_eq!(
        error_code(&again),
        Some("CONFLICT"),
        "the world's CBC has this code"
    );

    let p1 = encode(NodeType::Patient, w.p1).to_string();
    let data = ok(
        &staff_a,
        UPDATE_PATIENT,
        json!({ "id": p1, "input": { "mrn": "P1" } }),
    )
    .await;
    assert_eq!(
        data["updatePatient"]["patient"]["mrn"], "P1",
        "its own MRN is no conflict"
    );
    let taken = staff_a
        .query(
            UPDATE_PATIENT,
            json!({ "id": p1, "input": { "mrn": "P2" } }),
        )
        .await;
    assert_eq!(error_code(&taken), Some("CONFLICT"), "{taken:#}");

    let cover = json!({ "patient": p1, "input": { "payerName": "Aetna", "memberId": "M1" } });
    let data = ok(&staff_a, ADD_COVERAGE, cover.clone()).await;
    let again = staff_a.query(ADD_COVERAGE, cover).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again:#}");
    let coverage = data["addCoverage"]["coverage"]["id"].clone();
    let claim = json!({ "coverage": coverage, "input": {
        "claimNumber": "CLM-9", "serviceDate": "2026-02-03", "description": "Visit", "billedCents": 100 } });
    ok(&staff_a, ADD_CLAIM, claim.clone()).await;
    let again = staff_a.query(ADD_CLAIM, claim).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again:#}");
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "patient.create"
        && r.outcome == AuditOutcome::Failed
        && r.reason.as_deref() == Some("CONFLICT")));
}

async fn invalid_fields_are_bad_user_input_with_their_path(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let staff = staff(&app, w.tenant_a);
    let with = |key: &str, value: Value| {
        let mut input = alice();
        input[key] = value;
        json!({ "input": input })
    };
    let mut address = alice();
    address["address"]["postalCode"] = json!("x".repeat(21));
    let mut two_codes = covid_test();
    two_codes["analytes"] = json!([
        { "code": "A", "displayName": "a", "valueType": "TEXT" },
        { "code": "A", "displayName": "b", "valueType": "TEXT" } ]);
    let mut bad_loinc = covid_test();
    bad_loinc["code"] = json!("94500");
    let mut backwards = covid_test();
    backwards["analytes"] = json!([{ "code": "A", "displayName": "a", "valueType": "NUMERIC",
                                     "referenceLow": 5.0, "referenceHigh": 1.0 }]);
    let cases = [
        (REGISTER, with("sex", json!("X")), "input.sex"),
        (REGISTER, with("race", json!("white")), "input.race"),
        (REGISTER, with("ethnicity", json!("Q")), "input.ethnicity"),
        (
            REGISTER,
            with("birthDate", json!("2999-01-01")),
            "input.birthDate",
        ),
        (
            REGISTER,
            with("email", json!("not-an-email")),
            "input.email",
        ),
        (REGISTER, with("phone", json!("call me")), "input.phone"),
        (REGISTER, with("mrn", json!("  ")), "input.mrn"),
        (
            REGISTER,
            json!({ "input": address }),
            "input.address.postalCode",
        ),
        (
            CREATE_CLINICIAN,
            json!({ "input": { "displayName": "Dr", "npi": "1234567890" } }),
            "input.npi",
        ),
        (
            CREATE_FACILITY,
            json!({ "input": { "name": "F", "cliaNumber": "12345" } }),
            "input.cliaNumber",
        ),
        (
            CREATE_FACILITY,
            json!({ "input": { "name": " " } }),
            "input.name",
        ),
        (
            CREATE_TEST,
            json!({ "input": two_codes }),
            "input.analytes[1].code",
        ),
        (CREATE_TEST, json!({ "input": bad_loinc }), "input.code"),
        (
            CREATE_TEST,
            json!({ "input": backwards }),
            "input.analytes[0].referenceHigh",
        ),
    ];
    for (query, variables, path) in cases {
        let response = staff.query(query, variables).await;
        assert_eq!(
            error_code(&response),
            Some("BAD_USER_INPUT"),
            "{path}: {response:#}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"].as_str(),
            Some(path),
            "{response:#}"
        );
    }
    let p1 = encode(NodeType::Patient, w.p1).to_string();
    let cover = ok(
        &staff,
        ADD_COVERAGE,
        json!({ "patient": p1, "input": { "payerName": "Aetna", "memberId": "M1" } }),
    )
    .await;
    let response = staff.query(ADD_CLAIM, json!({ "coverage": cover["addCoverage"]["coverage"]["id"], "input": {
            "claimNumber": "C1", "serviceDate": "2026-01-01", "description": "x", "billedCents": 100, "allowedCents": 200 } }))
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["field"], "input.allowedCents",
        "{response:#}"
    );
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "patient.create"
        && r.outcome == AuditOutcome::Failed
        && r.reason.as_deref() == Some("BAD_USER_INPUT")));
}

async fn staff_search_patients_by_name_mrn_and_birth_date_in_their_tenant(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let staff_a = staff(&app, w.tenant_a);
    for (mrn, given, family, born) in [
        ("S1", "David", "Kim", "1958-11-20"),
        ("S2", "Dana", "Kimball", "1990-01-01"),
        ("S3", "Kim", "Lee", "1958-11-20"),
        ("S4", "Ann", "O_Neil", "1970-05-05"),
    ] {
        ok(
            &staff_a,
            REGISTER,
            json!({ "input": {
            "mrn": mrn, "givenName": given, "familyName": family, "birthDate": born } }),
        )
        .await;
    }
    let staff_b = app.as_user("staff.b", w.tenant_b, &[Role::Staff], None);
    ok(
        &staff_b,
        REGISTER,
        json!({ "input": {
        "mrn": "S9", "givenName": "Kim", "familyName": "Kim", "birthDate": "1958-11-20" } }),
    )
    .await;

    let mrns = |response: &Value| -> Vec<String> {
        response["data"]["viewer"]["patients"]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .filter_map(|e| e["node"]["mrn"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let search = |s: Value| json!({ "search": s });
    let by_name = ok(&staff_a, SEARCH, search(json!({ "name": "kim" }))).await;
    assert_eq!(
        mrns(&json!({ "data": by_name })),
        ["S1", "S2", "S3"],
        "family name order"
    );
    let both = ok(&staff_a, SEARCH, search(json!({ "name": "Kim, D" }))).await;
    assert_eq!(mrns(&json!({ "data": both })), ["S1", "S2"]);
    let born = ok(
        &staff_a,
        SEARCH,
        search(json!({ "birthDate": "1958-11-20" })),
    )
    .await;
    assert_eq!(
        mrns(&json!({ "data": born })),
        ["S1", "S3"],
        "tenant B's patient is never found"
    );
    let mrn = ok(
        &staff_a,
        SEARCH,
        search(json!({ "mrn": "S3", "name": "lee" })),
    )
    .await;
    assert_eq!(mrns(&json!({ "data": mrn })), ["S3"]);
    let literal = ok(&staff_a, SEARCH, search(json!({ "name": "o_" }))).await;
    assert_eq!(
        mrns(&json!({ "data": literal })),
        ["S4"],
        "LIKE wildcards are literal"
    );
    let other = ok(&staff_a, SEARCH, search(json!({ "mrn": "S9" }))).await;
    assert!(mrns(&json!({ "data": other })).is_empty());

    let first = staff_a
        .query(SEARCH, json!({ "search": { "name": "kim" }, "first": 2 }))
        .await;
    assert_eq!(mrns(&first), ["S1", "S2"]);
    let page = &first["data"]["viewer"]["patients"]["pageInfo"];
    assert_eq!(page["hasNextPage"], true);
    let next = staff_a
        .query(
            SEARCH,
            json!({ "search": { "name": "kim" }, "first": 2, "after": page["endCursor"] }),
        )
        .await;
    assert_eq!(mrns(&next), ["S3"]);

    let empty = staff_a.query(SEARCH, json!({ "search": {} })).await;
    assert_eq!(error_code(&empty), Some("BAD_USER_INPUT"));
    let patient = app.as_user("p1", w.tenant_a, &[Role::Patient], Some(w.p1));
    let own = patient
        .query(SEARCH, json!({ "search": { "name": "kim" } }))
        .await;
    assert!(
        mrns(&own).is_empty(),
        "a patient searches only whom they may see: {own:#}"
    );

    let rows = app.audit_rows().await;
    let searches: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "patient.search")
        .collect();
    assert!(searches.len() >= 8);
    assert!(
        searches
            .iter()
            .any(|r| r.reason.as_deref() == Some("name,mrn"))
    );
    assert!(
        rows.iter()
            .all(|r| !r.reason.as_deref().unwrap_or_default().contains("kim")),
        "search terms are never written to the audit trail"
    );
    let s3_reads = rows
        .iter()
        .filter(|r| r.action == "patient.read" && r.subject.as_deref() == Some("staff.a"))
        .count();
    assert!(s3_reads >= 9, "every patient found is an audited read");
}

async fn the_registration_service_upserts_by_mrn_and_coverage_by_payer_and_member(
    backend: Backend,
) {
    use portal_core::context::{Origin, RequestContext, Shape};
    use portal_services::coverage::registration::{self as coverage, CoverageRecord};
    use portal_services::master::Change;
    use portal_services::patients::registration::{self, Address, Demographics};
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let lab = app.as_lab(w.tenant_a).viewer().await;
    let ctx = || {
        let origin = Origin::new(Some(lab.clone()), Uuid::now_v7().to_string(), None);
        RequestContext::new(&app.db, Shape::Statements, origin)
    };
    let demographics = |city: &str| Demographics {
        mrn: "ADT-1".into(),
        given_name: "Maria".into(),
        family_name: "Garcia".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1985, 2, 3).expect("date"),
        sex: Some("F".into()),
        race: Some("2106-3".into()),
        ethnicity: Some("H".into()),
        address: Some(Address {
            line1: Some("5 Elm St".into()),
            city: Some(city.into()),
            state: Some("IL".into()),
            postal_code: Some("62704".into()),
            country: Some("USA".into()),
            ..Address::default()
        }),
        phone: Some("+12175550123".into()),
        email: None,
        language: Some("es".into()),
    };
    let mut changes = Vec::new();
    let mut ids = Vec::new();
    for city in ["Springfield", "Springfield", "Chatham"] {
        let request = ctx();
        let (patient, change) = registration::register(&request, demographics(city))
            .await
            .expect("register");
        request.finish().await.expect("finish");
        changes.push(change);
        ids.push(patient.id);
    }
    assert_eq!(
        changes,
        [Change::Created, Change::Unchanged, Change::Updated]
    );
    assert!(ids.iter().all(|id| *id == ids[0]));

    let record = |plan: &str| CoverageRecord {
        payer_id: Some("60054".into()),
        payer_name: "Aetna".into(),
        plan: Some(plan.into()),
        member_id: "W1".into(),
        ..CoverageRecord::default()
    };
    let mut coverage_changes = Vec::new();
    for plan in ["PPO", "PPO", "HMO"] {
        let request = ctx();
        let (_, change) = coverage::upsert_coverage(&request, ids[0], record(plan))
            .await
            .expect("coverage");
        request.finish().await.expect("finish");
        coverage_changes.push(change);
    }
    assert_eq!(
        coverage_changes,
        [Change::Created, Change::Unchanged, Change::Updated]
    );

    let patient_viewer = app.as_patient("p1", w.tenant_a, w.p1).viewer().await;
    let origin = Origin::new(Some(patient_viewer), Uuid::now_v7().to_string(), None);
    let refused = registration::register(
        &RequestContext::new(&app.db, Shape::Statements, origin),
        demographics("X"),
    )
    .await;
    assert_eq!(
        refused.err().map(|e| e.code()),
        Some(portal_services::ErrorCode::Forbidden)
    );
    let rows = app.audit_rows().await;
    let reasons: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "patient.register")
        .filter_map(|r| r.reason.clone())
        .collect();
    assert_eq!(reasons, ["created", "unchanged", "updated"]);
}

async fn the_demo_catalog_flags_hiv_and_sars_cov_2_as_reportable(backend: Backend) {
    let app = TestApp::init(backend).await;
    let (tenant, _) = portal_demo::seed(&app.db).await.expect("seed");
    let staff = staff(&app, tenant);
    let data = ok(
        &staff,
        "{ testCatalog(first: 50) { edges { node { code reportable } } } }",
        json!({}),
    )
    .await;
    let mut reportable: Vec<String> = data["testCatalog"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter(|e| e["node"]["reportable"] == true)
                .filter_map(|e| e["node"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    reportable.sort();
    assert_eq!(reportable, ["56888-1", "94500-6"]);
    let data = ok(&staff, r#"{ viewer { patients(search: { mrn: "MRN1004" }) { edges { node { sex race address { city county } } } } } }"#, json!({})).await;
    assert_eq!(
        data["viewer"]["patients"]["edges"][0]["node"]["address"]["county"],
        "Sangamon"
    );
}

async fn master_data_changes_are_never_served_stale_from_the_read_cache(backend: Backend) {
    let app = TestApp::init(backend)
        .with_config(|c| c.cache_enabled = true)
        .await;
    let w = app.world().await;
    let staff = staff(&app, w.tenant_a);
    let catalog = r#"{ testCatalog(search: "94500") { edges { node { displayName } } } }"#;
    let list = "{ viewer { patients(first: 50) { edges { node { mrn } } } } }";
    let names = |data: &Value| data["testCatalog"]["edges"].as_array().map(Vec::len);
    let before = ok(&staff, catalog, json!({})).await;
    assert_eq!(names(&before), Some(0));
    let patients_before = ok(&staff, list, json!({})).await;
    ok(&staff, CREATE_TEST, json!({ "input": covid_test() })).await;
    ok(&staff, REGISTER, json!({ "input": alice() })).await;
    let after = ok(&staff, catalog, json!({})).await;
    assert_eq!(names(&after), Some(1), "a new catalog test shows at once");
    let patients_after = ok(&staff, list, json!({})).await;
    let count = |d: &Value| {
        d["viewer"]["patients"]["edges"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    assert_eq!(
        count(&patients_after),
        count(&patients_before) + 1,
        "a registered patient joins the list at once"
    );

    // The HL7 path: the service called with a unit of work of its own, then the cache told.
    use portal_core::context::{Origin, RequestContext, Shape};
    let lab = app.as_lab(w.tenant_a).viewer().await;
    let origin = Origin::new(Some(lab), Uuid::now_v7().to_string(), None);
    let ctx = RequestContext::new(&app.db, Shape::Statements, origin);
    let demographics = portal_services::patients::registration::Demographics {
        mrn: "ADT-9".into(),
        given_name: "Hl7".into(),
        family_name: "Patient".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).expect("date"),
        sex: None,
        race: None,
        ethnicity: None,
        address: None,
        phone: None,
        email: None,
        language: None,
    };
    portal_services::patients::registration::register(&ctx, demographics)
        .await
        .expect("register");
    ctx.finish().await.expect("finish");
    app.state
        .cache
        .invalidate_after(&ctx)
        .await
        .expect("invalidate");
    let patients_last = ok(&staff, list, json!({})).await;
    assert_eq!(count(&patients_last), count(&patients_after) + 1);
}

async fn the_directory_lists_only_the_organisations_facilities_and_clinicians(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let staff_a = staff(&app, w.tenant_a);
    let staff_b = app.as_user("staff.b", w.tenant_b, &[Role::Staff], None);
    ok(
        &staff_a,
        CREATE_FACILITY,
        json!({ "input": { "name": "North 100% Clinic" } }),
    )
    .await;
    ok(
        &staff_b,
        CREATE_FACILITY,
        json!({ "input": { "name": "North Hospital B" } }),
    )
    .await;
    ok(
        &staff_a,
        CREATE_CLINICIAN,
        json!({ "input": { "displayName": "Dr. Maya Patel", "npi": "1234567893" } }),
    )
    .await;
    let names = |data: &Value, field: &str, key: &str| -> Vec<String> {
        data[field]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .filter_map(|e| e["node"][key].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let data = ok(
        &staff_a,
        r#"{ facilities(first: 10) { edges { node { name } } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        names(&data, "facilities", "name"),
        ["Main Lab", "North 100% Clinic"]
    );
    let data = ok(
        &staff_a,
        r#"{ facilities(search: "100%") { edges { node { name } } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(names(&data, "facilities", "name"), ["North 100% Clinic"]);
    let data = ok(
        &staff_a,
        r#"{ clinicians(search: "1234567893") { edges { node { displayName } } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        names(&data, "clinicians", "displayName"),
        ["Dr. Maya Patel"]
    );
    let data = ok(
        &staff_b,
        r#"{ clinicians(search: "patel") { edges { node { displayName } } } }"#,
        json!({}),
    )
    .await;
    assert!(
        names(&data, "clinicians", "displayName").is_empty(),
        "tenant B sees none of A's"
    );
    let response = app
        .anonymous()
        .query("{ facilities { edges { node { name } } } }", json!({}))
        .await;
    assert_eq!(error_code(&response), Some("UNAUTHENTICATED"));
}

/// PostgreSQL plans each kind of search on an index of its own (sequential scans off, so the
/// plan shows which index the query's shape can use at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_patient_search_can_use_an_index_on_postgres() {
    use portal_services::patients::search::{PatientSearch, matching};
    use sea_orm::{
        ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
        QueryTrait, Statement, TransactionTrait,
    };
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    // Enough patients that a plan which scans the whole tenant costs more than the index.
    let bulk = format!(
        "INSERT INTO patients (id, tenant_id, mrn, given_name, family_name, birth_date, created_at) \
         SELECT gen_random_uuid(), '{}', 'BULK-' || i, 'Given' || i, 'Family' || i, \
                date '1950-01-01' + i, now() FROM generate_series(1, 3000) AS i",
        w.tenant_a
    );
    app.owner
        .execute_unprepared(&bulk)
        .await
        .expect("bulk patients");
    app.owner
        .execute_unprepared("ANALYZE patients")
        .await
        .expect("analyze");
    let cases = [
        (
            PatientSearch {
                name: Some("kim".into()),
                ..Default::default()
            },
            "idx_patients_family_name_lower",
        ),
        (
            PatientSearch {
                mrn: Some("P1".into()),
                ..Default::default()
            },
            "uq_patients_tenant_id_mrn",
        ),
        (
            PatientSearch {
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 2),
                ..Default::default()
            },
            "idx_patients_tenant_id_birth_date",
        ),
    ];
    for (search, index) in cases {
        let words = search.words().expect("words");
        let select = portal_entities::patient::Entity::find()
            .filter(portal_entities::patient::Column::TenantId.eq(w.tenant_a))
            .filter(matching(&search, &words))
            .order_by_asc(portal_entities::patient::Column::FamilyName);
        let statement = select.build(DatabaseBackend::Postgres);
        let txn = app.owner.begin().await.expect("begin");
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .expect("set");
        let explain = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("EXPLAIN {}", statement.sql),
            statement.values.map(|v| v.0).unwrap_or_default(),
        );
        let plan: Vec<String> = txn
            .query_all_raw(explain)
            .await
            .expect("explain")
            .iter()
            .filter_map(|row| row.try_get_by_index::<String>(0).ok())
            .collect();
        assert!(
            plan.iter().any(|line| line.contains(index)),
            "{index} in {plan:#?}"
        );
    }
}

on_both_backends!(
    the_directory_lists_only_the_organisations_facilities_and_clinicians,
    staff_creates_and_updates_every_kind_of_master_data,
    patients_and_clinicians_may_not_change_master_data_and_are_audited,
    duplicate_keys_are_conflicts_within_a_tenant_only,
    invalid_fields_are_bad_user_input_with_their_path,
    staff_search_patients_by_name_mrn_and_birth_date_in_their_tenant,
    the_registration_service_upserts_by_mrn_and_coverage_by_payer_and_member,
    the_demo_catalog_flags_hiv_and_sars_cov_2_as_reportable,
    master_data_changes_are_never_served_stale_from_the_read_cache,
);
