//! Reading a time series from a CSV file with a header row.

use super::calendar::{self, Frequency};
use crate::error::{Error, Result};
use crate::input::read_csv_with;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// A series read from a CSV file: a time label per row, the target, and optional covariates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// One label per row (the time columns joined with `-`, or the row number).
    pub times: Vec<String>,
    /// The column to forecast.
    pub target: Vec<f64>,
    /// Further numeric columns fed to the model, one vector per column.
    pub covariates: Vec<Vec<f64>>,
    /// Names of the covariate columns.
    pub covariate_names: Vec<String>,
    /// The file read, if any (named in errors).
    pub source: Option<PathBuf>,
    /// The row of the file each point comes from (the header being row 1); empty when the
    /// series did not come from a file.
    pub rows: Vec<usize>,
    /// The first row found out of time order when the reader sorted the rows by time.
    pub sorted_from: Option<usize>,
    /// The columns that label the rows (named or found), empty when the rows are numbered.
    pub time_columns: Vec<String>,
    /// The format of [`calendar::FORMATS`] that read the time labels, if one did.
    pub time_format: Option<String>,
    /// How often the series is observed, read from its time stamps.
    pub frequency: Frequency,
    /// Empty cells filled (`--fill linear` or `ffill`).
    pub filled: usize,
    /// Rows left out for an empty cell (`--fill drop`).
    pub dropped: usize,
    /// The name of the target column (empty when the series did not come from a file).
    pub target_name: String,
    /// Columns known ahead of time (`--future-covariates`), one vector per column, as long as
    /// the target: the model reads their values at the forecast steps too.
    pub future_covariates: Vec<Vec<f64>>,
    /// Names of the future covariate columns.
    pub future_covariate_names: Vec<String>,
    /// The time stamp of each point, when the time labels read as time stamps (else empty).
    pub stamps: Vec<chrono::NaiveDateTime>,
    /// The rows after the last target value, read with [`SeriesSpec::open_end`]: the steps to
    /// forecast, with the future covariates' values there.
    pub ahead: Ahead,
}

/// The steps after a series' last target value that a file lists (rows whose target cell is
/// empty): their time labels and stamps and the future covariates' values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ahead {
    /// One label per step.
    pub times: Vec<String>,
    /// One stamp per step, when the labels read as time stamps (else empty).
    pub stamps: Vec<chrono::NaiveDateTime>,
    /// Per future covariate, one value per step.
    pub future_covariates: Vec<Vec<f64>>,
}

impl Series {
    /// Where point `i` comes from: `file: row N (time T)`, or `point N` without a file.
    pub fn locate(&self, i: usize) -> String {
        let time = self
            .times
            .get(i)
            .map_or(String::new(), |t| format!(" (time {t})"));
        match (&self.source, self.rows.get(i)) {
            (Some(p), Some(r)) => format!("{}: row {r}{time}", p.display()),
            _ => format!("point {}{time}", i + 1),
        }
    }
}

/// The sort key of one time cell: a number, or the numbers of a date or time written year first
/// (`1949-01`, `2022-12-01`, `2020/03/04 10:30`); `None` for anything else.
fn time_key(cell: &str) -> Option<Vec<f64>> {
    if let Ok(v) = cell.parse::<f64>() {
        return v.is_finite().then(|| vec![v]);
    }
    let b = cell.as_bytes();
    let year_first = b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && !b[4].is_ascii_digit();
    if !year_first
        || !cell
            .chars()
            .all(|c| c.is_ascii_digit() || "-/.: TZ".contains(c))
    {
        return None;
    }
    cell.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| (p.len() <= 15).then(|| p.parse::<f64>().ok()).flatten())
        .collect()
}

/// What to do with an empty cell of the target or a covariate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fill {
    /// Refuse the file, naming the first empty cell.
    #[default]
    Error,
    /// Interpolate linearly between the neighbouring values in time order (leading and trailing
    /// gaps take the nearest value).
    Linear,
    /// Repeat the last value before the gap (a leading gap takes the first value).
    Ffill,
    /// Leave out the rows with an empty cell.
    Drop,
}

impl std::str::FromStr for Fill {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "error" => Ok(Fill::Error),
            "linear" => Ok(Fill::Linear),
            "ffill" => Ok(Fill::Ffill),
            "drop" => Ok(Fill::Drop),
            _ => Err(Error::Config(format!(
                "`fill` {s:?}: expected error, linear, ffill or drop"
            ))),
        }
    }
}

/// How to read a series from a CSV file.
#[derive(Clone, Debug)]
pub struct SeriesSpec {
    /// The columns that label a row (joined with `-`, e.g. `year,month`); empty: the time
    /// column is found as [`read_series_with`] says.
    pub time: Vec<String>,
    /// The column to forecast.
    pub target: String,
    /// Further numeric columns.
    pub covariates: Vec<String>,
    /// Numeric columns known ahead of time (read at the forecast steps too).
    pub future_covariates: Vec<String>,
    /// The field separator (`b','` for CSV).
    pub delimiter: u8,
    /// What to do with empty cells.
    pub fill: Fill,
    /// Rows at the end (in time order) whose target cell is empty are the steps to forecast:
    /// they go to [`Series::ahead`] (their future covariates must be given) instead of being
    /// filled or refused.
    pub open_end: bool,
}

impl SeriesSpec {
    /// Comma-separated fields, empty cells refused.
    pub fn new(time: &[String], target: &str, covariates: &[String]) -> Self {
        SeriesSpec {
            time: time.to_vec(),
            target: target.to_string(),
            covariates: covariates.to_vec(),
            future_covariates: Vec::new(),
            delimiter: b',',
            fill: Fill::Error,
            open_end: false,
        }
    }
}

/// Reads `path` with comma-separated fields and empty cells refused ([`read_series_with`]).
pub fn read_series(
    path: &Path,
    time: &[String],
    target: &str,
    covariates: &[String],
) -> Result<Series> {
    read_series_with(path, &SeriesSpec::new(time, target, covariates))
}

/// The time column found when none is named: the first column (not the target or a covariate)
/// whose every cell reads as a time stamp (bare years only in a column whose name contains
/// "year"), else an unnamed first column (the index pandas and R write), else none.
fn find_time_column(csv: &crate::input::Csv, taken: &[usize]) -> Option<usize> {
    let cells = |c: usize| -> Vec<&str> {
        csv.records
            .iter()
            .map(|r| r.fields.get(c).map_or("", |f| f.trim()))
            .collect()
    };
    let free = (0..csv.header.len()).filter(|c| !taken.contains(c));
    for c in free {
        let years = csv.header[c].to_ascii_lowercase().contains("year");
        if calendar::parse_times(&cells(c), years).is_some() {
            return Some(c);
        }
    }
    (csv.header.first().is_some_and(String::is_empty) && !taken.contains(&0)).then_some(0)
}

/// Fills the gaps (`None`) of one column in time order as `fill` says; `None` when every cell is
/// empty.
fn fill_gaps(v: &[Option<f64>], fill: Fill) -> Option<Vec<f64>> {
    let known: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_some()).collect();
    let (&first, &last) = (known.first()?, known.last()?);
    let at = |i: usize| v[i].unwrap_or(f64::NAN);
    let mut out = Vec::with_capacity(v.len());
    let mut prev = first;
    for i in 0..v.len() {
        if let Some(x) = v[i] {
            prev = i;
            out.push(x);
            continue;
        }
        out.push(match fill {
            _ if i < first => at(first),
            _ if i > last => at(last),
            Fill::Linear => {
                let next = known[known.partition_point(|&k| k < i)];
                let w = (i - prev) as f64 / (next - prev) as f64;
                at(prev) + w * (at(next) - at(prev))
            }
            _ => at(prev),
        });
    }
    Some(out)
}

/// Reads `path`: a header row naming the columns, then one row per time step. `spec.time` lists
/// the columns that label a row (joined with `-`, e.g. `year,month`), `spec.target` the column to
/// forecast, `spec.covariates` further numeric columns. Fields may be quoted (header names too),
/// separated by `spec.delimiter`; the file may start with a byte-order mark and end its lines
/// with CRLF. An unnamed column is named by the empty string (`--time ''`).
///
/// Without `spec.time`, the time column is the first column other than the target and the
/// covariates whose every cell reads as a time stamp in one of [`calendar::FORMATS`] (a column of
/// bare years only when its name contains "year"), else an unnamed first column, else none (the
/// rows are then numbered in file order).
///
/// Rows are put in time order when the time labels read as time stamps, or when every label is
/// a number or a date written year first (`1949-01`, `2022-12-01`); [`Series::sorted_from`] then
/// names the first row that was out of order. Two rows with the same time are an error naming
/// both. Other time labels are kept in file order. The frequency ([`Series::frequency`]) is read
/// from the sorted time stamps.
///
/// Errors name the file, the row (1-based, the header being row 1) and the column: a missing
/// (unless `spec.fill` fills it) or non-numeric (or non-finite) cell, a row with the wrong number
/// of fields, an unknown column.
pub fn read_series_with(path: &Path, spec: &SeriesSpec) -> Result<Series> {
    let csv = read_csv_with(path, spec.delimiter)?;
    series_from_csv(&csv, path, spec, &[])
}

/// The series of `spec` in `csv` (read from `path`, which errors name), as
/// [`read_series_with`] reads it; the columns `skip` (an id column) are never taken for time.
pub(super) fn series_from_csv(
    csv: &crate::input::Csv,
    path: &Path,
    spec: &SeriesSpec,
    skip: &[usize],
) -> Result<Series> {
    let cols = Columns::find(csv, spec, path, skip)?;
    // With an open end, empty cells are kept until the rows ahead are split off.
    let read_fill = if spec.open_end {
        Fill::Linear
    } else {
        spec.fill
    };
    let mut rows = read_rows(csv, path, read_fill, &cols)?;
    if rows.rows.is_empty() {
        return Err(Error::format(path, "no data rows after the header"));
    }
    let mut series = Series {
        covariate_names: spec.covariates.clone(),
        future_covariate_names: spec.future_covariates.clone(),
        target_name: spec.target.trim().to_string(),
        source: Some(path.to_path_buf()),
        time_columns: cols.time.iter().map(|&c| csv.header[c].clone()).collect(),
        ..Series::default()
    };
    let mut stamps = time_order(path, !cols.time.is_empty(), &mut rows, &mut series)?;
    let names: Vec<&str> = cols
        .values
        .iter()
        .map(|&c| csv.header[c].as_str())
        .collect();
    if spec.open_end {
        series.ahead = split_ahead(path, &names, spec, &mut rows, &mut stamps)?;
    }
    fill_values((path, spec.fill), &names, rows, stamps, &mut series)?;
    Ok(series)
}

/// Splits off the rows at the end of `rows` (in time order) whose target cell is empty: the
/// steps ahead, whose future covariates (the last `spec.future_covariates.len()` value
/// columns, named `names`) must be given. With `spec.fill` error, an empty cell left in the
/// other rows is refused, naming its row and column.
fn split_ahead(
    path: &Path,
    names: &[&str],
    spec: &SeriesSpec,
    rows: &mut Rows,
    stamps: &mut Option<Vec<chrono::NaiveDateTime>>,
) -> Result<Ahead> {
    let n = rows.rows.len();
    let keep = n - rows.values[0]
        .iter()
        .rev()
        .take_while(|v| v.is_none())
        .count();
    let first_future = rows.values.len() - spec.future_covariates.len();
    let mut ahead = Ahead {
        times: rows.times.split_off(keep),
        stamps: stamps.as_mut().map_or(Vec::new(), |s| s.split_off(keep)),
        ..Ahead::default()
    };
    let ahead_rows = rows.rows.split_off(keep);
    for (k, column) in rows.values.iter_mut().enumerate() {
        let tail = column.split_off(keep);
        if k < first_future {
            continue;
        }
        let values = tail
            .iter()
            .zip(&ahead_rows)
            .map(|(v, row)| {
                v.ok_or_else(|| {
                    Error::format(
                        path,
                        format!(
                            "row {row}, column '{}': a step to forecast (its target is empty) needs the future covariate's value",
                            names[k]
                        ),
                    )
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        ahead.future_covariates.push(values);
    }
    if spec.fill == Fill::Error {
        for (i, &row) in rows.rows.iter().enumerate() {
            if let Some(k) = rows.values.iter().position(|v| v[i].is_none()) {
                return Err(Error::format(
                    path,
                    format!(
                        "row {row}, column '{}': the cell is empty (`fill` linear, ffill or drop fills the gaps; only the rows after the last target value may leave it empty)",
                        names[k]
                    ),
                ));
            }
        }
    }
    Ok(ahead)
}

/// The columns a series is read from.
struct Columns {
    /// The target first, then the covariates, then the future covariates.
    values: Vec<usize>,
    /// The columns that label a row (none: the rows are numbered).
    time: Vec<usize>,
}

impl Columns {
    /// The target, covariate and time columns of `spec` in `csv`'s header (the time column
    /// found as [`read_series_with`] says when none is named); an unknown name is an error
    /// naming the columns there are.
    fn find(
        csv: &crate::input::Csv,
        spec: &SeriesSpec,
        path: &Path,
        skip: &[usize],
    ) -> Result<Columns> {
        let column = |name: &str| -> Result<usize> {
            csv.column(name.trim())
                .ok_or_else(|| no_column(path, &csv.header, name))
        };
        let target = column(&spec.target)?;
        let covariates: Vec<usize> = spec
            .covariates
            .iter()
            .chain(&spec.future_covariates)
            .map(|c| column(c))
            .collect::<Result<_>>()?;
        let time: Vec<usize> = if spec.time.is_empty() {
            let taken: Vec<usize> = std::iter::once(target)
                .chain(covariates.clone())
                .chain(skip.iter().copied())
                .collect();
            find_time_column(csv, &taken).into_iter().collect()
        } else {
            spec.time.iter().map(|t| column(t)).collect::<Result<_>>()?
        };
        Ok(Columns {
            values: std::iter::once(target).chain(covariates).collect(),
            time,
        })
    }
}

/// The error for a column `name` that `names` (the header of `path`) lacks: the columns there
/// are, and a hint when the fields look separated by another character.
pub(super) fn no_column(path: &Path, names: &[String], name: &str) -> Error {
    let shown: Vec<String> = names
        .iter()
        .map(|n| {
            if n.is_empty() {
                "'' (unnamed)".into()
            } else {
                n.clone()
            }
        })
        .collect();
    let hint = match names {
        [one] if one.contains(';') => "; the fields look separated by ';' (`delimiter` ';')",
        [one] if one.contains('\t') => "; the fields look separated by tabs (`delimiter` tab)",
        _ => "",
    };
    Error::format(
        path,
        format!("no column '{name}' (columns: {}){hint}", shown.join(", ")),
    )
}

/// The data rows of a file as read, in file order.
struct Rows {
    /// Per value column (the target, then the covariates), its cells (`None`: empty).
    values: Vec<Vec<Option<f64>>>,
    /// One time label per row (the time columns joined with `-`, or the row number).
    times: Vec<String>,
    /// The row of the file each comes from (the header being row 1).
    rows: Vec<usize>,
    /// The rows' sort keys, while every time cell has one.
    keys: Option<Vec<Vec<f64>>>,
}

/// Reads every data row of `csv` (the file `path`): its value cells ([`value_cell`]), its time
/// label and sort key; a row with the wrong number of fields is an error naming it.
fn read_rows(csv: &crate::input::Csv, path: &Path, fill: Fill, cols: &Columns) -> Result<Rows> {
    let names = &csv.header;
    let mut r = Rows {
        values: vec![Vec::new(); cols.values.len()],
        times: Vec::new(),
        rows: Vec::new(),
        keys: (!cols.time.is_empty()).then(Vec::new),
    };
    for rec in &csv.records {
        let row = rec.line;
        let fields: Vec<&str> = rec.fields.iter().map(|f| f.trim()).collect();
        if fields.len() != names.len() {
            return Err(Error::format(
                path,
                format!(
                    "row {row} has {} fields, the header has {}",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        for (k, &col) in cols.values.iter().enumerate() {
            let cell = value_cell((path, fill), (row, &names[col]), fields[col])?;
            r.values[k].push(cell);
        }
        r.rows.push(row);
        r.times.push(if cols.time.is_empty() {
            r.rows.len().to_string()
        } else {
            cols.time
                .iter()
                .map(|&c| fields[c])
                .collect::<Vec<_>>()
                .join("-")
        });
        if let Some(k) = &mut r.keys {
            let key: Option<Vec<Vec<f64>>> =
                cols.time.iter().map(|&c| time_key(fields[c])).collect();
            // As long as the first row's key, so that keys compare part by part.
            let first_len = k.first().map(Vec::len);
            match key.map(|key| key.concat()) {
                Some(key) if first_len.unwrap_or(key.len()) == key.len() => k.push(key),
                _ => r.keys = None,
            }
        }
    }
    Ok(r)
}

/// One cell of the target or a covariate (row `row`, column `name` of `path`): its value, or
/// `None` for an empty cell that `fill` fills; an error naming the row and column otherwise.
fn value_cell(
    (path, fill): (&Path, Fill),
    (row, name): (usize, &str),
    cell: &str,
) -> Result<Option<f64>> {
    let at = |m: String| Error::format(path, format!("row {row}, column '{name}': {m}"));
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ if cell.is_empty() && fill != Fill::Error => Ok(None),
        _ if cell.is_empty() => Err(at(
            "the cell is empty (`fill` linear, ffill or drop fills the gaps)".into(),
        )),
        Ok(_) => Err(at(format!("{cell:?} is not a finite number"))),
        _ => Err(at(format!("{cell:?} is not a number"))),
    }
}

/// Puts `rows` in time order where their labels allow ([`read_series_with`]; `has_time`: the
/// rows have time columns), refusing two rows of the same time; notes in `series` the time
/// format and the first row out of order. Returns the rows' time stamps, in the new order,
/// when the labels read as such.
fn time_order(
    path: &Path,
    has_time: bool,
    rows: &mut Rows,
    series: &mut Series,
) -> Result<Option<Vec<chrono::NaiveDateTime>>> {
    let n = rows.rows.len();
    // Time stamps, where the labels read as such, replace the numeric keys.
    let labels: Vec<&str> = rows.times.iter().map(String::as_str).collect();
    let stamps = if has_time {
        calendar::parse_times(&labels, true)
    } else {
        None
    };
    if let Some((stamps, format)) = &stamps {
        rows.keys = Some(
            stamps
                .iter()
                .map(|s| vec![s.and_utc().timestamp() as f64])
                .collect(),
        );
        series.time_format = Some(format.to_string());
    }
    let mut order: Vec<usize> = (0..n).collect();
    match &rows.keys {
        Some(k) => order.sort_by(|&a, &b| k[a].partial_cmp(&k[b]).unwrap_or(Ordering::Equal)),
        None => order.sort_by(|&a, &b| rows.times[a].cmp(&rows.times[b])),
    }
    let same = |a: usize, b: usize| match &rows.keys {
        Some(k) => k[a] == k[b],
        None => rows.times[a] == rows.times[b],
    };
    if has_time {
        if let Some(w) = order.windows(2).find(|w| same(w[0], w[1])) {
            let (a, b) = (w[0].min(w[1]), w[0].max(w[1]));
            return Err(Error::format(
                path,
                format!(
                    "rows {} and {} have the same time '{}' (one row per time step)",
                    rows.rows[a], rows.rows[b], rows.times[b]
                ),
            ));
        }
    }
    // Without duplicates, the rows are out of order exactly where a time is below the one before.
    let first = rows
        .keys
        .as_ref()
        .and_then(|k| (1..n).find(|&i| k[i - 1] > k[i]));
    match first {
        Some(first) => series.sorted_from = Some(rows.rows[first]),
        None => order = (0..n).collect(),
    }
    rows.values = rows
        .values
        .iter()
        .map(|v| order.iter().map(|&i| v[i]).collect())
        .collect();
    rows.times = order.iter().map(|&i| rows.times[i].clone()).collect();
    rows.rows = order.iter().map(|&i| rows.rows[i]).collect();
    Ok(stamps.map(|(s, _)| order.iter().map(|&i| s[i]).collect()))
}

/// Puts `rows` into `series`: the rows with an empty cell left out (`fill` drop) or their gaps
/// filled ([`fill_gaps`]), counted; the target and covariates (value columns named `names`),
/// the times and rows, and the frequency read from `stamps`.
fn fill_values(
    (path, fill): (&Path, Fill),
    names: &[&str],
    rows: Rows,
    stamps: Option<Vec<chrono::NaiveDateTime>>,
    series: &mut Series,
) -> Result<()> {
    let n = rows.rows.len();
    let keep: Vec<usize> = if fill == Fill::Drop {
        (0..n)
            .filter(|&i| rows.values.iter().all(|v| v[i].is_some()))
            .collect()
    } else {
        (0..n).collect()
    };
    series.dropped = n - keep.len();
    if keep.is_empty() {
        return Err(Error::format(
            path,
            "every row has an empty cell (`fill` drop)",
        ));
    }
    let mut columns = Vec::with_capacity(rows.values.len());
    for (k, v) in rows.values.iter().enumerate() {
        let v: Vec<Option<f64>> = keep.iter().map(|&i| v[i]).collect();
        series.filled += v.iter().filter(|x| x.is_none()).count();
        columns.push(
            fill_gaps(&v, fill).ok_or_else(|| {
                Error::format(path, format!("column '{}' has no values", names[k]))
            })?,
        );
    }
    series.times = keep.iter().map(|&i| rows.times[i].clone()).collect();
    series.rows = keep.iter().map(|&i| rows.rows[i]).collect();
    series.target = columns.remove(0);
    series.future_covariates = columns.split_off(series.covariate_names.len());
    series.covariates = columns;
    if let Some(stamps) = stamps {
        series.stamps = keep.iter().map(|&i| stamps[i]).collect();
        series.frequency = calendar::frequency(&series.stamps).0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("recur-series-{name}-{}.csv", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_labels_target_and_covariates() {
        let p = write("ok", "year,month,y,x\n2000,1,5,1.5\n2000,2,6,2.5\n");
        let s = read_series(&p, &["year".into(), "month".into()], "y", &["x".into()]).unwrap();
        assert_eq!(s.times, ["2000-1", "2000-2"]);
        assert_eq!(s.target, [5.0, 6.0]);
        assert_eq!(s.covariates, [vec![1.5, 2.5]]);
    }

    #[test]
    fn bad_cells_name_row_and_column() {
        let p = write("bad", "t,y\n1,5\n2,\n");
        let e = read_series(&p, &[], "y", &[]).unwrap_err().to_string();
        assert!(
            e.contains("row 3, column 'y'") && e.contains("empty"),
            "{e}"
        );
        let p = write("nan", "t,y\n1,5\n2,abc\n");
        let e = read_series(&p, &[], "y", &[]).unwrap_err().to_string();
        assert!(
            e.contains("row 3, column 'y'") && e.contains("\"abc\""),
            "{e}"
        );
        let p = write("ragged", "t,y\n1,5,7\n");
        let e = read_series(&p, &[], "y", &[]).unwrap_err().to_string();
        assert!(e.contains("row 2 has 3 fields"), "{e}");
        let e = read_series(&p, &[], "z", &[]).unwrap_err().to_string();
        assert!(e.contains("no column 'z'"), "{e}");
    }

    #[test]
    fn descending_dates_are_sorted_by_time() {
        let p = write("desc", "date,y\n2022-03-01,3\n2022-02-01,2\n2022-01-01,1\n");
        let s = read_series(&p, &["date".into()], "y", &[]).unwrap();
        assert_eq!(s.times, ["2022-01-01", "2022-02-01", "2022-03-01"]);
        assert_eq!(s.target, [1.0, 2.0, 3.0]);
        assert_eq!(s.rows, [4, 3, 2]);
        assert_eq!(s.sorted_from, Some(3));
        // Numbers compare as numbers; in-order files are left alone.
        let p = write("num", "year,y,x\n999,1,10\n1000,2,20\n998,0,0\n");
        let s = read_series(&p, &["year".into()], "y", &["x".into()]).unwrap();
        assert_eq!(s.target, [0.0, 1.0, 2.0]);
        assert_eq!(s.covariates, [vec![0.0, 10.0, 20.0]]);
        assert_eq!(s.sorted_from, Some(4));
        let p = write("inorder", "year,month,y\n2000,9,1\n2000,10,2\n2001,1,3\n");
        let s = read_series(&p, &["year".into(), "month".into()], "y", &[]).unwrap();
        assert_eq!(
            (s.target.clone(), s.sorted_from),
            (vec![1.0, 2.0, 3.0], None)
        );
        // Labels that are not dates or numbers keep the file order.
        let p = write("words", "m,y\nfeb,2\njan,1\n");
        let s = read_series(&p, &["m".into()], "y", &[]).unwrap();
        assert_eq!((s.target.clone(), s.sorted_from), (vec![2.0, 1.0], None));
    }

    #[test]
    fn duplicate_dates_are_refused() {
        let p = write("dup", "date,y\n2000-01,1\n2000-02,2\n2000-1,3\n");
        let e = read_series(&p, &["date".into()], "y", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("rows 2 and 4 have the same time"), "{e}");
        let p = write("dupw", "m,y\njan,1\nfeb,2\njan,3\n");
        let e = read_series(&p, &["m".into()], "y", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("rows 2 and 4") && e.contains("'jan'"), "{e}");
    }

    #[test]
    fn quoted_header_names_can_be_addressed() {
        let p = write(
            "quoted",
            "\u{feff}\"YEAR\",\"SUNACTIVITY\"\r\n\"1700\",\"5.0\"\r\n1701,11.0\r\n",
        );
        let s = read_series(&p, &["YEAR".into()], "SUNACTIVITY", &[]).unwrap();
        assert_eq!(s.times, ["1700", "1701"]);
        assert_eq!(s.target, [5.0, 11.0]);
    }

    #[test]
    fn bom_is_stripped_from_csv_header() {
        let p = write("bom", "\u{feff}month,value\n1,10\n2,11\n");
        let s = read_series(&p, &["month".into()], "value", &[]).unwrap();
        assert_eq!(s.target, [10.0, 11.0]);
    }

    #[test]
    fn non_finite_cells_are_refused() {
        for cell in ["NaN", "inf", "1e999"] {
            let p = write("inf", &format!("t,y\n1,5\n2,{cell}\n"));
            let e = read_series(&p, &[], "y", &[]).unwrap_err().to_string();
            assert!(
                e.contains("row 3, column 'y'") && e.contains("not a finite number"),
                "{e}"
            );
        }
    }

    fn spec(target: &str) -> SeriesSpec {
        SeriesSpec::new(&[], target, &[])
    }

    #[test]
    fn gaps_are_refused_naming_the_flag_or_filled() {
        let p = write(
            "gaps",
            "date,y,x\n2000-01,1,5\n2000-02,,6\n2000-03,,7\n2000-04,4,\n",
        );
        let mut sp = SeriesSpec::new(&["date".into()], "y", &["x".into()]);
        let e = read_series_with(&p, &sp).unwrap_err().to_string();
        assert!(
            e.contains("row 3, column 'y'") && e.contains("`fill`"),
            "{e}"
        );
        sp.fill = Fill::Linear;
        let s = read_series_with(&p, &sp).unwrap();
        assert_eq!(
            (s.target.clone(), s.covariates[0].clone()),
            (vec![1.0, 2.0, 3.0, 4.0], vec![5.0, 6.0, 7.0, 7.0])
        );
        assert_eq!(s.filled, 3);
        sp.fill = Fill::Ffill;
        assert_eq!(
            read_series_with(&p, &sp).unwrap().target,
            [1.0, 1.0, 1.0, 4.0]
        );
        sp.fill = Fill::Drop;
        let s = read_series_with(&p, &sp).unwrap();
        assert_eq!(
            (s.target.clone(), s.times.clone(), s.dropped),
            (vec![1.0], vec!["2000-01".to_string()], 3)
        );
        // A gap in a descending file is filled in time order.
        let p = write("gapdesc", "date,y\n2000-03,3\n2000-02,\n2000-01,1\n");
        let s = read_series_with(
            &p,
            &SeriesSpec {
                fill: Fill::Linear,
                ..SeriesSpec::new(&["date".into()], "y", &[])
            },
        )
        .unwrap();
        assert_eq!(s.target, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn an_unnamed_or_dated_column_labels_the_rows_without_time() {
        // pandas' index column: unnamed, numbers; the dated column wins.
        let p = write(
            "unnamed",
            ",Quarter,y\n0,1970 Q1,1\n1,1970 Q2,2\n2,1970 Q3,3\n",
        );
        let s = read_series_with(&p, &spec("y")).unwrap();
        assert_eq!(
            (s.time_columns.clone(), s.frequency),
            (vec!["Quarter".to_string()], Frequency::Quarterly)
        );
        // An unnamed first column of dates.
        let p = write("unnamed2", ",y\n2020-01-03,3\n2020-01-01,1\n2020-01-02,2\n");
        let s = read_series_with(&p, &spec("y")).unwrap();
        assert_eq!(
            (s.target.clone(), s.frequency),
            (vec![1.0, 2.0, 3.0], Frequency::Daily)
        );
        assert_eq!(s.sorted_from, Some(3));
        // An unnamed index alone labels the rows; it can also be named as ''.
        let p = write("unnamed3", ",y\n0,5\n1,6\n");
        let s = read_series_with(&p, &spec("y")).unwrap();
        assert_eq!(
            (s.time_columns.clone(), s.frequency),
            (vec![String::new()], Frequency::Unknown)
        );
        assert!(read_series(&p, &["".into()], "y", &[]).is_ok());
        // Numbers are not years unless the column says so.
        let p = write("nums", "t,y\n1990,5\n1991,6\n");
        assert!(read_series_with(&p, &spec("y"))
            .unwrap()
            .time_columns
            .is_empty());
        let p = write("years", "Year,y\n1990,5\n1991,6\n");
        assert_eq!(
            read_series_with(&p, &spec("y")).unwrap().frequency,
            Frequency::Yearly
        );
    }

    #[test]
    fn semicolons_and_frequencies_of_joined_columns() {
        let p = write("semi", "\"year\";\"month\";\"y\"\n2000;1;1,5\n2000;2;2\n");
        let s = read_series_with(
            &p,
            &SeriesSpec {
                delimiter: b';',
                ..SeriesSpec::new(&["year".into(), "month".into()], "y", &[])
            },
        );
        let e = s.unwrap_err().to_string();
        assert!(e.contains("\"1,5\" is not a number"), "{e}");
        let p = write("semi2", "year;month;y\n2000;1;1.5\n2000;2;2\n2000;3;2\n");
        let s = read_series_with(
            &p,
            &SeriesSpec {
                delimiter: b';',
                ..SeriesSpec::new(&["year".into(), "month".into()], "y", &[])
            },
        )
        .unwrap();
        assert_eq!(
            (s.target.clone(), s.frequency),
            (vec![1.5, 2.0, 2.0], Frequency::Monthly)
        );
        assert_eq!(s.time_format.as_deref(), Some("%Y-%m"));
    }
}
