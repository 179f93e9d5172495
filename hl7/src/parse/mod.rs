//! HL7 v2 (ER7, pipe-delimited) parsing: bytes to a [`Message`], one text and the spans
//! of its segments.
//!
//! Segments may end in `\r`, `\n` or `\r\n`; blank lines are skipped. Fields are split and
//! escapes decoded when read, so accessors return plain text.

mod charset;
mod delimiters;
mod escape;
mod field;
mod message;

pub use charset::{Charset, Decoding};
pub use delimiters::Delimiters;
pub use escape::{escape, unescape};
pub use field::{ComponentRef, FieldRef, RepetitionRef};
pub use message::{Message, Segment};

pub use crate::codes::Location;
use crate::error::Hl7Error;
use message::Span;
use std::collections::HashMap;

/// Most segments one message may have; a large lab panel has a few hundred. More is
/// answered AR before anything is built for them.
pub const MAX_SEGMENTS: usize = 10_000;

/// Most repetitions one field may have, so that a mapping collecting them (identifiers,
/// addresses, abnormal flags, report lines) stays small.
pub const MAX_REPETITIONS: usize = 10_000;

/// Parses one message. Leading blank lines are allowed; the first segment must be MSH.
///
/// Memory: the decoded text (the size of the message, twice at most for Latin-1) and 12
/// bytes per segment; nothing per field.
pub fn parse(bytes: &[u8]) -> Result<Message, Hl7Error> {
    let bytes = skip_leading_whitespace(bytes);
    let delimiters = Delimiters::from_msh(bytes)?;
    let (text, decoding) = charset::decode(bytes, &delimiters)?;
    build(text.into_boxed_str(), delimiters, decoding)
}

/// Parses only the first segment, decoding it as lossy UTF-8 whatever MSH-18 says: enough
/// to answer a message that cannot be parsed as a whole.
pub(crate) fn parse_first_segment(bytes: &[u8]) -> Result<Message, Hl7Error> {
    let bytes = skip_leading_whitespace(bytes);
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let delimiters = Delimiters::from_msh(bytes)?;
    let text = String::from_utf8_lossy(&bytes[..end]);
    let decoding = Decoding {
        charset: Charset::Utf8,
        declared: false,
        lossy: matches!(text, std::borrow::Cow::Owned(_)),
    };
    build(text.into_owned().into_boxed_str(), delimiters, decoding)
}

fn build(text: Box<str>, delimiters: Delimiters, decoding: Decoding) -> Result<Message, Hl7Error> {
    if u32::try_from(text.len()).is_err() {
        return Err(Hl7Error::Unparseable(
            "message larger than 4 GiB".to_owned(),
        ));
    }
    let count = lines(&text).count();
    if count > MAX_SEGMENTS {
        return Err(Hl7Error::LimitExceeded(format!(
            "message has more than {MAX_SEGMENTS} segments"
        )));
    }
    let spans = spans(&text, &delimiters, count)?;
    Ok(Message {
        delimiters,
        decoding,
        text,
        spans,
    })
}

/// The non-blank lines of the text, with their byte offsets.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let base = text.as_ptr() as usize;
    text.split(['\r', '\n'])
        .filter(|line| !line.trim().is_empty())
        .map(move |line| (line.as_ptr() as usize - base, line))
}

/// One span per segment, allocated once at its final size.
fn spans(text: &str, d: &Delimiters, count: usize) -> Result<Box<[Span]>, Hl7Error> {
    let mut sequences: HashMap<&str, u32> = HashMap::new();
    let mut spans = Vec::with_capacity(count);
    for (index, (offset, line)) in lines(text).enumerate() {
        let id = line.split(d.field).next().unwrap_or_default();
        if !is_segment_id(id) {
            return Err(Hl7Error::Unparseable(format!(
                "segment {} has no valid segment id",
                index + 1
            )));
        }
        if index > 0 && id == "MSH" {
            return Err(Hl7Error::Unparseable(
                "more than one MSH segment (batches are not supported)".to_owned(),
            ));
        }
        let sequence = sequences.entry(id).or_default();
        *sequence += 1;
        check_repetitions(line, d, id, *sequence)?;
        // Offsets fit in u32: `build` refused texts of 4 GiB and more.
        spans.push(Span {
            start: offset as u32,
            end: (offset + line.len()) as u32,
            sequence: *sequence,
        });
    }
    Ok(spans.into_boxed_slice())
}

/// Refuses a field with more than [`MAX_REPETITIONS`] repetitions, naming it.
fn check_repetitions(line: &str, d: &Delimiters, id: &str, sequence: u32) -> Result<(), Hl7Error> {
    let mut field = 0;
    let mut repetitions = 1;
    for c in line.chars() {
        if c == d.field {
            field += 1;
            repetitions = 1;
        } else if c == d.repetition {
            repetitions += 1;
            if repetitions > MAX_REPETITIONS {
                let n = if id == "MSH" { field + 1 } else { field };
                return Err(Hl7Error::LimitExceeded(format!(
                    "{id}^{sequence}^{n} has more than {MAX_REPETITIONS} repetitions"
                )));
            }
        }
    }
    Ok(())
}

fn skip_leading_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn is_segment_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 3
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests;
