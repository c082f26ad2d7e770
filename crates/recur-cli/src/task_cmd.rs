//! `recur task adding|copy|first` and `recur task compare PROBLEM`: train a recurrent model on a
//! synthetic long-range problem and score it against the model that remembers nothing; compare
//! the three cells under the same budget.

use clap::Args;
use recur::gradients::model::TASK;
use recur::gradients::problems::Problem;
use recur::gradients::train::{score, train, ProblemSettings, Trained};
use recur::io::{write_atomically, write_safetensors};
use recur::plot::{Line, LineChart};
use recur::{CellType, Error, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `recur task` and its flags.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct TaskArgs {
    /// adding, copy or first; or `compare` followed by one of them
    what: String,
    /// The problem, after `compare`
    problem: Option<String>,
    /// T: steps of a sequence (adding, first) or the delay before recall (copy: T + 20 steps)
    #[arg(long, default_value_t = 200)]
    length: usize,
    /// rnn, lstm or gru (a single run)
    #[arg(long, default_value = "lstm")]
    cell: String,
    /// Cells of `compare`, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "rnn,lstm,gru")]
    cells: Vec<String>,
    /// Hidden units
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Stacked layers
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Optimiser steps (each on a fresh batch)
    #[arg(long, default_value_t = 4000)]
    steps: u64,
    /// Sequences per step
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam learning rate
    #[arg(long, default_value_t = 1e-2)]
    lr: f64,
    /// Global gradient-norm clip (0: off)
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    /// Validate every this many steps
    #[arg(long, default_value_t = 100)]
    validate_every: u64,
    /// Sequences in the validation set and in the test set
    #[arg(long, default_value_t = 500)]
    eval_size: usize,
    /// Seed of initialisation, training batches, validation and test sets
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory: config.json, model.safetensors, report.json, metrics.jsonl, loss.svg (compare: report.json, curves.svg and one checkpoint per cell) [default: runs/task-PROBLEM or runs/task-compare, numbered]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Let this run replace the files of an earlier run in --out
    #[arg(long)]
    overwrite: bool,
    /// No progress lines
    #[arg(long)]
    quiet: bool,
}

/// Runs `recur task`.
pub fn run(a: TaskArgs) -> Result<ExitCode> {
    match (a.what.as_str(), a.problem.as_deref()) {
        ("compare", Some(p)) => {
            let problem: Problem = p.parse()?;
            let cells = a
                .cells
                .iter()
                .map(|c| c.parse())
                .collect::<Result<Vec<CellType>>>()?;
            if cells.is_empty() {
                return Err(Error::Config("--cells names no cell".into()));
            }
            compare(&a, problem, &cells)
        }
        ("compare", None) => Err(Error::Config(
            "`recur task compare` needs a task: adding, copy or first".into(),
        )),
        (p, None) => {
            let problem: Problem = p.parse()?;
            single(&a, problem, a.cell.parse()?)
        }
        (p, Some(extra)) => Err(Error::Config(format!(
            "unexpected `{extra}` after `{p}` (only `compare` takes a task after it)"
        ))),
    }
}

fn settings(a: &TaskArgs, problem: Problem, cell: CellType) -> ProblemSettings {
    ProblemSettings {
        hidden: a.hidden,
        layers: a.layers,
        batch_size: a.batch_size,
        steps: a.steps,
        lr: a.lr,
        clip: a.clip,
        validate_every: a.validate_every,
        eval_size: a.eval_size,
        seed: a.seed,
        ..ProblemSettings::defaults(problem, a.length, cell)
    }
}

/// What a test score means, for the table.
fn metric(problem: Problem) -> &'static str {
    match problem {
        Problem::Adding => "MSE",
        Problem::Copy => "cross-entropy (nats/step)",
        Problem::First => "cross-entropy (nats)",
    }
}

/// The report of one trained cell, as written to `report.json`.
fn report(s: &ProblemSettings, t: &Trained) -> serde_json::Value {
    let accuracy = (s.problem != Problem::Adding).then(|| score(s.problem, &t.test));
    serde_json::json!({
        "task": s.problem.name(),
        "length": s.length,
        "cell": s.cell,
        "test_loss": t.test.loss,
        "test_accuracy": accuracy.flatten(),
        "baseline_loss": t.baseline.loss,
        "baseline_accuracy": t.baseline.accuracy,
        "best_step": t.summary.best.1,
        "steps": t.summary.steps,
        "seconds": t.summary.seconds,
    })
}

fn row(s: &ProblemSettings, t: &Trained) -> String {
    let acc = match (s.problem, score(s.problem, &t.test)) {
        (Problem::Adding, _) | (_, None) => "-".to_string(),
        (_, Some(a)) => format!("{a:.3}"),
    };
    format!(
        "{:<6}{:>12.5}{:>12.5}{:>10}{:>10}{:>10.1}",
        format!("{:?}", s.cell).to_lowercase(),
        t.test.loss,
        t.baseline.loss,
        acc,
        t.summary.best.1,
        t.summary.seconds
    )
}

fn header(problem: Problem) -> String {
    format!(
        "{:<6}{:>12}{:>12}{:>10}{:>10}{:>10}",
        "cell", "test", "baseline", "accuracy", "best at", "seconds"
    ) + &format!("   (test and baseline: {})", metric(problem))
}

/// Writes a checkpoint of `t` into `dir`.
fn write_checkpoint(dir: &Path, s: &ProblemSettings, t: &Trained) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let config = serde_json::json!({"format": "recur", "version": 1, "task": TASK, "model": t.model.config(), "training": s});
    write_atomically(&dir.join("config.json"), format!("{config:#}\n").as_bytes())?;
    write_safetensors(dir.join("model.safetensors"), &t.model.named_tensors())?;
    write_atomically(
        &dir.join("metrics.jsonl"),
        t.summary.metrics_jsonl().as_bytes(),
    )
}

fn train_one(a: &TaskArgs, s: &ProblemSettings, threads: &recur::Threads) -> Result<Trained> {
    let score_name = if s.problem == Problem::Adding {
        "MSE"
    } else {
        "accuracy"
    };
    let mut lines = crate::progress::LoopLines::new(a.quiet, score_name);
    let t = train(s, threads, &mut lines, &crate::STOP)?;
    if !a.quiet {
        errln!("{}", crate::progress::loop_summary(&t.summary, score_name));
    }
    Ok(t)
}

fn single(a: &TaskArgs, problem: Problem, cell: CellType) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    let s = settings(a, problem, cell);
    s.validate()?;
    let default = format!("runs/task-{}", problem.name());
    let mut out = crate::outdir::open(a.out.as_deref(), &default, a.overwrite)?;
    crate::catch_ctrl_c();
    let t = train_one(a, &s, &threads)?;
    out.save(|tmp| {
        write_checkpoint(tmp, &s, &t)?;
        let r = format!("{:#}\n", report(&s, &t));
        write_atomically(&tmp.join("report.json"), r.as_bytes())?;
        let chart = t.summary.loss_chart(
            &format!("{} task, {:?}", problem.name(), cell),
            metric(problem),
        );
        write_atomically(&tmp.join("loss.svg"), chart.to_svg()?.as_bytes())
    })?;
    outln!(
        "{} task, length {}: {} steps of {} sequences, hidden {}",
        problem.name(),
        s.length,
        s.steps,
        s.batch_size,
        s.hidden
    )?;
    outln!("{}", header(problem))?;
    outln!("{}", row(&s, &t))?;
    errln!("checkpoint and report in {}", out.path().display());
    Ok(crate::finished())
}

fn compare(a: &TaskArgs, problem: Problem, cells: &[CellType]) -> Result<ExitCode> {
    let threads = crate::threads(a.threads)?;
    let all: Vec<ProblemSettings> = cells.iter().map(|&c| settings(a, problem, c)).collect();
    for s in &all {
        s.validate()?;
    }
    let mut out = crate::outdir::open(a.out.as_deref(), "runs/task-compare", a.overwrite)?;
    crate::catch_ctrl_c();
    let mut trained = Vec::new();
    for s in &all {
        if !a.quiet {
            errln!("training {:?} on the {} task", s.cell, problem.name());
        }
        trained.push(train_one(a, s, &threads)?);
        if crate::STOP.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    let name = |s: &ProblemSettings| format!("{:?}", s.cell).to_lowercase();
    let mut lines: Vec<Line> = all
        .iter()
        .zip(&trained)
        .map(|(s, t)| {
            let pts = t
                .summary
                .metrics
                .iter()
                .map(|m| (m.step as f64, m.val_loss))
                .collect();
            Line::new(name(s), pts).with_markers()
        })
        .collect();
    let base = problem.baseline(a.length).loss;
    lines.push(Line::new(
        "remembers nothing",
        vec![(0.0, base), (a.steps as f64, base)],
    ));
    let chart = LineChart {
        title: format!(
            "{} task, length {}: validation {} (hidden {}, batch {})",
            problem.name(),
            a.length,
            metric(problem),
            a.hidden,
            a.batch_size
        ),
        x_label: "optimiser step".into(),
        y_label: format!("validation {} (log scale)", metric(problem)),
        lines,
        marker_x: None,
    };
    out.save(|tmp| {
        for (s, t) in all.iter().zip(&trained) {
            write_checkpoint(&tmp.join(name(s)), s, t)?;
        }
        let rows: Vec<serde_json::Value> = all
            .iter()
            .zip(&trained)
            .map(|(s, t)| report(s, t))
            .collect();
        let r = format!("{:#}\n", serde_json::Value::Array(rows));
        write_atomically(&tmp.join("report.json"), r.as_bytes())?;
        write_atomically(&tmp.join("curves.svg"), chart.to_svg_log_y()?.as_bytes())
    })?;
    outln!(
        "{} task, length {}: {} steps of {} sequences, hidden {}, Adam lr {}, clip {}, seed {}",
        problem.name(),
        a.length,
        a.steps,
        a.batch_size,
        a.hidden,
        a.lr,
        a.clip,
        a.seed
    )?;
    outln!("{}", header(problem))?;
    for (s, t) in all.iter().zip(&trained) {
        outln!("{}", row(s, t))?;
    }
    errln!(
        "report, curves.svg and one checkpoint per cell in {}",
        out.path().display()
    );
    Ok(crate::finished())
}
