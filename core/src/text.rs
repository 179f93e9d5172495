//! The rule every stored text follows: no control characters but tab, line feed and carriage
//! return. PostgreSQL refuses NUL in text columns and SQLite stores it, so without this rule
//! the same input would be INTERNAL on one backend and silently kept on the other; escape
//! sequences and other controls have no place in a result, a reason or a name either.

use crate::error::{ServiceError, ServiceResult};

/// Whether `text` holds a control character other than tab, line feed and carriage return.
pub fn has_control_character(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// BAD_USER_INPUT naming `field` when `text` holds a refused control character.
pub fn check(field: &str, text: &str) -> ServiceResult<()> {
    if has_control_character(text) {
        return Err(ServiceError::bad_input(
            field,
            "must not contain control characters (only tab, line feed and carriage return)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escape_and_c1_controls_are_refused_line_breaks_are_not() {
        for bad in ["a\0b", "\u{1b}[31mred", "\u{7f}", "\u{85}", "\u{8}"] {
            assert!(check("input.conclusion", bad).is_err(), "{bad:?}");
        }
        for good in [
            "",
            "line one\nline two\r\n\tindented",
            "Grüße, 体温 38.5 °C",
        ] {
            assert!(check("input.conclusion", good).is_ok(), "{good:?}");
        }
    }
}
