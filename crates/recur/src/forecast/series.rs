//! Reading a time series from a CSV file with a header row.

use crate::error::{Error, Result};
use crate::input::read_csv;
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

/// Reads `path`: a header row naming the columns, then one row per time step. `time` lists the
/// columns that label a row (joined with `-`, e.g. `year,month`), `target` the column to forecast,
/// `covariates` further numeric columns. Fields may be quoted (header names too), the file may
/// start with a byte-order mark and end its lines with CRLF.
///
/// Rows are put in time order when every time cell is a number or a date written year first
/// (`1949-01`, `2022-12-01`); [`Series::sorted_from`] then names the first row that was out of
/// order. Two rows with the same time are an error naming both. Other time labels are kept in
/// file order.
///
/// Errors name the file, the row (1-based, the header being row 1) and the column: a missing or
/// non-numeric (or non-finite) cell, a row with the wrong number of fields, an unknown column.
pub fn read_series(
    path: &Path,
    time: &[String],
    target: &str,
    covariates: &[String],
) -> Result<Series> {
    let csv = read_csv(path)?;
    let names = &csv.header;
    let column = |name: &str| -> Result<usize> {
        csv.column(name.trim()).ok_or_else(|| {
            Error::format(
                path,
                format!("no column '{name}' (columns: {})", names.join(", ")),
            )
        })
    };
    let time_cols: Vec<usize> = time.iter().map(|t| column(t)).collect::<Result<_>>()?;
    let target_col = column(target)?;
    let cov_cols: Vec<usize> = covariates
        .iter()
        .map(|c| column(c))
        .collect::<Result<_>>()?;
    let mut series = Series {
        covariates: vec![Vec::new(); cov_cols.len()],
        covariate_names: covariates.to_vec(),
        source: Some(path.to_path_buf()),
        ..Series::default()
    };
    // Sort keys of the rows, while every time cell has one.
    let mut keys: Option<Vec<Vec<f64>>> = (!time_cols.is_empty()).then(Vec::new);
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
        let number = |col: usize| -> Result<f64> {
            let cell = fields[col];
            let at =
                |m: String| Error::format(path, format!("row {row}, column '{}': {m}", names[col]));
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ if cell.is_empty() => Err(at("the cell is empty".into())),
                Ok(_) => Err(at(format!("{cell:?} is not a finite number"))),
                _ => Err(at(format!("{cell:?} is not a number"))),
            }
        };
        series.target.push(number(target_col)?);
        for (k, &c) in cov_cols.iter().enumerate() {
            series.covariates[k].push(number(c)?);
        }
        series.rows.push(row);
        series.times.push(if time_cols.is_empty() {
            series.target.len().to_string()
        } else {
            time_cols
                .iter()
                .map(|&c| fields[c])
                .collect::<Vec<_>>()
                .join("-")
        });
        if let Some(k) = &mut keys {
            let key: Option<Vec<Vec<f64>>> =
                time_cols.iter().map(|&c| time_key(fields[c])).collect();
            // As long as the first row's key, so that keys compare part by part.
            let first_len = k.first().map(Vec::len);
            match key.map(|key| key.concat()) {
                Some(key) if first_len.unwrap_or(key.len()) == key.len() => k.push(key),
                _ => keys = None,
            }
        }
    }
    if series.target.is_empty() {
        return Err(Error::format(path, "no data rows after the header"));
    }
    let n = series.target.len();
    let mut order: Vec<usize> = (0..n).collect();
    match &keys {
        Some(k) => order.sort_by(|&a, &b| k[a].partial_cmp(&k[b]).unwrap_or(Ordering::Equal)),
        None => order.sort_by(|&a, &b| series.times[a].cmp(&series.times[b])),
    }
    let same = |a: usize, b: usize| match &keys {
        Some(k) => k[a] == k[b],
        None => series.times[a] == series.times[b],
    };
    if !time_cols.is_empty() {
        if let Some(w) = order.windows(2).find(|w| same(w[0], w[1])) {
            let (a, b) = (w[0].min(w[1]), w[0].max(w[1]));
            return Err(Error::format(
                path,
                format!(
                    "rows {} and {} have the same time '{}' (one row per time step)",
                    series.rows[a], series.rows[b], series.times[b]
                ),
            ));
        }
    }
    // Without duplicates, the rows are out of order exactly where a time is below the one before.
    let first = keys
        .as_ref()
        .and_then(|k| (1..n).find(|&i| k[i - 1] > k[i]));
    if let Some(first) = first {
        series.sorted_from = Some(series.rows[first]);
        let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        series.target = pick(&series.target);
        series.covariates = series.covariates.iter().map(|c| pick(c)).collect();
        series.times = order.iter().map(|&i| series.times[i].clone()).collect();
        series.rows = order.iter().map(|&i| series.rows[i]).collect();
    }
    Ok(series)
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
}
