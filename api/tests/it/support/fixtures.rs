//! Fixtures: small builders for tenants, patients, orders, results and grants, plus one
//! standard world most access tests start from.

use chrono::{DateTime, Duration, Utc};
use portal_entities::*;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, TransactionTrait,
};
use uuid::Uuid;

use super::TestApp;

/// Two tenants; in tenant A: patients P1 and P2, clinicians, one test each sensitive or not,
/// and proxy grants on P1 (active, expired, revoked, and one without COVERAGE).
pub struct World {
    pub tenant_a: Uuid,
    pub tenant_b: Uuid,
    pub p1: Uuid,
    pub p2: Uuid,
    pub q1: Uuid,
    pub facility: Uuid,
    pub cbc: Uuid,
    pub hiv: Uuid,
    pub p1_final: Uuid,
    pub p1_preliminary: Uuid,
    pub p2_final: Uuid,
    pub q1_final: Uuid,
}

impl TestApp {
    pub async fn world(&self) -> World {
        let now = Utc::now();
        let tenant_a = self.tenant("a").await;
        let tenant_b = self.tenant("b").await;
        let facility = self.facility(tenant_a).await;
        let clinician = self.clinician(tenant_a, "dr.a").await;
        self.clinician(tenant_a, "dr.other").await;
        let cbc = self.test(tenant_a, "58410-2", false).await;
        let hiv = self.test(tenant_a, "56888-1", true).await;
        let p1 = self.patient(tenant_a, "P1", Some("p1")).await;
        let p2 = self.patient(tenant_a, "P2", Some("p2")).await;
        let order = self
            .order(tenant_a, p1, facility, cbc, Some(clinician))
            .await;
        let p1_final = self
            .result(
                tenant_a,
                p1,
                order,
                cbc,
                ResultStatus::Final,
                now - Duration::days(2),
                None,
            )
            .await;
        let p1_preliminary = self
            .result(
                tenant_a,
                p1,
                order,
                cbc,
                ResultStatus::Preliminary,
                now - Duration::hours(1),
                None,
            )
            .await;
        let order2 = self.order(tenant_a, p2, facility, cbc, None).await;
        let p2_final = self
            .result(
                tenant_a,
                p2,
                order2,
                cbc,
                ResultStatus::Final,
                now - Duration::days(1),
                None,
            )
            .await;
        self.grant(
            tenant_a,
            p1,
            "proxy.active",
            "RESULTS,APPOINTMENTS",
            Some(now + Duration::days(30)),
            None,
        )
        .await;
        self.grant(
            tenant_a,
            p1,
            "proxy.expired",
            "RESULTS,APPOINTMENTS,COVERAGE",
            Some(now - Duration::minutes(1)),
            None,
        )
        .await;
        self.grant(
            tenant_a,
            p1,
            "proxy.revoked",
            "RESULTS,APPOINTMENTS,COVERAGE",
            None,
            Some(now - Duration::minutes(1)),
        )
        .await;
        let facility_b = self.facility(tenant_b).await;
        let cbc_b = self.test(tenant_b, "58410-2", false).await;
        let q1 = self.patient(tenant_b, "Q1", Some("q1")).await;
        let order_b = self.order(tenant_b, q1, facility_b, cbc_b, None).await;
        let q1_final = self
            .result(
                tenant_b,
                q1,
                order_b,
                cbc_b,
                ResultStatus::Final,
                now - Duration::days(1),
                None,
            )
            .await;
        World {
            tenant_a,
            tenant_b,
            p1,
            p2,
            q1,
            facility,
            cbc,
            hiv,
            p1_final,
            p1_preliminary,
            p2_final,
            q1_final,
        }
    }

    pub async fn tenant(&self, slug: &str) -> Uuid {
        let id = Uuid::now_v7();
        tenant::Model {
            id,
            slug: slug.into(),
            name: format!("Tenant {slug}"),
            created_at: Utc::now(),
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("tenant");
        id
    }

    pub async fn facility(&self, tenant: Uuid) -> Uuid {
        let id = Uuid::now_v7();
        facility::Model {
            id,
            tenant_id: tenant,
            name: "Main Lab".into(),
            clia_number: Some("05D0000001".into()),
            address: None,
            created_at: Utc::now(),
            city: None,
            state: None,
            postal_code: None,
            country: None,
            phone: None,
            updated_at: None,
            default_ordering_clinician_id: None,
            accept_valid_groups: false,
            identifiers: None,
            code_map: None,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("facility");
        id
    }

    pub async fn clinician(&self, tenant: Uuid, subject: &str) -> Uuid {
        let id = Uuid::now_v7();
        clinician::Model {
            id,
            tenant_id: tenant,
            user_subject: Some(subject.into()),
            display_name: format!("Dr {subject}"),
            npi: None,
            created_at: Utc::now(),
            given_name: None,
            family_name: None,
            updated_at: None,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("clinician");
        id
    }

    pub async fn test(&self, tenant: Uuid, code: &str, sensitive: bool) -> Uuid {
        let id = Uuid::now_v7();
        test_catalog::Model {
            id,
            tenant_id: tenant,
            code: code.into(),
            code_system: CodeSystem::Loinc,
            display_name: format!("Test {code}"),
            category: TestCategory::Lab,
            specimen: Some("Blood".into()),
            unit: None,
            reference_low: None,
            reference_high: None,
            reference_text: None,
            sensitive,
            created_at: Utc::now(),
            reportable: false,
            updated_at: None,
            device_model: None,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("test");
        id
    }

    pub async fn patient(&self, tenant: Uuid, mrn: &str, subject: Option<&str>) -> Uuid {
        let id = Uuid::now_v7();
        patient::Model {
            id,
            tenant_id: tenant,
            mrn: mrn.into(),
            given_name: format!("Given{mrn}"),
            family_name: format!("Family{mrn}"),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 2).expect("date"),
            email: None,
            phone: None,
            user_subject: subject.map(Into::into),
            created_at: Utc::now(),
            sex: None,
            race: None,
            ethnicity: None,
            address_line1: None,
            address_line2: None,
            city: None,
            state: None,
            postal_code: None,
            county: None,
            country: None,
            language: None,
            updated_at: None,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("patient");
        id
    }

    pub async fn order(
        &self,
        tenant: Uuid,
        patient: Uuid,
        facility: Uuid,
        test: Uuid,
        clinician: Option<Uuid>,
    ) -> Uuid {
        let id = Uuid::now_v7();
        test_order::Model {
            id,
            tenant_id: tenant,
            patient_id: patient,
            facility_id: facility,
            test_id: test,
            ordering_clinician_id: clinician,
            referring_clinician_id: None,
            appointment_id: None,
            source: OrderSource::Portal,
            status: OrderStatus::Completed,
            accession_number: None,
            placer_order_number: None,
            filler_order_number: None,
            ordering_provider_name: None,
            ordering_facility_name: None,
            ordering_facility_identifier: None,
            entering_organization: None,
            ordered_at: Utc::now() - Duration::days(3),
            created_at: Utc::now(),
            placer_group_number: None,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("order");
        id
    }

    /// A result with two numeric observations; `replaces` links a correction to its original.
    #[allow(clippy::too_many_arguments)]
    pub async fn result(
        &self,
        tenant: Uuid,
        patient: Uuid,
        order: Uuid,
        test: Uuid,
        status: ResultStatus,
        issued: DateTime<Utc>,
        replaces: Option<Uuid>,
    ) -> Uuid {
        let id = Uuid::now_v7();
        // Stored as the services store instants: to the microsecond (portal_core::clock).
        let issued = chrono::SubsecRound::trunc_subsecs(issued, 6);
        test_result::Model {
            id,
            tenant_id: tenant,
            patient_id: patient,
            order_id: order,
            test_id: test,
            category: TestCategory::Lab,
            status,
            issued_at: issued,
            performing_lab: None,
            conclusion: None,
            chain_id: replaces.unwrap_or(id),
            replaces_result_id: replaces,
            correction_reason: replaces.map(|_| "corrected".into()),
            idempotency_key: None,
            created_at: issued,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("result");
        for position in 0..2 {
            observation::Model {
                id: Uuid::now_v7(),
                tenant_id: tenant,
                result_id: id,
                position,
                code: format!("obs-{position}"),
                display_name: "Analyte".into(),
                value_type: ValueType::Numeric,
                value_numeric: Some(5.0 + position as f64),
                value_text: None,
                value_code: None,
                unit: Some("g/dL".into()),
                reference_low: Some(4.0),
                reference_high: Some(6.0),
                reference_text: None,
                interpretation: Some(Interpretation::Normal),
                abnormal_flags: None,
            }
            .into_active_model()
            .insert(&self.owner)
            .await
            .expect("observation");
        }
        id
    }

    pub async fn grant(
        &self,
        tenant: Uuid,
        patient: Uuid,
        grantee: &str,
        scopes: &str,
        valid_to: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> Uuid {
        let id = Uuid::now_v7();
        proxy_grant::Model {
            id,
            tenant_id: tenant,
            patient_id: patient,
            grantee_subject: grantee.into(),
            grantee_name: grantee.into(),
            relationship: "PARENT".into(),
            scopes: scopes.into(),
            valid_from: Utc::now() - Duration::days(10),
            valid_to,
            revoked_at,
            created_at: Utc::now() - Duration::days(10),
            expired_at: None,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("grant");
        id
    }
}

/// A stored result and its outbox event, as the write path leaves them (docs/events.md).
pub struct StoredResult {
    pub result_id: Uuid,
    pub event_id: Uuid,
}

/// Stores a result as `addTestResult` does: the result, its outbox event and, for a released
/// result, the default email notification (SKIPPED when the patient has no address), in one
/// transaction (docs/events.md).
pub async fn result_with_event(
    db: &DatabaseConnection,
    tenant: Uuid,
    patient: Uuid,
    order: Uuid,
    test: Uuid,
    status: ResultStatus,
) -> StoredResult {
    let taken = (Uuid::now_v7(), portal_core::clock::now());
    result_with_event_taken(db, tenant, patient, order, test, status, taken).await
}

/// Like `result_with_event`, with the event id and time the write took earlier: what a write
/// transaction that took them, then committed after later writes, leaves behind.
pub async fn result_with_event_taken(
    db: &DatabaseConnection,
    tenant: Uuid,
    patient: Uuid,
    order: Uuid,
    test: Uuid,
    status: ResultStatus,
    (event_id, now): (Uuid, DateTime<Utc>),
) -> StoredResult {
    let result_id = Uuid::now_v7();
    let released = portal_core::release::is_released_status(status);
    let event_type = if released {
        portal_services::live::RESULT_RELEASED
    } else {
        portal_services::live::RESULT_PRELIMINARY
    };
    let sensitive = test_catalog::Entity::find_by_id(test)
        .one(db)
        .await
        .expect("test lookup")
        .is_some_and(|t| t.sensitive);
    let has_email = patient::Entity::find_by_id(patient)
        .one(db)
        .await
        .expect("patient lookup")
        .is_some_and(|p| p.email.is_some());
    let txn = db.begin().await.expect("begin");
    test_result::Model {
        id: result_id,
        tenant_id: tenant,
        patient_id: patient,
        order_id: order,
        test_id: test,
        category: TestCategory::Lab,
        status,
        issued_at: now,
        performing_lab: None,
        conclusion: None,
        chain_id: result_id,
        replaces_result_id: None,
        correction_reason: None,
        idempotency_key: None,
        created_at: now,
    }
    .into_active_model()
    .insert(&txn)
    .await
    .expect("result");
    outbox_event::Model {
        id: event_id,
        tenant_id: tenant,
        event_type: event_type.into(),
        aggregate_type: "TestResult".into(),
        aggregate_id: result_id,
        patient_id: Some(patient),
        payload: serde_json::json!({
            "resultId": result_id,
            "patientId": patient,
            "status": status,
            "category": "LAB",
            "chainId": result_id,
            "replacesResultId": null,
            "sensitive": sensitive,
        }),
        created_at: now,
        published_at: None,
        publish_seq: None,
    }
    .into_active_model()
    .insert(&txn)
    .await
    .expect("outbox event");
    if released {
        notification::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            patient_id: patient,
            result_id: Some(result_id),
            event_id,
            channel: NotificationChannel::Email,
            template: "result_ready".into(),
            status: if has_email {
                NotificationStatus::Pending
            } else {
                NotificationStatus::Skipped
            },
            attempts: 0,
            last_error: (!has_email).then(|| "no email address".into()),
            next_attempt_at: now,
            sent_at: None,
            created_at: now,
            params: None,
        }
        .into_active_model()
        .insert(&txn)
        .await
        .expect("notification");
    }
    txn.commit().await.expect("commit");
    StoredResult {
        result_id,
        event_id,
    }
}

impl TestApp {
    /// Stores a result the way `addTestResult` does (see `result_with_event`), then wakes the
    /// relay after the commit, as the write path does.
    pub async fn result_with_event(
        &self,
        tenant: Uuid,
        patient: Uuid,
        order: Uuid,
        test: Uuid,
        status: ResultStatus,
    ) -> StoredResult {
        let stored = result_with_event(&self.owner, tenant, patient, order, test, status).await;
        self.state.app.outbox_wake.notify_one();
        stored
    }

    /// `result_with_event_taken` (an event id and time taken earlier), then wakes the relay.
    pub async fn result_with_event_taken(
        &self,
        tenant: Uuid,
        patient: Uuid,
        order: Uuid,
        test: Uuid,
        status: ResultStatus,
        taken: (Uuid, DateTime<Utc>),
    ) -> StoredResult {
        let stored =
            result_with_event_taken(&self.owner, tenant, patient, order, test, status, taken).await;
        self.state.app.outbox_wake.notify_one();
        stored
    }
}
