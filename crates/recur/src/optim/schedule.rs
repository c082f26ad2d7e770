//! Learning-rate schedules with linear warm-up, driven by the fraction of the run completed
//! (steps done over total steps, or seconds spent over the time budget).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Shape of the schedule after warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The base rate throughout.
    Constant,
    /// Multiplied by `gamma` at every `step_fraction` of the run.
    Step,
    /// Half a cosine from the base rate down to `min_lr`.
    Cosine,
}

impl std::str::FromStr for ScheduleKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Self::Constant),
            "step" => Ok(Self::Step),
            "cosine" => Ok(Self::Cosine),
            _ => Err(Error::Config(format!(
                "lr schedule '{s}' is not one of constant, step, cosine"
            ))),
        }
    }
}

/// A learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Shape after warm-up.
    pub kind: ScheduleKind,
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warm-up from `lr / warmup` to `lr`.
    pub warmup_steps: u64,
    /// Floor of the cosine schedule.
    pub min_lr: f64,
    /// Step schedule: fraction of the run between decays.
    pub step_fraction: f64,
    /// Step schedule: factor per decay.
    pub gamma: f64,
}

impl Schedule {
    /// Checks ranges; the message names the setting.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!(
                "learning rate must be > 0, got {}",
                self.lr
            )));
        }
        if !(self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return Err(Error::Config(format!(
                "minimum learning rate must be in [0, lr], got {}",
                self.min_lr
            )));
        }
        if self.kind == ScheduleKind::Step
            && !(self.step_fraction > 0.0 && self.step_fraction <= 1.0 && self.gamma > 0.0)
        {
            return Err(Error::Config(
                "step schedule needs a step fraction in (0, 1] and gamma > 0".into(),
            ));
        }
        Ok(())
    }

    /// The rate for 0-based step `step`, with `progress` in `[0, 1]` the fraction of the run done.
    pub fn lr_at(&self, step: u64, progress: f64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let progress = progress.clamp(0.0, 1.0);
        match self.kind {
            ScheduleKind::Constant => self.lr,
            ScheduleKind::Step => {
                let decays = (progress / self.step_fraction).floor();
                self.lr * self.gamma.powf(decays)
            }
            ScheduleKind::Cosine => {
                self.min_lr
                    + 0.5
                        * (self.lr - self.min_lr)
                        * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleKind) -> Schedule {
        Schedule {
            kind,
            lr: 1.0,
            warmup_steps: 4,
            min_lr: 0.1,
            step_fraction: 0.5,
            gamma: 0.1,
        }
    }

    #[test]
    fn warmup_then_shape() {
        let c = schedule(ScheduleKind::Cosine);
        assert_eq!(c.lr_at(0, 0.0), 0.25);
        assert_eq!(c.lr_at(3, 0.0), 1.0);
        assert!((c.lr_at(10, 0.0) - 1.0).abs() < 1e-12);
        assert!((c.lr_at(10, 0.5) - 0.55).abs() < 1e-12);
        assert!((c.lr_at(10, 1.0) - 0.1).abs() < 1e-12);
        let s = schedule(ScheduleKind::Step);
        assert_eq!(s.lr_at(10, 0.49), 1.0);
        assert!((s.lr_at(10, 0.5) - 0.1).abs() < 1e-12);
        assert_eq!(schedule(ScheduleKind::Constant).lr_at(100, 0.9), 1.0);
    }
}
