//! Bytes to text: MSH-18 when the sender declares a character set, else UTF-8 with a
//! Latin-1 fallback. Never panics, whatever the bytes.

use super::delimiters::Delimiters;
use crate::codes::ErrorCode;
use crate::codes::Location;
use crate::error::Hl7Error;

/// The character set a message was decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8: declared `UNICODE UTF-8`, or undeclared and valid UTF-8.
    Utf8,
    /// ISO 8859-1: declared `8859/1`, or undeclared and not valid UTF-8.
    Latin1,
    /// Declared `ASCII`; bytes above 0x7F are replaced by U+FFFD.
    Ascii,
}

/// How the text of a message was obtained from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoding {
    pub charset: Charset,
    /// Whether MSH-18 named the charset (else it was detected).
    pub declared: bool,
    /// Whether bytes invalid in the charset were replaced by U+FFFD.
    pub lossy: bool,
}

/// Decodes the whole message according to the rule above.
///
/// An MSH-18 naming another character set (8859/2, UNICODE UTF-16, ISO IR87...) is
/// refused rather than guessed: a wrong guess would store garbled names.
pub fn decode(bytes: &[u8], delimiters: &Delimiters) -> Result<(String, Decoding), Hl7Error> {
    match declared_charset(bytes, delimiters).as_deref() {
        None => Ok(match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_owned(), decoding(Charset::Utf8, false, false)),
            Err(_) => (latin1(bytes), decoding(Charset::Latin1, false, false)),
        }),
        Some("UNICODE UTF-8" | "UTF-8" | "UTF8") => {
            let text = String::from_utf8_lossy(bytes);
            let lossy = matches!(text, std::borrow::Cow::Owned(_));
            Ok((text.into_owned(), decoding(Charset::Utf8, true, lossy)))
        }
        Some("8859/1" | "ISO-8859-1" | "ISO IR100") => {
            Ok((latin1(bytes), decoding(Charset::Latin1, true, false)))
        }
        Some("ASCII") => {
            let lossy = !bytes.is_ascii();
            let text = bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        '\u{FFFD}'
                    }
                })
                .collect();
            Ok((text, decoding(Charset::Ascii, true, lossy)))
        }
        Some(_) => Err(Hl7Error::unsupported(
            Location::field("MSH", 1, 18),
            ErrorCode::TableValueNotFound,
            "unsupported character set (ASCII, 8859/1 and UNICODE UTF-8 are accepted)",
        )),
    }
}

/// Decodes the bytes of a `\Xhh..\` escape in the message's character set.
pub fn decode_hex_bytes(bytes: &[u8], charset: Charset) -> String {
    match charset {
        Charset::Latin1 => latin1(bytes),
        Charset::Utf8 | Charset::Ascii => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn decoding(charset: Charset, declared: bool, lossy: bool) -> Decoding {
    Decoding {
        charset,
        declared,
        lossy,
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// MSH-18, first repetition, read from the raw bytes of the first segment (all the
/// characters involved are ASCII whatever the charset).
fn declared_charset(bytes: &[u8], d: &Delimiters) -> Option<String> {
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let field = u8::try_from(d.field).ok()?;
    // Split index i holds MSH-(i+1): "MSH" is index 0 and MSH-2 index 1.
    let msh18 = bytes[..line_end].split(|&b| b == field).nth(17)?;
    let stop = |b: &u8| char::from(*b) == d.repetition || char::from(*b) == d.component;
    let first = msh18.split(stop).next().unwrap_or_default();
    let name = String::from_utf8_lossy(first).trim().to_ascii_uppercase();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msh(charset: &str) -> Vec<u8> {
        format!("MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5.1||||||{charset}\rPID|1").into_bytes()
    }

    #[test]
    fn undeclared_valid_utf8_is_utf8() {
        let (text, d) = decode("MSH|^~\\&|Zoë".as_bytes(), &Delimiters::default()).unwrap();
        assert_eq!(d.charset, Charset::Utf8);
        assert!(text.ends_with("Zoë"));
    }

    #[test]
    fn undeclared_invalid_utf8_falls_back_to_latin1() {
        let (text, d) = decode(b"MSH|^~\\&|Zo\xEB", &Delimiters::default()).unwrap();
        assert_eq!(d.charset, Charset::Latin1);
        assert!(text.ends_with("Zoë"));
    }

    #[test]
    fn declared_utf8_with_invalid_bytes_is_lossy() {
        let mut bytes = msh("UNICODE UTF-8");
        bytes.extend_from_slice(b"|\xFF\xFE");
        let (text, d) = decode(&bytes, &Delimiters::default()).unwrap();
        assert!(d.lossy && d.declared);
        assert!(text.contains('\u{FFFD}'));
    }

    #[test]
    fn declared_latin1_is_honoured_even_when_bytes_are_valid_utf8() {
        let mut bytes = msh("8859/1");
        bytes.extend_from_slice("|é".as_bytes());
        let (text, d) = decode(&bytes, &Delimiters::default()).unwrap();
        assert_eq!(d.charset, Charset::Latin1);
        assert!(text.ends_with("|Ã©"));
    }

    #[test]
    fn unknown_declared_charset_is_unsupported() {
        let err = decode(&msh("UNICODE UTF-16"), &Delimiters::default()).unwrap_err();
        assert!(matches!(err, Hl7Error::Unsupported { .. }));
    }
}
