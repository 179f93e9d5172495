use super::*;

fn decode_all(decoder: &mut Decoder, chunks: &[&[u8]]) -> Vec<Frame> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(f) = decoder.decode(&mut buf) {
            out.push(f);
        }
    }
    out
}

fn msg(s: &str) -> Frame {
    Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn frames_split_across_reads_are_joined() {
    let mut d = Decoder::new(1024);
    let frames = decode_all(
        &mut d,
        &[b"\x0bMSH|^~", b"\\&|A\r\x1c", b"\r\x0bMSH|B\x1c\r"],
    );
    assert_eq!(frames, [msg("MSH|^~\\&|A\r"), msg("MSH|B")]);
    assert!(!d.in_frame());
}

#[test]
fn bytes_before_a_start_byte_are_discarded() {
    let mut d = Decoder::new(1024);
    let frames = decode_all(&mut d, &[b"garbage\r\n", b"\x00\x0bMSH|A\x1c\r"]);
    assert_eq!(frames, [msg("MSH|A")]);
    assert_eq!(d.discarded(), 10);
}

#[test]
fn a_new_start_byte_restarts_the_frame() {
    let mut d = Decoder::new(1024);
    let frames = decode_all(&mut d, &[b"\x0bMSH|half", b"\x0bMSH|whole\x1c\r"]);
    assert_eq!(frames, [msg("MSH|whole")]);
}

#[test]
fn a_lone_end_byte_is_data() {
    let mut d = Decoder::new(1024);
    let frames = decode_all(&mut d, &[b"\x0bA\x1cB\x1c", b"\r"]);
    assert_eq!(frames, [msg("A\x1cB")]);
}

#[test]
fn an_oversized_frame_is_discarded_keeping_its_head() {
    let mut d = Decoder::new(100);
    let body = vec![b'x'; 1000];
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"\x0bMSH|^~\\&|A\r");
    buf.extend_from_slice(&body);
    assert!(d.decode(&mut buf).is_none());
    assert!(buf.is_empty(), "nothing beyond the limit stays buffered");
    buf.extend_from_slice(&body);
    buf.extend_from_slice(b"\x1c");
    assert!(d.decode(&mut buf).is_none());
    buf.extend_from_slice(b"\r\x0bMSH|next\x1c\r");
    let Some(Frame::Oversized { head, size }) = d.decode(&mut buf) else {
        panic!("expected an oversized frame");
    };
    assert!(head.starts_with(b"MSH|^~\\&|A"));
    assert!(size > 2000);
    assert_eq!(d.decode(&mut buf), Some(msg("MSH|next")));
}

#[test]
fn a_frame_of_exactly_the_limit_is_accepted() {
    let mut d = Decoder::new(5);
    assert_eq!(decode_all(&mut d, &[b"\x0b12345\x1c\r"]), [msg("12345")]);
}

#[test]
fn frame_wraps_a_message() {
    assert_eq!(frame(b"MSH"), b"\x0bMSH\x1c\r");
}

#[test]
fn an_oversized_frame_arriving_in_one_read_is_still_oversized() {
    let mut d = Decoder::new(10);
    let frames = decode_all(&mut d, &[b"\x0bMSH|0123456789\x1c\r"]);
    assert!(
        matches!(&frames[..], [Frame::Oversized { size: 14, .. }]),
        "{frames:?}"
    );
}
