//! Many series for one model: a long CSV whose rows belong to series named by an id column
//! (`--id`), each with its own time stamps, read into a [`Panel`].

use super::calendar::Frequency;
use super::series::{series_from_csv, Series, SeriesSpec};
use crate::error::{Error, Result};
use crate::input::{read_csv_with, Csv};
use std::path::Path;

/// The series one forecaster is trained on: one series, or the series of a long file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// The column that names the series (`None` for a single series).
    pub id_column: Option<String>,
    /// The series' names, in the order of their first row in the file.
    pub ids: Vec<String>,
    /// The series, in the order of `ids`.
    pub series: Vec<Series>,
    /// Points held out at the end of each series as its test span (empty: the settings'
    /// `test_size` for every series).
    pub test_sizes: Vec<usize>,
}

impl Panel {
    /// A panel of one series, without an id column.
    pub fn single(series: Series) -> Panel {
        Panel {
            id_column: None,
            ids: vec![String::new()],
            series: vec![series],
            test_sizes: Vec::new(),
        }
    }

    /// Whether the panel holds series named by an id column (else one series).
    pub fn is_long(&self) -> bool {
        self.id_column.is_some()
    }

    /// The frequency of the series (they share it, [`read_panel`]).
    pub fn frequency(&self) -> Frequency {
        self.series
            .first()
            .map_or(Frequency::Unknown, |s| s.frequency)
    }

    /// The test span of series `i`: its own size, or `default`.
    pub fn test_size(&self, i: usize, default: usize) -> usize {
        self.test_sizes.get(i).copied().unwrap_or(default)
    }

    /// How errors name series `i`: `series 'ID': ` in a long file, nothing for one series.
    pub fn prefix(&self, i: usize) -> String {
        match (&self.id_column, self.ids.get(i)) {
            (Some(_), Some(id)) => format!("series '{id}': "),
            _ => String::new(),
        }
    }

    /// `e` told of series `i` ([`Panel::prefix`]).
    pub fn name_error(&self, i: usize, e: Error) -> Error {
        let p = self.prefix(i);
        if p.is_empty() {
            return e;
        }
        match e {
            Error::Input(m) => Error::Input(format!("{p}{m}")),
            Error::Config(m) => Error::Config(format!("{p}{m}")),
            Error::Format { path, message } => Error::Format {
                path,
                message: format!("{p}{message}"),
            },
            other => other,
        }
    }
}

/// Reads `path` as a long file: every row belongs to the series named in column `id`, and each
/// series is read as [`super::read_series_with`] reads a file of its own (time order, gaps,
/// frequency), with errors naming the series and the file's rows. The series must share one
/// frequency.
///
/// # Errors
/// [`Error::Format`] naming the file for an unknown id column, an empty id cell (with its row),
/// the first error of a series, or two series of different frequencies.
pub fn read_panel(path: &Path, spec: &SeriesSpec, id: &str) -> Result<Panel> {
    let csv = read_csv_with(path, spec.delimiter)?;
    let column = csv
        .column(id.trim())
        .ok_or_else(|| super::series::no_column(path, &csv.header, id))?;
    for name in std::iter::once(&spec.target)
        .chain(&spec.covariates)
        .chain(&spec.future_covariates)
        .chain(&spec.time)
    {
        if name.trim() == id.trim() {
            return Err(Error::Config(format!(
                "`id` '{id}' is also the target, a covariate or a time column"
            )));
        }
    }
    let groups = group_rows(&csv, path, column)?;
    let mut panel = Panel {
        id_column: Some(id.trim().to_string()),
        ..Panel::default()
    };
    for (name, group) in groups {
        let series = series_from_csv(&group, path, spec, &[column]).map_err(|e| {
            let p = Panel {
                id_column: Some(String::new()),
                ids: vec![name.clone()],
                ..Panel::default()
            };
            p.name_error(0, e)
        })?;
        panel.ids.push(name);
        panel.series.push(series);
    }
    check_frequencies(path, &panel)?;
    Ok(panel)
}

/// The rows of `csv` grouped by their cell in `column`, in the order each id first appears.
fn group_rows(csv: &Csv, path: &Path, column: usize) -> Result<Vec<(String, Csv)>> {
    let mut groups: Vec<(String, Csv)> = Vec::new();
    for rec in &csv.records {
        let id = rec.fields.get(column).map_or("", |f| f.trim());
        if id.is_empty() {
            return Err(Error::format(
                path,
                format!(
                    "row {}, column '{}': the series id is empty",
                    rec.line, csv.header[column]
                ),
            ));
        }
        match groups.iter_mut().find(|(g, _)| g == id) {
            Some((_, g)) => g.records.push(rec.clone()),
            None => groups.push((
                id.to_string(),
                Csv {
                    header: csv.header.clone(),
                    records: vec![rec.clone()],
                },
            )),
        }
    }
    if groups.is_empty() {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok(groups)
}

/// Refuses a panel whose series were observed at different frequencies, naming two of them.
fn check_frequencies(path: &Path, panel: &Panel) -> Result<()> {
    let first = panel.frequency();
    if let Some(i) = panel.series.iter().position(|s| s.frequency != first) {
        return Err(Error::format(
            path,
            format!(
                "series '{}' is {} but series '{}' is {}: one model reads series of one frequency",
                panel.ids[0],
                first.name(),
                panel.ids[i],
                panel.series[i].frequency.name()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("recur-panel-{name}-{}.csv", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_long_file_is_read_series_by_series() {
        let p = write(
            "ok",
            "store,date,y\nb,2000-02,20\na,2000-02,2\nb,2000-01,10\na,2000-01,1\na,2000-03,3\n",
        );
        let panel = read_panel(&p, &SeriesSpec::new(&[], "y", &[]), "store").unwrap();
        assert_eq!(panel.ids, ["b", "a"]);
        assert_eq!(panel.series[0].target, [10.0, 20.0]);
        assert_eq!(panel.series[1].target, [1.0, 2.0, 3.0]);
        assert_eq!(panel.series[1].rows, [5, 3, 6]);
        assert_eq!(panel.frequency(), Frequency::Monthly);
        assert_eq!(panel.series[0].time_columns, ["date"]);
    }

    #[test]
    fn errors_name_the_series_and_the_row() {
        let p = write("dup", "id,date,y\na,2000-01,1\nb,2000-01,2\na,2000-01,3\n");
        let e = read_panel(&p, &SeriesSpec::new(&[], "y", &[]), "id")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("series 'a'") && e.contains("rows 2 and 4"),
            "{e}"
        );
        let p = write("noid", "id,date,y\n,2000-01,1\n");
        let e = read_panel(&p, &SeriesSpec::new(&[], "y", &[]), "id")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 2, column 'id'") && e.contains("empty"),
            "{e}"
        );
        let e = read_panel(&p, &SeriesSpec::new(&[], "y", &[]), "shop")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column 'shop'"), "{e}");
        let p = write(
            "freq",
            "id,date,y\na,2000-01-01,1\na,2000-02-01,1\na,2000-03-01,1\nb,2000-01-01,2\nb,2000-01-02,2\nb,2000-01-03,2\n",
        );
        let e = read_panel(&p, &SeriesSpec::new(&[], "y", &[]), "id")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'a' is monthly but series 'b' is daily"), "{e}");
    }
}
