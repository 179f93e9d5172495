use super::*;

const CBC: &[u8] = include_bytes!("../../tests/fixtures/oru_r01_v251_cbc.hl7");
const OTHER: &[u8] = include_bytes!("../../tests/fixtures/oru_r01_other_delimiters.hl7");
const LATIN1: &[u8] = include_bytes!("../../tests/fixtures/adt_a08_latin1.hl7");

#[test]
fn crlf_line_ends_give_one_segment_per_line() {
    let m = parse(CBC).expect("parses");
    let ids: Vec<&str> = m.all_segments().map(Segment::id).collect();
    assert_eq!(
        ids,
        [
            "MSH", "SFT", "PID", "PV1", "ORC", "OBR", "NTE", "OBX", "OBX", "OBX", "NTE", "OBX",
            "OBX"
        ]
    );
    assert_eq!(m.segments("OBX").count(), 5);
    assert_eq!(m.segments("NTE").nth(1).expect("present").sequence(), 2);
}

#[test]
fn msh_fields_are_numbered_as_in_the_standard() {
    let m = parse(CBC).expect("parses");
    let msh = m.msh();
    assert_eq!(msh.field(1).text().as_deref(), Some("|"));
    assert_eq!(msh.field(2).text().as_deref(), Some("^~\\&"));
    assert_eq!(
        msh.field(4).component(2).text().as_deref(),
        Some("05D2101234")
    );
    assert_eq!(msh.field(9).component(3).text().as_deref(), Some("ORU_R01"));
    assert_eq!(msh.field(10).text().as_deref(), Some("LAB20260301-0001"));
}

#[test]
fn repetitions_components_and_subcomponents_are_split() {
    let m = parse(CBC).expect("parses");
    let pid3 = m.segment("PID").expect("PID").field(3);
    assert_eq!(pid3.repetitions().count(), 2);
    assert_eq!(
        pid3.repetition(1).component(1).text().as_deref(),
        Some("884412")
    );
    assert_eq!(
        pid3.repetition(0).component(5).text().as_deref(),
        Some("MR")
    );
    assert_eq!(
        pid3.repetition(0).component(4).subcomponent(2).as_deref(),
        Some("2.16.840.1.113883.3.999")
    );
    assert!(pid3.repetition(2).component(1).text().is_none());
}

#[test]
fn escapes_are_decoded_on_read() {
    let m = parse(CBC).expect("parses");
    let notes: Vec<_> = m
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
    let m = parse(CBC).expect("parses");
    let hct = m.segments("OBX").nth(3).expect("present");
    assert!(hct.field(8).is_null());
    assert!(hct.field(9).is_empty() && !hct.field(9).is_null());
    assert!(hct.field(99).is_empty());
}

#[test]
fn other_encoding_characters_from_msh_2_are_used() {
    let m = parse(OTHER).expect("present");
    assert_eq!(m.delimiters().field, '#');
    assert_eq!(m.msh().field(9).component(2).text().as_deref(), Some("R01"));
    let pid3 = m.segment("PID").expect("PID").field(3);
    assert_eq!(
        pid3.repetition(1).component(5).text().as_deref(),
        Some("MB")
    );
    let obx = m.segment("OBX").expect("present");
    assert_eq!(obx.field(6).component(1).text().as_deref(), Some("%"));
    let note = m
        .segment("NTE")
        .expect("NTE")
        .field(3)
        .text()
        .expect("present");
    assert_eq!(note, "Fasting 12 h % no interfering medication#confirmed.");
}

#[test]
fn non_utf8_bytes_fall_back_to_latin1() {
    let m = parse(LATIN1).expect("present");
    assert_eq!(m.decoding().charset, Charset::Latin1);
    let name = m.segment("PID").expect("PID").field(5);
    assert_eq!(name.component(3).text().as_deref(), Some("Renée"));
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
    let err = parse(b"MSH|^~\\&|A\rPID|1\rthis is free text\r").expect_err("refused");
    assert!(err.to_string().contains("segment 3"), "{err}");
}

#[test]
fn a_second_msh_is_refused() {
    assert!(parse(b"MSH|^~\\&|A\rMSH|^~\\&|B\r").is_err());
}

#[test]
fn a_million_empty_fields_are_read_without_building_them() {
    let mut bytes = b"MSH|^~\\&|A|B\rNTE|1||".to_vec();
    bytes.extend(std::iter::repeat_n(b'|', 1_000_000));
    bytes.extend_from_slice(b"last");
    let m = parse(&bytes).expect("parses");
    let nte = m.segment("NTE").expect("NTE");
    assert_eq!(nte.field_count(), 1_000_003);
    assert!(nte.field(3).is_empty());
    assert_eq!(nte.field(1_000_003).text().as_deref(), Some("last"));
    assert_eq!(nte.fields().filter(|(_, f)| !f.is_empty()).count(), 2);
}

#[test]
fn fields_are_numbered_alike_one_by_one_and_all_at_once() {
    let m = parse(CBC).expect("parses");
    for segment in m.all_segments() {
        let last = segment.fields().last().map_or(0, |(n, _)| n);
        assert_eq!(last, segment.field_count(), "{segment:?}");
        for (n, field) in segment.fields() {
            assert_eq!(field.text(), segment.field(n).text(), "{segment:?} {n}");
        }
    }
}

#[test]
fn more_segments_than_the_limit_are_refused() {
    let mut bytes = b"MSH|^~\\&|A|B\r".to_vec();
    bytes.extend(b"NTE|1\r".repeat(MAX_SEGMENTS));
    let err = parse(&bytes).expect_err("refused");
    assert!(matches!(err, Hl7Error::LimitExceeded(_)), "{err}");
    assert!(err.issue().message.contains("segments"), "{err}");
}

#[test]
fn more_repetitions_than_the_limit_are_refused_with_the_field_named() {
    let mut bytes = b"MSH|^~\\&|A|B\rPID|1||".to_vec();
    bytes.extend(b"X~".repeat(MAX_REPETITIONS));
    let err = parse(&bytes).expect_err("refused");
    assert!(err.issue().message.contains("PID^1^3"), "{err}");
    let ok = parse(b"MSH|^~\\&|A|B\rPID|1||A~B~C\r").expect("parses");
    assert_eq!(
        ok.segment("PID")
            .expect("PID")
            .field(3)
            .repetitions()
            .count(),
        3
    );
}

#[test]
fn a_message_shows_its_shape_not_its_content_when_debugged() {
    let m = parse(CBC).expect("parses");
    let printed = format!("{m:?} {:?}", m.segment("PID").expect("PID").field(5));
    assert!(
        !printed.contains("Nguyen") && printed.contains("segments: 13"),
        "{printed}"
    );
}
