//! Training progress: a live bar on a terminal, plain lines otherwise, nothing with `--quiet`.

use recur::charlm::train::StepReport;
use recur::charlm::{EvalReport, Observer, Trainer};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Redrawn in place on a terminal.
    Bar,
    /// One line every few seconds (logs, pipes, CI).
    Lines,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// The bar on a terminal, lines elsewhere, unless `quiet`.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Shows training progress on stderr.
pub struct Progress {
    mode: Mode,
    last: Instant,
    loss: Option<f64>,
    val: Option<f64>,
    line_every: Duration,
}

impl Progress {
    /// A display in `mode`.
    pub fn new(mode: Mode) -> Self {
        Progress {
            mode,
            last: Instant::now() - Duration::from_secs(3600),
            loss: None,
            val: None,
            line_every: Duration::from_secs(5),
        }
    }

    /// Ends a live bar so that later output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.mode == Mode::Bar {
            eprintln!();
        }
    }

    fn render(&self, trainer: &Trainer, report: &StepReport, tokens_per_s: f64) -> String {
        let st = trainer.state();
        let frac = trainer.fraction_done();
        let step = match trainer.total_steps() {
            Some(n) => format!("step {}/{n}", st.step),
            None => format!("step {}", st.step),
        };
        let width = 24;
        let filled = ((frac * width as f64).round() as usize).min(width);
        let bar = format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled));
        let eta = if frac > 0.0 {
            let left = st.train_seconds * (1.0 - frac) / frac;
            format!("ETA {}", clock(left))
        } else {
            "ETA ?".into()
        };
        let val = self.val.map_or("-".into(), |v| format!("{v:.3}"));
        format!(
            "{step} {bar} {:>3.0}% | loss {:.3} | val {val} | lr {:.2e} | {:.1}k tok/s | {} | {eta}",
            frac * 100.0,
            self.loss.unwrap_or(report.stats.loss),
            report.lr,
            tokens_per_s / 1e3,
            clock(st.train_seconds)
        )
    }
}

/// `m:ss` or `h:mm:ss`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

impl Observer for Progress {
    fn step(&mut self, trainer: &Trainer, report: &StepReport, tokens_per_s: f64) {
        let smoothed = match self.loss {
            Some(l) => 0.95 * l + 0.05 * report.stats.loss,
            None => report.stats.loss,
        };
        self.loss = Some(smoothed);
        let now = Instant::now();
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar if now - self.last >= Duration::from_millis(200) => {
                self.last = now;
                eprint!("\r\x1b[2K{}", self.render(trainer, report, tokens_per_s));
                let _ = std::io::stderr().flush();
            }
            Mode::Lines if now - self.last >= self.line_every => {
                self.last = now;
                eprintln!("{}", self.render(trainer, report, tokens_per_s));
            }
            _ => {}
        }
    }

    fn validating(&mut self, done: usize, total: usize) {
        if self.mode == Mode::Bar {
            eprint!(
                "\r\x1b[2Kvalidating {:>3.0}%",
                100.0 * done as f64 / total as f64
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn validated(&mut self, trainer: &Trainer, report: &EvalReport) {
        self.val = Some(report.loss);
        let line = format!(
            "step {}: validation loss {:.4} nats/char ({:.3} bpc), accuracy {:.1}%",
            trainer.state().step,
            report.loss,
            report.bpc,
            100.0 * report.accuracy
        );
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => eprintln!("\r\x1b[2K{line}"),
            Mode::Lines => eprintln!("{line}"),
        }
    }
}
