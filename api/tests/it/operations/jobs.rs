//! Scheduled jobs: expired proxy grants are recorded (and audited) once, result links and
//! idempotency keys are purged after their retention, and on PostgreSQL a run is skipped
//! while another worker holds the job's advisory lock.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use portal_entities::{audit_event, idempotency_key, proxy_grant, result_link};
use portal_messaging::jobs::{self, Job, JobRun, Retention};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Statement, TransactionTrait,
};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Backend, TestApp};

const RETENTION: Retention = Retention {
    result_links: StdDuration::from_secs(24 * 3600),
    idempotency_keys: StdDuration::from_secs(7 * 24 * 3600),
    hl7_messages: StdDuration::from_secs(30 * 24 * 3600),
};

async fn run(app: &TestApp, job: Job) -> JobRun {
    jobs::run(&app.db, job, &RETENTION, Utc::now())
        .await
        .expect("job run")
}

async fn audited(app: &TestApp, action: &str) -> u64 {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .count(&app.owner)
        .await
        .expect("count audit rows")
}

async fn link(app: &TestApp, tenant: Uuid, patient: Uuid, result: Uuid, expired: Duration) -> Uuid {
    let id = Uuid::now_v7();
    result_link::Model {
        id,
        tenant_id: tenant,
        patient_id: patient,
        result_id: result,
        token_hash: id.to_string(),
        expires_at: Utc::now() - expired,
        failed_attempts: 0,
        locked_at: None,
        last_opened_at: None,
        created_at: Utc::now() - Duration::days(20),
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("result link");
    id
}

async fn idempotency_key(app: &TestApp, tenant: Uuid, age: Duration) -> Uuid {
    let id = Uuid::now_v7();
    idempotency_key::Model {
        id,
        tenant_id: tenant,
        key: id.to_string(),
        operation: "addTestResult".into(),
        request_hash: "hash".into(),
        response: serde_json::json!({ "resultId": Uuid::now_v7() }),
        created_at: Utc::now() - age,
    }
    .into_active_model()
    .insert(&app.owner)
    .await
    .expect("idempotency key");
    id
}

async fn an_expired_grant_is_recorded_and_audited_once_and_revoked_or_active_ones_are_left(
    backend: Backend,
) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    assert_eq!(run(&app, Job::ExpireProxyGrants).await, JobRun::Done(1));
    assert_eq!(
        run(&app, Job::ExpireProxyGrants).await,
        JobRun::Done(0),
        "a second run changes nothing"
    );
    let grants = proxy_grant::Entity::find()
        .filter(proxy_grant::Column::PatientId.eq(w.p1))
        .all(&app.owner)
        .await
        .expect("grants");
    for grant in &grants {
        let expired = grant.grantee_subject == "proxy.expired";
        assert_eq!(
            grant.expired_at.is_some(),
            expired,
            "{}: only the grant whose valid_to passed is marked",
            grant.grantee_subject
        );
    }
    assert_eq!(audited(&app, "proxy_grant.expire").await, 1);
    let row = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("proxy_grant.expire"))
        .one(&app.owner)
        .await
        .expect("audit row")
        .expect("one row");
    assert_eq!(row.patient_id, Some(w.p1));
    assert_eq!(row.subject.as_deref(), Some("system:jobs"));
}

async fn result_links_and_idempotency_keys_are_purged_after_their_retention(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let long_expired = link(&app, w.tenant_a, w.p1, w.p1_final, Duration::days(2)).await;
    let just_expired = link(&app, w.tenant_a, w.p1, w.p1_preliminary, Duration::hours(1)).await;
    let valid = link(&app, w.tenant_a, w.p2, w.p2_final, Duration::days(-5)).await;
    let old_key = idempotency_key(&app, w.tenant_a, Duration::days(8)).await;
    let recent_key = idempotency_key(&app, w.tenant_a, Duration::days(6)).await;

    assert_eq!(run(&app, Job::PurgeResultLinks).await, JobRun::Done(1));
    assert_eq!(run(&app, Job::PurgeIdempotencyKeys).await, JobRun::Done(1));

    let links: Vec<Uuid> = result_link::Entity::find()
        .all(&app.owner)
        .await
        .expect("links")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert!(!links.contains(&long_expired), "expired beyond retention");
    assert!(links.contains(&just_expired) && links.contains(&valid));
    let keys: Vec<Uuid> = idempotency_key::Entity::find()
        .all(&app.owner)
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(keys, vec![recent_key], "{old_key} is past retention");
    assert_eq!(audited(&app, "jobs.purge_result_links").await, 1);
    assert_eq!(audited(&app, "jobs.purge_idempotency_keys").await, 1);
    assert_eq!(run(&app, Job::PurgeResultLinks).await, JobRun::Done(0));
}

on_both_backends!(
    an_expired_grant_is_recorded_and_audited_once_and_revoked_or_active_ones_are_left,
    result_links_and_idempotency_keys_are_purged_after_their_retention,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_job_run_is_skipped_while_another_worker_holds_its_lock() {
    let app = TestApp::init(Backend::Postgres).await;
    app.world().await;
    let other_worker = app.owner.begin().await.expect("begin");
    other_worker
        .execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [Job::ExpireProxyGrants.lock_key().into()],
        ))
        .await
        .expect("take the job's lock");
    assert_eq!(run(&app, Job::ExpireProxyGrants).await, JobRun::Skipped);
    assert_eq!(
        run(&app, Job::PurgeResultLinks).await,
        JobRun::Done(0),
        "other jobs have their own lock"
    );
    other_worker.rollback().await.expect("release");
    assert_eq!(run(&app, Job::ExpireProxyGrants).await, JobRun::Done(1));
}
