//! Shared test helpers: one row per table inserted through `portal_entities` and read back.

use chrono::{NaiveDate, SubsecRound, Utc};
use portal_entities::{
    AppointmentKind, AppointmentStatus, AuditOutcome, ClaimStatus, CodeSystem, CoverageStatus,
    Hl7MessageStatus, Interpretation, NotificationChannel, NotificationStatus, OrderSource,
    OrderStatus, PushPlatform, ResultStatus, TestCategory, ValueType, appointment, audit_event,
    catalog_analyte, claim, clinician, coverage, facility, hl7_message, idempotency_key,
    imaging_report, notification, notification_preference, observation, outbox_event, patient,
    proxy_grant, push_token, result_link, result_view, tenant, test_catalog, test_order,
    test_result,
};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

/// Inserts `$model` (every column set) through its `ActiveModel`, reads it back by primary key
/// and asserts both equal the original.
macro_rules! round_trip {
    ($db:expr, $module:ident, $model:expr, $pk:expr) => {{
        let model: $module::Model = $model.clone();
        let inserted = model
            .clone()
            .into_active_model()
            .reset_all()
            .insert($db)
            .await
            .expect(concat!("insert ", stringify!($module)));
        assert_eq!(
            inserted, model,
            concat!("insert returned another ", stringify!($module))
        );
        let found = $module::Entity::find_by_id($pk)
            .one($db)
            .await
            .expect(concat!("find ", stringify!($module)))
            .expect(concat!(stringify!($module), " exists"));
        assert_eq!(
            found, model,
            concat!(stringify!($module), " read back differs")
        );
    }};
}

/// Inserts an audit event with `seq` left to the database; returns the stored row.
pub async fn insert_audit_event(
    db: &DatabaseConnection,
    mut model: audit_event::Model,
) -> audit_event::Model {
    let mut active = model.clone().into_active_model().reset_all();
    active.seq = sea_orm::ActiveValue::NotSet;
    let inserted = active.insert(db).await.expect("insert audit event");
    assert!(inserted.seq > 0, "seq must be assigned by the database");
    model.seq = inserted.seq;
    assert_eq!(inserted, model);
    let found = audit_event::Entity::find_by_id(inserted.seq)
        .one(db)
        .await
        .expect("find audit event")
        .expect("audit event exists");
    assert_eq!(found, model);
    found
}

/// Inserts and reads back one row of every table, parents first. Timestamps are truncated to
/// microseconds (PostgreSQL precision).
pub async fn round_trip_every_table(db: &DatabaseConnection) {
    let now = Utc::now().trunc_subsecs(6);
    let date = NaiveDate::from_ymd_opt(1980, 2, 29).expect("valid date");

    let tenant = tenant::Model {
        id: Uuid::now_v7(),
        slug: String::from("slug value"),
        name: String::from("name value"),
        created_at: now,
    };
    round_trip!(db, tenant, tenant, tenant.id);

    let facility = facility::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        name: String::from("name value"),
        clia_number: Some(String::from("clia_number value")),
        address: Some(String::from("address value")),
        created_at: now,
        city: Some(String::from("city value")),
        state: Some(String::from("state value")),
        postal_code: Some(String::from("postal_code value")),
        country: Some(String::from("country value")),
        phone: Some(String::from("phone value")),
        updated_at: Some(now),
        default_ordering_clinician_id: Some(Uuid::now_v7()),
        accept_valid_groups: true,
        identifiers: Some(String::from("[]")),
        code_map: Some(String::from("[]")),
    };
    round_trip!(db, facility, facility, facility.id);

    let clinician = clinician::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        user_subject: Some(String::from("user_subject value")),
        display_name: String::from("display_name value"),
        npi: Some(String::from("npi value")),
        created_at: now,
        given_name: Some(String::from("given_name value")),
        family_name: Some(String::from("family_name value")),
        updated_at: Some(now),
    };
    round_trip!(db, clinician, clinician, clinician.id);

    let patient = patient::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        mrn: String::from("mrn value"),
        given_name: String::from("given_name value"),
        family_name: String::from("family_name value"),
        birth_date: date,
        email: Some(String::from("email value")),
        phone: Some(String::from("phone value")),
        user_subject: Some(String::from("user_subject value")),
        created_at: now,
        sex: Some(String::from("sex value")),
        race: Some(String::from("race value")),
        ethnicity: Some(String::from("ethnicity value")),
        address_line1: Some(String::from("address_line1 value")),
        address_line2: Some(String::from("address_line2 value")),
        city: Some(String::from("city value")),
        state: Some(String::from("state value")),
        postal_code: Some(String::from("postal_code value")),
        county: Some(String::from("county value")),
        country: Some(String::from("country value")),
        language: Some(String::from("language value")),
        updated_at: Some(now),
    };
    round_trip!(db, patient, patient, patient.id);

    let notification_preference = notification_preference::Model {
        patient_id: patient.id,
        tenant_id: tenant.id,
        email: true,
        sms: true,
        push: true,
        language: String::from("en"),
        hold_sensitive_results: true,
        updated_at: now,
    };
    round_trip!(
        db,
        notification_preference,
        notification_preference,
        notification_preference.patient_id
    );

    let push_token = push_token::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        platform: PushPlatform::Android,
        token: String::from("token value"),
        created_at: now,
        revoked_at: Some(now),
    };
    round_trip!(db, push_token, push_token, push_token.id);

    let proxy_grant = proxy_grant::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        grantee_subject: String::from("grantee_subject value"),
        grantee_name: String::from("grantee_name value"),
        relationship: String::from("relationship value"),
        scopes: String::from("scopes value"),
        valid_from: now,
        valid_to: Some(now),
        revoked_at: Some(now),
        created_at: now,
        expired_at: None,
    };
    round_trip!(db, proxy_grant, proxy_grant, proxy_grant.id);

    let test_catalog = test_catalog::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        code: String::from("code value"),
        code_system: CodeSystem::Loinc,
        display_name: String::from("display_name value"),
        category: TestCategory::Lab,
        specimen: Some(String::from("specimen value")),
        unit: Some(String::from("unit value")),
        reference_low: Some(4.25),
        reference_high: Some(4.25),
        reference_text: Some(String::from("reference_text value")),
        sensitive: true,
        created_at: now,
        reportable: true,
        updated_at: Some(now),
        device_model: None,
    };
    round_trip!(db, test_catalog, test_catalog, test_catalog.id);

    let catalog_analyte = catalog_analyte::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        test_id: test_catalog.id,
        position: 3,
        code: String::from("code value"),
        display_name: String::from("display_name value"),
        value_type: ValueType::Numeric,
        unit: Some(String::from("unit value")),
        reference_low: Some(4.25),
        reference_high: Some(4.25),
        reference_text: Some(String::from("reference_text value")),
        reportable: false,
    };
    round_trip!(db, catalog_analyte, catalog_analyte, catalog_analyte.id);

    let appointment = appointment::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        facility_id: facility.id,
        clinician_id: Some(clinician.id),
        kind: AppointmentKind::LabDraw,
        starts_at: now,
        ends_at: now,
        status: AppointmentStatus::NoShow,
        reason: Some(String::from("reason value")),
        created_at: now,
        cancelled_at: Some(now),
        external_id: Some(String::from("external_id value")),
        order_number: Some(String::from("order_number value")),
    };
    round_trip!(db, appointment, appointment, appointment.id);

    let test_order = test_order::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        facility_id: facility.id,
        test_id: test_catalog.id,
        ordering_clinician_id: Some(clinician.id),
        referring_clinician_id: Some(clinician.id),
        appointment_id: Some(appointment.id),
        source: OrderSource::WalkIn,
        status: OrderStatus::Completed,
        accession_number: Some(String::from("accession_number value")),
        placer_order_number: Some(String::from("placer_order_number value")),
        filler_order_number: Some(String::from("filler_order_number value")),
        ordering_provider_name: Some(String::from("ordering_provider_name value")),
        ordering_facility_name: Some(String::from("ordering_facility_name value")),
        ordering_facility_identifier: Some(String::from("ordering_facility_identifier value")),
        entering_organization: Some(String::from("entering_organization value")),
        ordered_at: now,
        created_at: now,
        placer_group_number: Some(String::from("placer_group_number value")),
    };
    round_trip!(db, test_order, test_order, test_order.id);

    let test_result = test_result::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        order_id: test_order.id,
        test_id: test_catalog.id,
        category: TestCategory::Lab,
        status: ResultStatus::EnteredInError,
        issued_at: now,
        performing_lab: Some(String::from("performing_lab value")),
        conclusion: Some(String::from("conclusion value")),
        chain_id: Uuid::now_v7(),
        replaces_result_id: None,
        correction_reason: Some(String::from("correction_reason value")),
        idempotency_key: Some(String::from("idempotency_key value")),
        created_at: now,
    };
    round_trip!(db, test_result, test_result, test_result.id);

    // a correction of that result: exercises the self-referencing foreign key
    let correction = test_result::Model {
        id: Uuid::now_v7(),
        status: ResultStatus::Corrected,
        replaces_result_id: Some(test_result.id),
        correction_reason: Some(String::from("wrong specimen")),
        idempotency_key: None,
        ..test_result.clone()
    };
    round_trip!(db, test_result, correction, correction.id);

    let observation = observation::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        result_id: test_result.id,
        position: 3,
        code: String::from("code value"),
        display_name: String::from("display_name value"),
        value_type: ValueType::Numeric,
        value_numeric: Some(4.25),
        value_text: Some(String::from("value_text value")),
        value_code: Some(String::from("value_code value")),
        unit: Some(String::from("unit value")),
        reference_low: Some(4.25),
        reference_high: Some(4.25),
        reference_text: Some(String::from("reference_text value")),
        interpretation: Some(Interpretation::CriticalHigh),
        abnormal_flags: Some(String::from("HH")),
    };
    round_trip!(db, observation, observation, observation.id);

    let imaging_report = imaging_report::Model {
        result_id: test_result.id,
        tenant_id: tenant.id,
        modality: String::from("modality value"),
        study_instance_uid: String::from("study_instance_uid value"),
        findings: String::from("findings value"),
        impression: String::from("impression value"),
    };
    round_trip!(db, imaging_report, imaging_report, imaging_report.result_id);

    let result_view = result_view::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        result_id: test_result.id,
        viewer_subject: String::from("viewer_subject value"),
        viewed_at: now,
    };
    round_trip!(db, result_view, result_view, result_view.id);

    let coverage = coverage::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        payer: String::from("payer value"),
        plan_name: String::from("plan_name value"),
        member_id: String::from("member_id value"),
        group_number: Some(String::from("group_number value")),
        period_start: date,
        period_end: Some(date),
        status: CoverageStatus::Active,
        created_at: now,
        payer_id: Some(String::from("payer_id value")),
        updated_at: Some(now),
    };
    round_trip!(db, coverage, coverage, coverage.id);

    let claim = claim::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        coverage_id: coverage.id,
        claim_number: String::from("claim_number value"),
        service_date: date,
        description: String::from("description value"),
        billed_cents: 12_345_678_901,
        allowed_cents: 12_345_678_901,
        patient_responsibility_cents: 12_345_678_901,
        currency: String::from("currency value"),
        status: ClaimStatus::Adjusted,
        created_at: now,
        updated_at: Some(now),
    };
    round_trip!(db, claim, claim, claim.id);

    let result_link = result_link::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        result_id: test_result.id,
        token_hash: String::from("token_hash value"),
        expires_at: now,
        failed_attempts: 3,
        locked_at: Some(now),
        last_opened_at: Some(now),
        created_at: now,
    };
    round_trip!(db, result_link, result_link, result_link.id);

    let notification = notification::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        patient_id: patient.id,
        result_id: Some(test_result.id),
        event_id: Uuid::now_v7(),
        channel: NotificationChannel::Sms,
        template: String::from("template value"),
        status: NotificationStatus::Dead,
        attempts: 3,
        last_error: Some(String::from("last_error value")),
        next_attempt_at: now,
        sent_at: Some(now),
        created_at: now,
        params: Some(serde_json::json!({"link": "http://127.0.0.1:8080/r/x"})),
    };
    round_trip!(db, notification, notification, notification.id);

    let outbox_event = outbox_event::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        event_type: String::from("event_type value"),
        aggregate_type: String::from("aggregate_type value"),
        aggregate_id: Uuid::now_v7(),
        patient_id: Some(Uuid::now_v7()),
        payload: json!({"kind": "payload", "n": 1, "nested": [true, null]}),
        created_at: now,
        published_at: Some(now),
        publish_seq: Some(1),
    };
    round_trip!(db, outbox_event, outbox_event, outbox_event.id);

    let idempotency_key = idempotency_key::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        key: String::from("key value"),
        operation: String::from("operation value"),
        request_hash: String::from("request_hash value"),
        response: json!({"kind": "response", "n": 1, "nested": [true, null]}),
        created_at: now,
    };
    round_trip!(db, idempotency_key, idempotency_key, idempotency_key.id);

    let hl7_message = hl7_message::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        sending_application: String::from("sending_application value"),
        sending_facility: String::from("sending_facility value"),
        control_id: Some(String::from("control_id value")),
        message_type: String::from("ORU^R01"),
        received_at: now,
        raw: vec![b'M', b'S', b'H', 0xE9, 0x0D],
        status: Hl7MessageStatus::Dead,
        ack_code: Some(String::from("AE")),
        error_code: Some(String::from("204")),
        error_location: Some(String::from("PID^1^3")),
        error_summary: Some(String::from("error_summary value")),
        attempts: 2,
        processed_at: Some(now),
        peer: Some(String::from("127.0.0.1:40000")),
    };
    round_trip!(db, hl7_message, hl7_message, hl7_message.id);

    let audit_event = audit_event::Model {
        seq: 0,
        id: Uuid::now_v7(),
        tenant_id: Some(Uuid::now_v7()),
        subject: Some(String::from("subject value")),
        roles: String::from("roles value"),
        proxy_for: Some(Uuid::now_v7()),
        action: String::from("action value"),
        entity_type: String::from("entity_type value"),
        entity_id: Some(Uuid::now_v7()),
        patient_id: Some(Uuid::now_v7()),
        request_id: Some(String::from("request_id value")),
        client_addr: Some(String::from("client_addr value")),
        outcome: AuditOutcome::Denied,
        reason: Some(String::from("reason value")),
        occurred_at: now,
        prev_hash: String::from("prev_hash value"),
        hash: String::from("hash value"),
        sealed_batch: Some(3),
    };
    let audit_event = insert_audit_event(db, audit_event).await;

    // a second audit event gets a larger seq
    let next = insert_audit_event(
        db,
        audit_event::Model {
            seq: 0,
            id: Uuid::now_v7(),
            prev_hash: audit_event.hash.clone(),
            ..audit_event.clone()
        },
    )
    .await;
    assert!(next.seq > audit_event.seq);
}
