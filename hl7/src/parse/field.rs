//! Fields, repetitions and components as slices of the message text, split and unescaped
//! when read. Accessors never fail: a missing part reads as empty, like HL7's own "not
//! present".

use std::borrow::Cow;

use super::escape::unescape;
use super::message::Message;

/// A field that may be absent.
#[derive(Debug, Clone, Copy)]
pub struct FieldRef<'a> {
    part: Part<'a>,
}

/// A repetition that may be absent.
#[derive(Debug, Clone, Copy)]
pub struct RepetitionRef<'a> {
    part: Part<'a>,
}

/// A component that may be absent.
#[derive(Debug, Clone, Copy)]
pub struct ComponentRef<'a> {
    part: Part<'a>,
}

/// The raw text of a part, the message it belongs to (for its delimiters and charset),
/// and whether it is taken literally (MSH-1 and MSH-2 are neither split nor unescaped).
#[derive(Clone, Copy)]
struct Part<'a> {
    raw: Option<&'a str>,
    message: &'a Message,
    literal: bool,
}

impl std::fmt::Debug for Part<'_> {
    /// The length only: the text may be patient data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Part({:?} bytes)", self.raw.map(str::len))
    }
}

impl<'a> Part<'a> {
    /// Piece `i` (from 0) of the raw text split by `separator`; a literal part has one.
    fn nth(self, separator: char, i: usize) -> Self {
        let raw = match self.literal {
            true => self.raw.filter(|_| i == 0),
            false => self.raw.and_then(|r| r.split(separator).nth(i)),
        };
        Self { raw, ..self }
    }
}

impl<'a> FieldRef<'a> {
    pub(super) fn new(raw: Option<&'a str>, message: &'a Message) -> Self {
        Self {
            part: Part {
                raw,
                message,
                literal: false,
            },
        }
    }

    pub(super) fn absent(message: &'a Message) -> Self {
        Self::new(None, message)
    }

    pub(super) fn literal(raw: Option<&'a str>, message: &'a Message) -> Self {
        Self::new(raw, message).literal_if(true)
    }

    pub(super) fn literal_if(mut self, literal: bool) -> Self {
        self.part.literal = literal;
        self
    }

    /// Repetition `i`, counted from 0.
    pub fn repetition(self, i: usize) -> RepetitionRef<'a> {
        let d = self.part.message.delimiters.repetition;
        RepetitionRef {
            part: self.part.nth(d, i),
        }
    }

    /// The repetitions that carry any value, found one by one.
    pub fn repetitions(self) -> impl Iterator<Item = RepetitionRef<'a>> {
        let part = self.part;
        let pieces: Box<dyn Iterator<Item = &'a str>> = match (part.raw, part.literal) {
            (None, _) => Box::new(std::iter::empty()),
            (Some(raw), true) => Box::new(std::iter::once(raw)),
            (Some(raw), false) => Box::new(raw.split(part.message.delimiters.repetition)),
        };
        pieces
            .map(move |raw| RepetitionRef {
                part: Part {
                    raw: Some(raw),
                    ..part
                },
            })
            .filter(|r| !r.is_empty())
    }

    /// Component `n` (from 1) of the first repetition.
    pub fn component(self, n: usize) -> ComponentRef<'a> {
        self.repetition(0).component(n)
    }

    /// The text of the first component of the first repetition, unescaped.
    pub fn text(self) -> Option<Cow<'a, str>> {
        self.repetition(0).text()
    }

    /// Whether the field is exactly `""`, HL7's explicit null.
    pub fn is_null(self) -> bool {
        self.component(1).is_null() && self.repetitions().take(2).count() == 1
    }

    /// Whether the field is absent or carries no value.
    pub fn is_empty(self) -> bool {
        self.repetitions().next().is_none()
    }
}

impl<'a> RepetitionRef<'a> {
    /// Component `n`, counted from 1.
    pub fn component(self, n: usize) -> ComponentRef<'a> {
        let d = self.part.message.delimiters.component;
        let part = match n.checked_sub(1) {
            Some(i) => self.part.nth(d, i),
            None => Part {
                raw: None,
                ..self.part
            },
        };
        ComponentRef { part }
    }

    /// The text of the first component.
    pub fn text(self) -> Option<Cow<'a, str>> {
        self.component(1).text()
    }

    /// Whether no component carries text or null.
    pub fn is_empty(self) -> bool {
        let d = &self.part.message.delimiters;
        self.part.raw.is_none_or(|raw| {
            !self.part.literal && raw.chars().all(|c| c == d.component || c == d.subcomponent)
                || raw.is_empty()
        })
    }
}

impl<'a> ComponentRef<'a> {
    fn raw_subcomponent(self, n: usize) -> Option<&'a str> {
        let d = self.part.message.delimiters.subcomponent;
        n.checked_sub(1).and_then(|i| self.part.nth(d, i).raw)
    }

    /// Subcomponent `n`, counted from 1, unescaped; `None` when empty or null.
    pub fn subcomponent(self, n: usize) -> Option<Cow<'a, str>> {
        let raw = self.raw_subcomponent(n)?;
        let m = self.part.message;
        match raw {
            "" => None,
            _ if self.part.literal => Some(Cow::Borrowed(raw)),
            "\"\"" => None,
            _ => Some(unescape(raw, &m.delimiters, m.decoding.charset)),
        }
    }

    /// The text of the first subcomponent; `None` when empty or null.
    pub fn text(self) -> Option<Cow<'a, str>> {
        self.subcomponent(1)
    }

    /// Whether the first subcomponent is `""`, HL7's explicit null.
    pub fn is_null(self) -> bool {
        !self.part.literal && self.raw_subcomponent(1) == Some("\"\"")
    }
}
