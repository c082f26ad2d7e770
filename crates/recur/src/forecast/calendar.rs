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

/// A feature of the calendar read from a time stamp, given to the model as a pair
/// `sin(2π·u), cos(2π·u)` of its position `u` in its cycle (`--calendar`), so that December
/// lies next to January.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CalendarFeature {
    /// The month of the year: `u = (month - 1) / 12`.
    MonthOfYear,
    /// The day of the week: `u = days from Monday / 7`.
    DayOfWeek,
    /// The time of day: `u = (hour + minute / 60) / 24`.
    HourOfDay,
}

impl CalendarFeature {
    /// The name stored and printed (`month-of-year`, `day-of-week`, `hour-of-day`).
    pub fn name(self) -> &'static str {
        match self {
            CalendarFeature::MonthOfYear => "month-of-year",
            CalendarFeature::DayOfWeek => "day-of-week",
            CalendarFeature::HourOfDay => "hour-of-day",
        }
    }

    /// The position of `stamp` in this feature's cycle, in `[0, 1)`.
    fn position(self, stamp: &NaiveDateTime) -> f64 {
        match self {
            CalendarFeature::MonthOfYear => (stamp.month0() as f64) / 12.0,
            CalendarFeature::DayOfWeek => stamp.weekday().num_days_from_monday() as f64 / 7.0,
            CalendarFeature::HourOfDay => {
                use chrono::Timelike;
                (stamp.hour() as f64 + stamp.minute() as f64 / 60.0) / 24.0
            }
        }
    }
}

/// The calendar features that vary between the stamps of a series observed at `frequency`:
/// the month of the year (quarterly and finer), the day of the week (daily and finer), the time
/// of day (hourly and finer); none for yearly data or without time stamps.
pub fn calendar_features(frequency: Frequency) -> Vec<CalendarFeature> {
    use CalendarFeature::*;
    match frequency {
        Frequency::Quarterly | Frequency::Monthly | Frequency::Weekly => vec![MonthOfYear],
        Frequency::Daily => vec![MonthOfYear, DayOfWeek],
        Frequency::Hourly
        | Frequency::HalfHourly
        | Frequency::QuarterHourly
        | Frequency::Minutely => vec![MonthOfYear, DayOfWeek, HourOfDay],
        Frequency::Yearly | Frequency::Irregular | Frequency::Unknown => Vec::new(),
    }
}

/// The columns of `features` over `stamps`: for each feature its sine, then its cosine.
pub fn calendar_columns(stamps: &[NaiveDateTime], features: &[CalendarFeature]) -> Vec<Vec<f64>> {
    let tau = std::f64::consts::TAU;
    features
        .iter()
        .flat_map(|f| {
            let u: Vec<f64> = stamps.iter().map(|s| f.position(s)).collect();
            [
                u.iter().map(|u| (tau * u).sin()).collect(),
                u.iter().map(|u| (tau * u).cos()).collect(),
            ]
        })
        .collect()
}

/// The `n` stamps after `last` at `frequency`: calendar months for monthly, quarterly and
/// yearly data (from the same day of the month, or the month's last day when `last` is one),
/// fixed steps otherwise; `None` for an irregular or unknown frequency.
pub fn next_stamps(
    last: NaiveDateTime,
    frequency: Frequency,
    n: usize,
) -> Option<Vec<NaiveDateTime>> {
    let months = match frequency {
        Frequency::Monthly => 1,
        Frequency::Quarterly => 3,
        Frequency::Yearly => 12,
        _ => 0,
    };
    let seconds: i64 = match frequency {
        Frequency::Weekly => 7 * 86_400,
        Frequency::Daily => 86_400,
        Frequency::Hourly => 3600,
        Frequency::HalfHourly => 1800,
        Frequency::QuarterHourly => 900,
        Frequency::Minutely => 60,
        _ => 0,
    };
    if months > 0 {
        let month_end = last.date().succ_opt().is_some_and(|d| d.day() == 1);
        return (1..=n)
            .map(|k| {
                let d = last
                    .date()
                    .checked_add_months(chrono::Months::new(months * k as u32))?;
                let d = if month_end {
                    let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?;
                    first
                        .checked_add_months(chrono::Months::new(1))?
                        .pred_opt()?
                } else {
                    d
                };
                Some(d.and_time(last.time()))
            })
            .collect();
    }
    if seconds == 0 {
        return None;
    }
    (1..=n as i64)
        .map(|k| last.checked_add_signed(chrono::TimeDelta::try_seconds(seconds * k)?))
        .collect()
}

/// `stamp` written in `format` (a pattern of [`parse_times`]: `YYYY Qn` and `YYYY` are
/// written by hand, the others by `chrono`), so that it reads back as the column did.
pub fn format_stamp(stamp: &NaiveDateTime, format: &str) -> String {
    match format {
        "YYYY Qn" => format!("{} Q{}", stamp.year(), stamp.month0() / 3 + 1),
        "YYYY" => format!("{}", stamp.year()),
        f => stamp.format(f).to_string(),
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

    #[test]
    fn calendar_columns_and_the_stamps_ahead() {
        let (stamps, f) = parse_times(&["2020-01-31", "2020-02-29", "2020-03-31"], true).unwrap();
        let next = next_stamps(stamps[2], Frequency::Monthly, 2).unwrap();
        let written: Vec<String> = next.iter().map(|s| format_stamp(s, f)).collect();
        assert_eq!(written, ["2020-04-30", "2020-05-31"]);
        let (q, f) = parse_times(&["1970 Q3", "1970 Q4"], true).unwrap();
        let next = next_stamps(q[1], Frequency::Quarterly, 2).unwrap();
        let written: Vec<String> = next.iter().map(|s| format_stamp(s, f)).collect();
        assert_eq!(written, ["1971 Q1", "1971 Q2"]);
        let (d, f) = parse_times(&["2021-01-01 23:30"], true).unwrap();
        let next = next_stamps(d[0], Frequency::HalfHourly, 1).unwrap();
        assert_eq!(format_stamp(&next[0], f), "2021-01-02 00:00");
        assert!(next_stamps(d[0], Frequency::Irregular, 1).is_none());
        // Month of year as sine and cosine: January at angle 0, July opposite.
        let (m, _) = parse_times(&["2020-01", "2020-07"], true).unwrap();
        let cols = calendar_columns(&m, &calendar_features(Frequency::Monthly));
        assert_eq!(cols.len(), 2);
        assert!((cols[1][0] - 1.0).abs() < 1e-12 && (cols[1][1] + 1.0).abs() < 1e-12);
        assert!(cols[0][0].abs() < 1e-12);
        // Daily data: month and weekday (2020-01-06 is a Monday).
        let (d, _) = parse_times(&["2020-01-06"], true).unwrap();
        let cols = calendar_columns(&d, &calendar_features(Frequency::Daily));
        assert_eq!(cols.len(), 4);
        assert!((cols[3][0] - 1.0).abs() < 1e-12);
        assert!(calendar_features(Frequency::Yearly).is_empty());
    }
}
