//! Reading a time series from a CSV file with a header row.

use crate::error::{Error, Result};
use std::path::Path;

/// A series read from a CSV file: a time label per row, the target, and optional covariates.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// One label per row (the time columns joined with `-`, or the row number).
    pub times: Vec<String>,
    /// The column to forecast.
    pub target: Vec<f64>,
    /// Further numeric columns fed to the model, one vector per column.
    pub covariates: Vec<Vec<f64>>,
    /// Names of the covariate columns.
    pub covariate_names: Vec<String>,
}

/// Reads `path`: a header row naming the columns, then one row per time step. `time` lists the
/// columns that label a row (joined with `-`, e.g. `year,month`), `target` the column to forecast,
/// `covariates` further numeric columns. Fields are separated by commas and may not contain them.
///
/// Errors name the file, the row (1-based, the header being row 1) and the column: a missing or
/// non-numeric cell, a row with the wrong number of fields, an unknown column.
pub fn read_series(
    path: &Path,
    time: &[String],
    target: &str,
    covariates: &[String],
) -> Result<Series> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::format(path, "the file is empty"))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let column = |name: &str| -> Result<usize> {
        names.iter().position(|n| *n == name).ok_or_else(|| {
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
        times: Vec::new(),
        target: Vec::new(),
        covariates: vec![Vec::new(); cov_cols.len()],
        covariate_names: covariates.to_vec(),
    };
    for (i, line) in lines {
        let row = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
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
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ if cell.is_empty() => Err(Error::format(
                    path,
                    format!("row {row}, column '{}': the cell is empty", names[col]),
                )),
                _ => Err(Error::format(
                    path,
                    format!(
                        "row {row}, column '{}': {cell:?} is not a number",
                        names[col]
                    ),
                )),
            }
        };
        series.target.push(number(target_col)?);
        for (k, &c) in cov_cols.iter().enumerate() {
            series.covariates[k].push(number(c)?);
        }
        series.times.push(if time_cols.is_empty() {
            series.target.len().to_string()
        } else {
            time_cols
                .iter()
                .map(|&c| fields[c])
                .collect::<Vec<_>>()
                .join("-")
        });
    }
    if series.target.is_empty() {
        return Err(Error::format(path, "no data rows after the header"));
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
}
