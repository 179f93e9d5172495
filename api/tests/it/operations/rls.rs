//! PostgreSQL row-level security, the second wall behind the code: the application's role
//! (`portal_app`, NOSUPERUSER NOBYPASSRLS) sees and writes only the rows of the tenant its
//! transaction is bound to, even with a query that has no tenant filter at all.

use portal_api::state::check_database_role;
use portal_core::db::TenantDb;
use portal_entities::{audit_event, facility, patient, test_result};
use portal_services::patients;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, EntityTrait,
    Statement, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::support::ids::{facility_gid, patient_gid, patient_vars, result_gid};
use crate::support::{Backend, TestApp, error_code, no_errors};

/// Every table of the public schema with a `tenant_id` column, from the catalog: a table
/// added later without a policy shows up here and fails the tests.
async fn tenant_tables(db: &DatabaseConnection) -> Vec<(String, bool, bool)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT c.relname::text AS name, c.relrowsecurity AS enabled, \
             c.relforcerowsecurity AS forced \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN information_schema.columns col \
               ON col.table_schema = n.nspname AND col.table_name = c.relname \
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND col.column_name = 'tenant_id' \
             ORDER BY 1",
        ))
        .await
        .expect("catalog");
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "name").expect("name"),
                r.try_get("", "enabled").expect("enabled"),
                r.try_get("", "forced").expect("forced"),
            )
        })
        .collect()
}

async fn bound(db: &DatabaseConnection, tenant: Option<Uuid>) -> DatabaseTransaction {
    let txn = db.begin().await.expect("begin");
    portal_core::db::bind(&txn, tenant)
        .await
        .expect("set tenant");
    txn
}

/// The tenant ids of every row of `table` the connection sees (no filter of our own).
async fn visible_tenants<C: ConnectionTrait>(db: &C, table: &str) -> Vec<Option<Uuid>> {
    db.query_all_raw(Statement::from_string(
        DatabaseBackend::Postgres,
        format!("SELECT tenant_id FROM {table}"),
    ))
    .await
    .unwrap_or_else(|e| panic!("SELECT * FROM {table}: {e}"))
    .iter()
    .map(|r| r.try_get("", "tenant_id").expect("tenant_id"))
    .collect()
}

/// Two tenants with rows in every tenant-owned table: the demo tenant (seeded as the
/// application role, then written to through the API as its lab and patient) and tenant A
/// of the fixture world. Returns (A, the demo tenant).
async fn two_full_tenants(app: &TestApp) -> (Uuid, Uuid) {
    let w = app.world().await;
    let (demo, _) = portal_demo::seed(&app.db).await.expect("seed");
    let alice = patients::find_by_mrn(&app.owner, demo, "MRN1001")
        .await
        .expect("q")
        .expect("alice");
    let facility = facility::Entity::find()
        .all(&app.owner)
        .await
        .expect("q")
        .into_iter()
        .find(|f| f.tenant_id == demo)
        .expect("demo facility");
    let lab = app.as_lab(demo);
    let added = lab
        .query(
            r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) { result { id } } }"#,
            json!({ "input": {
                "patientId": patient_gid(alice.id),
                "order": { "facilityId": facility_gid(facility.id),
                           "testCode": "4548-4", "source": "WALK_IN" },
                "status": "FINAL",
                "issuedAt": chrono::Utc::now().to_rfc3339(),
                "observations": [{ "code": "4548-4", "valueNumeric": 5.4 }],
                "idempotencyKey": "rls-1",
            }}),
        )
        .await;
    no_errors(&added);
    let result_id = added["data"]["addTestResult"]["result"]["id"].clone();
    let sent = lab
        .query(
            r#"mutation($id: ID!) { sendResultLink(resultId: $id, channel: SMS) { deliveryStatus } }"#,
            json!({ "id": result_id }),
        )
        .await;
    no_errors(&sent);
    let subject = alice.user_subject.clone().expect("alice has an account");
    let patient = app.as_patient(&subject, demo, alice.id);
    let patient_id = patient_gid(alice.id);
    for (query, variables) in [
        (
            r#"mutation($id: ID!) { markResultViewed(id: $id) { result { id } } }"#,
            json!({ "id": result_id }),
        ),
        (
            r#"mutation($id: ID!) { registerPushToken(patientId: $id, platform: IOS, token: "rls-token") { pushToken { id } } }"#,
            json!({ "id": patient_id }),
        ),
    ] {
        no_errors(&patient.query(query, variables).await);
    }
    crate::public_health::rows_for_rls(app, demo).await;
    received_hl7_message(app, demo).await;
    crate::hl7::identity::rows_for_rls(app, demo).await;
    crate::critical::rows_for_rls(app, demo).await;
    // The sealer's batches (`audit_seals`), as the application role seals them.
    portal_core::audit::seal::seal_all(&app.db, portal_core::audit::seal::BATCH_ROWS)
        .await
        .expect("seal");
    (w.tenant_a, demo)
}

/// An HL7 message received by the demo tenant's interface (`hl7_messages`).
async fn received_hl7_message(app: &TestApp, tenant: Uuid) {
    use portal_api::mllp::{self, Routes};
    let raw = b"MSH|^~\\&|LIS|LAB|PORTAL|RIV|20260301101500||ADT^A99|RLS-1|P|2.5.1\r".to_vec();
    let message = portal_hl7::parse(&raw);
    let header = portal_hl7::messages::Header::read(message.as_ref().expect("parses"));
    let inbound = portal_hl7::Inbound {
        raw: raw.into(),
        message,
        header,
        peer: "127.0.0.1:2575".parse().expect("peer"),
        identity: None,
    };
    let ack = mllp::interface(&app.state, Routes::Tenant(tenant))
        .receive(&inbound)
        .await;
    assert_eq!(
        ack.code,
        portal_hl7::AckCode::Reject,
        "an unsupported trigger, kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_with_a_tenant_id_has_forced_row_level_security() {
    let app = TestApp::init(Backend::Postgres).await;
    let tables = tenant_tables(&app.owner).await;
    assert!(
        tables.len() >= 21,
        "the catalog query finds the tenant tables: {tables:?}"
    );
    for (table, enabled, forced) in &tables {
        assert!(*enabled, "{table}: ROW LEVEL SECURITY is not enabled");
        assert!(*forced, "{table}: ROW LEVEL SECURITY is not forced");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_cannot_bypass_row_level_security() {
    let app = TestApp::init(Backend::Postgres).await;
    let role = portal_core::db::role_check(&app.db)
        .await
        .expect("role")
        .expect("PostgreSQL has roles");
    assert_eq!(role.role, portal_testkit::postgres::APP_ROLE);
    assert!(!role.bypasses_rls(), "{role:?}");
    let owner = portal_core::db::role_check(&app.owner)
        .await
        .expect("role")
        .expect("PostgreSQL has roles");
    assert!(owner.bypasses_rls(), "the test owner is the superuser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_to_start_as_a_role_that_bypasses_row_level_security() {
    let database = portal_testkit::postgres::fresh_app_database();
    let config = |url: &str, allow: &str| {
        let vars: std::collections::HashMap<String, String> = [
            ("PORTAL_ENV", "production"),
            ("DATABASE_URL", url),
            ("JWT_JWKS_URL", "http://127.0.0.1:9/jwks"),
            ("JWT_ISSUER", "https://idp.test"),
            ("JWT_AUDIENCE", "portal"),
            ("PORTAL_ALLOW_RLS_BYPASS", allow),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        portal_api::Config::from_vars(&vars).expect("production configuration")
    };
    let timeout = std::time::Duration::from_secs(5);
    let superuser = portal_core::db::connect(&database.owner_url, 1, timeout)
        .await
        .expect("connect");
    let refused = check_database_role(&config(&database.owner_url, "false"), &superuser).await;
    let message = format!("{:#}", refused.expect_err("a superuser is refused"));
    assert!(
        message.contains("SUPERUSER") && message.contains("PORTAL_ALLOW_RLS_BYPASS"),
        "{message}"
    );
    check_database_role(&config(&database.owner_url, "true"), &superuser)
        .await
        .expect("explicitly allowed");
    let app_role = portal_core::db::connect(&database.app_url, 1, timeout)
        .await
        .expect("connect");
    check_database_role(&config(&database.app_url, "false"), &app_role)
        .await
        .expect("the application role is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfiltered_select_on_every_tenant_table_returns_only_the_bound_tenants_rows() {
    let app = TestApp::init(Backend::Postgres).await;
    let (a, b) = two_full_tenants(&app).await;
    let tables = tenant_tables(&app.owner).await;
    for (table, _, _) in &tables {
        let all = visible_tenants(&app.owner, table).await;
        assert!(
            all.contains(&Some(b)),
            "{table}: the other tenant has rows (else this proves nothing)"
        );

        let txn = bound(&app.db, Some(a)).await;
        let seen = visible_tenants(&txn, table).await;
        assert!(
            seen.iter().all(|t| *t == Some(a)),
            "{table}: bound to tenant A, saw {seen:?}"
        );
        assert_eq!(
            seen.len(),
            all.iter().filter(|t| **t == Some(a)).count(),
            "{table}: bound to tenant A, every row of A is there"
        );
        txn.commit().await.expect("commit");

        let txn = bound(&app.db, None).await;
        assert_eq!(
            visible_tenants(&txn, table).await,
            Vec::new(),
            "{table}: no tenant bound, no rows"
        );
        txn.commit().await.expect("commit");
        assert_eq!(
            visible_tenants(&app.db, table).await,
            Vec::new(),
            "{table}: outside any bound transaction, no rows"
        );
    }
    // The one row left open to a walk-in: the link whose token hash the transaction names.
    let txn = bound(&app.db, None).await;
    txn.execute_unprepared("SELECT set_config('app.result_link_token_hash', 'no such hash', true)")
        .await
        .expect("set hash");
    assert_eq!(visible_tenants(&txn, "result_links").await, Vec::new());
    txn.commit().await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_into_another_tenant_are_refused() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    let (a, b) = (w.tenant_a, w.tenant_b);

    let txn = bound(&app.db, Some(a)).await;
    let insert = format!(
        "INSERT INTO facilities (id, tenant_id, name, created_at) \
         VALUES ('{}', '{b}', 'Elsewhere', now())",
        Uuid::now_v7()
    );
    let refused = txn.execute_unprepared(&insert).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("row-level security")),
        "INSERT of a tenant-B row while bound to A: {refused:?}"
    );
    txn.rollback().await.expect("rollback");

    let txn = bound(&app.db, Some(a)).await;
    let updated = txn
        .execute_unprepared(&format!(
            "UPDATE patients SET mrn = 'TAKEN' WHERE tenant_id = '{b}'"
        ))
        .await
        .expect("update");
    assert_eq!(updated.rows_affected(), 0, "tenant B's rows are not there");
    let moved = txn
        .execute_unprepared(&format!(
            "UPDATE patients SET tenant_id = '{b}' WHERE id = '{}'",
            w.p1
        ))
        .await;
    assert!(
        moved
            .as_ref()
            .is_err_and(|e| e.to_string().contains("row-level security")),
        "moving a row of A into B: {moved:?}"
    );
    txn.rollback().await.expect("rollback");

    let txn = bound(&app.db, Some(a)).await;
    let deleted = txn
        .execute_unprepared(&format!("DELETE FROM test_results WHERE tenant_id = '{b}'"))
        .await
        .expect("delete");
    assert_eq!(deleted.rows_affected(), 0);
    let audit = txn
        .execute_unprepared("UPDATE audit_events SET reason = 'forged'")
        .await
        .expect("update audit");
    assert_eq!(audit.rows_affected(), 0, "the audit trail is append-only");
    txn.rollback().await.expect("rollback");

    let q1 = patient::Entity::find_by_id(w.q1)
        .one(&app.owner)
        .await
        .expect("q")
        .expect("q1");
    assert_ne!(q1.mrn, "TAKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_path_that_forgets_the_tenant_filter_still_sees_only_the_viewers_tenant() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    let lab = app.as_lab(w.tenant_a);
    let lab_tenant = lab.viewer().await.tenant_id;
    // The handles the schema builds for a query (one request transaction) and for a
    // mutation (scoped transactions), bound to the lab's tenant.
    for db in [
        TenantDb::request(app.db.clone(), Some(lab_tenant)),
        TenantDb::scoped(app.db.clone(), Some(lab_tenant)),
    ] {
        let patients = patient::Entity::find().all(&db).await.expect("patients");
        assert!(!patients.is_empty());
        assert!(
            patients.iter().all(|p| p.tenant_id == w.tenant_a),
            "{db:?}: only tenant A's patients"
        );
        let results = test_result::Entity::find().all(&db).await.expect("results");
        assert!(results.iter().all(|r| r.tenant_id == w.tenant_a));
        assert!(!results.iter().any(|r| r.id == w.q1_final));
        // A service asked (wrongly) for tenant B's patient through A's handle finds nothing.
        let q1 = patients::in_tenant(&db, w.tenant_b, w.q1).await;
        assert!(
            matches!(q1, Err(portal_services::ServiceError::NotFound(_))),
            "{db:?}: tenant B's patient through A's handle: {q1:?}"
        );
        db.finish().await.expect("commit");
    }
    // And through the API: tenant B's patient and result are not found for A's lab, staff
    // and patient alike.
    let staff = app.as_staff(w.tenant_a);
    let patient = app.as_patient("p1", w.tenant_a, w.p1);
    for (who, actor) in [("lab", &lab), ("staff", &staff), ("patient", &patient)] {
        for id in [patient_gid(w.q1), result_gid(w.q1_final)] {
            let response = actor
                .query(
                    "query($id: ID!) { node(id: $id) { id } }",
                    json!({ "id": id }),
                )
                .await;
            assert!(
                response["data"]["node"].is_null(),
                "{who} reached {id:?}: {response:#}"
            );
            assert!(
                matches!(error_code(&response), Some("NOT_FOUND" | "FORBIDDEN")),
                "{response:#}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_without_a_tenant_are_appended_and_the_chain_stays_intact() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    portal_core::audit::record_login_failure(&app.db, "r-1", None, "bad token")
        .await
        .expect("a rejected token is audited by the application role");
    let patient = app.as_patient("p1", w.tenant_a, w.p1);
    let read = patient
        .query(
            "query($id: ID!) { patient(id: $id) { id } }",
            patient_vars(w.p1),
        )
        .await;
    no_errors(&read);
    portal_core::audit::record_login_failure(&app.db, "r-2", None, "bad token")
        .await
        .expect("audited");
    let rows = audit_event::Entity::find()
        .all(&app.owner)
        .await
        .expect("rows");
    assert!(rows.iter().any(|r| r.tenant_id.is_none()));
    assert!(rows.iter().any(|r| r.tenant_id == Some(w.tenant_a)));
    assert_eq!(
        portal_core::audit::verify_chain(&app.owner)
            .await
            .expect("verify as the owner"),
        portal_core::audit::ChainCheck::Intact {
            rows: rows.len() as u64
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_inside_a_query_request_is_a_savepoint_committed_with_the_request() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    let db = TenantDb::request(app.db.clone(), Some(w.tenant_a));
    let rename = |name: &str| {
        format!(
            "UPDATE facilities SET name = '{name}' WHERE id = '{}'",
            w.facility
        )
    };
    let kept = db.begin().await.expect("savepoint");
    kept.execute_unprepared(&rename("Kept"))
        .await
        .expect("update");
    kept.commit().await.expect("release savepoint");
    let undone = db.begin().await.expect("savepoint");
    undone
        .execute_unprepared(&rename("Undone"))
        .await
        .expect("update");
    undone.rollback().await.expect("rollback to savepoint");
    let name_seen_by_owner = || async {
        facility::Entity::find_by_id(w.facility)
            .one(&app.owner)
            .await
            .expect("q")
            .expect("facility")
            .name
    };
    assert_ne!(
        name_seen_by_owner().await,
        "Kept",
        "not visible before the request's transaction commits"
    );
    db.finish().await.expect("commit");
    assert_eq!(name_seen_by_owner().await, "Kept");
    let after = patient::Entity::find().all(&db).await;
    assert!(after.is_err(), "the request's transaction has ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_commit_fails_reports_the_failure() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    for sql in [
        "CREATE FUNCTION refuse_at_commit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$ LANGUAGE plpgsql",
        "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER UPDATE ON facilities DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()",
    ] {
        app.owner.execute_unprepared(sql).await.expect("trigger");
    }
    let db = TenantDb::request(app.db.clone(), Some(w.tenant_a));
    let write = db.begin().await.expect("savepoint");
    write
        .execute_unprepared(&format!(
            "UPDATE facilities SET name = 'Lost' WHERE id = '{}'",
            w.facility
        ))
        .await
        .expect("the statement itself succeeds");
    write.commit().await.expect("release savepoint");
    let committed = db.finish().await;
    assert!(
        committed
            .as_ref()
            .is_err_and(|e| e.to_string().contains("refused at commit")),
        "{committed:?}"
    );
    let facility = facility::Entity::find_by_id(w.facility)
        .one(&app.owner)
        .await
        .expect("q")
        .expect("facility");
    assert_ne!(facility.name, "Lost");
}
