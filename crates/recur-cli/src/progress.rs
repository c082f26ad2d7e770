//! Training progress: a live `indicatif` bar on a terminal, plain lines otherwise, nothing with
//! `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use recur::charlm::train::StepReport;
use recur::charlm::{EvalReport, Observer, Trainer};
use std::io::IsTerminal;
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
    bar: ProgressBar,
    last: Instant,
    loss: Option<f64>,
    val: Option<f64>,
    line_every: Duration,
    warned: bool,
}

/// Positions of the bar: steps, or milliseconds of a time budget.
const BAR_TEMPLATE: &str = "{prefix} [{bar:24}] {percent:>3}% | {msg}";

impl Progress {
    /// A display in `mode`.
    pub fn new(mode: Mode) -> Self {
        let bar = if mode == Mode::Bar {
            let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr_with_hz(5));
            let style = ProgressStyle::with_template(BAR_TEMPLATE)
                .expect("the template is valid")
                .progress_chars("#>.");
            bar.set_style(style);
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            mode,
            bar,
            last: Instant::now() - Duration::from_secs(3600),
            loss: None,
            val: None,
            line_every: Duration::from_secs(5),
            warned: false,
        }
    }

    /// Clears a live bar: the summary that follows says where the run ended.
    pub fn finish(&mut self) {
        self.bar.finish_and_clear();
    }

    /// The bar's message: loss, validation, learning rate, speed, time.
    fn message(&self, trainer: &Trainer, report: &StepReport, tokens_per_s: f64) -> String {
        let st = trainer.state();
        let frac = trainer.fraction_done();
        let eta = if frac > 0.0 {
            let left = st.train_seconds * (1.0 - frac) / frac;
            format!("ETA {}", clock(left))
        } else {
            "ETA ?".into()
        };
        let val = self.val.map_or("-".into(), |v| format!("{v:.3}"));
        let clip = trainer.settings().clip;
        let clipped = if clip > 0.0 && report.grad_norm > clip {
            " (clipped)"
        } else {
            ""
        };
        format!(
            "loss {:.3} | val {val} | |grad| {:.2}{clipped} | lr {:.2e} | {:.1}k tok/s | {} | {eta}",
            self.loss.unwrap_or(report.stats.loss),
            report.grad_norm,
            report.lr,
            tokens_per_s / 1e3,
            clock(st.train_seconds)
        )
    }

    /// Moves the live bar to where `trainer` stands.
    fn draw_bar(&self, trainer: &Trainer, report: &StepReport, tokens_per_s: f64) {
        let st = trainer.state();
        match trainer.total_steps() {
            Some(n) => {
                self.bar.set_length(n.max(1));
                self.bar.set_position(st.step);
            }
            None => {
                self.bar.set_length(1000);
                self.bar
                    .set_position((trainer.fraction_done() * 1000.0) as u64);
            }
        }
        self.bar.set_prefix(step_label(trainer));
        self.bar
            .set_message(self.message(trainer, report, tokens_per_s));
    }

    /// One plain progress line (logs, pipes, CI).
    fn render(&self, trainer: &Trainer, report: &StepReport, tokens_per_s: f64) -> String {
        let frac = trainer.fraction_done();
        format!(
            "{} {:>3.0}% | {}",
            step_label(trainer),
            frac * 100.0,
            self.message(trainer, report, tokens_per_s)
        )
    }
}

/// `step k/n`, or `step k` in a time-budget run.
fn step_label(trainer: &Trainer) -> String {
    let step = trainer.state().step;
    match trainer.total_steps() {
        Some(n) => format!("step {step}/{n}"),
        None => format!("step {step}"),
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
            Mode::Bar if now - self.last >= Duration::from_millis(100) => {
                self.last = now;
                self.draw_bar(trainer, report, tokens_per_s);
            }
            Mode::Lines if now - self.last >= self.line_every => {
                self.last = now;
                errln!("{}", self.render(trainer, report, tokens_per_s));
            }
            _ => {}
        }
    }

    fn validating(&mut self, done: usize, total: usize) {
        if self.mode == Mode::Bar {
            self.bar.set_message(format!(
                "validating {:>3.0}%",
                100.0 * done as f64 / total as f64
            ));
        }
    }

    fn sample(&mut self, _trainer: &Trainer, step: u64, text: &str) {
        // One line of the sample, so that the progress stays readable.
        let line: String = text
            .trim()
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .take(100)
            .collect();
        let line = format!("  sample at step {step}: {line}");
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => self.bar.println(line),
            Mode::Lines => errln!("{line}"),
        }
    }

    fn overfitting(&mut self, _trainer: &Trainer, signs: &recur::charlm::Overfitting) {
        // Once during the run; the summary says it again if it still holds at the end.
        if std::mem::replace(&mut self.warned, true) {
            return;
        }
        let line = format!("warning: {}", crate::flags_for_fields(&signs.to_string()));
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => self.bar.println(line),
            Mode::Lines => errln!("{line}"),
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
            Mode::Bar => self.bar.println(line),
            Mode::Lines => errln!("{line}"),
        }
    }
}

/// Progress of the shared training loop ([`recur::training`]) on stderr: a validation line at
/// most every two seconds (a training-loss line every ten on long epochs), nothing with
/// `--quiet`.
pub struct LoopLines {
    quiet: bool,
    /// A line printed before the first progress line (once the model is built).
    header: Option<String>,
    /// What the validation score is, e.g. "accuracy".
    score: &'static str,
    last: Instant,
}

impl LoopLines {
    /// Lines naming the task's score `score`, unless `quiet`.
    pub fn new(quiet: bool, score: &'static str) -> Self {
        LoopLines {
            quiet,
            header: None,
            score,
            last: Instant::now() - Duration::from_secs(3600),
        }
    }

    /// Prints `line` (even with `--quiet`: it says what the run is) before the first progress
    /// line, once the run has begun (so that bad input still gets one line).
    pub fn with_header(mut self, line: String) -> Self {
        self.header = Some(line);
        self
    }

    fn print_header(&mut self) {
        if let Some(h) = self.header.take() {
            errln!("{h}");
        }
    }

    fn head(p: &recur::training::Progress) -> String {
        let step = match p.total_steps {
            Some(n) => format!("step {}/{n}", p.step),
            None if p.step == 0 => "step 0".to_string(),
            None => format!(
                "step {} ({:.0}% of the time budget)",
                p.step,
                100.0 * p.fraction
            ),
        };
        format!("{step}, epoch {}", p.epoch)
    }
}

impl recur::training::Observer for LoopLines {
    fn step(&mut self, p: &recur::training::Progress) {
        self.print_header();
        if !self.quiet && self.last.elapsed() >= Duration::from_secs(10) {
            self.last = Instant::now();
            errln!(
                "{}: training loss {:.4} | {}",
                Self::head(p),
                p.train_loss,
                clock(p.seconds)
            );
        }
    }

    fn validated(
        &mut self,
        p: &recur::training::Progress,
        v: &recur::training::Validation,
        improved: bool,
    ) {
        self.print_header();
        if self.quiet || self.last.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.last = Instant::now();
        let score = v
            .score
            .map_or(String::new(), |s| format!(", {} {s:.4}", self.score));
        let train = if p.step == 0 {
            "untrained".to_string()
        } else {
            format!("training loss {:.4}", p.train_loss)
        };
        errln!(
            "{}: {train}, validation loss {:.4}{score}{}",
            Self::head(p),
            v.loss,
            if improved { " (best so far)" } else { "" }
        );
    }
}

/// One line on how a run of the shared loop ended.
pub fn loop_summary(s: &recur::training::Summary, score: &str) -> String {
    let (best, at) = s.best;
    let ended = if s.interrupted {
        " (interrupted)"
    } else if s.stopped_early {
        " (stopped early: no lower validation loss for the patience)"
    } else {
        ""
    };
    format!(
        "trained {} steps ({} epochs) in {}{ended}; kept the model of step {at}: validation loss {:.4}{}",
        s.steps,
        s.epochs,
        clock(s.seconds),
        best.loss,
        best.score
            .map_or(String::new(), |v| format!(", {score} {v:.4}"))
    )
}

/// Passes progress on to an observer, and raises the loop's stop flag when Ctrl-C raised
/// [`crate::STOP`] or after `after` steps of this process, counted over every run it trains
/// (`--stop-after`: a run ends as if interrupted, with a checkpoint to resume from).
pub struct Stopping<'a> {
    inner: &'a mut dyn recur::training::Observer,
    flag: &'a std::sync::atomic::AtomicBool,
    after: Option<u64>,
    /// Steps taken by this process (over every run it trains, as the trials of a search).
    steps: u64,
}

impl<'a> Stopping<'a> {
    /// Forwards to `inner`; raises `flag`.
    pub fn new(
        inner: &'a mut dyn recur::training::Observer,
        flag: &'a std::sync::atomic::AtomicBool,
        after: Option<u64>,
    ) -> Self {
        Stopping {
            inner,
            flag,
            after,
            steps: 0,
        }
    }
}

impl recur::training::Observer for Stopping<'_> {
    fn step(&mut self, p: &recur::training::Progress) {
        use std::sync::atomic::Ordering;
        self.steps += 1;
        if crate::STOP.load(Ordering::SeqCst) || self.after.is_some_and(|n| self.steps >= n) {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.inner.step(p);
    }

    fn validated(
        &mut self,
        p: &recur::training::Progress,
        v: &recur::training::Validation,
        improved: bool,
    ) {
        self.inner.validated(p, v, improved);
    }
}
