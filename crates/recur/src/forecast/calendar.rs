//! Time stamps of a series: the formats a time column may be written in, and the frequency and
//! season length that the steps between its stamps imply.
//!
//! The formats are tried in the order of [`FORMATS`]; the first that reads every cell of the
//! column is used. The frequency is the most common step between consecutive stamps (counted in
//! calendar months where the day of the month and the time of day repeat, otherwise in seconds);
//! when fewer than 90 % of the steps are that step, the column is irregular.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// The formats of a time cell, in the order they are tried (the `chrono` pattern, or a
/// description for the few read by hand). Each entry reads both zero-padded and unpadded numbers.
pub const FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S, %Y-%m-%dT%H:%M:%S (an offset or Z after it is dropped), %Y-%m-%d %H:%M, %Y/%m/%d %H:%M[:%S]",
    "%Y-%m-%d, %Y/%m/%d, %Y.%m.%d",
    "%b-%d-%Y (Jan-1-1995), %d %b %Y, %b %d %Y, %d-%b-%Y, %m/%d/%Y, %d/%m/%Y, %d.%m.%Y",
    "%Y-%m, %Y/%m, %YM%m (1990M01), %Y %b (1991 Jul), %b %Y, %b-%Y, %Y-%b",
    "YYYY Qn, YYYY-Qn, YYYYQn, Qn YYYY (quarters)",
    "YYYY (a year from 1000 to 2999)",
];

const DATETIMES: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
];
const DATES: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"];
const NAMED_DATES: &[&str] = &[
    "%b-%d-%Y", "%d %b %Y", "%b %d %Y", "%d-%b-%Y", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y",
];
/// Month formats, read with a day appended (` 1` after the cell, ` %d` after the pattern).
const MONTHS: &[&str] = &[
    "%Y-%m", "%Y/%m", "%YM%m", "%Y %b", "%b %Y", "%b-%Y", "%Y-%b",
];

/// One way of reading a time cell.
type Reader = fn(&str, &str) -> Option<NaiveDateTime>;

fn datetime(cell: &str, f: &str) -> Option<NaiveDateTime> {
    // Drop a trailing zone ("Z", "+01:00") or fraction of a second: the steps are what matter.
    let cell = cell.trim_end_matches('Z');
    let cell = match cell.get(19..) {
        Some(rest) if !rest.is_empty() && cell.len() > 19 => &cell[..19],
        _ => cell,
    };
    NaiveDateTime::parse_from_str(cell, f).ok()
}

fn date(cell: &str, f: &str) -> Option<NaiveDateTime> {
    NaiveDate::parse_from_str(cell, f)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn month(cell: &str, f: &str) -> Option<NaiveDateTime> {
    date(&format!("{cell} 1"), &format!("{f} %d"))
}

fn quarter(cell: &str, _: &str) -> Option<NaiveDateTime> {
    let c = cell.to_ascii_uppercase().replace(['-', ' '], "");
    let (year, q) = if let Some(rest) = c.strip_prefix('Q') {
        (rest.get(1..)?, rest.get(..1)?)
    } else {
        let (y, q) = c.split_once('Q')?;
        (y, q)
    };
    let (year, q): (i32, u32) = (year.parse().ok()?, q.parse().ok()?);
    if year.to_string().len() != 4 || !(1..=4).contains(&q) {
        return None;
    }
    date(&format!("{year}-{}-1", 3 * q - 2), "%Y-%m-%d")
}

fn year(cell: &str, _: &str) -> Option<NaiveDateTime> {
    let y: i32 = cell.parse().ok()?;
    (cell.len() == 4 && (1000..=2999).contains(&y))
        .then(|| date(&format!("{y}-1-1"), "%Y-%m-%d"))
        .flatten()
}

/// Every (reader, pattern) pair in the order of [`FORMATS`].
fn readers() -> Vec<(Reader, &'static str)> {
    let mut r: Vec<(Reader, &str)> = Vec::new();
    r.extend(DATETIMES.iter().map(|f| (datetime as Reader, *f)));
    r.extend(DATES.iter().map(|f| (date as Reader, *f)));
    r.extend(NAMED_DATES.iter().map(|f| (date as Reader, *f)));
    r.extend(MONTHS.iter().map(|f| (month as Reader, *f)));
    r.push((quarter, "YYYY Qn"));
    r.push((year, "YYYY"));
    r
}

/// The time stamps of `cells` and the format that read them: the first format of [`FORMATS`]
/// that reads every cell; `None` when none does. `allow_years` admits bare four-digit years
/// (a numeric column is not taken for years unless the caller knows it labels time).
pub fn parse_times(
    cells: &[&str],
    allow_years: bool,
) -> Option<(Vec<NaiveDateTime>, &'static str)> {
    let first = cells.first()?;
    for (read, f) in readers() {
        if (f == "YYYY" && !allow_years) || read(first, f).is_none() {
            continue;
        }
        if let Some(stamps) = cells.iter().map(|c| read(c, f)).collect() {
            return Some((stamps, f));
        }
    }
    None
}

/// How often a series is observed, as read from its time stamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Frequency {
    /// Once a year: no seasonal period.
    Yearly,
    /// Four times a year: period 4.
    Quarterly,
    /// Monthly: period 12.
    Monthly,
    /// Weekly: period 52.
    Weekly,
    /// Daily: period 7 (the week).
    Daily,
    /// Hourly: period 24.
    Hourly,
    /// Every 30 minutes: period 48.
    HalfHourly,
    /// Every 15 minutes: period 96.
    QuarterHourly,
    /// Every minute: period 60.
    Minutely,
    /// Steps of unequal length: no period.
    Irregular,
    /// No time stamps (no time column, or cells in no known format): no period.
    #[default]
    Unknown,
}

impl Frequency {
    /// The season length this frequency implies; 1 means no seasonality.
    pub fn period(self) -> usize {
        match self {
            Frequency::Quarterly => 4,
            Frequency::Monthly => 12,
            Frequency::Weekly => 52,
            Frequency::Daily => 7,
            Frequency::Hourly => 24,
            Frequency::HalfHourly => 48,
            Frequency::QuarterHourly => 96,
            Frequency::Minutely => 60,
            Frequency::Yearly | Frequency::Irregular | Frequency::Unknown => 1,
        }
    }

    /// The name printed and stored (`monthly`, `half-hourly`, …).
    pub fn name(self) -> &'static str {
        match self {
            Frequency::Yearly => "yearly",
            Frequency::Quarterly => "quarterly",
            Frequency::Monthly => "monthly",
            Frequency::Weekly => "weekly",
            Frequency::Daily => "daily",
            Frequency::Hourly => "hourly",
            Frequency::HalfHourly => "half-hourly",
            Frequency::QuarterHourly => "quarter-hourly",
            Frequency::Minutely => "minutely",
            Frequency::Irregular => "irregular",
            Frequency::Unknown => "unknown",
        }
    }
}

/// The step from `a` to `b`, as a frequency (`None` for a step of no listed kind).
fn step(a: &NaiveDateTime, b: &NaiveDateTime) -> Option<Frequency> {
    let months = (b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32;
    if a.day() == b.day() && a.time() == b.time() {
        match months {
            1 => return Some(Frequency::Monthly),
            3 => return Some(Frequency::Quarterly),
            12 => return Some(Frequency::Yearly),
            _ => {}
        }
    }
    let secs = (*b - *a).num_seconds();
    let day = 86_400;
    Some(match secs {
        60 => Frequency::Minutely,
        900 => Frequency::QuarterHourly,
        1800 => Frequency::HalfHourly,
        3600 => Frequency::Hourly,
        s if s == day => Frequency::Daily,
        s if s == 7 * day => Frequency::Weekly,
        // Month ends and other fixed days of the month.
        s if (28 * day..=31 * day).contains(&s) => Frequency::Monthly,
        s if (89 * day..=92 * day).contains(&s) => Frequency::Quarterly,
        s if (365 * day..=366 * day).contains(&s) => Frequency::Yearly,
        _ => return None,
    })
}

/// The frequency of time-ordered `stamps` and the share of steps that have it: the most common
/// step, or [`Frequency::Irregular`] when it covers under 90 % of the steps.
pub fn frequency(stamps: &[NaiveDateTime]) -> (Frequency, f64) {
    if stamps.len() < 2 {
        return (Frequency::Unknown, 0.0);
    }
    let steps: Vec<Option<Frequency>> = stamps.windows(2).map(|w| step(&w[0], &w[1])).collect();
    let mut best = (Frequency::Irregular, 0usize);
    for s in steps.iter().flatten() {
        let count = steps.iter().filter(|t| **t == Some(*s)).count();
        if count > best.1 {
            best = (*s, count);
        }
    }
    let share = best.1 as f64 / steps.len() as f64;
    if share < 0.9 {
        (Frequency::Irregular, share)
    } else {
        (best.0, share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freq(cells: &[&str]) -> (Frequency, &'static str) {
        let (stamps, f) = parse_times(cells, true).expect("parses");
        (frequency(&stamps).0, f)
    }

    #[test]
    fn formats_and_frequencies_of_the_usual_time_columns() {
        let cases: [(&[&str], Frequency); 12] = [
            (&["1949-01", "1949-02", "1949-03"], Frequency::Monthly),
            (&["2000-1", "2000-2", "2000-3"], Frequency::Monthly),
            (
                &["1958-03-01", "1958-04-01", "1958-05-01"],
                Frequency::Monthly,
            ),
            (
                &["Jan-1-1995", "Feb-1-1995", "Mar-1-1995"],
                Frequency::Monthly,
            ),
            (&["1991 Jul", "1991 Aug", "1991 Sep"], Frequency::Monthly),
            (&["1970 Q1", "1970 Q2", "1970 Q3"], Frequency::Quarterly),
            (&["1969-1-1", "1969-1-2", "1969-1-3"], Frequency::Daily),
            (
                &["2020-01-05", "2020-01-12", "2020-01-19"],
                Frequency::Weekly,
            ),
            (&["1700", "1701", "1702"], Frequency::Yearly),
            (
                &["2020-01-31", "2020-02-29", "2020-03-31"],
                Frequency::Monthly,
            ),
            (
                &["2021-01-01 00:00", "2021-01-01 00:30", "2021-01-01 01:00"],
                Frequency::HalfHourly,
            ),
            (
                &[
                    "2021-01-01T00:00:00Z",
                    "2021-01-01T01:00:00Z",
                    "2021-01-01T02:00:00Z",
                ],
                Frequency::Hourly,
            ),
        ];
        for (cells, want) in cases {
            assert_eq!(freq(cells).0, want, "{cells:?}");
        }
        assert_eq!(freq(&["1991 Jul", "1991 Aug"]).1, "%Y %b");
        // Years only where allowed; words and indexes in no format.
        assert!(parse_times(&["1700", "1701"], false).is_none());
        assert!(parse_times(&["0", "1", "2"], true).is_none());
        assert!(parse_times(&["jan", "feb"], true).is_none());
        // Day-first dates fall to the day-first format once a day is above 12.
        let (s, f) = parse_times(&["01/02/2020", "25/02/2020"], true).unwrap();
        assert_eq!((f, s[0].month()), ("%d/%m/%Y", 2));
    }

    #[test]
    fn periods_and_irregular_steps() {
        assert_eq!(Frequency::Yearly.period(), 1);
        assert_eq!(Frequency::Weekly.period(), 52);
        let (stamps, _) = parse_times(
            &["2020-01-01", "2020-01-02", "2020-01-09", "2020-03-01"],
            true,
        )
        .unwrap();
        assert_eq!(frequency(&stamps).0, Frequency::Irregular);
    }
}
