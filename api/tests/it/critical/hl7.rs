//! Critical values over HL7 (a real MLLP socket): OBX-8 `AA` is kept as sent beside its
//! ABNORMAL interpretation and raises an alert; ORC-21 / ORC-17 are kept on the order apart
//! from the performing lab; on PostgreSQL the alerts are under row-level security.

use portal_entities::{critical_alert, facility, test_order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::hl7::rig::{Rig, edited};
use crate::on_both_backends;
use crate::support::ids::facility_gid;
use crate::support::{Backend, TestApp, no_errors};

on_both_backends!(an_aa_flag_over_hl7_is_kept_and_raises_an_alert_under_row_level_security);

const CBC: &str = "oru_r01_v251_cbc.hl7";

async fn an_aa_flag_over_hl7_is_kept_and_raises_an_alert_under_row_level_security(
    backend: Backend,
) {
    let rig = Rig::over(TestApp::init(backend).await).await;
    let lab = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(rig.tenant))
        .filter(facility::Column::Name.eq("Riverside Main Laboratory"))
        .one(&rig.app.owner)
        .await
        .expect("q")
        .expect("lab");
    let on = rig
        .app
        .as_staff(rig.tenant)
        .query(
            r#"mutation($f: ID!) { setCriticalResultSettings(facilityId: $f, input: { enabled: true }) { enabled } }"#,
            json!({ "f": facility_gid(lab.id) }),
        )
        .await;
    no_errors(&on);
    let message = edited(
        CBC,
        &[
            (
                "|12.9|g/dL^gram per deciliter^UCUM|12.0-15.5|N|",
                "|5.1|g/dL^gram per deciliter^UCUM|12.0-15.5|AA|",
            ),
            (
                "ORC|RE|ORD-448812^PORTAL^2.16.840.1.113883.3.999.2^ISO|LAB-77120^RIVERSIDE LIS^2.16.840.1.113883.3.999.1^ISO|||||||||1234567893^Patel^Maya^^^Dr^^^NPI&2.16.840.1.113883.4.6&ISO^L^^^NPI",
                "ORC|RE|ORD-448812^PORTAL^2.16.840.1.113883.3.999.2^ISO|LAB-77120^RIVERSIDE LIS^2.16.840.1.113883.3.999.1^ISO|||||||||1234567893^Patel^Maya^^^Dr^^^NPI&2.16.840.1.113883.4.6&ISO^L^^^NPI|||||ENT-01^Riverside Order Entry||||Springfield Family Clinic^L^^^^^^^^SFC-001",
            ),
        ],
    );
    rig.send(&message).await.assert_code("AA");
    let order: test_order::Model = rig.order("LAB-77120").await;
    assert_eq!(order.facility_id, lab.id, "the performing lab");
    assert_eq!(
        order.ordering_facility_name.as_deref(),
        Some("Springfield Family Clinic")
    );
    assert_eq!(
        order.ordering_facility_identifier.as_deref(),
        Some("SFC-001")
    );
    assert_eq!(
        order.entering_organization.as_deref(),
        Some("Riverside Order Entry")
    );

    let patel = rig.app.as_clinician("dr.patel", rig.tenant);
    let seen = patel
        .query(
            r#"{ criticalAlerts { flag analyteCode status resultId } }"#,
            json!({}),
        )
        .await;
    no_errors(&seen);
    let list: Vec<_> = seen["data"]["criticalAlerts"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["analyteCode"] == "718-7")
        .cloned()
        .collect();
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["flag"], "AA");
    assert_eq!(list[0]["analyteCode"], "718-7");
    let result = patel
        .query(
            r#"query($id: ID!) { testResult(id: $id) { observations { code interpretation abnormalFlags } } }"#,
            json!({ "id": list[0]["resultId"] }),
        )
        .await;
    no_errors(&result);
    let hgb = result["data"]["testResult"]["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .find(|o| o["code"] == "718-7")
        .expect("hemoglobin")
        .clone();
    assert_eq!(hgb["interpretation"], "ABNORMAL");
    assert_eq!(hgb["abnormalFlags"], json!(["AA"]), "AA is not lost");

    if backend == Backend::Postgres {
        let own = visible_alerts(&rig.app, Some(rig.tenant)).await;
        assert_eq!(own, 1);
        assert_eq!(visible_alerts(&rig.app, Some(Uuid::now_v7())).await, 0);
        assert_eq!(visible_alerts(&rig.app, None).await, 0);
    }
    let total = critical_alert::Entity::find()
        .filter(critical_alert::Column::AnalyteCode.eq("718-7"))
        .all(&rig.app.owner)
        .await
        .expect("q")
        .len();
    assert_eq!(total, 1);
    rig.stop().await;
}

/// Alerts the application role sees, bound to `tenant`, with no filter of its own.
async fn visible_alerts(app: &TestApp, tenant: Option<Uuid>) -> usize {
    let txn = app.db.begin().await.expect("begin");
    portal_core::db::bind(&txn, tenant).await.expect("bind");
    let rows = txn
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT id FROM critical_alerts WHERE analyte_code = '718-7'",
        ))
        .await
        .expect("select");
    txn.rollback().await.expect("rollback");
    rows.len()
}
