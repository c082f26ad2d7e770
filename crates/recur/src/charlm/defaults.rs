//! How `recur train` fits its regularisation to the text and the budget.
//!
//! A character model that sees its training text many times overfits: on Moby Dick (1.07 M
//! training characters) the default GRU 512 without dropout reaches its lowest validation loss
//! after about 11 passes and gets worse after (README, "How the defaults were chosen"). The
//! defaults therefore pick the dropout (on the head's input, and between layers when there are
//! several; [`super::CharLmConfig::dropout`]) from the number of passes over the training text a
//! run is expected to make:
//!
//! - a run of `steps` or `epochs` makes `steps × batch_size × seq_len / training characters`
//!   passes, known before it starts;
//! - a time-budget run's steps are estimated from the seconds a few training steps of the model
//!   take on this machine (measured by [`fit_dropout`] before the run, on a throwaway copy),
//!   and [`TRAINING_SHARE`] of the budget (the validations count into it).
//!
//! [`dropout_for_passes`] maps passes to dropout; the table it was measured on is in the README.
//! An explicit `--dropout` always wins.

use super::{Stop, Trainer};
use crate::{Result, Threads};
use std::time::Instant;

/// Share of a time budget spent on optimiser steps in the estimate of a run's passes (the rest
/// goes to validations, which count into the budget).
pub const TRAINING_SHARE: f64 = 0.9;

/// Passes over the training text up to which the defaults use no dropout.
pub const PASSES_WITHOUT_DROPOUT: f64 = 8.0;

/// Dropout the defaults never exceed.
pub const MAX_DROPOUT: f64 = 0.5;

/// Dropout the defaults pick for a run expected to make `passes` passes over its training text:
/// none up to [`PASSES_WITHOUT_DROPOUT`], then rising with the logarithm of the passes,
/// `0.35 × log2(passes / 8)`, rounded to 0.05 and at most [`MAX_DROPOUT`] (0.15 at 11 passes,
/// 0.35 at 16, 0.5 from 22). On Moby Dick, 8,500 steps (16 passes, the default model's 600 s):
/// validation loss 1.4158 without dropout, 1.3810 with 0.2, 1.3657 with 0.35, 1.3684 with 0.5.
pub fn dropout_for_passes(passes: f64) -> f64 {
    if !passes.is_finite() || passes <= PASSES_WITHOUT_DROPOUT {
        return if passes.is_finite() { 0.0 } else { MAX_DROPOUT };
    }
    let p = 0.35 * (passes / PASSES_WITHOUT_DROPOUT).log2();
    ((p * 20.0).round() / 20.0).min(MAX_DROPOUT)
}

/// Passes over `train_chars` training characters that a run of `steps` optimiser steps of
/// `batch_size` streams × `seq_len` characters makes.
pub fn passes(steps: f64, batch_size: usize, seq_len: usize, train_chars: usize) -> f64 {
    steps * (batch_size * seq_len) as f64 / train_chars.max(1) as f64
}

/// Optimiser steps a run is expected to take: those of `steps` or `epochs` exactly; for a time
/// budget, [`TRAINING_SHARE`] of it divided by `step_seconds`.
pub fn expected_steps(stop: Stop, steps_per_epoch: u64, step_seconds: f64) -> f64 {
    match stop {
        Stop::Steps(n) => n as f64,
        Stop::Epochs(n) => (n as f64) * steps_per_epoch as f64,
        Stop::TimeBudget(s) => TRAINING_SHARE * s / step_seconds.max(1e-9),
    }
}

/// Steps [`fit_dropout`] takes before timing any (the first steps of a run are slower: buffers are
/// allocated and their pages touched for the first time).
const UNTIMED_STEPS: usize = 5;

/// Steps timed by [`fit_dropout`], after [`UNTIMED_STEPS`].
const TIMED_STEPS: usize = 5;

/// Seconds after which [`fit_dropout`] stops its trial steps (a large model takes fewer: at
/// least one untimed and one timed step).
const PROBE_SECONDS: f64 = 2.0;

/// What [`fit_dropout`] chose, and from what.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fitted {
    /// Passes over the training text the run is expected to make.
    pub passes: f64,
    /// The dropout chosen for them ([`dropout_for_passes`]).
    pub dropout: f64,
    /// Seconds per optimiser step measured on this machine (time-budget runs only).
    pub step_seconds: Option<f64>,
}

/// Sets the dropout of `trainer`'s model, before its run starts, to the defaults' choice
/// ([`dropout_for_passes`] of the run's expected passes). For a time budget, the seconds per step
/// are the fastest of [`TIMED_STEPS`] optimiser steps taken, after [`UNTIMED_STEPS`], by a
/// throwaway trainer on a copy of the model and `text` (at most about [`PROBE_SECONDS`], before
/// the budget starts; the run's weights are not changed).
///
/// # Errors
/// As [`Trainer::new`] and [`Trainer::step`].
pub fn fit_dropout(trainer: &mut Trainer, text: &str, threads: &Threads) -> Result<Fitted> {
    let settings = trainer.settings();
    let step_seconds = match settings.stop {
        Stop::TimeBudget(_) => Some(seconds_per_step(trainer, text, threads)?),
        _ => None,
    };
    let steps = expected_steps(
        settings.stop,
        trainer.steps_per_epoch(),
        step_seconds.unwrap_or(1.0),
    );
    let passes = passes(
        steps,
        settings.batch_size,
        settings.seq_len,
        trainer.split_sizes().0,
    );
    let dropout = dropout_for_passes(passes);
    trainer.set_dropout(dropout)?;
    Ok(Fitted {
        passes,
        dropout,
        step_seconds,
    })
}

/// The fastest of the timed trial steps of [`fit_dropout`].
fn seconds_per_step(trainer: &Trainer, text: &str, threads: &Threads) -> Result<f64> {
    let mut settings = trainer.settings().clone();
    settings.stop = Stop::Steps((UNTIMED_STEPS + TIMED_STEPS) as u64);
    let mut model = trainer.model().clone();
    // Timed with the dropout a long run gets, as the masks cost time too.
    model.set_dropout(MAX_DROPOUT)?;
    let mut probe = Trainer::new(model, trainer.vocab().clone(), settings, text)?;
    let started = Instant::now();
    for _ in 0..UNTIMED_STEPS {
        probe.step(threads)?;
        if started.elapsed().as_secs_f64() > PROBE_SECONDS / 2.0 {
            break;
        }
    }
    // The fastest: other programs and the first touches of memory only add time.
    let mut fastest = f64::INFINITY;
    for _ in 0..TIMED_STEPS {
        let start = Instant::now();
        probe.step(threads)?;
        fastest = fastest.min(start.elapsed().as_secs_f64());
        if started.elapsed().as_secs_f64() > PROBE_SECONDS {
            break;
        }
    }
    Ok(fastest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_rises_with_the_passes_and_is_bounded() {
        assert_eq!(dropout_for_passes(0.5), 0.0);
        assert_eq!(dropout_for_passes(PASSES_WITHOUT_DROPOUT), 0.0);
        assert!((dropout_for_passes(11.0) - 0.15).abs() < 1e-12);
        assert!((dropout_for_passes(16.0) - 0.35).abs() < 1e-12);
        assert!((dropout_for_passes(22.0) - 0.5).abs() < 1e-12);
        assert_eq!(dropout_for_passes(1e6), MAX_DROPOUT);
        assert_eq!(dropout_for_passes(f64::INFINITY), MAX_DROPOUT);
        let mut last = 0.0;
        for k in 1..200 {
            let p = dropout_for_passes(k as f64 * 0.5);
            assert!(p >= last && p <= MAX_DROPOUT);
            last = p;
        }
    }

    #[test]
    fn passes_count_characters_seen() {
        assert!((passes(100.0, 32, 64, 204_800) - 1.0).abs() < 1e-12);
        assert_eq!(expected_steps(Stop::Steps(7), 3, 1.0), 7.0);
        assert_eq!(expected_steps(Stop::Epochs(2), 3, 1.0), 6.0);
        assert!((expected_steps(Stop::TimeBudget(100.0), 3, 0.5) - 180.0).abs() < 1e-9);
    }
}
