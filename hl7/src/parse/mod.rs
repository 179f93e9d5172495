//! HL7 v2 (ER7, pipe-delimited) parsing: bytes to a [`Message`] tree.
//!
//! Segments may end in `\r`, `\n` or `\r\n`; blank lines are skipped. Escapes are decoded
//! when the tree is built, so accessors return plain text.

mod charset;
mod delimiters;
mod escape;
mod tree;

pub use crate::codes::Location;
pub use charset::{Charset, Decoding};
pub use delimiters::Delimiters;
pub use escape::{escape, unescape};
pub use tree::{
    Component, ComponentRef, Field, FieldRef, Message, Repetition, RepetitionRef, Segment, Value,
};

use crate::error::Hl7Error;
use std::collections::HashMap;

/// Parses one message. Leading blank lines are allowed; the first segment must be MSH.
pub fn parse(bytes: &[u8]) -> Result<Message, Hl7Error> {
    let bytes = skip_leading_whitespace(bytes);
    let delimiters = Delimiters::from_msh(bytes)?;
    let (text, decoding) = charset::decode(bytes, &delimiters)?;
    let builder = Builder {
        d: delimiters,
        charset: decoding.charset,
    };
    let segments = builder.segments(&text)?;
    Ok(Message {
        delimiters,
        decoding,
        segments,
    })
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
    let builder = Builder {
        d: delimiters,
        charset: Charset::Utf8,
    };
    Ok(Message {
        delimiters,
        decoding: Decoding {
            charset: Charset::Utf8,
            declared: false,
            lossy: matches!(text, std::borrow::Cow::Owned(_)),
        },
        segments: builder.segments(&text)?,
    })
}

struct Builder {
    d: Delimiters,
    charset: Charset,
}

impl Builder {
    fn segments(&self, text: &str) -> Result<Vec<Segment>, Hl7Error> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        let lines = text
            .split(['\r', '\n'])
            .filter(|line| !line.trim().is_empty());
        let mut segments = Vec::new();
        for (index, line) in lines.enumerate() {
            let id = line.split(self.d.field).next().unwrap_or_default();
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
            let sequence = counts.entry(id.to_owned()).or_default();
            *sequence += 1;
            segments.push(Segment {
                id: id.to_owned(),
                sequence: *sequence,
                fields: self.fields(id, line),
            });
        }
        Ok(segments)
    }

    fn fields(&self, id: &str, line: &str) -> Vec<Field> {
        let Some(rest) = line.get(id.len() + self.d.field.len_utf8()..) else {
            return Vec::new();
        };
        let mut raw = rest.split(self.d.field);
        let mut fields = Vec::new();
        if id == "MSH" {
            // MSH-1 is the separator itself and MSH-2 is taken literally, not split.
            fields.push(literal(self.d.field.to_string()));
            fields.push(literal(raw.next().unwrap_or_default().to_owned()));
        }
        fields.extend(raw.map(|f| self.field(f)));
        fields
    }

    fn field(&self, raw: &str) -> Field {
        Field(
            raw.split(self.d.repetition)
                .map(|r| {
                    Repetition(
                        r.split(self.d.component)
                            .map(|c| self.component(c))
                            .collect(),
                    )
                })
                .collect(),
        )
    }

    fn component(&self, raw: &str) -> Component {
        Component(
            raw.split(self.d.subcomponent)
                .map(|s| self.value(s))
                .collect(),
        )
    }

    fn value(&self, raw: &str) -> Value {
        match raw {
            "" => Value::Empty,
            "\"\"" => Value::Null,
            _ => Value::Text(unescape(raw, &self.d, self.charset)),
        }
    }
}

fn skip_leading_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn literal(text: String) -> Field {
    Field(vec![Repetition(vec![Component(vec![Value::Text(text)])])])
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
