//! Senders and codes as real laboratories send them, over a real MLLP socket on both
//! backends: an OID in MSH-4 resolved through the facility's alias identifiers (kept
//! through master data), LOINC in the alternate triplet, a local code through the sender's
//! code map, and an unmapped local code answered AE naming it.

use portal_api::auth::Role;
use portal_entities::{facility, observation, test_order};
use portal_resolvers::ids::{NodeType, encode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::hl7::requisitions::{Group, RIVERSIDE_LAB, oru};
use crate::hl7::rig::Rig;
use crate::on_both_backends;
use crate::support::{Backend, no_errors};

on_both_backends!(
    an_oid_in_msh4_is_accepted_once_registered_as_an_alias_of_the_facility,
    loinc_in_the_alternate_triplet_finds_the_catalog_analyte,
    an_unmapped_local_code_is_one_ae_naming_it_and_the_code_map_applies,
    a_code_map_imported_from_csv_maps_the_senders_local_codes,
);

const UPDATE_FACILITY: &str = r#"mutation($id: ID!, $input: UpdateFacilityInput!) {
  updateFacility(id: $id, input: $input) { facility { id cliaNumber
    identifiers { namespaceId universalId universalIdType } codeMap { localCode localSystem code } } }
}"#;

/// NIST's ELR samples name their laboratory by an OID.
const NIST_LAB: &str = "NIST Lab^2.16.840.1.113883.3.72.5.24^ISO";

/// Changes the demo laboratory's master data as staff; returns the facility as answered.
async fn update_lab(rig: &Rig, input: Value) -> Value {
    let lab = facility::Entity::find()
        .filter(facility::Column::CliaNumber.eq("05D2101234"))
        .one(&rig.app.owner)
        .await
        .expect("facility")
        .expect("the demo laboratory");
    let staff = rig
        .app
        .as_user("staff.hl7", rig.tenant, &[Role::Staff], None);
    let id = encode(NodeType::Facility, lab.id).to_string();
    let response = staff
        .query(UPDATE_FACILITY, json!({ "id": id, "input": input }))
        .await;
    no_errors(&response);
    response["data"]["updateFacility"]["facility"].clone()
}

async fn observation_codes(rig: &Rig, filler: &str) -> Vec<String> {
    let order = rig.order(filler).await;
    let result = rig.results_of(order.id).await.remove(0);
    observation::Entity::find()
        .filter(observation::Column::ResultId.eq(result.id))
        .all(&rig.app.owner)
        .await
        .expect("observations")
        .into_iter()
        .map(|o| o.code)
        .collect()
}

async fn an_oid_in_msh4_is_accepted_once_registered_as_an_alias_of_the_facility(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let message = oru("NIST-1", NIST_LAB, &[Group::hba1c("NIST-P", "NIST-F")]);
    let refused = rig.send(&message).await;
    refused.assert_code("AE");
    assert_eq!(refused.errors[0].0, "MSH^1^4", "{}", refused.text);
    let lab = update_lab(
        &rig,
        json!({ "identifiers": [
            { "namespaceId": "NIST Lab", "universalId": "2.16.840.1.113883.3.72.5.24", "universalIdType": "iso" }
        ] }),
    )
    .await;
    assert_eq!(
        lab["identifiers"],
        json!([{ "namespaceId": "NIST Lab", "universalId": "2.16.840.1.113883.3.72.5.24", "universalIdType": "ISO" }]),
        "kept as HL7 HD values"
    );
    let again = update_lab(&rig, json!({ "cliaNumber": "05D2101234" })).await;
    assert_eq!(
        again["identifiers"], lab["identifiers"],
        "kept through other master-data changes"
    );
    rig.send(&message).await.assert_code("AA");
    let order = rig.order("NIST-F").await;
    let lab_id = test_order::Entity::find_by_id(order.id)
        .one(&rig.app.owner)
        .await
        .expect("order")
        .expect("order")
        .facility_id;
    let clia = facility::Entity::find_by_id(lab_id)
        .one(&rig.app.owner)
        .await
        .expect("facility")
        .and_then(|f| f.clia_number);
    assert_eq!(clia.as_deref(), Some("05D2101234"), "the aliased facility");
    rig.stop().await;
}

async fn loinc_in_the_alternate_triplet_finds_the_catalog_analyte(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let alternate = Group {
        analyte: "A1C^Hemoglobin A1c^L^4548-4^Hemoglobin A1c/Hemoglobin.total in Blood^LN",
        ..Group::hba1c("ALT-P", "ALT-F")
    };
    rig.send(&oru("ALT-1", RIVERSIDE_LAB, &[alternate]))
        .await
        .assert_code("AA");
    assert_eq!(observation_codes(&rig, "ALT-F").await, ["4548-4"]);
    rig.stop().await;
}

async fn an_unmapped_local_code_is_one_ae_naming_it_and_the_code_map_applies(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let local = Group {
        analyte: "A1C^Hemoglobin A1c^99RIV",
        ..Group::hba1c("MAP-P", "MAP-F")
    };
    let message = oru("MAP-1", RIVERSIDE_LAB, &[local]);
    let refused = rig.send(&message).await;
    refused.assert_code("AE");
    assert_eq!(refused.errors.len(), 1, "{}", refused.text);
    assert_eq!(refused.errors[0].0, "OBX^1^3");
    assert!(refused.text.contains("A1C"), "names it: {}", refused.text);
    let lab = update_lab(
        &rig,
        json!({ "codeMap": [{ "localCode": "A1C", "localSystem": "99RIV", "code": "4548-4" }] }),
    )
    .await;
    assert_eq!(lab["codeMap"][0]["code"], "4548-4");
    rig.send(&message).await.assert_code("AA");
    assert_eq!(observation_codes(&rig, "MAP-F").await, ["4548-4"]);
    rig.stop().await;
}

async fn a_code_map_imported_from_csv_maps_the_senders_local_codes(backend: Backend) {
    use portal_api::import::{self, ImportError, Imported, Kind};
    let rig = Rig::demo(backend).await;
    let import = |csv: &'static str| {
        let kind = Kind::CodeMap {
            facility: "05D2101234".into(),
        };
        import::run(
            &rig.app.db,
            &rig.app.state.cache,
            rig.tenant,
            kind,
            csv.as_bytes(),
        )
    };
    let bad = import("local_code,local_system,code\nA^1C,99RIV,4548-4\n").await;
    assert!(
        matches!(&bad, Err(ImportError::Rows(rows)) if rows[0].line == 2 && rows[0].column == "local_code"),
        "{bad:?}"
    );
    let csv = "local_code,local_system,code\nA1C,99RIV,4548-4\nSARS2,L,94500-6\n";
    let imported = import(csv).await.expect("imported");
    assert_eq!(
        imported,
        Imported {
            created: 2,
            updated: 0,
            unchanged: 0
        }
    );
    assert_eq!(
        import(csv).await.expect("again").unchanged,
        2,
        "the same file twice is the same as once"
    );
    let local = Group {
        analyte: "A1C^Hemoglobin A1c^99RIV",
        ..Group::hba1c("CSV-P", "CSV-F")
    };
    rig.send(&oru("CSV-1", RIVERSIDE_LAB, &[local]))
        .await
        .assert_code("AA");
    assert_eq!(observation_codes(&rig, "CSV-F").await, ["4548-4"]);
    rig.stop().await;
}
