//! HL7 escape sequences: decoded on read (`\F\ \S\ \T\ \R\ \E\`, `\Xhh..\`, `\.br\`),
//! encoded on write.

use std::borrow::Cow;

use super::charset::{Charset, decode_hex_bytes};
use super::delimiters::Delimiters;

/// Decodes the escape sequences of one leaf value (a subcomponent).
///
/// Formatting commands other than line breaks (`\H\`, `\N\`, `\.in\`, `\.ce\`...) and
/// character-set switches (`\C..\`, `\M..\`) are dropped; an unknown or unterminated
/// sequence is kept as written.
/// Text without escapes is returned as it is, without a copy.
pub fn unescape<'a>(raw: &'a str, d: &Delimiters, charset: Charset) -> Cow<'a, str> {
    if !raw.contains(d.escape) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(d.escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + d.escape.len_utf8()..];
        let Some(end) = after.find(d.escape) else {
            out.push_str(&rest[start..]);
            return Cow::Owned(out);
        };
        let sequence = &after[..end];
        match decode_sequence(sequence, d, charset) {
            Some(decoded) => out.push_str(&decoded),
            None => {
                out.push(d.escape);
                out.push_str(sequence);
                out.push(d.escape);
            }
        }
        rest = &after[end + d.escape.len_utf8()..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn decode_sequence(sequence: &str, d: &Delimiters, charset: Charset) -> Option<String> {
    let one = |c: char| Some(c.to_string());
    match sequence {
        "F" => one(d.field),
        "S" => one(d.component),
        "T" => one(d.subcomponent),
        "R" => one(d.repetition),
        "E" => one(d.escape),
        "P" => d.truncation.map(String::from),
        ".br" => one('\n'),
        "H" | "N" => Some(String::new()),
        s if s.starts_with(".sp") => one('\n'),
        s if s.starts_with('.') => Some(String::new()),
        s if s.starts_with('C') || s.starts_with('M') => Some(String::new()),
        s if s.starts_with('X') => hex(&s[1..]).map(|bytes| decode_hex_bytes(&bytes, charset)),
        _ => None,
    }
}

fn hex(digits: &str) -> Option<Vec<u8>> {
    if digits.is_empty() || !digits.len().is_multiple_of(2) || !digits.is_ascii() {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect()
}

/// Escapes text so it can be written into a field with these delimiters; line breaks
/// become `\.br\`.
pub fn escape(text: &str, d: &Delimiters) -> String {
    let mut out = String::with_capacity(text.len());
    let e = d.escape;
    for c in text.chars() {
        let code = match c {
            _ if c == e => Some('E'),
            _ if c == d.field => Some('F'),
            _ if c == d.component => Some('S'),
            _ if c == d.subcomponent => Some('T'),
            _ if c == d.repetition => Some('R'),
            _ => None,
        };
        match (code, c) {
            (Some(code), _) => out.extend([e, code, e]),
            (None, '\n') => out.extend([e, '.', 'b', 'r', e]),
            (None, '\r') => {}
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(raw: &str) -> String {
        unescape(raw, &Delimiters::default(), Charset::Utf8).into_owned()
    }

    #[test]
    fn delimiter_escapes_are_decoded() {
        assert_eq!(
            un(r"Obstetrics \T\ Gynaecology"),
            "Obstetrics & Gynaecology"
        );
        assert_eq!(un(r"a\F\b\S\c\R\d\E\e"), r"a|b^c~d\e");
    }

    #[test]
    fn hex_and_line_breaks_are_decoded() {
        assert_eq!(un(r"line one\.br\line two"), "line one\nline two");
        assert_eq!(un(r"\X41\\XC3A9\"), "Aé");
        assert_eq!(un(r"\H\bold\N\"), "bold");
    }

    #[test]
    fn unknown_or_unterminated_escapes_are_kept() {
        assert_eq!(un(r"\Zlocal\"), r"\Zlocal\");
        assert_eq!(un(r"C:\path"), r"C:\path");
        assert_eq!(un(r"\X4\"), r"\X4\");
    }

    #[test]
    fn escapes_use_the_messages_own_escape_character() {
        let d = Delimiters::from_msh(b"MSH#$*@%#").unwrap();
        assert_eq!(unescape("a@F@b@T@c", &d, Charset::Utf8), "a#b%c");
    }

    #[test]
    fn escape_round_trips() {
        let d = Delimiters::default();
        let text = "A|B^C&D~E\\F\nG";
        assert_eq!(un(&escape(text, &d)), text);
    }
}
