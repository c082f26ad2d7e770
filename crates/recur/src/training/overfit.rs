//! The signs of overfitting: the validation loss rising while the training loss falls.

use super::MetricsRow;

/// Validations in a row whose loss rose, while the training loss fell, that make a run
/// "overfitting".
pub const OVERFIT_RISES: usize = 3;

/// The signs of overfitting: the validation loss rose at each of the last [`OVERFIT_RISES`]
/// validations while the training loss fell over the same span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Overfitting {
    /// Step and validation loss where the rise began.
    pub from: (u64, f64),
    /// Step and validation loss now.
    pub now: (u64, f64),
    /// Mean training loss (of the validations' rows) before the rise began and now.
    pub train: (f64, f64),
}

impl std::fmt::Display for Overfitting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the validation loss has risen at {OVERFIT_RISES} validations in a row ({:.4} at step {} to {:.4} at step {}) while the training loss fell ({:.4} to {:.4}): the model is learning its training data by heart",
            self.from.1, self.from.0, self.now.1, self.now.0, self.train.0, self.train.1
        )
    }
}

/// Whether the validation loss rose at each of the last [`OVERFIT_RISES`] validations of
/// `rows` while the training loss of those rows fell.
pub fn overfitting(rows: &[MetricsRow]) -> Option<Overfitting> {
    let points: Vec<(u64, f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            r.validation_loss()
                .map(|v| (r.step, v, r.train_loss.unwrap_or(f64::NAN)))
        })
        .collect();
    let last = points.get(points.len().checked_sub(OVERFIT_RISES + 1)?..)?;
    let rising = last.windows(2).all(|w| w[1].1 > w[0].1);
    let (first, now) = (last[0], last[OVERFIT_RISES]);
    (rising && now.2 < first.2).then_some(Overfitting {
        from: (first.0, first.1),
        now: (now.0, now.1),
        train: (first.2, now.2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: u64, train: f64, val: Option<f64>) -> MetricsRow {
        MetricsRow {
            step,
            epoch: 1,
            train_loss: Some(train),
            val_loss: val.unwrap_or(f64::NAN),
            val_score: None,
            lr: 0.1,
            tokens_per_s: None,
            elapsed_s: 0.0,
            grad_norm_max: 0.0,
            grad_norm_mean: 0.0,
            clipped_steps: 0,
        }
    }

    #[test]
    fn three_rises_of_the_validation_loss_while_training_falls() {
        let mut rows = vec![
            row(10, 2.0, Some(1.5)),
            row(15, 1.9, None),
            row(20, 1.8, Some(1.6)),
            row(30, 1.7, Some(1.7)),
        ];
        assert_eq!(overfitting(&rows), None, "two rises are not enough");
        rows.push(row(40, 1.6, Some(1.8)));
        let signs = overfitting(&rows).unwrap();
        assert_eq!(
            (signs.from, signs.now, signs.train),
            ((10, 1.5), (40, 1.8), (2.0, 1.6))
        );
        // A training loss that rose too is not overfitting (the run may be diverging).
        rows.push(row(50, 2.5, Some(1.9)));
        assert_eq!(overfitting(&rows), None);
        // Nor is a validation loss that fell once within the span.
        rows.push(row(60, 1.0, Some(1.85)));
        assert_eq!(overfitting(&rows), None);
    }
}
