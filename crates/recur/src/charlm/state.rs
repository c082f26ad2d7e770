//! `state.json` of a character model's run: where the run stands, in the terms of the text
//! (completed passes, position inside the current one), and its conversion to and from the
//! shared loop's [`LoopState`].

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::training::{LoopState, MetricsRow, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where a run stands: enough, with the optimiser and carried state, to continue it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: u64,
    /// Completed passes over the training text.
    pub epoch: u64,
    /// Position inside the current pass, in steps.
    pub step_in_epoch: u64,
    /// The dropout generator.
    pub dropout_rng: Rng,
    /// Best validation loss so far.
    pub best_val_loss: Option<f64>,
    /// The step `best/` holds.
    #[serde(default)]
    pub best_step: Option<u64>,
    /// Latest validation loss.
    pub last_val_loss: Option<f64>,
    /// Seconds of training (in a time-budget run, its validations counted in).
    pub train_seconds: f64,
    /// Fingerprint of the text, to refuse resuming on another one.
    pub text_hash: String,
}

/// The largest step count a saved state may hold (the optimiser counts steps in an `i32`).
pub const MAX_STEPS: u64 = i32::MAX as u64;

impl TrainState {
    /// Checks the fields that do not depend on the data.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path` and the first field out of range.
    pub fn check_values(&self, path: &Path) -> Result<()> {
        let bad = |m: String| Err(Error::format(path, m));
        if self.step > MAX_STEPS {
            return bad(format!(
                "step {} is more than the limit of {MAX_STEPS} steps",
                self.step
            ));
        }
        if self.epoch > self.step || self.step_in_epoch > self.step {
            return bad(format!(
                "epoch {} and step_in_epoch {} do not fit step {}",
                self.epoch, self.step_in_epoch, self.step
            ));
        }
        for (name, v) in [
            ("best_val_loss", self.best_val_loss),
            ("last_val_loss", self.last_val_loss),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return bad(format!(
                    "{name} is {v}, expected a finite loss >= 0 or null"
                ));
            }
        }
        if !(self.train_seconds.is_finite() && self.train_seconds >= 0.0) {
            return bad(format!(
                "train_seconds is {}, expected a finite number >= 0",
                self.train_seconds
            ));
        }
        if !self.dropout_rng.is_usable() {
            return bad("dropout_rng is the all-zero state, which never leaves zero".into());
        }
        Ok(())
    }

    /// Checks the counters against the data: `step_in_epoch` inside an epoch of
    /// `steps_per_epoch` steps, and `step = epoch * steps_per_epoch + step_in_epoch`.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path` and the counter that does not fit.
    pub fn check_position(&self, path: &Path, steps_per_epoch: u64) -> Result<()> {
        if self.step_in_epoch >= steps_per_epoch {
            return Err(Error::format(
                path,
                format!(
                    "step_in_epoch {} is beyond the {steps_per_epoch} steps of an epoch over this text",
                    self.step_in_epoch
                ),
            ));
        }
        let expected = self
            .epoch
            .checked_mul(steps_per_epoch)
            .and_then(|s| s.checked_add(self.step_in_epoch));
        if expected != Some(self.step) {
            return Err(Error::format(
                path,
                format!(
                    "step {} does not match epoch {} × {steps_per_epoch} steps per epoch + step_in_epoch {}",
                    self.step, self.epoch, self.step_in_epoch
                ),
            ));
        }
        Ok(())
    }
}

impl TrainState {
    /// The state of the shared loop's `st` over passes of `steps_per_epoch` steps, on the text
    /// of fingerprint `text_hash`, whose latest validation loss is `last_val_loss`.
    pub(super) fn of_loop(
        st: &LoopState,
        steps_per_epoch: u64,
        last_val_loss: Option<f64>,
        text_hash: &str,
    ) -> Self {
        // The loop starts a pass at the step after the last one ended; here a pass that ended
        // is complete and the position is back at 0.
        let (epoch, step_in_epoch) = if st.batch_in_epoch >= steps_per_epoch {
            (st.epoch, 0)
        } else {
            (st.epoch.saturating_sub(1), st.batch_in_epoch)
        };
        TrainState {
            step: st.step,
            epoch,
            step_in_epoch,
            dropout_rng: st.dropout_rng.clone(),
            best_val_loss: st.best.map(|b| b.loss),
            best_step: st.best.map(|_| st.best_step),
            last_val_loss,
            train_seconds: st.seconds,
            text_hash: text_hash.to_string(),
        }
    }

    /// The shared loop's state that continues this one over passes of `steps_per_epoch` steps,
    /// with the rows of `metrics.jsonl` so far (the loss sums start afresh: the run was saved
    /// right after a row).
    pub(super) fn to_loop(
        &self,
        steps_per_epoch: u64,
        metrics: Vec<MetricsRow>,
        shuffle_rng: Rng,
    ) -> LoopState {
        let (epoch, batch_in_epoch) = if self.step_in_epoch == 0 {
            (self.epoch, steps_per_epoch)
        } else {
            (self.epoch + 1, self.step_in_epoch)
        };
        let best_step = self.best_step.unwrap_or(0);
        let best = self.best_val_loss.map(|loss| Validation {
            loss,
            score: metrics
                .iter()
                .rev()
                .find(|r| r.step == best_step && r.val_loss == loss)
                .and_then(|r| r.val_score),
        });
        let since_best = metrics
            .iter()
            .filter(|r| r.validation_loss().is_some() && r.step > best_step)
            .count() as u64;
        LoopState {
            step: self.step,
            epoch,
            batch_in_epoch,
            shuffle_rng,
            dropout_rng: self.dropout_rng.clone(),
            best,
            best_step,
            since_best,
            loss_sum: 0.0,
            losses: 0,
            grad_norms: (0.0, 0.0, 0),
            seconds: self.train_seconds,
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_json_and_the_loop_state_agree_at_and_between_pass_boundaries() {
        let per_epoch = 5;
        for (step, epoch, step_in_epoch) in [(0, 0, 0), (3, 0, 3), (5, 1, 0), (7, 1, 2), (10, 2, 0)]
        {
            let saved = TrainState {
                step,
                epoch,
                step_in_epoch,
                dropout_rng: Rng::new(3),
                best_val_loss: (step > 0).then_some(1.5),
                best_step: step.checked_sub(1),
                last_val_loss: Some(1.75),
                train_seconds: 2.0,
                text_hash: "ab".into(),
            };
            let st = saved.to_loop(per_epoch, Vec::new(), Rng::new(1));
            st.check(per_epoch).unwrap();
            // The loop starts a new pass at the next step exactly when the saved position is 0.
            assert_eq!(
                st.batch_in_epoch == per_epoch,
                step_in_epoch == 0,
                "step {step}"
            );
            let back = TrainState::of_loop(&st, per_epoch, Some(1.75), "ab");
            assert_eq!(back, saved);
        }
    }
}
