//! K-fold cross-validation of the classifier, for data sets without a test split: `K`
//! stratified folds (seeded); each fold in turn is the test set of a classifier trained on the
//! other `K - 1` with the normal training ([`super::train::train`], which holds out its own
//! validation split from them); the accuracies are reported per fold, with their mean and
//! standard deviation.

use super::data::Dataset;
use super::train::{argmax_rows, predict, report, train, ClassifySettings};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::training::Observer;
use recur_kernels::Threads;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

/// `k` folds of the indices of `labels`, stratified: each class's indices, shuffled with
/// `seed`, are dealt in turn to the folds (continuing from where the previous class stopped),
/// so every fold holds each class's share to within one sequence. Each fold is sorted.
pub fn stratified_folds(labels: &[String], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut by_class: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    let mut rng = Rng::new(seed);
    let mut folds = vec![Vec::new(); k.max(1)];
    let mut next = 0;
    for (_, mut idx) in by_class {
        rng.shuffle(&mut idx);
        for i in idx {
            folds[next].push(i);
            next = (next + 1) % folds.len();
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds
}

/// One fold's result.
#[derive(Clone, Debug, Serialize)]
pub struct FoldResult {
    /// Test accuracy on the held-out fold.
    pub accuracy: f64,
    /// Macro-F1 on the held-out fold.
    pub macro_f1: f64,
    /// Sequences in the held-out fold.
    pub test_count: usize,
    /// Optimiser steps trained.
    pub steps: u64,
    /// Seconds of training and testing.
    pub seconds: f64,
}

/// The result of a cross-validation.
#[derive(Clone, Debug, Serialize)]
pub struct CrossValidation {
    /// Folds.
    pub k: usize,
    /// Seed of the folds (and of each fold's training).
    pub seed: u64,
    /// Mean of the folds' accuracies.
    pub mean_accuracy: f64,
    /// Their sample standard deviation (`n - 1`; 0 for one fold).
    pub sd_accuracy: f64,
    /// Mean of the folds' macro-F1.
    pub mean_macro_f1: f64,
    /// Per fold, in order.
    pub folds: Vec<FoldResult>,
}

/// Mean and sample standard deviation of `v`.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n.max(1.0);
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Cross-validates the classifier of settings `s` on `data` with `k` stratified folds (seeded
/// by `s.seed`). `on_fold(i, result)` is called after each fold; `observer` sees every fold's
/// training; raising `stop` ends the current fold's training early (its result still counts).
///
/// # Errors
/// [`Error::Config`] for `k` below 2 or above the sequences of the rarest class' count allows
/// (every fold needs each class), and whatever training a fold reports.
pub fn cross_validate(
    data: &Dataset,
    s: &ClassifySettings,
    k: usize,
    threads: &Threads,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    on_fold: &mut dyn FnMut(usize, &FoldResult),
) -> Result<CrossValidation> {
    if k < 2 || k > data.items.len() {
        return Err(Error::Config(format!(
            "`folds` must be in 2..={} (the sequences), got {k}",
            data.items.len()
        )));
    }
    if data.is_regression() {
        return Err(Error::Input(
            "cross-validation is for class labels; this data has numeric targets".into(),
        ));
    }
    let folds = stratified_folds(&data.labels, k, s.seed);
    let mut results = Vec::with_capacity(k);
    for (f, test_idx) in folds.iter().enumerate() {
        let started = std::time::Instant::now();
        let train_idx: Vec<usize> = (0..data.items.len())
            .filter(|i| test_idx.binary_search(i).is_err())
            .collect();
        let (train_set, test_set) = (data.subset(&train_idx), data.subset(test_idx));
        let trained = train(&train_set, s, threads, observer, stop)?;
        let classes = &trained.model.config().classes;
        let truth = test_set.class_ids(classes)?;
        let probs = predict(&trained.model, threads, &test_set, 64)?;
        let r = report(&truth, &argmax_rows(&probs, classes.len()), classes)?;
        let result = FoldResult {
            accuracy: r.accuracy,
            macro_f1: r.macro_f1,
            test_count: r.count,
            steps: trained.summary.steps,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_fold(f, &result);
        results.push(result);
    }
    let acc: Vec<f64> = results.iter().map(|r| r.accuracy).collect();
    let f1: Vec<f64> = results.iter().map(|r| r.macro_f1).collect();
    let (mean_accuracy, sd_accuracy) = mean_sd(&acc);
    Ok(CrossValidation {
        k,
        seed: s.seed,
        mean_accuracy,
        sd_accuracy,
        mean_macro_f1: mean_sd(&f1).0,
        folds: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_disjoint_and_seeded() {
        let labels: Vec<String> = (0..23)
            .map(|i| if i % 3 == 0 { "a".into() } else { "b".into() })
            .collect();
        let folds = stratified_folds(&labels, 4, 9);
        let mut all: Vec<usize> = folds.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..23).collect::<Vec<_>>());
        for f in &folds {
            let a = f.iter().filter(|&&i| labels[i] == "a").count();
            assert!((2..=2).contains(&a), "{folds:?}");
            assert!((5..=6).contains(&f.len()), "{folds:?}");
        }
        assert_eq!(stratified_folds(&labels, 4, 9), folds);
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);
    }
}
