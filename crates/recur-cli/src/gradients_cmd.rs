//! `recur gradients`: how much of a loss at the last step reaches each earlier step, for models
//! at PyTorch's initialisation and for trained checkpoints of `recur task`.

use clap::Args;
use recur::gradients::flow::{of_model, untrained, FlowReport, FlowSettings};
use recur::io::write_atomically;
use recur::plot::{Line, LineChart};
use recur::{CellType, Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// `recur gradients` and its flags.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct GradientsArgs {
    /// Cells measured at PyTorch's initialisation, comma-separated [default: rnn,lstm,gru when there is no --checkpoint]
    #[arg(long, value_delimiter = ',')]
    cell: Option<Vec<String>>,
    /// Hidden units of the untrained models
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Layers of the untrained models
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Steps of the probe sequence (one sequence of the adding task, or of the checkpoint's task)
    #[arg(long, default_value_t = 100)]
    length: usize,
    /// Trained checkpoints of `recur task` to measure as well, comma-separated
    #[arg(long, value_delimiter = ',')]
    checkpoint: Vec<PathBuf>,
    /// Seed of the initialisation, the probe sequence and the loss direction
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// LSTM: start the forget gate's bias at this value (1 is the recommendation of Gers et al. 2000 and Jozefowicz et al. 2015, Keras's unit_forget_bias); the chart then shows the LSTM at both initialisations
    #[arg(long)]
    forget_bias: Option<f64>,
    /// A step counts as vanished below this share of the gradient norm at the loss step
    #[arg(long, default_value_t = 1e-6)]
    threshold: f64,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory: gradients.svg, gradients.csv, gradients.json [default: runs/gradients, numbered]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let this run replace the files of an earlier run in --out
    #[arg(long)]
    overwrite: bool,
}

/// Runs `recur gradients`.
pub fn run(a: GradientsArgs) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    if a.length < 2 {
        return Err(Error::Config(format!(
            "--length must be at least 2, got {}",
            a.length
        )));
    }
    if !(a.threshold > 0.0 && a.threshold < 1.0) {
        return Err(Error::Config(format!(
            "--threshold must be in (0, 1), got {}",
            a.threshold
        )));
    }
    let names = match (&a.cell, a.checkpoint.is_empty()) {
        (Some(c), _) => c.clone(),
        (None, true) => vec!["rnn".into(), "lstm".into(), "gru".into()],
        (None, false) => vec![],
    };
    let cells = names
        .iter()
        .map(|c| c.parse())
        .collect::<Result<Vec<CellType>>>()?;
    // Load everything before the first measurement, so that a bad checkpoint fails at once.
    let models = a
        .checkpoint
        .iter()
        .map(|dir| {
            Ok((
                dir.display().to_string(),
                recur::gradients::model::load(dir)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = crate::outdir::open(a.out.as_deref(), "runs/gradients", a.overwrite)?;
    let mut reports: Vec<(String, FlowReport)> = Vec::new();
    if let Some(b) = a.forget_bias {
        if !b.is_finite() {
            return Err(Error::Config(format!(
                "--forget-bias must be a number, got {b}"
            )));
        }
    }
    let mut runs: Vec<(CellType, Option<f64>)> = cells.iter().map(|&c| (c, None)).collect();
    if a.forget_bias.is_some() && cells.contains(&CellType::Lstm) {
        runs.push((CellType::Lstm, a.forget_bias));
    }
    for (cell, forget_bias) in runs {
        let s = FlowSettings {
            cell,
            hidden: a.hidden,
            layers: a.layers,
            length: a.length,
            seed: a.seed,
            threshold: a.threshold,
            forget_bias,
        };
        let r = untrained(&s, &threads).map_err(|e| {
            crate::with_flags(
                e,
                &[("hidden_size", "--hidden"), ("num_layers", "--layers")],
            )
        })?;
        let name = match forget_bias {
            Some(b) => format!("{} (untrained, forget bias {b})", cell_name(cell)),
            None => format!("{} (untrained)", cell_name(cell)),
        };
        reports.push((name, r));
    }
    for (dir, model) in &models {
        let r = of_model(model, &threads, a.length, a.seed, a.threshold)?;
        let label = format!(
            "{} (trained on {}: {dir})",
            cell_name(model.config().cell),
            model.config().problem.name()
        );
        reports.push((label, r));
    }
    out.save(|tmp| {
        write_atomically(&tmp.join("gradients.csv"), csv(&reports).as_bytes())?;
        let json: Vec<serde_json::Value> = reports
            .iter()
            .map(|(name, r)| serde_json::json!({"model": name, "report": r}))
            .collect();
        let json = format!("{:#}\n", serde_json::Value::Array(json));
        write_atomically(&tmp.join("gradients.json"), json.as_bytes())?;
        write_atomically(
            &tmp.join("gradients.svg"),
            chart(&a, &reports).to_svg_log_y()?.as_bytes(),
        )
    })?;
    print_table(&a, &reports)?;
    errln!("chart, CSV and JSON in {}", out.path().display());
    Ok(ExitCode::SUCCESS)
}

fn cell_name(cell: CellType) -> String {
    format!("{cell:?}").to_lowercase()
}

/// One row per model, layer and step: `model,layer,distance,step,h_norm,c_norm`.
fn csv(reports: &[(String, FlowReport)]) -> String {
    let mut s = String::from("model,layer,distance,step,h_norm,c_norm\n");
    for (name, r) in reports {
        for (l, norms) in r.h_norms.iter().enumerate() {
            for (d, n) in norms.iter().enumerate() {
                let c = r
                    .c_norms
                    .as_ref()
                    .map_or(String::new(), |c| format!("{:e}", c[l][d]));
                s += &format!(
                    "\"{}\",{l},{d},{},{n:e},{c}\n",
                    name.replace('"', "\"\""),
                    r.length - 1 - d
                );
            }
        }
    }
    s
}

/// The top layer's norm against the distance from the loss, one line per model.
fn chart(a: &GradientsArgs, reports: &[(String, FlowReport)]) -> LineChart {
    let lines = reports
        .iter()
        .map(|(name, r)| {
            let top = &r.h_norms[r.num_layers - 1];
            Line::new(
                name.clone(),
                top.iter()
                    .enumerate()
                    .map(|(d, &n)| (d as f64, n))
                    .collect(),
            )
        })
        .collect();
    LineChart {
        title: format!(
            "Gradient of a loss at the last step, {} steps (seed {})",
            a.length, a.seed
        ),
        x_label: "distance from the loss (steps back)".into(),
        y_label: "‖∂L/∂h_t‖ (log scale)".into(),
        lines,
        marker_x: None,
    }
}

fn print_table(a: &GradientsArgs, reports: &[(String, FlowReport)]) -> Result<()> {
    outln!(
        "‖∂L/∂h_t‖ for L = v·h_(T-1), T = {}, |v| = 1 (top layer; σ_max of each layer's W_hh)",
        a.length
    )?;
    let w = reports
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    outln!(
        "{:<w$}{:>10}{:>12}{:>14}{:>12}",
        "model",
        "σ_max",
        "decay/step",
        "first/last",
        format!("< {:.0e}", a.threshold)
    )?;
    for (name, r) in reports {
        let sigma: Vec<String> = r.sigma_max_w_hh.iter().map(|s| format!("{s:.3}")).collect();
        outln!(
            "{:<w$}{:>10}{:>12.4}{:>14.3e}{:>11.0}%",
            name,
            sigma.join(","),
            r.decay_per_step,
            r.first_over_last,
            100.0 * r.vanished_share
        )?;
    }
    Ok(())
}
