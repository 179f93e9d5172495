//! Migrations run up, down and up again on SQLite and on PostgreSQL (a throwaway cluster
//! from the test kit), and every entity of `portal_entities` round-trips through the schema.

mod common;

use portal_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// Every table of `docs/data-model.md`.
const TABLES: [&str; 36] = [
    "tenants",
    "facilities",
    "clinicians",
    "patients",
    "notification_preferences",
    "push_tokens",
    "proxy_grants",
    "test_catalog",
    "catalog_analytes",
    "test_orders",
    "test_results",
    "observations",
    "imaging_reports",
    "result_views",
    "appointments",
    "coverages",
    "claims",
    "result_links",
    "notifications",
    "outbox_events",
    "idempotency_keys",
    "audit_events",
    "public_health_batches",
    "public_health_reports",
    "public_health_errors",
    "hl7_messages",
    "patient_id_authorities",
    "patient_identifiers",
    "patient_matches",
    "audit_seals",
    "clinician_contacts",
    "facility_critical_settings",
    "escalation_steps",
    "critical_limits",
    "critical_alerts",
    "critical_alert_jobs",
];

/// Number of named indexes (`idx_*` / `uq_*`) the spec asks for, plus the three the
/// scheduled jobs scan (`m20261123_000011_add_expiry_job_columns`) and the outbox's
/// per-tenant publication sequence (`m20261123_000022_add_outbox_publish_seq`), the master-data
/// search indexes, the five of the public-health queue
/// (`m20261201_000020_create_public_health_queue`), the HL7 interface's seven
/// (`m20261201_000101`-`000103`: the message store, order numbers, appointment ids) and the
/// audit sealer's three (`m20261201_000104_seal_audit_in_batches`), the six of critical
/// results (`m20261208_000301_create_critical_alerts`) and the four of patient identifiers
/// (`m20261208_000180_create_patient_identifiers`), and the result details' one
/// (`m20261208_000150_create_result_details`).
const INDEXES: i64 = 68;

async fn sqlite() -> (tempfile::TempDir, DatabaseConnection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("portal.db").display()
    );
    let db = Database::connect(&url).await.expect("open sqlite");
    (dir, db)
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count query")
        .expect("count row");
    row.try_get_by_index::<i64>(0).expect("count value")
}

fn table_list() -> String {
    TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn table_count(db: &DatabaseConnection) -> i64 {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => format!(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ({})",
            table_list()
        ),
        _ => format!(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name IN ({})",
            table_list()
        ),
    };
    count(db, &sql).await
}

async fn index_count(db: &DatabaseConnection) -> i64 {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' \
                              AND (name LIKE 'idx\\_%' ESCAPE '\\' OR name LIKE 'uq\\_%' ESCAPE '\\')"
            .to_owned(),
        _ => "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() \
              AND (indexname LIKE 'idx\\_%' OR indexname LIKE 'uq\\_%')"
            .to_owned(),
    };
    count(db, &sql).await
}

/// up, down(None), up; checks every table and index exists after each `up` and none after `down`.
async fn up_down_up(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("first up");
    assert_eq!(table_count(db).await, TABLES.len() as i64);
    assert_eq!(index_count(db).await, INDEXES);
    assert!(
        Migrator::get_pending_migrations(db)
            .await
            .expect("pending")
            .is_empty()
    );

    Migrator::down(db, None).await.expect("down");
    assert_eq!(table_count(db).await, 0);
    assert_eq!(index_count(db).await, 0);
    assert_eq!(
        Migrator::get_applied_migrations(db)
            .await
            .expect("applied")
            .len(),
        0
    );

    Migrator::up(db, None).await.expect("second up");
    assert_eq!(table_count(db).await, TABLES.len() as i64);
    assert_eq!(index_count(db).await, INDEXES);
}

#[tokio::test]
async fn sqlite_up_down_up() {
    let (_dir, db) = sqlite().await;
    up_down_up(&db).await;
}

#[tokio::test]
async fn sqlite_audit_seq_is_integer_primary_key_autoincrement() {
    let (_dir, db) = sqlite().await;
    Migrator::up(&db, None).await.expect("up");
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'",
        ))
        .await
        .expect("query")
        .expect("audit_events exists");
    let sql: String = row.try_get_by_index(0).expect("sql");
    assert!(
        sql.contains(r#""seq" integer NOT NULL PRIMARY KEY AUTOINCREMENT"#),
        "unexpected DDL: {sql}"
    );
}

#[tokio::test]
async fn sqlite_entities_round_trip() {
    let (_dir, db) = sqlite().await;
    Migrator::up(&db, None).await.expect("up");
    // tenant + patient + test_result (and every other table), audit_events with seq assigned
    common::round_trip_every_table(&db).await;
}

#[tokio::test]
async fn sqlite_foreign_keys_are_enforced() {
    let (_dir, db) = sqlite().await;
    Migrator::up(&db, None).await.expect("up");
    let err = db
        .execute_unprepared(
            "INSERT INTO facilities (id, tenant_id, name, created_at) \
             VALUES (X'00', X'01', 'orphan', '2026-01-01 00:00:00+00:00')",
        )
        .await;
    let err = err.expect_err("insert without tenant must fail");
    assert!(
        err.to_string().contains("FOREIGN KEY"),
        "unexpected error: {err}"
    );
}

/// PostgreSQL: a fresh database on the throwaway cluster the test kit starts (or on the
/// server `DATABASE_URL` names).
#[tokio::test]
async fn postgres_up_down_up_and_round_trip() {
    let url = portal_testkit::postgres::fresh_database();
    let db = Database::connect(&url)
        .await
        .expect("connect to the test database");
    up_down_up(&db).await;
    common::round_trip_every_table(&db).await;
}

/// Today's MRNs move to the tenant's own authority: a tenant that exists when the identity
/// migration runs gets one (no facility), named by its slug in upper case.
async fn existing_tenants_get_their_own_authority(db: &DatabaseConnection) {
    use portal_entities::{patient_id_authority, tenant};
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
    let before_identity = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261208_000180_create_patient_identifiers")
        .expect("the identity migration is listed") as u32;
    Migrator::up(db, Some(before_identity))
        .await
        .expect("up to the identity migration");
    let riverside = tenant::Model {
        id: uuid::Uuid::now_v7(),
        slug: "riverside".into(),
        name: "Riverside".into(),
        created_at: chrono::Utc::now(),
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("tenant");
    Migrator::up(db, None)
        .await
        .expect("the identity migration");
    let own = patient_id_authority::Entity::find()
        .all(db)
        .await
        .expect("authorities");
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].tenant_id, riverside.id);
    assert_eq!(own[0].facility_id, None);
    assert_eq!(own[0].namespace.as_deref(), Some("RIVERSIDE"));
    assert!(!own[0].registers_patients && !own[0].sends_result_links);
}

#[tokio::test]
async fn sqlite_existing_tenants_get_their_own_authority() {
    let (_dir, db) = sqlite().await;
    existing_tenants_get_their_own_authority(&db).await;
}

#[tokio::test]
async fn postgres_existing_tenants_get_their_own_authority() {
    let url = portal_testkit::postgres::fresh_database();
    let db = Database::connect(&url)
        .await
        .expect("connect to the test database");
    existing_tenants_get_their_own_authority(&db).await;
}
