//! Field rules of master data, each reporting the field path it was given (BAD_USER_INPUT
//! with `extensions.field`). Codes follow HL7 v2.5.1 tables 0001 (administrative sex), 0005
//! (race, CDC codes) and 0189 (ethnic group, with the CDC codes), the NPI check digit (Luhn
//! over the `80840` prefix) and the CLIA number format (two digits, `D`, seven digits).

use chrono::NaiveDate;
use portal_core::error::{ServiceError, ServiceResult};

/// The longest name, payer, plan or street line.
pub const MAX_TEXT: usize = 200;

/// HL7 table 0001.
pub const SEX_CODES: &[&str] = &["F", "M", "O", "U", "A", "N"];
/// HL7 table 0005 (CDC race categories), and the null flavours public health accepts.
pub const RACE_CODES: &[&str] = &[
    "1002-5", "2028-9", "2054-5", "2076-8", "2106-3", "2131-1", "UNK", "ASKU",
];
/// HL7 table 0189 and the CDC ethnicity codes.
pub const ETHNICITY_CODES: &[&str] = &["H", "N", "U", "2135-2", "2186-5"];

fn bad(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::bad_input(field, message)
}

/// A required text: trimmed, 1 to `max` characters, no control characters.
pub fn required(field: &str, value: &str, max: usize) -> ServiceResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(bad(field, "is required"));
    }
    text(field, value, max)
}

/// An optional text already trimmed (see `blank_clears`): at most `max` characters.
pub fn optional(field: &str, value: Option<&str>, max: usize) -> ServiceResult<()> {
    match value {
        Some(v) => text(field, v, max).map(|_| ()),
        None => Ok(()),
    }
}

/// A text that may be empty: trimmed, at most `max` characters, no control characters.
pub fn text(field: &str, value: &str, max: usize) -> ServiceResult<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(bad(field, format!("at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// An identifier (MRN, member id, claim number, catalog code): 1 to 64 characters, no spaces.
pub fn identifier(field: &str, value: &str) -> ServiceResult<String> {
    let value = required(field, value, 64)?;
    if value.chars().any(char::is_whitespace) {
        return Err(bad(field, "must not contain spaces"));
    }
    Ok(value)
}

/// One of `codes` (compared in upper case); returns the code as listed.
pub fn code(field: &str, value: &str, codes: &[&str]) -> ServiceResult<String> {
    let upper = value.trim().to_uppercase();
    codes
        .iter()
        .find(|c| **c == upper)
        .map(|c| (*c).to_owned())
        .ok_or_else(|| bad(field, format!("must be one of {}", codes.join(", "))))
}

/// A birth date: not in the future and not before 1900.
pub fn birth_date(field: &str, date: NaiveDate, today: NaiveDate) -> ServiceResult<()> {
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    if date > today {
        return Err(bad(field, "must not be in the future"));
    }
    if date < earliest {
        return Err(bad(field, "must not be before 1900-01-01"));
    }
    Ok(())
}

/// An email address: one `@` between non-empty parts, a dot in the domain, no spaces.
pub fn email(field: &str, value: &str) -> ServiceResult<()> {
    let valid = value.len() <= 254
        && !value.chars().any(char::is_whitespace)
        && matches!(value.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid {
        Ok(())
    } else {
        Err(bad(field, "must be an email address"))
    }
}

/// A telephone number: digits with an optional leading `+` and separators (space, `-`, `.`,
/// parentheses); 7 to 15 digits (ITU E.164 has at most 15).
pub fn phone(field: &str, value: &str) -> ServiceResult<()> {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -.()".contains(c) || (c == '+' && i == 0));
    if allowed && (7..=15).contains(&digits) {
        Ok(())
    } else {
        Err(bad(field, "must be a telephone number of 7 to 15 digits"))
    }
}

/// A language tag (BCP 47 shape, e.g. `en`, `es-MX`) or an ISO 639-2 code (`spa`).
pub fn language(field: &str, value: &str) -> ServiceResult<()> {
    let mut parts = value.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(())
    } else {
        Err(bad(field, "must be a language tag such as en or es-MX"))
    }
}

/// A National Provider Identifier: ten digits whose last is the Luhn check digit computed
/// with the `80840` prefix (CMS NPI check digit rule).
pub fn npi(field: &str, value: &str) -> ServiceResult<()> {
    let digits: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    if value.len() != 10 || digits.len() != 10 {
        return Err(bad(field, "an NPI is 10 digits"));
    }
    let mut sum = 24; // the doubled-and-summed digits of the prefix 80840
    for (i, d) in digits[..9].iter().rev().enumerate() {
        let v = if i % 2 == 0 { d * 2 } else { *d };
        sum += if v > 9 { v - 9 } else { v };
    }
    if (10 - sum % 10) % 10 == digits[9] {
        Ok(())
    } else {
        Err(bad(field, "not a valid NPI (check digit)"))
    }
}

/// A CLIA number: two digits, the letter D, seven digits (e.g. 05D2101234).
pub fn clia(field: &str, value: &str) -> ServiceResult<()> {
    let b = value.as_bytes();
    let valid = b.len() == 10
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2] == b'D'
        && b[3..].iter().all(u8::is_ascii_digit);
    if valid {
        Ok(())
    } else {
        Err(bad(field, "a CLIA number is two digits, D, seven digits"))
    }
}

/// A LOINC code: up to seven digits, a hyphen and the check digit (e.g. 94500-6).
pub fn loinc(field: &str, value: &str) -> ServiceResult<()> {
    let valid = matches!(value.split_once('-'), Some((num, check))
        if (1..=7).contains(&num.len()) && num.chars().all(|c| c.is_ascii_digit())
            && check.len() == 1 && check.chars().all(|c| c.is_ascii_digit()));
    if valid {
        Ok(())
    } else {
        Err(bad(
            field,
            "a LOINC code is digits, a hyphen and a check digit",
        ))
    }
}

/// A reference range: when both bounds are given, low is not above high.
pub fn range(field: &str, low: Option<f64>, high: Option<f64>) -> ServiceResult<()> {
    for bound in [low, high].into_iter().flatten() {
        if !bound.is_finite() {
            return Err(bad(field, "bounds must be finite numbers"));
        }
    }
    match (low, high) {
        (Some(low), Some(high)) if low > high => Err(bad(field, "low must not be above high")),
        _ => Ok(()),
    }
}

/// An ISO 4217 currency: three upper-case letters.
pub fn currency(field: &str, value: &str) -> ServiceResult<String> {
    let value = value.trim().to_uppercase();
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(value)
    } else {
        Err(bad(field, "an ISO 4217 currency code such as USD"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npi_check_digits() {
        assert!(npi("npi", "1234567893").is_ok());
        assert!(npi("npi", "1245319599").is_ok());
        assert!(npi("npi", "1234567890").is_err());
        assert!(npi("npi", "12345").is_err());
    }

    #[test]
    fn codes_and_formats() {
        assert_eq!(code("sex", "f", SEX_CODES).ok().as_deref(), Some("F"));
        assert!(code("sex", "X", SEX_CODES).is_err());
        assert!(clia("clia", "05D2101234").is_ok());
        assert!(clia("clia", "05X2101234").is_err());
        assert!(loinc("code", "94500-6").is_ok());
        assert!(loinc("code", "94500").is_err());
        assert!(email("email", "a@example.org").is_ok());
        assert!(email("email", "a@b").is_err());
        assert!(phone("phone", "+1 (555) 555-0100").is_ok());
        assert!(phone("phone", "call me").is_err());
        assert!(language("language", "es-MX").is_ok());
        assert!(language("language", "e").is_err());
        assert!(range("range", Some(2.0), Some(1.0)).is_err());
    }
}
