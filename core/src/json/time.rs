//! RFC 3339 timestamps as protojson writes and reads them.

use crate::prelude::*;

use super::MarshalError;
use prost_types::Timestamp;

/// Seconds of 0001-01-01T00:00:00Z relative to the Unix epoch.
pub(crate) const MIN_SECONDS: i64 = -62_135_596_800;
/// Seconds of 9999-12-31T23:59:59Z relative to the Unix epoch.
pub(crate) const MAX_SECONDS: i64 = 253_402_300_799;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_digits(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut v = value;
    let mut i = buf.len();
    while v > 0 && i > 0 {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
    }
    let start = buf.len().saturating_sub(width).min(i);
    out.extend_from_slice(buf.get(start..).unwrap_or_default());
}

/// Appends `ts` as protojson writes a `google.protobuf.Timestamp` (without quotes): UTC, `Z`
/// suffix, and 0, 3, 6 or 9 fractional digits.
pub fn format_timestamp(out: &mut Vec<u8>, ts: &Timestamp) -> Result<(), MarshalError> {
    check_timestamp(ts)?;
    let days = ts.seconds.div_euclid(86_400);
    let secs_of_day = ts.seconds.rem_euclid(86_400) as u64;
    let (year, month, day) = civil_from_days(days);
    push_digits(out, year as u64, 4);
    out.push(b'-');
    push_digits(out, u64::from(month), 2);
    out.push(b'-');
    push_digits(out, u64::from(day), 2);
    out.push(b'T');
    push_digits(out, secs_of_day / 3600, 2);
    out.push(b':');
    push_digits(out, secs_of_day / 60 % 60, 2);
    out.push(b':');
    push_digits(out, secs_of_day % 60, 2);
    let nanos = ts.nanos as u64;
    if nanos != 0 {
        out.push(b'.');
        if nanos.is_multiple_of(1_000_000) {
            push_digits(out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            push_digits(out, nanos / 1_000, 6);
        } else {
            push_digits(out, nanos, 9);
        }
    }
    out.push(b'Z');
    Ok(())
}

/// Whether protojson can write `ts`: seconds within years 0001–9999, nanos within a second.
pub(crate) fn check_timestamp(ts: &Timestamp) -> Result<(), MarshalError> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) {
        return Err(MarshalError::TimestampOutOfRange {
            seconds: ts.seconds,
        });
    }
    if !(0..=999_999_999).contains(&ts.nanos) {
        return Err(MarshalError::TimestampNanosOutOfRange { nanos: ts.nanos });
    }
    Ok(())
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v: u32 = 0;
        for _ in 0..n {
            let b = *self.bytes.get(self.pos)?;
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
            self.pos += 1;
        }
        Some(v)
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.bytes.get(self.pos) == Some(&c)).then(|| self.pos += 1)
    }
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses an RFC 3339 timestamp (`2006-01-02T15:04:05[.fraction](Z|±hh:mm)`, up to 9 fractional
/// digits) into a UTC `Timestamp`, refusing dates outside the years 0001–9999.
pub fn timestamp_from_rfc3339(s: &str) -> Result<Timestamp, String> {
    let bad = || format!("{s:?} is not an RFC 3339 timestamp");
    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = i64::from(c.digits(4).ok_or_else(bad)?);
    c.expect(b'-').ok_or_else(bad)?;
    let month = c.digits(2).ok_or_else(bad)?;
    c.expect(b'-').ok_or_else(bad)?;
    let day = c.digits(2).ok_or_else(bad)?;
    c.expect(b'T').ok_or_else(bad)?;
    let hour = c.digits(2).ok_or_else(bad)?;
    c.expect(b':').ok_or_else(bad)?;
    let minute = c.digits(2).ok_or_else(bad)?;
    c.expect(b':').ok_or_else(bad)?;
    let second = c.digits(2).ok_or_else(bad)?;
    let mut nanos: u32 = 0;
    if c.peek() == Some(b'.') {
        c.pos += 1;
        let mut count = 0;
        while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
            if count == 9 {
                return Err(format!("{s:?} has more than 9 fractional digits"));
            }
            nanos = nanos * 10 + u32::from(b - b'0');
            count += 1;
            c.pos += 1;
        }
        if count == 0 {
            return Err(bad());
        }
        for _ in count..9 {
            nanos *= 10;
        }
    }
    let offset_seconds: i64 = match c.peek() {
        Some(b'Z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let oh = c.digits(2).ok_or_else(bad)?;
            c.expect(b':').ok_or_else(bad)?;
            let om = c.digits(2).ok_or_else(bad)?;
            if oh > 23 || om > 59 {
                return Err(format!("{s:?} has an invalid UTC offset"));
            }
            let v = i64::from(oh * 3600 + om * 60);
            if sign == b'-' { -v } else { v }
        }
        _ => return Err(bad()),
    };
    if c.pos != c.bytes.len() {
        return Err(bad());
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(format!("{s:?} is not a valid date and time"));
    }
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_seconds;
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("{s:?} is outside the years 0001 to 9999"));
    }
    Ok(Timestamp {
        seconds,
        nanos: nanos as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(seconds: i64, nanos: i32) -> String {
        let mut out = Vec::new();
        format_timestamp(&mut out, &Timestamp { seconds, nanos }).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_with_go_precision_steps() {
        assert_eq!(fmt(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt(1_677_250_110, 789_000_000), "2023-02-24T14:48:30.789Z");
        assert_eq!(
            fmt(1_677_250_110, 789_100_000),
            "2023-02-24T14:48:30.789100Z"
        );
        assert_eq!(fmt(1_677_250_110, 1), "2023-02-24T14:48:30.000000001Z");
        assert_eq!(fmt(MIN_SECONDS, 0), "0001-01-01T00:00:00Z");
        assert_eq!(
            fmt(MAX_SECONDS, 999_999_999),
            "9999-12-31T23:59:59.999999999Z"
        );
        assert_eq!(fmt(-1, 0), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn refuses_out_of_range() {
        let mut out = Vec::new();
        assert!(
            format_timestamp(
                &mut out,
                &Timestamp {
                    seconds: MIN_SECONDS - 1,
                    nanos: 0
                }
            )
            .is_err()
        );
        assert!(
            format_timestamp(
                &mut out,
                &Timestamp {
                    seconds: MAX_SECONDS + 1,
                    nanos: 0
                }
            )
            .is_err()
        );
        assert!(
            format_timestamp(
                &mut out,
                &Timestamp {
                    seconds: 0,
                    nanos: -1
                }
            )
            .is_err()
        );
        assert!(
            format_timestamp(
                &mut out,
                &Timestamp {
                    seconds: 0,
                    nanos: 1_000_000_000
                }
            )
            .is_err()
        );
    }

    #[test]
    fn parses_and_round_trips() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456789Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2023-02-24T14:48:30.789Z",
        ] {
            let ts = timestamp_from_rfc3339(s).unwrap();
            assert_eq!(fmt(ts.seconds, ts.nanos), s);
        }
        let ts = timestamp_from_rfc3339("2024-01-01T01:00:00+02:30").unwrap();
        assert_eq!(fmt(ts.seconds, ts.nanos), "2023-12-31T22:30:00Z");
        let ts = timestamp_from_rfc3339("2024-01-01T00:00:00.5-01:00").unwrap();
        assert_eq!(fmt(ts.seconds, ts.nanos), "2024-01-01T01:00:00.500Z");
    }

    #[test]
    fn refuses_bad_input() {
        for s in [
            "",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567891Z",
            "0001-01-01T00:00:00+00:01",
            "10000-01-01T00:00:00Z",
            "2024-01-01T00:00:00Zjunk",
            "２０２４-01-01T00:00:00Z",
        ] {
            assert!(timestamp_from_rfc3339(s).is_err(), "{s} should be refused");
        }
    }
}
