//! R4 date search (<https://hl7.org/fhir/R4/search.html#date>): a value stands for the whole
//! range of its precision (a year, a month, a day, a minute, a second or a fraction of one),
//! in the time zone it gives or, without one, in UTC (this server's zone); its prefix relates
//! that range to the instant a resource holds. Every date the server searches is an instant
//! kept to the microsecond and shown to the microsecond, so the value a resource shows finds
//! it with `eq`, `le` and `ge`.

use chrono::{
    DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SubsecRound, TimeZone,
    Utc,
};
use portal_services::times::{Span, Within};

use crate::outcome::{FhirError, FhirResult};
use crate::params::Search;

/// How a value relates to the instant searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Sa,
    Eb,
    Ap,
}

impl Prefix {
    fn of(code: &str) -> Option<Self> {
        Some(match code {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "lt" => Self::Lt,
            "le" => Self::Le,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "sa" => Self::Sa,
            "eb" => Self::Eb,
            "ap" => Self::Ap,
            _ => return None,
        })
    }
}

/// The implicit range of a value: from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Every value of the date parameter `name` as conditions on `column`: repeats are ANDed,
/// a comma-separated list is ORed. `now` sets the width of `ap`.
pub fn within<C: Copy>(
    search: &Search,
    name: &str,
    column: C,
    now: DateTime<Utc>,
) -> FhirResult<Vec<Within<C>>> {
    search
        .all(name)
        .into_iter()
        .map(|value| {
            let mut spans = Vec::new();
            for part in value.split(',') {
                let (prefix, range) = parse(part)?;
                spans.extend(instants(prefix, range, now));
            }
            Ok(Within { column, spans })
        })
        .collect()
}

/// The instants that match `prefix` `range`, as spans (two for `ne`).
pub fn instants(prefix: Prefix, range: Range, now: DateTime<Utc>) -> Vec<Span> {
    let span = |from, to| Span { from, to };
    let (start, end) = (Some(range.start), Some(range.end));
    match prefix {
        Prefix::Eq => vec![span(start, end)],
        Prefix::Ne => vec![span(None, start), span(end, None)],
        Prefix::Gt | Prefix::Sa => vec![span(end, None)],
        Prefix::Lt | Prefix::Eb => vec![span(None, start)],
        Prefix::Ge => vec![span(start, None)],
        Prefix::Le => vec![span(None, end)],
        Prefix::Ap => {
            let margin = approximation(range, now);
            vec![span(
                range.start.checked_sub_signed(margin),
                range.end.checked_add_signed(margin),
            )]
        }
    }
}

/// Every value of the date parameter `name` as conditions on a date `column` (a birth date:
/// the resource's value is a whole day, in UTC), with R4's rules for a range against a range:
/// `eq` the search range holds the day, `ne` it does not, `gt`/`lt` the day reaches past
/// the end / before the start of the search range, `ge`/`le` the day reaches the search
/// range or past it / before it, `sa`/`eb` the day starts after its end / ends before its
/// start, `ap` the day meets the widened range. Repeats are ANDed, a comma list is ORed.
pub fn days<C: Copy>(
    search: &Search,
    name: &str,
    column: C,
    now: DateTime<Utc>,
) -> FhirResult<Vec<Within<C, NaiveDate>>> {
    search
        .all(name)
        .into_iter()
        .map(|value| {
            let mut spans = Vec::new();
            for part in value.split(',') {
                let (prefix, range) = parse(part)?;
                spans.extend(day_spans(prefix, range, now));
            }
            Ok(Within { column, spans })
        })
        .collect()
}

/// The days `d` (the instants `[d, d + 1 day)`) that match `prefix` `range`, as spans of days.
pub fn day_spans(prefix: Prefix, range: Range, now: DateTime<Utc>) -> Vec<Span<NaiveDate>> {
    // `d` starts at or after `at` from this day on (and before `at` until it).
    let starts_from = |at: DateTime<Utc>| {
        let day = at.date_naive();
        if at.time() == NaiveTime::MIN {
            day
        } else {
            day.succ_opt().unwrap_or(day)
        }
    };
    // `d` ends after `at` from this day on (and at or before `at` until it).
    let ends_after = |at: DateTime<Utc>| at.date_naive();
    let span = |from, to| Span { from, to };
    let (s, e) = (range.start, range.end);
    match prefix {
        Prefix::Eq => vec![span(Some(starts_from(s)), Some(ends_after(e)))],
        Prefix::Ne => vec![
            span(None, Some(starts_from(s))),
            span(Some(ends_after(e)), None),
        ],
        Prefix::Gt => vec![span(Some(ends_after(e)), None)],
        Prefix::Lt => vec![span(None, Some(starts_from(s)))],
        Prefix::Ge => vec![span(Some(ends_after(s)), None)],
        Prefix::Le => vec![span(None, Some(starts_from(e)))],
        Prefix::Sa => vec![span(Some(starts_from(e)), None)],
        Prefix::Eb => vec![span(None, Some(ends_after(s)))],
        Prefix::Ap => {
            let margin = approximation(range, now);
            let (s, e) = (s - margin, e + margin);
            vec![span(Some(ends_after(s)), Some(starts_from(e)))]
        }
    }
}

/// `ap` widens the range on both sides by a tenth of its distance from now (R4's suggestion).
fn approximation(range: Range, now: DateTime<Utc>) -> Duration {
    let distance = if now < range.start {
        range.start - now
    } else if now >= range.end {
        now - range.end
    } else {
        Duration::zero()
    };
    distance / 10
}

/// `[prefix]value`: the prefix (`eq` when none) and the value's range.
pub fn parse(value: &str) -> FhirResult<(Prefix, Range)> {
    let (prefix, rest) = match value.get(..2).and_then(Prefix::of) {
        Some(prefix) => (prefix, &value[2..]),
        None if value.starts_with(|c: char| c.is_ascii_alphabetic()) => {
            return Err(FhirError::invalid(format!(
                "date {value}: the prefix must be one of eq, ne, lt, le, gt, ge, sa, eb, ap"
            )));
        }
        None => (Prefix::Eq, value),
    };
    Ok((prefix, range(rest)?))
}

/// The range a date value stands for.
pub fn range(value: &str) -> FhirResult<Range> {
    // A `+` offset arrives as a space when the client did not encode it.
    let value = value.replace(' ', "+");
    let bad = || {
        FhirError::invalid(format!(
            "date {value} must be YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]"
        ))
    };
    let (date, time) = match value.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (value.as_str(), None),
    };
    let Some(time) = time else {
        return calendar(date).ok_or_else(bad);
    };
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .filter(|_| date.len() == 10)
        .ok_or_else(bad)?;
    let (clock, zone) = split_zone(time).ok_or_else(bad)?;
    let (at, step) = clock_time(clock).ok_or_else(bad)?;
    let start = zone
        .from_local_datetime(&NaiveDateTime::new(day, at))
        .single()
        .ok_or_else(bad)?
        .with_timezone(&Utc);
    // Instants are kept to the microsecond: a finer bound is the next microsecond (the same
    // instants match, and PostgreSQL, which rounds a finer bound, compares it rightly).
    Ok(Range {
        start: to_micros(start),
        end: to_micros(start + step),
    })
}

/// The first whole microsecond at or after `at`.
fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let truncated = at.trunc_subsecs(6);
    if truncated < at {
        truncated + Duration::microseconds(1)
    } else {
        truncated
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, in UTC.
fn calendar(value: &str) -> Option<Range> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = value.split('-').collect();
    let (first, next) = match parts.as_slice() {
        [y] if digits(y, 4) => {
            let first = NaiveDate::from_ymd_opt(y.parse().ok()?, 1, 1)?;
            (first, first.checked_add_months(chrono::Months::new(12))?)
        }
        [y, m] if digits(y, 4) && digits(m, 2) => {
            let first = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
            (first, first.checked_add_months(chrono::Months::new(1))?)
        }
        [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2) => {
            let first = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
            (first, first.succ_opt()?)
        }
        _ => return None,
    };
    let midnight = |day: NaiveDate| Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN));
    Some(Range {
        start: midnight(first),
        end: midnight(next),
    })
}

/// The clock part and its zone (`Z`, `±hh:mm`, or none: UTC).
fn split_zone(time: &str) -> Option<(&str, FixedOffset)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, FixedOffset::east_opt(0)?));
    }
    let Some(at) = time.find(['+', '-']) else {
        return Some((time, FixedOffset::east_opt(0)?));
    };
    let (clock, zone) = time.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = zone[1..].split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some((
        clock,
        FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))?,
    ))
}

/// `hh:mm`, `hh:mm:ss` or `hh:mm:ss.f…` (up to nine digits) and the length of its precision.
fn clock_time(clock: &str) -> Option<(NaiveTime, Duration)> {
    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (clock, None),
    };
    let two = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let parts: Vec<&str> = whole.split(':').collect();
    let (hour, minute, second) = match parts.as_slice() {
        [h, m] if fraction.is_none() => (two(h)?, two(m)?, None),
        [h, m, s] => (two(h)?, two(m)?, Some(two(s)?)),
        _ => return None,
    };
    let Some(second) = second else {
        return Some((
            NaiveTime::from_hms_opt(hour, minute, 0)?,
            Duration::minutes(1),
        ));
    };
    let Some(fraction) = fraction else {
        return Some((
            NaiveTime::from_hms_opt(hour, minute, second)?,
            Duration::seconds(1),
        ));
    };
    if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = 10u32.pow(9 - fraction.len() as u32);
    let nanos = fraction.parse::<u32>().ok()? * scale;
    Some((
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?,
        Duration::nanoseconds(i64::from(scale)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(value: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(value)
            .expect("instant")
            .with_timezone(&Utc)
    }

    fn bounds(value: &str) -> (String, String) {
        let range = range(value).expect(value);
        (
            range
                .start
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            range
                .end
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        )
    }

    #[test]
    fn every_precision_stands_for_its_whole_range() {
        let cases = [
            ("2024", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
            ("2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
            ("2024-12", "2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z"),
            ("2024-02-29", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"),
            (
                "2024-03-05T10:15",
                "2024-03-05T10:15:00Z",
                "2024-03-05T10:16:00Z",
            ),
            (
                "2024-03-05T10:15Z",
                "2024-03-05T10:15:00Z",
                "2024-03-05T10:16:00Z",
            ),
            (
                "2024-03-05T10:15:30",
                "2024-03-05T10:15:30Z",
                "2024-03-05T10:15:31Z",
            ),
            (
                "2024-03-05T10:15:30+02:00",
                "2024-03-05T08:15:30Z",
                "2024-03-05T08:15:31Z",
            ),
            (
                "2024-03-05T10:15:30 02:00",
                "2024-03-05T08:15:30Z",
                "2024-03-05T08:15:31Z",
            ),
            (
                "2024-03-05T23:15:30-05:00",
                "2024-03-06T04:15:30Z",
                "2024-03-06T04:15:31Z",
            ),
            (
                "2024-03-05T10:15:30.1Z",
                "2024-03-05T10:15:30.100Z",
                "2024-03-05T10:15:30.200Z",
            ),
            (
                "2024-03-05T10:15:30.123Z",
                "2024-03-05T10:15:30.123Z",
                "2024-03-05T10:15:30.124Z",
            ),
            (
                "2024-03-05T10:15:30.123456Z",
                "2024-03-05T10:15:30.123456Z",
                "2024-03-05T10:15:30.123457Z",
            ),
            (
                "2024-03-05T10:15:30.999999Z",
                "2024-03-05T10:15:30.999999Z",
                "2024-03-05T10:15:31Z",
            ),
            (
                "2024-03-05T10:15:30.123456000Z",
                "2024-03-05T10:15:30.123456Z",
                "2024-03-05T10:15:30.123457Z",
            ),
            (
                "2024-03-05T10:15:30.1234561Z",
                "2024-03-05T10:15:30.123457Z",
                "2024-03-05T10:15:30.123457Z",
            ),
        ];
        for (value, start, end) in cases {
            assert_eq!(bounds(value), (start.to_owned(), end.to_owned()), "{value}");
        }
    }

    #[test]
    fn malformed_values_are_refused() {
        for value in [
            "24",
            "2024-1",
            "2024-13",
            "2024-02-30",
            "2024-03-05T10",
            "2024-03-05T25:00Z",
            "2024-03-05T10:15:30.Z",
            "2024-03-05T10:15:30.1234567890Z",
            "2024-03-05T10:15:30+2:00",
            "2024-03-05T10:15:30+15:00",
            "2024-03-05 10:15:30Z",
            "xx2024",
        ] {
            assert!(parse(value).is_err(), "{value}");
        }
    }

    /// Each prefix against an instant at, just before and just after a second's bounds.
    #[test]
    fn prefixes_relate_the_range_to_the_instant() {
        let now = at("2026-12-01T00:00:00Z");
        let range = range("2024-03-05T10:15:30Z").expect("range");
        let before = at("2024-03-05T10:15:29.999999Z");
        let first = at("2024-03-05T10:15:30Z");
        let last = at("2024-03-05T10:15:30.999999Z");
        let after = at("2024-03-05T10:15:31Z");
        let matches = |prefix, t: DateTime<Utc>| {
            instants(prefix, range, now)
                .iter()
                .any(|s| s.from.is_none_or(|from| from <= t) && s.to.is_none_or(|to| t < to))
        };
        let table = [
            (Prefix::Eq, [false, true, true, false]),
            (Prefix::Ne, [true, false, false, true]),
            (Prefix::Lt, [true, false, false, false]),
            (Prefix::Le, [true, true, true, false]),
            (Prefix::Gt, [false, false, false, true]),
            (Prefix::Ge, [false, true, true, true]),
            (Prefix::Sa, [false, false, false, true]),
            (Prefix::Eb, [true, false, false, false]),
        ];
        for (prefix, expected) in table {
            let got = [before, first, last, after].map(|t| matches(prefix, t));
            assert_eq!(got, expected, "{prefix:?}");
        }
        // About 2 years 9 months away: about 100 days on either side.
        assert!(matches(Prefix::Ap, at("2024-02-01T00:00:00Z")));
        assert!(!matches(Prefix::Ap, at("2023-06-01T00:00:00Z")));
    }
}
