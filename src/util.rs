//! Small helpers with no better home.

use std::io::{self, Read};

/// Reads until `buf` is full or the input ends; returns the bytes read (a file shorter than the
/// buffer is not an error here).
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_utc(ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// A stored time as the user's clock shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    /// The calendar day in the system's time zone.
    pub day: jiff::civil::Date,
    /// "HH:MM", 24-hour.
    pub hm: String,
}

/// `ms` since the epoch in the system's time zone (UTC if it cannot be determined).
pub fn local_time(ms: i64) -> LocalTime {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let zoned = ts.to_zoned(jiff::tz::TimeZone::system());
    LocalTime { day: zoned.date(), hm: zoned.strftime("%H:%M").to_string() }
}

/// Today in the system's time zone.
pub fn today() -> jiff::civil::Date {
    jiff::Zoned::now().date()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_known_dates() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::format_utc(1_700_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(super::format_utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}
