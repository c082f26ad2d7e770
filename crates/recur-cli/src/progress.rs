//! Training progress: a live `indicatif` bar on a terminal, plain lines otherwise, nothing with
//! `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use recur::training::{self, Overfitting, Validation};
use std::collections::VecDeque;
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

/// Shows a character model's training progress on stderr.
pub struct Progress {
    mode: Mode,
    bar: ProgressBar,
    last: Instant,
    loss: Option<f64>,
    val: Option<f64>,
    line_every: Duration,
    warned: bool,
    /// Characters of one step (streams × steps), for the throughput.
    tokens_per_step: f64,
    /// The run's gradient-norm clip (0: off), to mark clipped steps.
    clip: f64,
    /// Seconds of the last steps, for the throughput.
    window: VecDeque<f64>,
}

/// Positions of the bar: steps, or milliseconds of a time budget.
const BAR_TEMPLATE: &str = "{prefix} [{bar:24}] {percent:>3}% | {msg}";

/// Steps whose time gives the throughput shown.
const SPEED_WINDOW: usize = 20;

impl Progress {
    /// A display in `mode` of a run of `tokens_per_step` characters a step, clipping the
    /// gradient norm at `clip`.
    pub fn new(mode: Mode, tokens_per_step: usize, clip: f64) -> Self {
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
            tokens_per_step: tokens_per_step as f64,
            clip,
            window: VecDeque::with_capacity(SPEED_WINDOW + 1),
        }
    }

    /// Clears a live bar: the summary that follows says where the run ended.
    pub fn finish(&mut self) {
        self.bar.finish_and_clear();
    }

    /// Characters per second over the last steps.
    fn tokens_per_s(&self) -> f64 {
        self.tokens_per_step * self.window.len() as f64 / self.window.iter().sum::<f64>()
    }

    /// The bar's message: loss, validation, learning rate, speed, time.
    fn message(&self, p: &training::Progress) -> String {
        let eta = if p.fraction > 0.0 {
            let left = p.seconds * (1.0 - p.fraction) / p.fraction;
            format!("ETA {}", clock(left))
        } else {
            "ETA ?".into()
        };
        let val = self.val.map_or("-".into(), |v| format!("{v:.3}"));
        let clipped = if self.clip > 0.0 && p.grad_norm > self.clip {
            " (clipped)"
        } else {
            ""
        };
        format!(
            "loss {:.3} | val {val} | |grad| {:.2}{clipped} | lr {:.2e} | {:.1}k tok/s | {} | {eta}",
            self.loss.unwrap_or(p.batch_loss),
            p.grad_norm,
            p.lr,
            self.tokens_per_s() / 1e3,
            clock(p.seconds)
        )
    }

    /// Moves the live bar to where the run stands.
    fn draw_bar(&self, p: &training::Progress) {
        match p.total_steps {
            Some(n) => {
                self.bar.set_length(n.max(1));
                self.bar.set_position(p.step);
            }
            None => {
                self.bar.set_length(1000);
                self.bar.set_position((p.fraction * 1000.0) as u64);
            }
        }
        self.bar.set_prefix(step_label(p));
        self.bar.set_message(self.message(p));
    }

    /// One plain progress line (logs, pipes, CI).
    fn render(&self, p: &training::Progress) -> String {
        format!(
            "{} {:>3.0}% | {}",
            step_label(p),
            p.fraction * 100.0,
            self.message(p)
        )
    }

    /// Prints `line` above a live bar, or as a line of its own.
    fn say(&self, line: String) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => self.bar.println(line),
            Mode::Lines => errln!("{line}"),
        }
    }
}

/// `step k/n`, or `step k` in a time-budget run.
fn step_label(p: &training::Progress) -> String {
    match p.total_steps {
        Some(n) => format!("step {}/{n}", p.step),
        None => format!("step {}", p.step),
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

impl training::Observer for Progress {
    fn step(&mut self, p: &training::Progress) {
        let smoothed = match self.loss {
            Some(l) => 0.95 * l + 0.05 * p.batch_loss,
            None => p.batch_loss,
        };
        self.loss = Some(smoothed);
        self.window.push_back(p.step_seconds);
        if self.window.len() > SPEED_WINDOW {
            self.window.pop_front();
        }
        let now = Instant::now();
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar if now - self.last >= Duration::from_millis(100) => {
                self.last = now;
                self.draw_bar(p);
            }
            Mode::Lines if now - self.last >= self.line_every => {
                self.last = now;
                errln!("{}", self.render(p));
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

    fn validated(&mut self, p: &training::Progress, v: &Validation, _improved: bool) {
        self.val = Some(v.loss);
        self.say(format!(
            "step {}: validation loss {:.4} nats/char ({:.3} bpc), accuracy {:.1}%",
            p.step,
            v.loss,
            v.loss / std::f64::consts::LN_2,
            100.0 * v.score.unwrap_or(f64::NAN)
        ));
    }

    fn example(&mut self, p: &training::Progress, text: &str) {
        // One line of the sample, so that the progress stays readable.
        let line: String = text
            .trim()
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .take(100)
            .collect();
        self.say(format!("  sample at step {}: {line}", p.step));
    }

    fn overfitting(&mut self, _p: &training::Progress, signs: &Overfitting) {
        // Once during the run; the summary says it again if it still holds at the end.
        if std::mem::replace(&mut self.warned, true) {
            return;
        }
        let warning = recur::charlm::train::overfitting_warning(signs);
        self.say(format!("warning: {}", crate::flags_for_fields(&warning)));
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

    fn validating(&mut self, done: usize, total: usize) {
        self.inner.validating(done, total);
    }

    fn validated(
        &mut self,
        p: &recur::training::Progress,
        v: &recur::training::Validation,
        improved: bool,
    ) {
        self.inner.validated(p, v, improved);
    }

    fn example(&mut self, p: &recur::training::Progress, text: &str) {
        self.inner.example(p, text);
    }

    fn overfitting(&mut self, p: &recur::training::Progress, signs: &Overfitting) {
        self.inner.overfitting(p, signs);
    }
}
