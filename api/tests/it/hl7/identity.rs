//! Patient identity over a real MLLP socket on both backends: PID-3 is matched by assigning
//! authority and id (the same id under two authorities is two patients; an unknown
//! authority is AE, never matched by id alone), walk-ins are registered from an ORU only
//! when the sending facility says so, a name and birth-date match waits in the staff
//! matching queue until staff resolve it, and result links go to walk-ins per facility —
//! never to a minor, never for a sensitive test.

use portal_entities::{
    Hl7MessageStatus, PatientMatchStatus, notification, patient, patient_identifier, patient_match,
    result_link, test_order,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::hl7::rig::{Rig, edited};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, no_errors};

on_both_backends!(
    the_same_id_under_two_authorities_is_two_patients,
    an_unknown_authority_is_ae_and_not_matched_by_id_alone,
    an_unknown_identifier_registers_a_walk_in_only_when_the_facility_says_so,
    a_name_and_birth_date_match_waits_for_staff_who_link_or_register,
    result_links_go_to_adult_walk_ins_per_facility_never_for_a_sensitive_test,
);

const PUBLIC_URL: &str = "http://127.0.0.1:9999";
/// The demo's laboratory (MSH-4 of every ORU here).
const LAB_CLIA: &str = "05D2101234";
const CBC: (&str, &str) = (
    "4548-4^Hemoglobin A1c/Hemoglobin.total in Blood^LN",
    "OBX|1|NM|4548-4^Hemoglobin A1c/Hemoglobin.total in Blood^LN||5.4|%|4.0-5.6|N|||F",
);
const HIV: (&str, &str) = (
    "56888-1^HIV 1+2 Ab+HIV1 p24 Ag^LN",
    "OBX|1|CWE|56888-1^HIV 1+2 Ab+HIV1 p24 Ag^LN||Nonreactive^Nonreactive^L||Nonreactive|N|||F",
);

const SET_AUTHORITY: &str = r#"mutation($facility: ID, $input: PatientIdAuthorityInput!) {
  setPatientIdAuthority(facilityId: $facility, input: $input) {
    authority { namespace universalId universalIdType system registersPatients sendsResultLinks facility { name } }
  }
}"#;
const MATCHES: &str = r#"query($status: PatientMatchStatus) {
  patientMatches(status: $status, first: 10) { edges { node {
    id status givenName familyName birthDate
    identifier { value system namespace }
    candidate { mrn }
    resolvedPatient { mrn }
  } } }
}"#;
const RESOLVE: &str = r#"mutation($id: ID!, $resolution: PatientMatchResolution!) {
  resolvePatientMatch(id: $id, resolution: $resolution) {
    patientMatch { status resolvedPatient { mrn identifiers { value system } } }
  }
}"#;

/// One ORU from the demo laboratory: PID-3, PID-5, PID-7 and one test as given.
fn oru(control: &str, pid3: &str, name: &str, birth: &str, test: (&str, &str)) -> Vec<u8> {
    let (obr4, obx) = test;
    [
        format!(
            "MSH|^~\\&|LABA LIS|Riverside Main Laboratory^{LAB_CLIA}^CLIA|PORTAL|RIVERSIDE|20260301101500-0500||ORU^R01^ORU_R01|{control}|P|2.5.1"
        ),
        format!(
            "PID|1||{pid3}||{name}||{birth}|F|||1 Main Street^^Springfield^IL^62704^USA^H||^PRN^PH^^1^217^5550999"
        ),
        format!("ORC|RE|P-{control}|F-{control}"),
        format!(
            "OBR|1|P-{control}|F-{control}|{obr4}|||20260301081000-0500|||||||||||||||20260301101000-0500|||F"
        ),
        obx.to_owned(),
    ]
    .join("\r")
    .into_bytes()
}

async fn rig(backend: Backend) -> Rig {
    let app = TestApp::init(backend)
        .with_config(|c| c.notify.public_url = PUBLIC_URL.to_owned())
        .await;
    Rig::over(app).await
}

/// The demo laboratory's global ID, as staff see it.
async fn lab_facility(rig: &Rig) -> Value {
    let staff = rig.app.as_staff(rig.tenant);
    let found = staff
        .query(
            "{ facilities(search: \"Main Laboratory\", first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    no_errors(&found);
    found["data"]["facilities"]["edges"][0]["node"]["id"].clone()
}

/// Registers the laboratory's own authority `LABA` with its walk-in rules.
async fn lab_authority(rig: &Rig, registers: bool, links: bool) -> Value {
    let facility = lab_facility(rig).await;
    let input = json!({
        "namespace": "LABA",
        "universalId": "2.16.840.1.113883.3.999.1",
        "universalIdType": "iso",
        "registersPatients": registers,
        "sendsResultLinks": links,
    });
    let set = rig
        .app
        .as_staff(rig.tenant)
        .query(
            SET_AUTHORITY,
            json!({ "facility": facility, "input": input }),
        )
        .await;
    no_errors(&set);
    set["data"]["setPatientIdAuthority"]["authority"].clone()
}

async fn order_patient(rig: &Rig, filler: &str) -> patient::Model {
    let order = rig.order(filler).await;
    patient::Entity::find_by_id(order.patient_id)
        .one(&rig.app.owner)
        .await
        .expect("patient lookup")
        .expect("the order's patient")
}

async fn patients_named(rig: &Rig, family: &str) -> Vec<patient::Model> {
    patient::Entity::find()
        .filter(patient::Column::TenantId.eq(rig.tenant))
        .filter(patient::Column::FamilyName.eq(family))
        .all(&rig.app.owner)
        .await
        .expect("patients")
}

async fn links_of(rig: &Rig, patient: Uuid) -> (usize, usize) {
    let links = result_link::Entity::find()
        .filter(result_link::Column::PatientId.eq(patient))
        .all(&rig.app.owner)
        .await
        .expect("links")
        .len();
    let sent = notification::Entity::find()
        .filter(notification::Column::PatientId.eq(patient))
        .filter(notification::Column::Template.eq("result_link"))
        .all(&rig.app.owner)
        .await
        .expect("notifications")
        .len();
    (links, sent)
}

async fn the_same_id_under_two_authorities_is_two_patients(backend: Backend) {
    let rig = rig(backend).await;
    let authority = lab_authority(&rig, false, false).await;
    assert_eq!(authority["system"], "urn:oid:2.16.840.1.113883.3.999.1");
    assert_eq!(authority["universalIdType"], "ISO", "table 0301 spelling");
    assert_eq!(authority["facility"]["name"], "Riverside Main Laboratory");
    // The portal's MRN 12345 (Ben), and the laboratory's 12345 given to Elena by ADT.
    let ben = edited(
        "adt_a28.hl7",
        &[
            ("MRN1005^^^RIVERSIDE^MR", "12345^^^RIVERSIDE^MR"),
            ("Garcia^Elena", "Okoro^Ben"),
            ("ADT20260312-0003", "ADT-BEN"),
        ],
    );
    rig.send(&ben).await.assert_code("AA");
    let elena = edited(
        "adt_a28.hl7",
        &[(
            "MRN1005^^^RIVERSIDE^MR",
            "MRN1005^^^RIVERSIDE^MR~12345^^^LABA&2.16.840.1.113883.3.999.1&ISO^PI",
        )],
    );
    rig.send(&elena).await.assert_code("AA");
    let elena = rig.patient("MRN1005").await;
    let held = patient_identifier::Entity::find()
        .filter(patient_identifier::Column::PatientId.eq(elena.id))
        .all(&rig.app.owner)
        .await
        .expect("identifiers");
    assert_eq!(held.len(), 1, "ADT stores the laboratory's identifier");
    assert_eq!(held[0].value, "12345");

    let lab = "12345^^^LABA^PI";
    rig.send(&oru("ID-1", lab, "Garcia^Elena", "19920214", CBC))
        .await
        .assert_code("AA");
    let portal = "12345^^^RIVERSIDE^MR";
    rig.send(&oru("ID-2", portal, "Okoro^Ben", "19920214", CBC))
        .await
        .assert_code("AA");
    assert_eq!(order_patient(&rig, "F-ID-1").await.id, elena.id);
    let ben = order_patient(&rig, "F-ID-2").await;
    assert_eq!(ben.mrn, "12345");
    assert_ne!(ben.id, elena.id, "the same id under two authorities");

    // GraphQL and FHIR show the laboratory's identifier with its system.
    let staff = rig.app.as_staff(rig.tenant);
    let gid = crate::support::ids::patient_gid(elena.id);
    let shown = staff
        .query(
            "query($id: ID!) { patient(id: $id) { mrn identifiers { value system namespace } } }",
            json!({ "id": gid }),
        )
        .await;
    no_errors(&shown);
    assert_eq!(
        shown["data"]["patient"]["identifiers"],
        json!([{ "value": "12345", "system": "urn:oid:2.16.840.1.113883.3.999.1", "namespace": "LABA" }])
    );
    rig.stop().await;
}

async fn an_unknown_authority_is_ae_and_not_matched_by_id_alone(backend: Backend) {
    let rig = rig(backend).await;
    let before = rig.counts().await;
    let ack = rig
        .send(&oru(
            "ID-3",
            "MRN1001^^^OTHERLAB^MR",
            "Nguyen^Alice",
            "19840312",
            CBC,
        ))
        .await;
    ack.assert_code("AE");
    assert_eq!(
        ack.errors,
        vec![("PID^1^3^1^4".to_owned(), "204".to_owned(), "E".to_owned())]
    );
    assert!(
        ack.text.contains("unknown assigning authority"),
        "{}",
        ack.text
    );
    assert_eq!(rig.counts().await, before, "nothing stored");
    // The portal's own authority by its OID still finds Alice.
    let own = "MRN1001^^^&2.16.840.1.113883.3.999&ISO^MR";
    rig.send(&oru("ID-4", own, "Nguyen^Alice", "19840312", CBC))
        .await
        .assert_code("AA");
    assert_eq!(
        order_patient(&rig, "F-ID-4").await.id,
        rig.patient("MRN1001").await.id
    );
    rig.stop().await;
}

async fn an_unknown_identifier_registers_a_walk_in_only_when_the_facility_says_so(
    backend: Backend,
) {
    let rig = rig(backend).await;
    lab_authority(&rig, false, false).await;
    let walk_in = |control: &str| oru(control, "W-100^^^LABA^PI", "Walker^Wanda", "19900101", CBC);
    let ack = rig.send(&walk_in("ID-5")).await;
    ack.assert_code("AE");
    assert_eq!(ack.errors[0].0, "PID^1^3");
    assert!(ack.text.contains("unknown patient"), "{}", ack.text);
    assert!(patients_named(&rig, "Walker").await.is_empty());

    lab_authority(&rig, true, false).await;
    rig.send(&walk_in("ID-6")).await.assert_code("AA");
    let [wanda] = patients_named(&rig, "Walker")
        .await
        .try_into()
        .expect("one Wanda");
    assert_eq!(wanda.birth_date.to_string(), "1990-01-01");
    assert!(
        wanda
            .phone
            .as_deref()
            .is_some_and(|p| p.ends_with("5550999")),
        "PID-13 kept by the ADT rules: {:?}",
        wanda.phone
    );
    assert!(wanda.mrn.starts_with('W'), "a generated MRN: {}", wanda.mrn);
    assert_eq!(order_patient(&rig, "F-ID-6").await.id, wanda.id);
    // The next result finds her by the laboratory's identifier: registered once.
    rig.send(&walk_in("ID-7")).await.assert_code("AA");
    assert_eq!(order_patient(&rig, "F-ID-7").await.id, wanda.id);
    assert_eq!(patients_named(&rig, "Walker").await.len(), 1);
    let (links, _) = links_of(&rig, wanda.id).await;
    assert_eq!(links, 0, "the facility sends no links");
    rig.stop().await;
}

async fn a_name_and_birth_date_match_waits_for_staff_who_link_or_register(backend: Backend) {
    let rig = rig(backend).await;
    lab_authority(&rig, true, false).await;
    let alice = rig.patient("MRN1001").await;
    let before = rig.counts().await;
    let ack = rig
        .send(&oru(
            "ID-8",
            "L-77^^^LABA^PI",
            "NGUYEN^Alice",
            "19840312",
            CBC,
        ))
        .await;
    ack.assert_code("AE");
    assert!(ack.text.contains("matching queue"), "{}", ack.text);
    assert_eq!(rig.counts().await, before, "never merged automatically");
    assert_eq!(rig.message("ID-8").await.status, Hl7MessageStatus::Dead);
    // Resent while open: still one match.
    rig.send(&oru(
        "ID-8b",
        "L-77^^^LABA^PI",
        "NGUYEN^Alice",
        "19840312",
        CBC,
    ))
    .await
    .assert_code("AE");

    let staff = rig.app.as_staff(rig.tenant);
    let queue = staff.query(MATCHES, json!({})).await;
    no_errors(&queue);
    let edges = queue["data"]["patientMatches"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 1, "{queue:#}");
    let open = &edges[0]["node"];
    assert_eq!(open["status"], "OPEN");
    assert_eq!(
        (open["familyName"].as_str(), open["birthDate"].as_str()),
        (Some("NGUYEN"), Some("1984-03-12"))
    );
    assert_eq!(open["identifier"]["value"], "L-77");
    assert_eq!(open["identifier"]["namespace"], "LABA");
    assert_eq!(open["candidate"]["mrn"], "MRN1001");
    // A patient may not see the queue.
    let patient = rig.app.as_patient(
        alice.user_subject.as_deref().expect("Alice signs in"),
        rig.tenant,
        alice.id,
    );
    let refused = patient.query(MATCHES, json!({})).await;
    assert_eq!(crate::support::error_code(&refused), Some("FORBIDDEN"));

    let linked = staff
        .query(RESOLVE, json!({ "id": open["id"], "resolution": "LINK" }))
        .await;
    no_errors(&linked);
    let resolved = &linked["data"]["resolvePatientMatch"]["patientMatch"];
    assert_eq!(resolved["status"], "LINKED");
    assert_eq!(resolved["resolvedPatient"]["mrn"], "MRN1001");
    let again = staff
        .query(
            RESOLVE,
            json!({ "id": open["id"], "resolution": "REGISTER" }),
        )
        .await;
    assert_eq!(crate::support::error_code(&again), Some("CONFLICT"));
    let report = rig.replay().await;
    assert_eq!(report.accepted, 2, "both waiting messages: {report:?}");
    assert_eq!(order_patient(&rig, "F-ID-8").await.id, alice.id);

    // Another person with the same name and birth date: staff register them.
    rig.send(&oru(
        "ID-9",
        "L-78^^^LABA^PI",
        "Nguyen^Alice",
        "19840312",
        CBC,
    ))
    .await
    .assert_code("AE");
    let queue = staff.query(MATCHES, json!({})).await;
    let open = queue["data"]["patientMatches"]["edges"][0]["node"].clone();
    assert_eq!(open["identifier"]["value"], "L-78");
    let registered = staff
        .query(
            RESOLVE,
            json!({ "id": open["id"], "resolution": "REGISTER" }),
        )
        .await;
    no_errors(&registered);
    let resolved = &registered["data"]["resolvePatientMatch"]["patientMatch"];
    assert_eq!(resolved["status"], "REGISTERED");
    assert_ne!(resolved["resolvedPatient"]["mrn"], "MRN1001");
    assert_eq!(
        resolved["resolvedPatient"]["identifiers"][0]["value"],
        "L-78"
    );
    assert_eq!(rig.replay().await.accepted, 1);
    let other = order_patient(&rig, "F-ID-9").await;
    assert_ne!(other.id, alice.id);
    assert_eq!(patients_named(&rig, "Nguyen").await.len(), 2);
    let history = staff
        .query(MATCHES, json!({ "status": "REGISTERED" }))
        .await;
    assert_eq!(
        history["data"]["patientMatches"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let stored = patient_match::Entity::find()
        .filter(patient_match::Column::Status.eq(PatientMatchStatus::Open))
        .all(&rig.app.owner)
        .await
        .expect("matches");
    assert!(stored.is_empty(), "every match resolved");
    rig.stop().await;
}

async fn result_links_go_to_adult_walk_ins_per_facility_never_for_a_sensitive_test(
    backend: Backend,
) {
    let rig = rig(backend).await;
    lab_authority(&rig, true, false).await;
    rig.send(&oru("ID-10", "A-1^^^LABA^PI", "Adams^Ann", "19800101", CBC))
        .await
        .assert_code("AA");
    let ann = order_patient(&rig, "F-ID-10").await;
    assert_eq!(links_of(&rig, ann.id).await, (0, 0), "the flag is off");

    lab_authority(&rig, true, true).await;
    rig.send(&oru("ID-11", "B-1^^^LABA^PI", "Brown^Bea", "19800101", CBC))
        .await
        .assert_code("AA");
    let bea = order_patient(&rig, "F-ID-11").await;
    assert_eq!(links_of(&rig, bea.id).await, (1, 1), "an adult walk-in");
    // A later result of hers gets its own link; the first is not sent again.
    rig.send(&oru("ID-12", "B-1^^^LABA^PI", "Brown^Bea", "19800101", CBC))
        .await
        .assert_code("AA");
    assert_eq!(links_of(&rig, bea.id).await, (2, 2));

    rig.send(&oru(
        "ID-13",
        "C-1^^^LABA^PI",
        "Child^Cody",
        "20150601",
        CBC,
    ))
    .await
    .assert_code("AA");
    let cody = order_patient(&rig, "F-ID-13").await;
    assert_eq!(links_of(&rig, cody.id).await, (0, 0), "never to a minor");

    rig.send(&oru("ID-14", "D-1^^^LABA^PI", "Diaz^Dana", "19800101", HIV))
        .await
        .assert_code("AA");
    let dana = order_patient(&rig, "F-ID-14").await;
    assert_eq!(
        links_of(&rig, dana.id).await,
        (0, 0),
        "never for a sensitive test"
    );
    // A patient registered by ADT is no walk-in: no link, even from this facility.
    rig.send(&oru(
        "ID-15",
        "MRN1001^^^RIVERSIDE^MR",
        "Nguyen^Alice",
        "19840312",
        CBC,
    ))
    .await
    .assert_code("AA");
    let alice = rig.patient("MRN1001").await;
    assert_eq!(links_of(&rig, alice.id).await, (0, 0));
    let orders = test_order::Entity::find()
        .filter(test_order::Column::PatientId.eq(alice.id))
        .all(&rig.app.owner)
        .await
        .expect("orders");
    assert!(!orders.is_empty());
    rig.stop().await;
}

/// A row in each identity table of `tenant` (row-level-security tests): the facility's
/// authority, an identifier of Alice and an open match on the tenant's first stored message.
pub(crate) async fn rows_for_rls(app: &TestApp, tenant: Uuid) {
    use portal_entities::{facility, hl7_message, patient_id_authority};
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let db = &app.owner;
    let facility = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(tenant))
        .one(db)
        .await
        .expect("q")
        .expect("a facility");
    let alice = portal_services::patients::find_by_mrn(db, tenant, "MRN1001")
        .await
        .expect("q")
        .expect("alice");
    let message = hl7_message::Entity::find()
        .filter(hl7_message::Column::TenantId.eq(tenant))
        .one(db)
        .await
        .expect("q")
        .expect("a stored message");
    let now = chrono::Utc::now();
    let authority = patient_id_authority::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        facility_id: Some(facility.id),
        namespace: Some("LABA".into()),
        universal_id: None,
        universal_id_type: None,
        registers_patients: true,
        sends_result_links: false,
        created_at: now,
        updated_at: None,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("authority");
    patient_identifier::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        patient_id: alice.id,
        authority_id: authority.id,
        value: "RLS-1".into(),
        walk_in: false,
        created_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("identifier");
    patient_match::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        hl7_message_id: message.id,
        authority_id: authority.id,
        value: "RLS-2".into(),
        given_name: alice.given_name.clone(),
        family_name: alice.family_name.clone(),
        birth_date: alice.birth_date,
        candidate_patient_id: alice.id,
        status: PatientMatchStatus::Open,
        resolved_patient_id: None,
        resolved_by: None,
        resolved_at: None,
        created_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("match");
}
