//! The parsed message as one text and the spans of its segments: fields, repetitions,
//! components and escapes are found and decoded only when read, so memory stays a small
//! multiple of the message whatever its shape.

use std::fmt;

use super::charset::Decoding;
use super::delimiters::Delimiters;
use super::field::FieldRef;
use crate::codes::Location;

/// Where one segment sits in the message text, and its sequence among segments of its id
/// (ERR-2.2). Twelve bytes per segment, and a segment takes at least four bytes of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) end: u32,
    pub(super) sequence: u32,
}

/// A parsed HL7 v2 message. The first segment is always MSH.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub(super) delimiters: Delimiters,
    pub(super) decoding: Decoding,
    pub(super) text: Box<str>,
    pub(super) spans: Box<[Span]>,
}

impl fmt::Debug for Message {
    /// Never the content: it carries patient data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("delimiters", &self.delimiters)
            .field("decoding", &self.decoding)
            .field("bytes", &self.text.len())
            .field("segments", &self.spans.len())
            .finish()
    }
}

impl Message {
    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    pub fn decoding(&self) -> &Decoding {
        &self.decoding
    }

    /// All segments in order.
    pub fn all_segments(&self) -> impl Iterator<Item = Segment<'_>> {
        self.spans.iter().map(move |&span| Segment {
            message: self,
            span,
        })
    }

    /// Segments with this id, in order.
    pub fn segments<'a>(&'a self, id: &'a str) -> impl Iterator<Item = Segment<'a>> + 'a {
        self.all_segments().filter(move |s| s.id() == id)
    }

    /// The first segment with this id.
    pub fn segment(&self, id: &str) -> Option<Segment<'_>> {
        self.all_segments().find(|s| s.id() == id)
    }

    /// The MSH segment.
    pub fn msh(&self) -> Segment<'_> {
        Segment {
            message: self,
            span: self.spans[0],
        }
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.spans.len()
    }
}

/// One segment of a message: a view, copied freely.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    message: &'a Message,
    span: Span,
}

impl fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Segment({}^{})", self.id(), self.sequence())
    }
}

impl<'a> Segment<'a> {
    fn line(self) -> &'a str {
        &self.message.text[self.span.start as usize..self.span.end as usize]
    }

    pub fn id(self) -> &'a str {
        &self.line()[..3]
    }

    /// Counts segments of the same id from 1 (ERR-2.2).
    pub fn sequence(self) -> usize {
        self.span.sequence as usize
    }

    fn is_msh(self) -> bool {
        self.span.start == self.message.spans[0].start
    }

    /// The text after the segment id and its field separator.
    fn rest(self) -> Option<&'a str> {
        self.line()
            .get(3 + self.message.delimiters.field.len_utf8()..)
    }

    /// Field `n`, numbered as in the standard (MSH-1 is the field separator, MSH-2 the
    /// encoding characters, both taken literally).
    pub fn field(self, n: usize) -> FieldRef<'a> {
        let m = self.message;
        if self.is_msh() {
            return match n {
                0 => FieldRef::absent(m),
                1 => FieldRef::literal(self.line().get(3..3 + m.delimiters.field.len_utf8()), m),
                n => FieldRef::new(self.nth_raw(n - 2), m).literal_if(n == 2),
            };
        }
        match n.checked_sub(1) {
            Some(i) => FieldRef::new(self.nth_raw(i), m),
            None => FieldRef::absent(m),
        }
    }

    fn nth_raw(self, i: usize) -> Option<&'a str> {
        self.rest()?.split(self.message.delimiters.field).nth(i)
    }

    /// Every field with its number, in one pass over the segment.
    pub fn fields(self) -> impl Iterator<Item = (usize, FieldRef<'a>)> {
        let m = self.message;
        let first = if self.is_msh() { 2 } else { 1 };
        let literal_first = self.is_msh();
        self.rest()
            .into_iter()
            .flat_map(move |rest| rest.split(m.delimiters.field))
            .enumerate()
            .map(move |(i, raw)| {
                let field = FieldRef::new(Some(raw), m).literal_if(literal_first && i == 0);
                (i + first, field)
            })
    }

    /// Number of fields present (trailing empty fields included as sent).
    pub fn field_count(self) -> usize {
        let sent = self.rest().map_or(0, |rest| {
            rest.matches(self.message.delimiters.field).count() + 1
        });
        if self.is_msh() { sent + 1 } else { sent }
    }

    /// The ERR-2 location of field `n` of this segment.
    pub fn location(self, n: usize) -> Location {
        Location::field(self.id(), self.sequence(), n)
    }
}
