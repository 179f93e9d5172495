//! HL7 DTM / TS values, `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`, into chrono.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// How much of the value was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    FractionalSecond,
}

/// A point in time as the sender wrote it: the local wall-clock time, the UTC offset if
/// sent, and the precision. Missing parts read as the start of the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hl7Time {
    pub local: NaiveDateTime,
    pub offset: Option<FixedOffset>,
    pub precision: Precision,
}

/// Why a DTM / TS value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTime;

impl Hl7Time {
    /// Parses a DTM / TS value (TS.1; the deprecated TS.2 precision is ignored).
    pub fn parse(s: &str) -> Result<Self, InvalidTime> {
        let s = s.trim();
        let (body, offset) = match s.find(['+', '-']) {
            Some(i) => (&s[..i], Some(parse_offset(&s[i..])?)),
            None => (s, None),
        };
        let (digits, fraction) = match body.split_once('.') {
            Some((d, f)) => (d, Some(f)),
            None => (body, None),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) || !digits.len().is_multiple_of(2) {
            return Err(InvalidTime);
        }
        let precision = match (digits.len(), fraction) {
            (4, None) => Precision::Year,
            (6, None) => Precision::Month,
            (8, None) => Precision::Day,
            (10, None) => Precision::Hour,
            (12, None) => Precision::Minute,
            (14, None) => Precision::Second,
            (14, Some(_)) => Precision::FractionalSecond,
            _ => return Err(InvalidTime),
        };
        let part = |range: std::ops::Range<usize>, default: u32| -> Result<u32, InvalidTime> {
            match digits.get(range) {
                Some(p) => p.parse().map_err(|_| InvalidTime),
                None => Ok(default),
            }
        };
        let year = i32::try_from(part(0..4, 0)?).map_err(|_| InvalidTime)?;
        let date =
            NaiveDate::from_ymd_opt(year, part(4..6, 1)?, part(6..8, 1)?).ok_or(InvalidTime)?;
        let nanos = fraction.map(parse_fraction).transpose()?.unwrap_or(0);
        let time = NaiveTime::from_hms_nano_opt(
            part(8..10, 0)?,
            part(10..12, 0)?,
            part(12..14, 0)?,
            nanos,
        )
        .ok_or(InvalidTime)?;
        Ok(Self {
            local: date.and_time(time),
            offset,
            precision,
        })
    }

    /// The instant, using the sent offset or else `default_offset` (typically the offset of
    /// MSH-7, or the receiver's configured zone).
    pub fn to_utc(&self, default_offset: FixedOffset) -> DateTime<Utc> {
        let offset = self.offset.unwrap_or(default_offset);
        match offset.from_local_datetime(&self.local).single() {
            Some(t) => t.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&self.local),
        }
    }

    /// The instant with its own offset, when one was sent.
    pub fn with_offset(&self) -> Option<DateTime<FixedOffset>> {
        self.offset?.from_local_datetime(&self.local).single()
    }

    pub fn date(&self) -> NaiveDate {
        self.local.date()
    }
}

fn parse_offset(s: &str) -> Result<FixedOffset, InvalidTime> {
    let (sign, digits) = s.split_at(1);
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidTime);
    }
    let hours: i32 = digits[..2].parse().map_err(|_| InvalidTime)?;
    let minutes: i32 = digits[2..].parse().map_err(|_| InvalidTime)?;
    if minutes > 59 {
        return Err(InvalidTime);
    }
    let seconds = (hours * 60 + minutes) * 60;
    let seconds = if sign == "-" { -seconds } else { seconds };
    FixedOffset::east_opt(seconds).ok_or(InvalidTime)
}

fn parse_fraction(f: &str) -> Result<u32, InvalidTime> {
    if f.is_empty() || f.len() > 4 || !f.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidTime);
    }
    let value: u32 = f.parse().map_err(|_| InvalidTime)?;
    Ok(value * 10u32.pow(9 - u32::try_from(f.len()).map_err(|_| InvalidTime)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_timestamp_with_offset_is_honoured() {
        let t = Hl7Time::parse("20240305143000-0500").unwrap();
        assert_eq!(t.precision, Precision::Second);
        assert_eq!(
            t.to_utc(FixedOffset::east_opt(0).unwrap()).to_rfc3339(),
            "2024-03-05T19:30:00+00:00"
        );
    }

    #[test]
    fn partial_values_read_as_the_start_of_the_period() {
        let t = Hl7Time::parse("198403").unwrap();
        assert_eq!(t.precision, Precision::Month);
        assert_eq!(t.date(), NaiveDate::from_ymd_opt(1984, 3, 1).unwrap());
        assert!(t.offset.is_none());
    }

    #[test]
    fn fractional_seconds_are_read() {
        let t = Hl7Time::parse("20240305143000.1234+0100").unwrap();
        assert_eq!(t.precision, Precision::FractionalSecond);
        assert_eq!(t.local.and_utc().timestamp_subsec_micros(), 123_400);
    }

    #[test]
    fn missing_offset_uses_the_default() {
        let t = Hl7Time::parse("202403051430").unwrap();
        let plus2 = FixedOffset::east_opt(7200).unwrap();
        assert_eq!(t.to_utc(plus2).to_rfc3339(), "2024-03-05T12:30:00+00:00");
    }

    #[test]
    fn invalid_values_are_rejected() {
        for bad in [
            "",
            "2024030",
            "20241305",
            "20240230",
            "2024030525",
            "20240305+05",
            "abc",
            "20240305.5",
        ] {
            assert_eq!(Hl7Time::parse(bad), Err(InvalidTime), "{bad}");
        }
    }
}
