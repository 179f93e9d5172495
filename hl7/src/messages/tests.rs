use super::*;
use crate::datetime::Precision;
use crate::parse::parse;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn oru(name: &str) -> OruR01 {
    match interpret(&parse(&fixture(name)).unwrap()).unwrap() {
        Hl7Message::Oru(m) => *m,
        other => panic!("not an ORU: {other:?}"),
    }
}

fn adt(name: &str) -> AdtMessage {
    match interpret(&parse(&fixture(name)).unwrap()).unwrap() {
        Hl7Message::Adt(m) => *m,
        other => panic!("not an ADT: {other:?}"),
    }
}

fn siu(name: &str) -> Appointment {
    match interpret(&parse(&fixture(name)).unwrap()).unwrap() {
        Hl7Message::Siu(m) => *m,
        other => panic!("not an SIU: {other:?}"),
    }
}

fn content_error(text: &str) -> (String, ErrorCode) {
    let bytes = text.replace('\n', "\r");
    match interpret(&parse(bytes.as_bytes()).unwrap()) {
        Err(Hl7Error::Content { location, code, .. }) => (location.to_string(), code),
        other => panic!("expected a content error, got {other:?}"),
    }
}

const MSH: &str =
    "MSH|^~\\&|LIS|LAB^05D2101234^CLIA|PORTAL|RIV|20260301101500||ORU^R01^ORU_R01|C1|P|2.5.1";

#[test]
fn cbc_panel_maps_header_patient_order_and_observations() {
    let m = oru("oru_r01_v251_cbc.hl7");
    let facility = m.header.sending_facility.as_ref().unwrap();
    assert_eq!(facility.universal_id.as_deref(), Some("05D2101234"));
    assert_eq!(facility.universal_id_type.as_deref(), Some("CLIA"));
    assert_eq!(m.header.control_id.as_deref(), Some("LAB20260301-0001"));
    assert_eq!(m.header.structure.as_deref(), Some("ORU_R01"));
    assert_eq!(m.patient.mrn.id, "MRN1001");
    assert_eq!(m.patient.identifiers.len(), 2);
    let [order] = m.orders.as_slice() else {
        panic!("one order")
    };
    assert_eq!(order.test.code.as_deref(), Some("58410-2"));
    assert_eq!(order.test.system.as_deref(), Some("LN"));
    assert_eq!(order.placer_order.as_ref().unwrap().id, "ORD-448812");
    assert_eq!(order.filler_order.as_ref().unwrap().id, "LAB-77120");
    assert_eq!(
        order.ordering_provider.as_ref().unwrap().npi(),
        Some("1234567893")
    );
    assert_eq!(order.status, ResultStatus::Final);
    assert_eq!(
        order
            .observed_at
            .unwrap()
            .with_offset()
            .unwrap()
            .to_rfc3339(),
        "2026-03-01T08:10:00-05:00"
    );
    assert_eq!(order.observations.len(), 5);
    assert_eq!(order.notes.len(), 1);
    let wbc = &order.observations[0];
    assert_eq!(wbc.code.code.as_deref(), Some("6690-2"));
    assert!(
        matches!(wbc.value, ObservationValue::Numeric { value, .. } if (value - 11.9).abs() < 1e-9)
    );
    assert_eq!(wbc.units.as_ref().unwrap().code.as_deref(), Some("10*3/uL"));
    assert_eq!(wbc.reference_range.as_deref(), Some("4.5-11.0"));
    assert_eq!(wbc.abnormal_flags, [AbnormalFlag::High]);
    assert_eq!(wbc.status, ObservationStatus::Final);
    let hgb = &order.observations[2];
    assert_eq!(hgb.code.code.as_deref(), Some("718-7"));
    assert_eq!(
        hgb.notes,
        ["Result verified by repeat analysis|instrument 2."]
    );
    assert!(
        order.observations[3].abnormal_flags.is_empty(),
        "\"\" flags mean none"
    );
}

#[test]
fn v23_message_maps_with_the_mrn_fallback() {
    let m = oru("oru_r01_v23.hl7");
    assert_eq!(m.header.version.as_deref(), Some("2.3"));
    assert_eq!(m.header.structure, None);
    assert_eq!(m.patient.mrn.id, "MRN1002");
    let order = &m.orders[0];
    assert_eq!(order.test.code.as_deref(), Some("4548-4"));
    let provider = order.ordering_provider.as_ref().unwrap();
    assert_eq!(
        (provider.id.as_deref(), provider.npi()),
        (Some("1245319599"), None)
    );
    assert_eq!(order.observed_at.unwrap().precision, Precision::Minute);
}

#[test]
fn two_obr_groups_keep_their_own_observations() {
    let m = oru("oru_r01_two_obr.hl7");
    assert_eq!(m.orders.len(), 2);
    assert_eq!(m.orders[0].test.code.as_deref(), Some("57698-3"));
    assert_eq!(m.orders[0].observations.len(), 4);
    assert_eq!(
        m.orders[0].ordering_provider.as_ref().unwrap().npi(),
        Some("1234567893")
    );
    let a1c = &m.orders[1];
    assert_eq!(
        (a1c.status, a1c.obr_sequence),
        (ResultStatus::Preliminary, 2)
    );
    let ObservationValue::StructuredNumeric(sn) = &a1c.observations[0].value else {
        panic!("SN")
    };
    assert_eq!(
        (sn.comparator.as_deref(), sn.first),
        (Some(">"), Some(14.0))
    );
    assert_eq!(
        a1c.observations[0].abnormal_flags,
        [AbnormalFlag::CriticalHigh]
    );
    assert_eq!(a1c.observations[0].notes.len(), 1);
}

#[test]
fn other_encoding_characters_map_the_same() {
    let m = oru("oru_r01_other_delimiters.hl7");
    assert_eq!(m.patient.mrn.id, "MRN1001");
    let obx = &m.orders[0].observations[0];
    assert_eq!(obx.units.as_ref().unwrap().code.as_deref(), Some("%"));
    assert_eq!(m.orders[0].status, ResultStatus::Final);
}

#[test]
fn imaging_report_has_text_and_study_uid() {
    let m = oru("oru_r01_imaging.hl7");
    let order = &m.orders[0];
    assert_eq!(order.test.code.as_deref(), Some("36643-5"));
    assert_eq!(
        order.study_instance_uid.as_deref(),
        Some("1.2.840.113619.2.55.3.604688119.868.1249343483.504")
    );
    assert_eq!(
        order.report_text().unwrap(),
        "FINDINGS: The lungs are clear. No pleural effusion.\nHeart size is normal.\nIMPRESSION:\n1. No acute cardiopulmonary process."
    );
}

#[test]
fn imaging_study_uid_may_come_in_zds() {
    let m = oru("oru_r01_imaging_zds.hl7");
    assert_eq!(
        m.orders[0].study_instance_uid.as_deref(),
        Some("1.2.840.113619.2.55.3.604688119.868.1249343483.777")
    );
}

#[test]
fn corrections_and_wrong_observations_are_flagged() {
    let c = oru("oru_r01_correction.hl7");
    assert_eq!(c.orders[0].status, ResultStatus::Corrected);
    assert_eq!(
        c.orders[0].observations[0].status,
        ObservationStatus::Corrected
    );
    let w = oru("oru_r01_wrong_observation.hl7");
    assert_eq!(w.orders[0].observations[0].status, ObservationStatus::Wrong);
}

#[test]
fn missing_test_code_is_reported_at_obr_4() {
    let (location, code) = content_error(&format!(
        "{MSH}\nPID|1||MRN1001^^^R^MR\nOBR|1|P1|F1|^no code here|||20260301||||||||||||||||||F"
    ));
    assert_eq!(
        (location.as_str(), code),
        ("OBR^1^4^1^1", ErrorCode::RequiredFieldMissing)
    );
}

#[test]
fn non_numeric_nm_value_is_reported_at_obx_5() {
    let (location, code) = content_error(&format!(
        "{MSH}\nPID|1||MRN1001^^^R^MR\nOBR|1|P1|F1|58410-2^CBC^LN|||||||||||||||||||||F\nOBX|1|NM|718-7^Hgb^LN||12.9||||||F\nOBX|2|NM|6690-2^WBC^LN||see note||||||F"
    ));
    assert_eq!((location.as_str(), code), ("OBX^2^5", ErrorCode::DataType));
}

#[test]
fn unknown_result_status_is_reported_at_obr_25() {
    let (location, code) = content_error(&format!(
        "{MSH}\nPID|1||MRN1001^^^R^MR\nOBR|1|P1|F1|58410-2^CBC^LN|||||||||||||||||||||Q"
    ));
    assert_eq!(
        (location.as_str(), code),
        ("OBR^1^25", ErrorCode::TableValueNotFound)
    );
}

#[test]
fn missing_patient_identifier_is_reported_at_pid_3() {
    let (location, _) = content_error(&format!(
        "{MSH}\nPID|1||\nOBR|1|P1|F1|58410-2^CBC^LN|||||||||||||||||||||F"
    ));
    assert_eq!(location, "PID^1^3");
}

#[test]
fn bad_observation_time_is_a_data_type_error() {
    let (location, code) = content_error(&format!(
        "{MSH}\nPID|1||MRN1001^^^R^MR\nOBR|1|P1|F1|58410-2^CBC^LN|||2026-03-01||||||||||||||||||F"
    ));
    assert_eq!((location.as_str(), code), ("OBR^1^7", ErrorCode::DataType));
}

#[test]
fn unsupported_types_triggers_and_versions_are_rejected() {
    let cases = [
        ("ORM^O01", "2.5.1", ErrorCode::UnsupportedMessageType),
        ("ORU^R30", "2.5.1", ErrorCode::UnsupportedEventCode),
        ("ADT^A40", "2.5.1", ErrorCode::UnsupportedEventCode),
        ("ORU^R01", "2.7", ErrorCode::UnsupportedVersionId),
    ];
    for (kind, version, expected) in cases {
        let text = format!("MSH|^~\\&|A|B|C|D|20260301||{kind}|1|P|{version}\rPID|1||X^^^^MR\r");
        match interpret(&parse(text.as_bytes()).unwrap()) {
            Err(Hl7Error::Unsupported { code, .. }) => {
                assert_eq!(code, expected, "{kind} {version}")
            }
            other => panic!("{kind} {version}: {other:?}"),
        }
    }
}

#[test]
fn adt_a04_maps_demographics_and_coverage() {
    let m = adt("adt_a04.hl7");
    assert_eq!(m.event, AdtEvent::Register);
    let p = &m.patient;
    assert_eq!(p.identity.mrn.id, "MRN1003");
    assert_eq!(
        p.identity.name.as_ref().unwrap().given.as_deref(),
        Some("Ben")
    );
    assert_eq!(p.birth_date, chrono::NaiveDate::from_ymd_opt(2016, 5, 2));
    assert_eq!(p.sex, Some(Sex::Male));
    assert_eq!(p.races[0].code.as_deref(), Some("2106-3"));
    assert_eq!(p.ethnic_groups[0].code.as_deref(), Some("N"));
    assert_eq!(p.addresses[0].postal_code.as_deref(), Some("62704"));
    assert_eq!(p.phones[0].number.as_deref(), Some("1 217 5550188"));
    assert_eq!(p.emails, ["carol.johnson@example.org"]);
    assert_eq!(
        p.primary_language.as_ref().unwrap().code.as_deref(),
        Some("eng")
    );
    let [c] = m.coverages.as_slice() else {
        panic!("one IN1")
    };
    assert_eq!(c.payer_id, "BHH01");
    assert_eq!(c.payer_name.as_deref(), Some("Blue Harbor Health"));
    assert_eq!(c.plan.as_ref().unwrap().text.as_deref(), Some("Family HMO"));
    assert_eq!(c.group_number.as_deref(), Some("GRP-5512"));
    assert_eq!(c.effective, chrono::NaiveDate::from_ymd_opt(2026, 1, 1));
    assert_eq!(c.expires, chrono::NaiveDate::from_ymd_opt(2026, 12, 31));
    assert_eq!(
        c.relationship.as_ref().unwrap().code.as_deref(),
        Some("MTH")
    );
    assert_eq!(c.policy_number.as_deref(), Some("BHH987654321"));
    assert_eq!(c.coverage_type.as_deref(), Some("B"));
    assert_eq!(c.member_id(), Some("BHH987654321-02"));
}

#[test]
fn adt_updates_and_person_messages_map() {
    let a08 = adt("adt_a08.hl7");
    assert_eq!(a08.event, AdtEvent::Update);
    assert_eq!(a08.patient.cleared_fields, [14], "PID-14 sent as \"\"");
    assert_eq!(a08.coverages[0].member_id(), Some("BHH123456789"));
    assert_eq!(
        a08.coverages[0].plan.as_ref().unwrap().text.as_deref(),
        Some("PPO Gold")
    );
    let a28 = adt("adt_a28.hl7");
    assert_eq!(
        (a28.event, a28.patient.identity.mrn.id.as_str()),
        (AdtEvent::AddPerson, "MRN1005")
    );
    assert_eq!(
        a28.coverages[0].policy_number.as_deref(),
        Some("PHP-4471-009")
    );
    let a31 = adt("adt_a31.hl7");
    assert_eq!(a31.event, AdtEvent::UpdatePerson);
    assert_eq!(a31.coverages[0].payer_name.as_deref(), Some("Medicare"));
}

#[test]
fn adt_with_latin1_name_maps() {
    let m = adt("adt_a08_latin1.hl7");
    assert_eq!(
        m.patient.identity.name.unwrap().middle.as_deref(),
        Some("Renée")
    );
}

#[test]
fn siu_s12_books_with_time_place_and_patient() {
    let a = siu("siu_s12.hl7");
    assert_eq!(a.event, SiuEvent::Book);
    assert_eq!(a.filler_id.id, "APT-9001");
    assert_eq!(a.placer_id.as_ref().unwrap().id, "PL-3301");
    assert_eq!(
        a.starts_at.unwrap().with_offset().unwrap().to_rfc3339(),
        "2026-03-20T09:30:00-05:00"
    );
    assert_eq!(
        a.ends_at.unwrap().with_offset().unwrap().to_rfc3339(),
        "2026-03-20T09:45:00-05:00"
    );
    assert_eq!(a.duration, Some(chrono::Duration::minutes(15)));
    assert_eq!(a.reason.as_ref().unwrap().code.as_deref(), Some("LABWORK"));
    assert_eq!(a.kind.as_ref().unwrap().code.as_deref(), Some("ROUTINE"));
    let place = a.place.as_ref().unwrap();
    assert_eq!(
        place.facility.as_ref().unwrap().universal_id.as_deref(),
        Some("05D2101234")
    );
    assert_eq!(a.provider.as_ref().unwrap().npi(), Some("1234567893"));
    assert_eq!(a.patient.as_ref().unwrap().mrn.id, "MRN1001");
}

#[test]
fn siu_reschedule_modify_cancel_and_no_show_map() {
    let s13 = siu("siu_s13.hl7");
    assert_eq!(s13.event, SiuEvent::Reschedule);
    assert_eq!(
        s13.starts_at.unwrap().with_offset().unwrap().to_rfc3339(),
        "2026-03-22T10:00:00-05:00"
    );
    let s14 = siu("siu_s14.hl7");
    assert_eq!(s14.event, SiuEvent::Modify);
    assert_eq!(
        s14.ends_at.unwrap().with_offset().unwrap().to_rfc3339(),
        "2026-03-20T09:45:00-05:00",
        "AIS-4 + AIS-7"
    );
    let s15 = siu("siu_s15.hl7");
    assert_eq!((s15.event, s15.starts_at), (SiuEvent::Cancel, None));
    assert_eq!(
        s15.filler_status.as_ref().unwrap().code.as_deref(),
        Some("Cancelled")
    );
    let s26 = siu("siu_s26.hl7");
    assert_eq!(
        (s26.event, s26.filler_id.id.as_str()),
        (SiuEvent::NoShow, "APT-9001")
    );
}

#[test]
fn siu_without_filler_id_is_reported_at_sch_2() {
    let (location, code) = content_error(
        "MSH|^~\\&|S|R|P|R|20260315||SIU^S12^SIU_S12|1|P|2.5.1\nSCH|PL-1||||||||||^^15^20260320093000",
    );
    assert_eq!(
        (location.as_str(), code),
        ("SCH^1^2", ErrorCode::RequiredFieldMissing)
    );
}
