//! The classifier's training rule on small data: model selection on validation loss keeps a
//! trained model even when validation accuracy ties, a budget in epochs still gives small data
//! sets hundreds of optimiser steps, and the validation split never falls below a workable size.

use recur::classify::model::Pooling;
use recur::classify::text::{TextSettings, Units};
use recur::classify::train::{train, validation_share, ClassifySettings, MIN_VALIDATION};
use recur::classify::{Dataset, Item};
use recur::{CellType, Rng, Threads};
use std::sync::atomic::AtomicBool;

/// `n` univariate series of 12 steps: class "up" rises, class "down" falls, with noise.
fn trends(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (mut items, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let up = i % 2 == 0;
        let slope = if up { 0.2 } else { -0.2 };
        let v = (0..12)
            .map(|t| (slope * t as f64 + rng.uniform_range(-0.5, 0.5)) as f32)
            .collect();
        items.push(Item::Numeric(v));
        labels.push(if up { "up" } else { "down" }.to_string());
    }
    Dataset {
        dims: 1,
        items,
        labels,
        ..Default::default()
    }
}

fn settings(min_steps: u64) -> ClassifySettings {
    ClassifySettings {
        cell: CellType::Gru,
        hidden: 16,
        layers: 1,
        bidirectional: false,
        dropout: 0.0,
        pooling: Pooling::Last,
        embed: 0,
        frame_size: 1,
        max_vocab: 0,
        val_frac: 0.15,
        epochs: 60,
        steps: None,
        time_budget: None,
        min_steps,
        patience: 10,
        batch_size: 32,
        lr: 3e-3,
        seed: 1,
        text: TextSettings {
            units: Units::Char,
            ..Default::default()
        },
        augment: 0.0,
        ensemble: 1,
        audio: None,
        spec_augment: None,
    }
}

#[test]
fn tied_validation_accuracy_still_keeps_a_trained_model() {
    // 24 series: the validation split (10) is classified perfectly early on, so its accuracy
    // ties from then on; the loss keeps falling, and the kept model is a trained one.
    let data = trends(24, 3);
    let t = train(
        &data,
        &settings(300),
        &Threads::single(),
        &mut (),
        &AtomicBool::new(false),
    )
    .unwrap();
    let (best, step) = t.summary.best;
    assert!(step > 0, "the untrained model was kept");
    let first = t.summary.metrics[0];
    assert!(
        best.loss < first.val_loss,
        "{} vs {}",
        best.loss,
        first.val_loss
    );
    assert!(t.val_accuracy > 0.9, "accuracy {}", t.val_accuracy);
}

#[test]
fn a_budget_in_epochs_gives_small_data_hundreds_of_steps() {
    // 20 series at batch 32: one step an epoch, so 60 epochs would be 60 steps.
    let data = trends(20, 4);
    let t = train(
        &data,
        &settings(300),
        &Threads::single(),
        &mut (),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(t.summary.steps >= 150, "{} steps", t.summary.steps);
    assert!(t.summary.steps <= 300);
    let plain = train(
        &data,
        &settings(0),
        &Threads::single(),
        &mut (),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(plain.summary.steps <= 60);
}

#[test]
fn the_validation_split_has_a_workable_minimum() {
    let share = |frac, n, classes| (validation_share(frac, n, classes) * n as f64).round();
    assert_eq!(share(0.15, 50, 2), MIN_VALIDATION as f64);
    assert_eq!(share(0.15, 200, 2), 30.0);
    assert_eq!(
        share(0.15, 100, 20),
        20.0,
        "one per class when there are many"
    );
    assert_eq!(share(0.15, 12, 2), 4.0, "never more than a third");
}

#[test]
fn frames_read_several_raw_steps_as_one() {
    use recur::classify::model::{Classifier, ClassifierConfig};
    use recur::classify::train::predict;
    let config = |dims: usize, frame_size: usize| ClassifierConfig {
        cell: CellType::Gru,
        hidden_size: 6,
        num_layers: 1,
        bidirectional: true,
        dropout: 0.0,
        pooling: Pooling::Mean,
        dims,
        embed_dim: 0,
        vocab: vec![],
        classes: vec!["a".into(), "b".into()],
        mean: vec![0.5; dims],
        std: vec![2.0; dims],
        frame_size,
        target: None,
        words: None,
        embed_dropout: 0.0,
        head_dropout: 0.0,
        audio: None,
    };
    // A model reading frames of 4 raw steps of 1 feature, and the same weights reading the
    // framed series directly (4 features a step; the last frame repeats the last value).
    let framed = Classifier::new(config(1, 4), &mut Rng::new(7)).unwrap();
    let mut plain = Classifier::new(config(4, 1), &mut Rng::new(7)).unwrap();
    for (p, f) in plain
        .buffers_mut()
        .into_iter()
        .zip(framed.clone().buffers_mut())
    {
        p.copy_from_slice(f);
    }
    let raw: Vec<f32> = (0..10).map(|t| t as f32 * 0.3).collect();
    let mut by_hand = raw.clone();
    by_hand.extend([raw[9], raw[9]]);
    let one = |dims, v: Vec<f32>| Dataset {
        dims,
        items: vec![Item::Numeric(v)],
        ..Default::default()
    };
    let threads = Threads::single();
    let a = predict(&framed, &threads, &one(1, raw), 1).unwrap();
    let b = predict(&plain, &threads, &one(4, by_hand), 1).unwrap();
    assert_eq!(a, b);
    assert!(ClassifierConfig {
        frame_size: 0,
        ..config(1, 1)
    }
    .validate()
    .is_err());
}

/// `n` univariate series of `len` steps (the rule reads lengths and counts only).
fn series(n: usize, len: usize) -> Dataset {
    Dataset {
        dims: 1,
        items: (0..n).map(|_| Item::Numeric(vec![0.0; len])).collect(),
        labels: (0..n).map(|i| (i % 2).to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn defaults_fit_the_length_and_size_of_the_data() {
    use recur::classify::train::{defaults_for, FRAMES_PER_SERIES, LONG_SERIES, SMALL_DATA};
    // A long series is cut into about 16 frames and augmented; a small set trains an ensemble.
    let long = defaults_for(&series(36, 251));
    assert_eq!((long.frame_size, long.median_length), (16, 251));
    assert_eq!(long.augment, 0.2);
    assert_eq!(long.ensemble, 5);
    assert!(long.bidirectional && long.pooling == Pooling::Max && long.hidden == 128);
    assert_eq!(
        defaults_for(&series(10, 1460)).frame_size,
        (1460.0 / FRAMES_PER_SERIES as f64).round() as usize
    );
    // Short series are read step by step, unaugmented; a larger set trains one model.
    let short = defaults_for(&series(SMALL_DATA + 1, LONG_SERIES - 1));
    assert_eq!(
        (short.frame_size, short.augment, short.ensemble),
        (1, 0.0, 1)
    );
    // Text: a unidirectional reader of the last state.
    let text = Dataset {
        dims: 0,
        items: vec![Item::Text("a long enough text".chars().collect()); 300],
        labels: vec!["x".into(); 300],
        ..Default::default()
    };
    let t = defaults_for(&text);
    assert!(!t.bidirectional && t.pooling == Pooling::Last && t.augment == 0.0);
}

#[test]
fn augmented_training_is_reproducible_and_still_learns() {
    let data = trends(60, 3);
    let s = ClassifySettings {
        augment: 0.2,
        steps: Some(200),
        ..settings(0)
    };
    let run = || {
        train(
            &data,
            &s,
            &Threads::single(),
            &mut (),
            &AtomicBool::new(false),
        )
        .unwrap()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.model.named_tensors(), b.model.named_tensors());
    assert!(
        a.val_accuracy >= 0.8,
        "validation accuracy {}",
        a.val_accuracy
    );
}
