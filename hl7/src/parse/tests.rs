use super::*;

const CBC: &[u8] = include_bytes!("../../tests/fixtures/oru_r01_v251_cbc.hl7");
const OTHER: &[u8] = include_bytes!("../../tests/fixtures/oru_r01_other_delimiters.hl7");
const LATIN1: &[u8] = include_bytes!("../../tests/fixtures/adt_a08_latin1.hl7");

#[test]
fn crlf_line_ends_give_one_segment_per_line() {
    let m = parse(CBC).unwrap();
    let ids: Vec<&str> = m.all_segments().iter().map(Segment::id).collect();
    assert_eq!(
        ids,
        [
            "MSH", "SFT", "PID", "PV1", "ORC", "OBR", "NTE", "OBX", "OBX", "OBX", "NTE", "OBX",
            "OBX"
        ]
    );
    assert_eq!(m.segments("OBX").count(), 5);
    assert_eq!(m.segments("NTE").nth(1).unwrap().sequence(), 2);
}

#[test]
fn msh_fields_are_numbered_as_in_the_standard() {
    let m = parse(CBC).unwrap();
    let msh = m.msh();
    assert_eq!(msh.field(1).text(), Some("|"));
    assert_eq!(msh.field(2).text(), Some("^~\\&"));
    assert_eq!(msh.field(4).component(2).text(), Some("05D2101234"));
    assert_eq!(msh.field(9).component(3).text(), Some("ORU_R01"));
    assert_eq!(msh.field(10).text(), Some("LAB20260301-0001"));
}

#[test]
fn repetitions_components_and_subcomponents_are_split() {
    let m = parse(CBC).unwrap();
    let pid3 = m.segment("PID").unwrap().field(3);
    assert_eq!(pid3.repetitions().count(), 2);
    assert_eq!(pid3.repetition(1).component(1).text(), Some("884412"));
    assert_eq!(pid3.repetition(0).component(5).text(), Some("MR"));
    assert_eq!(
        pid3.repetition(0).component(4).subcomponent(2),
        Some("2.16.840.1.113883.3.999")
    );
    assert!(pid3.repetition(2).component(1).text().is_none());
}

#[test]
fn escapes_are_decoded_on_read() {
    let m = parse(CBC).unwrap();
    let notes: Vec<&str> = m
        .segments("NTE")
        .filter_map(|s| s.field(3).text())
        .collect();
    assert_eq!(
        notes[0],
        "Specimen received at Riverside Main Laboratory & processed within 2 h."
    );
    assert_eq!(notes[1], "Result verified by repeat analysis|instrument 2.");
}

#[test]
fn empty_and_null_fields_are_told_apart() {
    let m = parse(CBC).unwrap();
    let hct = m.segments("OBX").nth(3).unwrap();
    assert!(hct.field(8).is_null());
    assert!(hct.field(9).is_empty() && !hct.field(9).is_null());
    assert!(hct.field(99).is_empty());
}

#[test]
fn other_encoding_characters_from_msh_2_are_used() {
    let m = parse(OTHER).unwrap();
    assert_eq!(m.delimiters().field, '#');
    assert_eq!(m.msh().field(9).component(2).text(), Some("R01"));
    let pid3 = m.segment("PID").unwrap().field(3);
    assert_eq!(pid3.repetition(1).component(5).text(), Some("MB"));
    let obx = m.segment("OBX").unwrap();
    assert_eq!(obx.field(6).component(1).text(), Some("%"));
    let note = m.segment("NTE").unwrap().field(3).text().unwrap();
    assert_eq!(note, "Fasting 12 h % no interfering medication#confirmed.");
}

#[test]
fn non_utf8_bytes_fall_back_to_latin1() {
    let m = parse(LATIN1).unwrap();
    assert_eq!(m.decoding().charset, Charset::Latin1);
    let name = m.segment("PID").unwrap().field(5);
    assert_eq!(name.component(3).text(), Some("Renée"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut bytes = b"MSH|^~\\&|A|B\r".to_vec();
    bytes.extend((0..=255u8).cycle().take(4096));
    let _ = parse(&bytes);
    let _ = parse(&[0xFF; 64]);
    let _ = parse(b"");
    let _ = parse(b"MSH");
}

#[test]
fn a_message_not_starting_with_msh_is_unparseable() {
    assert!(matches!(
        parse(b"PID|1||X\r"),
        Err(Hl7Error::Unparseable(_))
    ));
}

#[test]
fn a_line_without_a_segment_id_is_unparseable() {
    let err = parse(b"MSH|^~\\&|A\rPID|1\rthis is free text\r").unwrap_err();
    assert!(err.to_string().contains("segment 3"), "{err}");
}

#[test]
fn a_second_msh_is_refused() {
    assert!(parse(b"MSH|^~\\&|A\rMSH|^~\\&|B\r").is_err());
}
