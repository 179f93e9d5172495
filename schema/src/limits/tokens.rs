//! Counts the lexical tokens of a GraphQL document without parsing it, so a hostile query
//! (a megabyte of punctuation, fifty thousand fields) is refused before the parser sees it.
//!
//! Follows the lexical grammar of the GraphQL spec (October 2021, section 2.1): white space,
//! line terminators, commas, the byte order mark and comments are ignored; punctuators,
//! names, numbers and strings (block strings included) are tokens. A character the grammar
//! does not know counts as one token; the parser rejects it later.

/// The number of tokens in `source`, or `None` as soon as there are more than `max`.
pub fn count_at_most(source: &str, max: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i = match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = skip_comment(bytes, i);
                continue;
            }
            0xEF if bytes[i..].starts_with("\u{feff}".as_bytes()) => {
                i += 3;
                continue;
            }
            b'"' => skip_string(bytes, i),
            b'.' if bytes[i..].starts_with(b"...") => i + 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                skip_while(bytes, i, |c| c == b'_' || c.is_ascii_alphanumeric())
            }
            b'-' | b'0'..=b'9' => skip_while(bytes, i + 1, |c| {
                c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-')
            }),
            _ => next_char(source, i),
        };
        count += 1;
        if count > max {
            return None;
        }
    }
    Some(count)
}

fn skip_comment(bytes: &[u8], start: usize) -> usize {
    skip_while(bytes, start, |c| c != b'\n' && c != b'\r')
}

fn skip_while(bytes: &[u8], start: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut i = start;
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

/// Past the end of the string starting at `start` (or the end of the input if unclosed).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    i.min(bytes.len())
}

/// The index after the character at `i` (which may be several bytes long).
fn next_char(source: &str, i: usize) -> usize {
    source[i..]
        .chars()
        .next()
        .map_or(source.len(), |c| i + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::count_at_most;

    fn count(source: &str) -> usize {
        count_at_most(source, usize::MAX).unwrap_or(usize::MAX)
    }

    #[test]
    fn counts_punctuators_names_numbers_and_strings() {
        assert_eq!(count("{ __typename }"), 3);
        assert_eq!(
            count("query Q($n: Int = -1.5e3) { a(x: $n, s: \"a \\\" b\") @skip(if: false) }"),
            29
        );
        assert_eq!(count("{ ...F } fragment F on Query { a }"), 11);
        assert_eq!(count("\"\"\" block \\\"\"\" \"\"\" { a }"), 4);
    }

    #[test]
    fn ignores_white_space_commas_comments_and_the_bom() {
        assert_eq!(count("\u{feff}  ,,, # a comment { x y z }\n{ a }"), 3);
        assert_eq!(count(&" ".repeat(1 << 20)), 0);
    }

    #[test]
    fn stops_counting_past_the_limit() {
        let fields = "a ".repeat(50_000);
        assert_eq!(count_at_most(&format!("{{ {fields} }}"), 1_000), None);
        assert_eq!(count_at_most("{ a }", 3), Some(3));
        assert_eq!(count_at_most("{ a }", 2), None);
    }

    #[test]
    fn unknown_characters_and_unclosed_strings_count_and_end() {
        assert_eq!(count("{ a ü % }"), 5);
        assert_eq!(count("{ a(s: \"unclosed"), 6);
        assert_eq!(count("\"\"\"unclosed block"), 1);
    }
}
