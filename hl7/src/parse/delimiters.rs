//! The encoding characters a sender declares in MSH-1 and MSH-2.

use crate::error::Hl7Error;

/// Field, component, repetition, escape and subcomponent separators (and the v2.7
/// truncation character when MSH-2 carries a fifth one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
    pub truncation: Option<char>,
}

impl Default for Delimiters {
    fn default() -> Self {
        Self {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
            truncation: None,
        }
    }
}

impl Delimiters {
    /// Reads MSH-1 and MSH-2 from the start of a message (`MSH|^~\&|...`).
    ///
    /// The characters must be printable ASCII, not letters or digits, and all distinct;
    /// anything else cannot be split unambiguously and is rejected.
    pub fn from_msh(bytes: &[u8]) -> Result<Self, Hl7Error> {
        let bad = |why: &str| Hl7Error::Unparseable(format!("MSH-1/MSH-2: {why}"));
        let rest = bytes.strip_prefix(b"MSH").ok_or_else(|| bad("no MSH"))?;
        let (&field, rest) = rest
            .split_first()
            .ok_or_else(|| bad("no field separator"))?;
        let encoding: Vec<u8> = rest
            .iter()
            .copied()
            .take_while(|&b| b != field && b != b'\r' && b != b'\n')
            .collect();
        if !(4..=5).contains(&encoding.len()) {
            return Err(bad("MSH-2 needs four or five encoding characters"));
        }
        let mut all = vec![field];
        all.extend_from_slice(&encoding);
        for (i, &b) in all.iter().enumerate() {
            if !b.is_ascii_graphic() || b.is_ascii_alphanumeric() {
                return Err(bad("encoding characters must be printable punctuation"));
            }
            if all[..i].contains(&b) {
                return Err(bad("encoding characters must be distinct"));
            }
        }
        Ok(Self {
            field: char::from(field),
            component: char::from(encoding[0]),
            repetition: char::from(encoding[1]),
            escape: char::from(encoding[2]),
            subcomponent: char::from(encoding[3]),
            truncation: encoding.get(4).map(|&b| char::from(b)),
        })
    }

    /// MSH-2 as written, e.g. `^~\&`.
    pub fn encoding_characters(&self) -> String {
        let mut s: String = [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ]
        .into_iter()
        .collect();
        s.extend(self.truncation);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_encoding_characters_are_read() {
        let d = Delimiters::from_msh(b"MSH|^~\\&|LAB").unwrap();
        assert_eq!(d, Delimiters::default());
    }

    #[test]
    fn other_encoding_characters_are_read() {
        let d = Delimiters::from_msh(b"MSH#$*@%#LAB").unwrap();
        assert_eq!((d.field, d.component, d.repetition), ('#', '$', '*'));
        assert_eq!((d.escape, d.subcomponent), ('@', '%'));
    }

    #[test]
    fn ambiguous_encoding_characters_are_rejected() {
        assert!(Delimiters::from_msh(b"MSH|^^\\&|").is_err());
        assert!(Delimiters::from_msh(b"MSH|^~|").is_err());
        assert!(Delimiters::from_msh(b"MSH|A~\\&|").is_err());
        assert!(Delimiters::from_msh(b"PID|^~\\&|").is_err());
    }
}
