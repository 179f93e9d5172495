//! Field rules shared by the mappings, each failing with the field's ERR-2 location.

use chrono::NaiveDate;

use crate::codes::ErrorCode;
use crate::datetime::Hl7Time;
use crate::error::Hl7Error;
use crate::parse::{FieldRef, Segment};

/// The field, or 101 Required field missing.
pub fn required<'a>(seg: Segment<'a>, n: usize, what: &str) -> Result<FieldRef<'a>, Hl7Error> {
    let field = seg.field(n);
    if field.is_empty() || field.is_null() {
        return Err(Hl7Error::content(
            seg.location(n),
            ErrorCode::RequiredFieldMissing,
            format!("{what} missing"),
        ));
    }
    Ok(field)
}

/// A DTM/TS field (TS.1), or 102 Data type error when it does not read as one.
pub fn time(seg: Segment<'_>, n: usize, what: &str) -> Result<Option<Hl7Time>, Hl7Error> {
    time_in(seg, n, 1, what)
}

/// A DTM/TS value in component `c` of field `n`.
pub fn time_in(
    seg: Segment<'_>,
    n: usize,
    c: usize,
    what: &str,
) -> Result<Option<Hl7Time>, Hl7Error> {
    let Some(text) = seg.field(n).component(c).text() else {
        return Ok(None);
    };
    Hl7Time::parse(&text).map(Some).map_err(|_| {
        let mut location = seg.location(n);
        if c > 1 {
            location = location.with_component(c);
        }
        Hl7Error::content(
            location,
            ErrorCode::DataType,
            format!("{what} is not a valid HL7 date/time"),
        )
    })
}

/// A DT field (or the date of a TS).
pub fn date(seg: Segment<'_>, n: usize, what: &str) -> Result<Option<NaiveDate>, Hl7Error> {
    Ok(time(seg, n, what)?.map(|t| t.date()))
}

/// A table-coded field mapped by `from_code`, or 103 Table value not found.
pub fn coded<T>(
    seg: Segment<'_>,
    n: usize,
    what: &str,
    from_code: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, Hl7Error> {
    let Some(code) = seg.field(n).text() else {
        return Ok(None);
    };
    from_code(&code).map(Some).ok_or_else(|| {
        Hl7Error::content(
            seg.location(n),
            ErrorCode::TableValueNotFound,
            format!("{what} code not recognised"),
        )
    })
}

/// Plain text of the first component of the first repetition.
pub fn text(seg: Segment<'_>, n: usize) -> Option<String> {
    seg.field(n).text().map(String::from)
}
