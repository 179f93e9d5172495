//! Where in a message something is, printed like HL7 ERR-2 (ERL): `PID^1^3`, `OBX^2^5^1^1`.

use std::fmt;

/// Segment id, the segment's sequence among segments of that id (1-based), and optionally
/// field, repetition (1-based) and component. Printed with `^` like the ERL data type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub segment: String,
    pub sequence: usize,
    pub field: Option<usize>,
    pub repetition: Option<usize>,
    pub component: Option<usize>,
}

impl Location {
    /// The whole segment, e.g. a missing `PID`.
    pub fn segment(segment: &str, sequence: usize) -> Self {
        Self {
            segment: segment.to_owned(),
            sequence,
            field: None,
            repetition: None,
            component: None,
        }
    }

    /// A field of a segment, e.g. `PID^1^3`.
    pub fn field(segment: &str, sequence: usize, field: usize) -> Self {
        Self {
            field: Some(field),
            ..Self::segment(segment, sequence)
        }
    }

    /// Narrows to a component of the first repetition, e.g. `OBR^1^4^1^1`.
    pub fn with_component(self, component: usize) -> Self {
        Self {
            repetition: Some(self.repetition.unwrap_or(1)),
            component: Some(component),
            ..self
        }
    }

    /// Narrows to a repetition (1-based).
    pub fn with_repetition(self, repetition: usize) -> Self {
        Self {
            repetition: Some(repetition),
            ..self
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}^{}", self.segment, self.sequence)?;
        let Some(field) = self.field else {
            return Ok(());
        };
        write!(f, "^{field}")?;
        match (self.repetition, self.component) {
            (Some(r), Some(c)) => write!(f, "^{r}^{c}"),
            (Some(r), None) => write!(f, "^{r}"),
            (None, Some(c)) => write!(f, "^1^{c}"),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_prints_like_err_2() {
        assert_eq!(Location::field("PID", 1, 3).to_string(), "PID^1^3");
        assert_eq!(
            Location::field("OBR", 2, 4).with_component(1).to_string(),
            "OBR^2^4^1^1"
        );
        assert_eq!(Location::segment("PID", 1).to_string(), "PID^1");
    }
}
