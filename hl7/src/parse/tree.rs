//! The parsed message as a tree, and accessors that never fail: a missing field reads as
//! empty, like HL7's own "not present".

use super::charset::Decoding;
use super::delimiters::Delimiters;
use crate::codes::Location;

/// One leaf value: a subcomponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Not sent (`||`).
    Empty,
    /// Explicitly null (`|""|`): the receiver should delete what it holds.
    Null,
    /// Text with escapes decoded.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component(pub(super) Vec<Value>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repetition(pub(super) Vec<Component>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field(pub(super) Vec<Repetition>);

/// One segment; `sequence` counts segments of the same id from 1 (ERR-2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub(super) id: String,
    pub(super) sequence: usize,
    pub(super) fields: Vec<Field>,
}

/// A parsed HL7 v2 message. The first segment is always MSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub(super) delimiters: Delimiters,
    pub(super) decoding: Decoding,
    pub(super) segments: Vec<Segment>,
}

impl Message {
    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    pub fn decoding(&self) -> &Decoding {
        &self.decoding
    }

    /// All segments in order.
    pub fn all_segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Segments with this id, in order.
    pub fn segments<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.id == id)
    }

    /// The first segment with this id.
    pub fn segment(&self, id: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// The MSH segment.
    pub fn msh(&self) -> &Segment {
        &self.segments[0]
    }
}

impl Segment {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn sequence(&self) -> usize {
        self.sequence
    }

    /// Field `n`, numbered as in the standard (MSH-1 is the field separator).
    pub fn field(&self, n: usize) -> FieldRef<'_> {
        FieldRef(n.checked_sub(1).and_then(|i| self.fields.get(i)))
    }

    /// Number of fields present (trailing empty fields included as sent).
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// The ERR-2 location of field `n` of this segment.
    pub fn location(&self, n: usize) -> Location {
        Location::field(&self.id, self.sequence, n)
    }
}

/// A field that may be absent.
#[derive(Debug, Clone, Copy)]
pub struct FieldRef<'a>(Option<&'a Field>);

/// A repetition that may be absent.
#[derive(Debug, Clone, Copy)]
pub struct RepetitionRef<'a>(Option<&'a Repetition>);

/// A component that may be absent.
#[derive(Debug, Clone, Copy)]
pub struct ComponentRef<'a>(Option<&'a Component>);

impl<'a> FieldRef<'a> {
    /// Repetition `i`, counted from 0.
    pub fn repetition(self, i: usize) -> RepetitionRef<'a> {
        RepetitionRef(self.0.and_then(|f| f.0.get(i)))
    }

    /// The repetitions that carry any value.
    pub fn repetitions(self) -> impl Iterator<Item = RepetitionRef<'a>> {
        self.0
            .into_iter()
            .flat_map(|f| f.0.iter())
            .map(|r| RepetitionRef(Some(r)))
            .filter(|r| !r.is_empty())
    }

    /// Component `n` (from 1) of the first repetition.
    pub fn component(self, n: usize) -> ComponentRef<'a> {
        self.repetition(0).component(n)
    }

    /// The text of the first component of the first repetition.
    pub fn text(self) -> Option<&'a str> {
        self.repetition(0).text()
    }

    /// Whether the field is exactly `""`, HL7's explicit null.
    pub fn is_null(self) -> bool {
        self.component(1).value() == Some(&Value::Null) && self.repetitions().count() == 1
    }

    /// Whether the field is absent or carries no value.
    pub fn is_empty(self) -> bool {
        self.repetitions().next().is_none()
    }
}

impl<'a> RepetitionRef<'a> {
    /// Component `n`, counted from 1.
    pub fn component(self, n: usize) -> ComponentRef<'a> {
        ComponentRef(
            n.checked_sub(1)
                .and_then(|i| self.0.and_then(|r| r.0.get(i))),
        )
    }

    /// The text of the first component.
    pub fn text(self) -> Option<&'a str> {
        self.component(1).text()
    }

    /// Whether no component carries text or null.
    pub fn is_empty(self) -> bool {
        self.0.is_none_or(|r| {
            r.0.iter()
                .all(|c| c.0.iter().all(|v| matches!(v, Value::Empty)))
        })
    }
}

impl<'a> ComponentRef<'a> {
    /// Subcomponent `n`, counted from 1.
    pub fn subcomponent(self, n: usize) -> Option<&'a str> {
        let value = n
            .checked_sub(1)
            .and_then(|i| self.0.and_then(|c| c.0.get(i)));
        match value {
            Some(Value::Text(t)) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The text of the first subcomponent; `None` when empty or null.
    pub fn text(self) -> Option<&'a str> {
        self.subcomponent(1)
    }

    /// The first subcomponent's value, if the component exists.
    pub fn value(self) -> Option<&'a Value> {
        self.0.and_then(|c| c.0.first())
    }
}
