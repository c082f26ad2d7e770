//! `recur forecast predict --checkpoint DIR --csv new.csv`: the `horizon` steps after the end of
//! new history, forecast by a saved forecaster without training, with its intervals, as CSV
//! (`[id,]time,forecast,lower_80,upper_80,…`).

use super::panel_output::quoted;
use clap::Args;
use recur::forecast::calendar::{calendar_columns, format_stamp, next_stamps};
use recur::forecast::model::{load, Band, LoadedForecaster};
use recur::forecast::prepare::History;
use recur::forecast::{read_panel, read_series_with, Fill, Panel, Series, SeriesSpec};
use recur::io::write_atomically;
use recur::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `recur forecast predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// A run directory of `recur forecast` (its config.json and model.safetensors)
    #[arg(long)]
    checkpoint: PathBuf,
    /// CSV of the new history, with the columns the forecaster read (with --id, the series of a long file); rows at the end whose target is empty are the steps to forecast, holding the future covariates' values
    #[arg(long)]
    csv: PathBuf,
    /// Column to forecast [default: the one the forecaster was trained on]
    #[arg(long)]
    target: Option<String>,
    /// Columns that label a row, comma-separated [default: those of the training file]
    #[arg(long, value_delimiter = ',')]
    time: Option<Vec<String>>,
    /// Field separator of the file: one character (';', '\t' or 'tab', '|')
    #[arg(long, default_value = ",")]
    delimiter: String,
    /// Empty cells of the history: error, linear, ffill or drop
    #[arg(long, default_value = "error")]
    fill: String,
    /// Write the forecasts to this CSV file instead of standard output
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the file --out names when it exists
    #[arg(long)]
    overwrite: bool,
    /// Worker threads
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Runs `recur forecast predict`.
pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let threads = crate::threads(Some(args.threads))?;
    if let Some(out) = args
        .out
        .as_deref()
        .filter(|o| o.exists() && !args.overwrite)
    {
        return Err(Error::Input(format!(
            "--out {}: the file exists (add --overwrite to replace it)",
            out.display()
        )));
    }
    if !args.checkpoint.is_dir() {
        return Err(Error::Input(format!(
            "--checkpoint {}: no such directory",
            args.checkpoint.display()
        )));
    }
    let loaded = load(&args.checkpoint)?;
    let panel = read_new(&args, &loaded)?;
    let mut csv = String::new();
    let levels: Vec<f64> = match (&loaded.scaling, loaded.series.first()) {
        (Some(_), _) => loaded.conformal.iter().map(|c| c.level).collect(),
        (None, Some(s)) => s.conformal.iter().map(|c| c.level).collect(),
        (None, None) => Vec::new(),
    };
    csv += if panel.is_long() {
        "id,time,forecast"
    } else {
        "time,forecast"
    };
    for l in &levels {
        let p = super::output::percent(*l);
        csv += &format!(",lower_{p},upper_{p}");
    }
    csv.push('\n');
    for (i, series) in panel.series.iter().enumerate() {
        let id = panel.is_long().then(|| panel.ids[i].as_str());
        let named = |e: Error| in_file(&args.csv, &panel.prefix(i), e);
        let (times, f, bands) = predict_series(&loaded, series, id, &threads).map_err(named)?;
        if id.is_some() && bands.is_empty() && !levels.is_empty() {
            errln!(
                "note: {}: {}not among the series the forecaster was trained on: scaled by its own history, no intervals",
                args.csv.display(),
                panel.prefix(i)
            );
        }
        for (k, t) in times.iter().enumerate() {
            if let Some(id) = id {
                csv += &format!("{},", quoted(id));
            }
            csv += &format!("{t},{:.4}", f[k]);
            for l in 0..levels.len() {
                match bands.get(l) {
                    Some((_, lo, up)) => csv += &format!(",{:.4},{:.4}", lo[k], up[k]),
                    None => csv += ",,",
                }
            }
            csv.push('\n');
        }
    }
    match &args.out {
        Some(out) => write_atomically(out, csv.as_bytes())?,
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .lock()
                .write_all(csv.as_bytes())
                .map_err(crate::stdout_error)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `e` told of the file `csv` and the series `prefix` names.
fn in_file(csv: &Path, prefix: &str, e: Error) -> Error {
    match e {
        Error::Input(m) => Error::Input(format!("{}: {prefix}{m}", csv.display())),
        other => other,
    }
}

/// The new history, read with the columns the forecaster was trained on (the flags override
/// the target and time columns), the rows ahead split off.
fn read_new(args: &PredictArgs, loaded: &LoadedForecaster) -> Result<Panel> {
    let saved = loaded.data.clone().unwrap_or_default();
    let target = match (&args.target, saved.target.is_empty()) {
        (Some(t), _) => t.clone(),
        (None, false) => saved.target.clone(),
        (None, true) => {
            return Err(Error::Input(format!(
                "--checkpoint {}: the checkpoint records no target column (written by an older recur): give --target",
                args.checkpoint.display()
            )))
        }
    };
    let spec = SeriesSpec {
        time: args.time.clone().unwrap_or(saved.time.clone()),
        target,
        covariates: saved.covariates.clone(),
        future_covariates: saved.future_covariates.clone(),
        delimiter: super::delimiter(&args.delimiter)?,
        fill: args.fill.parse::<Fill>()?,
        open_end: true,
    };
    match &saved.id {
        Some(id) => read_panel(&args.csv, &spec, id),
        None => Ok(Panel::single(read_series_with(&args.csv, &spec)?)),
    }
}

/// The forecast of one series after its history: the time labels of the steps ahead, the
/// forecast, and its intervals.
fn predict_series(
    loaded: &LoadedForecaster,
    series: &Series,
    id: Option<&str>,
    threads: &recur::Threads,
) -> Result<(Vec<String>, Vec<f64>, Vec<Band>)> {
    let s = &loaded.settings;
    let named = loaded
        .data
        .as_ref()
        .map_or(Vec::new(), |d| d.future_covariates.clone());
    let ahead = &series.ahead;
    let steps = if named.is_empty() {
        s.horizon
    } else if ahead.times.is_empty() {
        return Err(Error::Input(format!(
            "the forecaster reads future covariates ({}): add the rows of the steps to forecast, their target empty and {} filled",
            named.join(", "),
            named.join(", ")
        )));
    } else {
        ahead.times.len().min(s.horizon)
    };
    let (stamps, times) = steps_ahead(loaded, series, steps);
    let mut future: Vec<Vec<f64>> = series
        .future_covariates
        .iter()
        .zip(&ahead.future_covariates)
        .map(|(past, next)| past.iter().chain(&next[..steps]).copied().collect())
        .collect();
    if !s.calendar.is_empty() {
        let stamps = match stamps {
            Some(next) if series.stamps.len() == series.target.len() => {
                series.stamps.iter().copied().chain(next).collect::<Vec<_>>()
            }
            _ => {
                return Err(Error::Input(
                    "the forecaster reads calendar features: the time column must read as dates or times of a regular frequency".into(),
                ))
            }
        };
        future.extend(calendar_columns(&stamps, &s.calendar));
    }
    let covariates: Vec<&[f64]> = series.covariates.iter().map(Vec::as_slice).collect();
    let future: Vec<&[f64]> = future.iter().map(Vec::as_slice).collect();
    let h = History {
        target: &series.target,
        covariates: &covariates,
        future: &future,
        identity: &[],
    };
    let (f, bands) = loaded.forecast_series(threads, id, &h)?;
    let n = f.len();
    let bands = bands
        .into_iter()
        .map(|(l, lo, up)| (l, lo[..n].to_vec(), up[..n].to_vec()))
        .collect();
    Ok((times[..n].to_vec(), f, bands))
}

/// The time stamps (when the time column reads as dates) and labels of the `steps` steps after
/// the history: the rows ahead where the file gives them, else the next stamps at the series'
/// frequency (or the forecaster's, for a history too short to tell) written as the column
/// writes them, else the next numbers of a numbered column, else `+1`, `+2`, ….
fn steps_ahead(
    loaded: &LoadedForecaster,
    series: &Series,
    steps: usize,
) -> (Option<Vec<chrono::NaiveDateTime>>, Vec<String>) {
    let ahead = &series.ahead;
    if ahead.times.len() >= steps {
        let stamps = (ahead.stamps.len() >= steps).then(|| ahead.stamps[..steps].to_vec());
        return (stamps, ahead.times[..steps].to_vec());
    }
    let frequency = match series.frequency {
        f if f.period() > 1 || f == recur::forecast::Frequency::Yearly => f,
        _ => loaded.frequency,
    };
    if let (Some(last), Some(format)) = (series.stamps.last(), &series.time_format) {
        if let Some(next) = next_stamps(*last, frequency, steps) {
            let times = next.iter().map(|s| format_stamp(s, format)).collect();
            return (Some(next), times);
        }
    }
    let numbers: Option<Vec<i64>> = series.times.iter().map(|t| t.parse().ok()).collect();
    let times = match numbers.as_deref() {
        Some([.., a, b]) if b > a => (1..=steps as i64)
            .map(|k| (b + k * (b - a)).to_string())
            .collect(),
        Some([b]) => (1..=steps as i64).map(|k| (b + k).to_string()).collect(),
        _ => (1..=steps).map(|k| format!("+{k}")).collect(),
    };
    (None, times)
}
