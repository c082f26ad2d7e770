//! The loop itself: steps, the validation cadence, model selection, rows of metrics, early
//! stopping and checkpoints.

use super::{
    overfitting, LoopSettings, LoopState, MetricsRow, Observer, Overfitting, Progress, Resume,
    Snapshot, Stop, Summary, Task, Validation,
};
use crate::error::{Error, Result};
use crate::optim::{clip_grad_norm_in, clip_grad_value, Optimizer};
use crate::rng::Rng;
use recur_kernels::Threads;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A validation in the automatic cadence of a time-budget run comes at most once every this
/// many times its own cost (so validations take at most 5 % of the budget).
const VALIDATION_SHARE_INV: f64 = 20.0;

/// Trains `task` under `settings`: validates the untrained model, then steps until the budget
/// is spent, early stopping ends the run, or `stop` is raised, validating on the cadence of
/// [`LoopSettings::validate_every`] and at the end; the task keeps the parameters of the lowest
/// validation loss through [`Task::keep_best`].
///
/// # Errors
/// [`Error::Config`] for settings out of range, [`Error::Diverged`] when a loss or gradient is
/// not finite (the best parameters kept so far are still the task's), or the task's errors.
pub fn run(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Summary> {
    Ok(run_from(task, settings, threads, observer, stop, None)?.summary)
}

/// [`run`], continuing from `resume` when given (the task's parameters, best parameters and
/// order of examples already restored): the same steps, shuffles, dropout masks and
/// validations, bit for bit, as the run that was not interrupted. After every validation the
/// task is offered a checkpoint ([`Task::checkpoint`]).
///
/// # Errors
/// As [`run`]; [`Error::Config`] for a `resume` state that does not fit the task.
pub fn run_from(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    resume: Option<Resume>,
) -> Result<super::Finished> {
    settings.validate()?;
    let total = settings.total_steps(passes(task)?)?;
    let (mut state, mut optimizer) = match resume {
        Some(r) => (r.state, r.optimizer),
        None => {
            let optimizer = Optimizer::new(settings.optimizer.clone(), &task.param_sizes())?;
            (
                start(task, settings, threads, (observer, total))?,
                optimizer,
            )
        }
    };
    let summary = continue_run(
        task,
        settings,
        threads,
        observer,
        stop,
        &mut state,
        &mut optimizer,
    )?;
    Ok(super::Finished {
        summary,
        state,
        optimizer,
    })
}

/// Continues the run at `state` with `optimizer`, both updated in place, until the budget is
/// spent, early stopping ends it, or `stop` is raised; `observer` sees its progress. A state
/// that has not begun ([`LoopState::new`]) starts a run without validating the untrained model.
///
/// # Errors
/// As [`run_from`]; `state` and `optimizer` then hold the last step that was taken.
pub fn continue_run(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    st: &mut LoopState,
    optimizer: &mut Optimizer,
) -> Result<Summary> {
    settings.validate()?;
    let per_epoch = passes(task)?;
    let total = settings.total_steps(per_epoch)?;
    st.check(per_epoch)?;
    let mut pace = Pace {
        last_validation: (st.seconds, 0.0),
        row_seconds: 0.0,
    };
    let (mut stopped_early, mut interrupted) = (false, false);
    let mut lr = st
        .metrics
        .last()
        .map_or_else(|| settings.schedule.lr_at(st.step, 0.0), |r| r.lr);
    while !done(settings.stop, total, st) {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let stepped = step(task, settings, threads, st, optimizer)?;
        lr = stepped.lr;
        pace.row_seconds += stepped.seconds;
        let mut progress = progress(settings, total, st, &stepped);
        observer.step(&progress);
        let finished = done(settings.stop, total, st);
        if !finished && !validation_due(settings, total, st, pace.last_validation) {
            if settings.log_every > 0 && st.step.is_multiple_of(settings.log_every) {
                push_row(st, None, lr, tokens_per_s(task, &mut pace, st.losses));
            }
            continue;
        }
        let point = Point {
            settings,
            threads,
            total,
        };
        let signs = point.visit(task, (observer, &mut progress), (st, optimizer), &mut pace)?;
        let e = &settings.early_stopping;
        let patience_spent = e.patience > 0 && st.since_best >= e.patience;
        let overfits = e.on_overfitting && signs.is_some();
        if (patience_spent || overfits) && st.step >= e.min_steps && !finished {
            stopped_early = true;
            break;
        }
    }
    if interrupted && settings.log_every > 0 && st.losses > 0 {
        push_row(st, None, lr, tokens_per_s(task, &mut pace, st.losses));
    }
    Ok(Summary {
        steps: st.step,
        epochs: st.epoch,
        best: (
            st.best.unwrap_or(Validation {
                loss: f64::NAN,
                score: None,
            }),
            st.best_step,
        ),
        stopped_early,
        interrupted,
        seconds: st.seconds,
        metrics: st.metrics.clone(),
        overfitting: overfitting(&st.metrics),
    })
}

/// The task's batches per pass, refusing a task without any.
fn passes(task: &impl Task) -> Result<u64> {
    match task.batches_per_epoch() {
        0 => Err(Error::Input("no training batches".into())),
        n => Ok(n),
    }
}

/// Whether the budget is spent.
fn done(stop: Stop, total: Option<u64>, st: &LoopState) -> bool {
    match stop {
        Stop::TimeBudget(s) => st.seconds >= s,
        _ => total.is_some_and(|n| st.step >= n),
    }
}

/// The timing a run keeps between its validations (not part of its saved state).
struct Pace {
    /// Seconds of training at the last validation, and what that validation cost.
    last_validation: (f64, f64),
    /// Seconds of the steps since the last row of metrics.
    row_seconds: f64,
}

/// The throughput of the `steps` since the last row, for a task that counts tokens; starts
/// the count of the next row.
fn tokens_per_s(task: &impl Task, pace: &mut Pace, steps: u64) -> Option<f64> {
    let seconds = std::mem::take(&mut pace.row_seconds);
    let tokens = task.batch_tokens()?.saturating_mul(steps) as f64;
    Some(if seconds > 0.0 { tokens / seconds } else { 0.0 })
}

/// Whether a validation is due after the step just taken (the last one always is).
fn validation_due(
    settings: &LoopSettings,
    total: Option<u64>,
    st: &LoopState,
    (at, cost): (f64, f64),
) -> bool {
    let step = st.step;
    if settings.validate_every > 0 {
        return step.is_multiple_of(settings.validate_every);
    }
    if let Stop::TimeBudget(budget) = settings.stop {
        // Every 5 % of the budget (at least every minute), but never so often that the
        // validations take more than 5 % of the time: a slow validation spaces them out.
        let every = (budget * 0.05).min(60.0).max(VALIDATION_SHARE_INV * cost);
        return st.seconds - at >= every;
    }
    match total {
        Some(n) if n >= 8 => (1..4).any(|q| step == (n * q).div_ceil(4)),
        _ => false,
    }
}

/// Where a run stands after `stepped`.
fn progress(
    settings: &LoopSettings,
    total: Option<u64>,
    st: &LoopState,
    stepped: &Stepped,
) -> Progress {
    Progress {
        step: st.step,
        epoch: st.epoch,
        total_steps: total,
        fraction: fraction(settings.stop, total, st.step, st.seconds),
        train_loss: st.loss_sum / st.losses as f64,
        batch_loss: stepped.loss,
        grad_norm: stepped.grad_norm,
        step_seconds: stepped.seconds,
        lr: stepped.lr,
        seconds: st.seconds,
        best: st.best.map(|b| (b.loss, st.best_step)),
    }
}

/// The share of the budget used after `step` steps and `seconds` seconds.
fn fraction(stop: Stop, total_steps: Option<u64>, step: u64, seconds: f64) -> f64 {
    match (stop, total_steps) {
        (Stop::TimeBudget(s), _) => (seconds / s).min(1.0),
        (_, Some(n)) => (step as f64 / n as f64).min(1.0),
        _ => 0.0,
    }
}

/// A fresh run's state: the untrained model validated (when the task can), kept as the best,
/// and shown.
fn start(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    (observer, total_steps): (&mut dyn Observer, Option<u64>),
) -> Result<LoopState> {
    let mut state = LoopState::new(
        task.batches_per_epoch(),
        Rng::new(settings.seed),
        Rng::new(settings.seed ^ 0xd0),
    );
    if !task.validates() {
        return Ok(state);
    }
    let first = task.validate_with_progress(threads, &mut |d, t| observer.validating(d, t))?;
    task.keep_best();
    let lr = settings.schedule.lr_at(0, 0.0);
    let progress = Progress {
        step: 0,
        epoch: 0,
        total_steps,
        fraction: 0.0,
        train_loss: f64::NAN,
        batch_loss: f64::NAN,
        grad_norm: 0.0,
        step_seconds: 0.0,
        lr,
        seconds: 0.0,
        best: Some((first.loss, 0)),
    };
    observer.validated(&progress, &first, true);
    state.best = Some(first);
    push_row(&mut state, Some(first), lr, None);
    Ok(state)
}

/// What one optimiser step did ([`step`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stepped {
    /// The mean training loss of the batch.
    pub loss: f64,
    /// The learning rate of the step.
    pub lr: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds the step took.
    pub seconds: f64,
}

/// One optimiser step of the run at `st`: a new pass when the last ended, the next batch
/// forward and backward, the non-finite guard, clipping (by norm, then by value) and the
/// update. The loop takes its steps with this; a program may take single steps with it too.
///
/// # Errors
/// [`Error::Diverged`] when the loss or the gradient norm is not finite (the parameters are then
/// not updated), [`Error::Config`] for a budget in epochs that overflows, or the task's errors.
pub fn step(
    task: &mut impl Task,
    settings: &LoopSettings,
    threads: &Threads,
    st: &mut LoopState,
    optimizer: &mut Optimizer,
) -> Result<Stepped> {
    let started = Instant::now();
    let per_epoch = task.batches_per_epoch();
    let total = settings.total_steps(per_epoch)?;
    if st.batch_in_epoch >= per_epoch {
        task.start_epoch(&mut st.shuffle_rng);
        st.batch_in_epoch = 0;
        st.epoch += 1;
    }
    let loss = task.train_batch(threads, st.batch_in_epoch, &mut st.dropout_rng)?;
    st.batch_in_epoch += 1;
    let step = st.step + 1;
    if !loss.is_finite() {
        return Err(Error::Diverged(format!(
            "step {step}: the training loss is {loss}{}; training stopped ({})",
            norm_hint(st),
            advice(settings)
        )));
    }
    let lr = settings
        .schedule
        .lr_at(st.step, fraction(settings.stop, total, st.step, st.seconds));
    let (mut params, mut grads) = task.params_and_grads();
    let norm = clip_grad_norm_in(threads, &mut grads, settings.clip);
    if !norm.is_finite() {
        return Err(Error::Diverged(format!(
            "step {step}: the gradient exploded (its global norm is {norm}{}); training stopped ({})",
            norm_hint(st),
            advice(settings)
        )));
    }
    if settings.clip_value > 0.0 {
        clip_grad_value(&mut grads, settings.clip_value);
    }
    let grads: Vec<&[f32]> = grads.iter().map(|g| &**g).collect();
    optimizer.step_in(threads, &mut params, &grads, lr);
    let g = &mut st.grad_norms;
    g.0 = g.0.max(norm);
    g.1 += norm;
    g.2 += u64::from(settings.clip > 0.0 && norm > settings.clip);
    st.step = step;
    let seconds = started.elapsed().as_secs_f64();
    st.seconds += seconds;
    st.loss_sum += loss;
    st.losses += 1;
    Ok(Stepped {
        loss,
        lr,
        grad_norm: norm,
        seconds,
    })
}

/// What to try after a divergence.
fn advice(settings: &LoopSettings) -> &'static str {
    if settings.clip > 0.0 {
        "try a lower `lr`"
    } else {
        "try a lower `lr` or a `clip`"
    }
}

/// The gradient norms since the last row of metrics, for a divergence message.
fn norm_hint(st: &LoopState) -> String {
    let (max, sum, _) = st.grad_norms;
    if st.losses == 0 {
        return String::new();
    }
    format!(
        ", after a mean gradient norm of {:.3} and a largest of {max:.3} over the {} steps before",
        sum / st.losses as f64,
        st.losses
    )
}

/// A row of metrics for the steps since the last one, with `validation` if one ran; starts
/// the sums of the next row.
fn push_row(
    st: &mut LoopState,
    validation: Option<Validation>,
    lr: f64,
    tokens_per_s: Option<f64>,
) {
    let (max, sum, clipped) = st.grad_norms;
    st.metrics.push(MetricsRow {
        step: st.step,
        epoch: st.epoch,
        train_loss: (st.losses > 0).then(|| st.loss_sum / st.losses as f64),
        val_loss: validation.map_or(f64::NAN, |v| v.loss),
        val_score: validation.and_then(|v| v.score),
        lr,
        tokens_per_s,
        elapsed_s: st.seconds,
        grad_norm_max: max,
        grad_norm_mean: sum / st.losses.max(1) as f64,
        clipped_steps: clipped,
    });
    (st.loss_sum, st.losses, st.grad_norms) = (0.0, 0, (0.0, 0.0, 0));
}

/// A validation point of a run: what it needs besides the task, its state and its observer.
struct Point<'a> {
    settings: &'a LoopSettings,
    threads: &'a Threads,
    total: Option<u64>,
}

impl Point<'_> {
    /// The task validated (when it has validation data): the non-finite guard, model
    /// selection, a row of metrics, the observer told, the task's example and the signs of
    /// overfitting shown; then a checkpoint offered. Returns the signs of overfitting.
    fn visit(
        &self,
        task: &mut impl Task,
        (observer, progress): (&mut dyn Observer, &mut Progress),
        (st, optimizer): (&mut LoopState, &mut Optimizer),
        pace: &mut Pace,
    ) -> Result<Option<Overfitting>> {
        let mut signs = None;
        if task.validates() {
            let started = Instant::now();
            let v =
                task.validate_with_progress(self.threads, &mut |d, t| observer.validating(d, t))?;
            let cost = started.elapsed().as_secs_f64();
            let timed = matches!(self.settings.stop, Stop::TimeBudget(_));
            if timed && self.settings.budget_counts_validation {
                st.seconds += cost;
            }
            pace.last_validation = (st.seconds, cost);
            let improved = self.select(task, st, v)?;
            push_row(
                st,
                Some(v),
                progress.lr,
                tokens_per_s(task, pace, st.losses),
            );
            progress.seconds = st.seconds;
            progress.fraction = fraction(self.settings.stop, self.total, st.step, st.seconds);
            progress.best = st.best.map(|b| (b.loss, st.best_step));
            observer.validated(progress, &v, improved);
            if let Some(text) = task.example(self.threads, st.step)? {
                observer.example(progress, &text);
            }
            signs = overfitting(&st.metrics);
            if let Some(s) = &signs {
                observer.overfitting(progress, s);
            }
        } else {
            pace.last_validation = (st.seconds, 0.0);
            if st.losses > 0 {
                push_row(st, None, progress.lr, tokens_per_s(task, pace, st.losses));
            }
        }
        task.checkpoint(&Snapshot {
            state: st,
            optimizer,
        })?;
        Ok(signs)
    }

    /// The non-finite guard and model selection; returns whether `v` is the best so far.
    fn select(&self, task: &mut impl Task, st: &mut LoopState, v: Validation) -> Result<bool> {
        if !v.loss.is_finite() {
            return Err(Error::Diverged(format!(
                "step {}: the validation loss is {}; training stopped ({})",
                st.step,
                v.loss,
                advice(self.settings)
            )));
        }
        let min_delta = self.settings.early_stopping.min_delta;
        let improved = st
            .best
            .is_none_or(|b| v.loss < b.loss - min_delta * b.loss.abs());
        if improved {
            task.keep_best();
            (st.best, st.best_step, st.since_best) = (Some(v), st.step, 0);
        } else {
            st.since_best += 1;
        }
        Ok(improved)
    }
}
