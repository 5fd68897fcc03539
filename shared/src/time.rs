//! Timestamps as the API shows them: RFC 3339, UTC, microseconds.

use time::macros::format_description;
use time::OffsetDateTime;

/// Now, truncated to microseconds so that what is stored is exactly what is shown.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

/// `2026-02-17T13:16:28.644666Z`
pub fn format(t: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// Parses what [`format`] wrote (any RFC 3339 is accepted).
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_microseconds_in_utc() {
        let t = parse("2026-02-17T15:16:28.644666789+02:00").unwrap();
        assert_eq!(format(t), "2026-02-17T13:16:28.644666Z");
        let round = parse(&format(now())).unwrap();
        assert_eq!(round.nanosecond() % 1000, 0);
    }
}
