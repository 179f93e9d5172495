use super::*;
use crate::Hl7Error;
use crate::codes::Location;
use crate::parse::parse;

fn header() -> Header {
    let m = parse(include_bytes!("../../tests/fixtures/oru_r01_v251_cbc.hl7")).unwrap();
    Header::read(&m)
}

fn segments(ack: &Ack) -> Vec<Vec<String>> {
    ack.text
        .split_terminator('\r')
        .map(|s| s.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn aa_swaps_sender_and_receiver_and_echoes_the_control_id() {
    let ack = AckBuilder::new(&header(), AckCode::Accept)
        .control_id("ACK0001")
        .build();
    let s = segments(&ack);
    assert_eq!(s[0][2], "PORTAL^2.16.840.1.113883.3.999.2^ISO");
    assert_eq!(s[0][3], "RIVERSIDE^2.16.840.1.113883.3.999^ISO");
    assert_eq!(s[0][4], "RIVERSIDE LIS^2.16.840.1.113883.3.999.1^ISO");
    assert_eq!(s[0][5], "Riverside Main Laboratory^05D2101234^CLIA");
    assert_eq!(s[0][8], "ACK^R01^ACK");
    assert_eq!(s[0][9], "ACK0001");
    assert_eq!((s[0][10].as_str(), s[0][11].as_str()), ("P", "2.5.1"));
    assert_eq!(s[1], ["MSA", "AA", "LAB20260301-0001", ""]);
    assert_eq!(s.len(), 2);
}

#[test]
fn ae_names_the_field_in_err() {
    let error = Hl7Error::content(
        Location::field("OBR", 1, 4).with_component(1),
        ErrorCode::RequiredFieldMissing,
        "OBR-4 test code missing",
    );
    let ack = Ack::for_error(&header(), &error);
    assert_eq!(ack.code, AckCode::Error);
    let s = segments(&ack);
    assert_eq!(s[1][1], "AE");
    assert_eq!(s[2][0], "ERR");
    assert_eq!(s[2][2], "OBR^1^4^1^1");
    assert_eq!(s[2][3], "101^Required field missing^HL70357");
    assert_eq!(s[2][4], "E");
    assert_eq!(s[2][8], "OBR-4 test code missing");
}

#[test]
fn ar_for_unsupported_and_processing_failures() {
    let h = header();
    let unsupported = Hl7Error::unsupported(
        Location::field("MSH", 1, 9),
        ErrorCode::UnsupportedMessageType,
        "no",
    );
    assert_eq!(Ack::for_error(&h, &unsupported).code, AckCode::Reject);
    let failed = Ack::for_error(
        &h,
        &Hl7Error::Processing("database down at 10.0.0.5".to_owned()),
    );
    assert_eq!(failed.code, AckCode::Reject);
    assert!(
        failed
            .text
            .contains("207^Application internal error^HL70357")
    );
    assert!(
        !failed.text.contains("10.0.0.5"),
        "internal detail must not be returned"
    );
}

#[test]
fn aa_may_carry_warnings() {
    let warning = Issue::warning(
        ErrorCode::TableValueNotFound,
        "abnormal flag not recognised",
    )
    .at(Location::field("OBX", 2, 8));
    let ack = AckBuilder::new(&header(), AckCode::Accept)
        .issue(warning)
        .build();
    let s = segments(&ack);
    assert_eq!(
        (s[1][1].as_str(), s[2][2].as_str(), s[2][4].as_str()),
        ("AA", "OBX^2^8", "W")
    );
}

#[test]
fn text_with_delimiters_is_escaped() {
    let ack = AckBuilder::new(&header(), AckCode::Accept)
        .text("a|b^c")
        .build();
    assert!(ack.text.contains("MSA|AA|LAB20260301-0001|a\\F\\b\\S\\c\r"));
}

#[test]
fn an_ack_for_nothing_readable_still_has_msh_and_msa() {
    let ack = Ack::for_error(
        &Header::default(),
        &Hl7Error::Unparseable("no MSH".to_owned()),
    );
    let s = segments(&ack);
    assert_eq!(
        (s[0][0].as_str(), s[1][1].as_str(), s[1][2].as_str()),
        ("MSH", "AR", "")
    );
}

#[test]
fn generated_control_ids_are_unique_and_fit_msh_10() {
    let a = new_control_id();
    let b = new_control_id();
    assert_ne!(a, b);
    assert_eq!(a.len(), 20);
}
