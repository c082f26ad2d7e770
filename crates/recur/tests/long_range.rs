//! The long-range problems: shapes, seeds, targets, the memoryless baselines (measured on the
//! generated data, not only stated), and a short training run through the shared loop.

use recur::gradients::model::{load, SequenceModel, SequenceModelConfig};
use recur::gradients::problems::{Problem, Targets};
use recur::gradients::train::{train, ProblemSettings};
use recur::{CellType, Rng, Threads};
use std::sync::atomic::AtomicBool;

#[test]
fn shapes_and_seeds() {
    for (problem, steps, inputs) in [
        (Problem::Adding, 30, 2),
        (Problem::Copy, 50, 10),
        (Problem::First, 30, 8),
    ] {
        let a = problem.generate(30, 4, &mut Rng::new(5)).unwrap();
        let b = problem.generate(30, 4, &mut Rng::new(5)).unwrap();
        let c = problem.generate(30, 4, &mut Rng::new(6)).unwrap();
        assert_eq!(a.x.shape(), &[steps, 4, inputs], "{problem:?}");
        assert_eq!((a.x.data(), &a.targets), (b.x.data(), &b.targets));
        assert_ne!(
            a.x.data(),
            c.x.data(),
            "{problem:?}: another seed, other data"
        );
        let scored = match &a.targets {
            Targets::Values(v) => v.len(),
            Targets::Classes(c) => c.len(),
        };
        let per_sequence = if problem == Problem::Copy { steps } else { 1 };
        assert_eq!(scored, 4 * per_sequence);
    }
}

#[test]
fn adding_marks_one_value_in_each_half_and_sums_them() {
    let (t, b) = (11, 50);
    let batch = Problem::Adding.generate(t, b, &mut Rng::new(1)).unwrap();
    let Targets::Values(sums) = &batch.targets else {
        panic!("adding has values")
    };
    let x = batch.x.data();
    for (s, &sum) in sums.iter().enumerate() {
        let at = |t: usize, i: usize| x[(t * b + s) * 2 + i];
        let marked: Vec<usize> = (0..t).filter(|&k| at(k, 1) == 1.0).collect();
        assert_eq!(marked.len(), 2);
        assert!(marked[0] < t / 2 && marked[1] >= t / 2);
        assert_eq!(sum, at(marked[0], 0) + at(marked[1], 0));
        assert!((0..t).all(|k| (0.0..1.0).contains(&at(k, 0))));
    }
    // Predicting the mean sum, 1, scores the variance of a sum of two U(0, 1): 1/6.
    let big = Problem::Adding
        .generate(20, 20_000, &mut Rng::new(2))
        .unwrap();
    let Targets::Values(sums) = big.targets else {
        unreachable!()
    };
    let mse = sums.iter().map(|&s| (s as f64 - 1.0).powi(2)).sum::<f64>() / sums.len() as f64;
    assert!((mse - 1.0 / 6.0).abs() < 0.005, "{mse}");
    assert_eq!(Problem::Adding.baseline(200).loss, 1.0 / 6.0);
}

#[test]
fn copy_recalls_the_first_ten_symbols_after_the_delimiter() {
    let (t, b) = (15, 3);
    let batch = Problem::Copy.generate(t, b, &mut Rng::new(4)).unwrap();
    let Targets::Classes(targets) = &batch.targets else {
        panic!("copy has classes")
    };
    let steps = t + 20;
    let x = batch.x.data();
    let id = |k: usize, s: usize| {
        let row = &x[(k * b + s) * 10..(k * b + s + 1) * 10];
        assert_eq!(row.iter().sum::<f32>(), 1.0, "one-hot");
        row.iter().position(|&v| v == 1.0).unwrap() as u32
    };
    for s in 0..b {
        for k in 0..steps {
            let (input, target) = (id(k, s), targets[k * b + s]);
            match k {
                0..=9 => assert!((1..=8).contains(&input)),
                _ if k == t + 9 => assert_eq!(input, 9, "the delimiter"),
                _ => assert_eq!(input, 0),
            }
            if k < t + 10 {
                assert_eq!(target, 0);
            } else {
                assert_eq!(target, id(k - t - 10, s));
            }
        }
    }
    // 10 symbols of 8 guessed over T + 20 steps.
    let base = Problem::Copy.baseline(100).loss;
    assert!((base - 10.0 * 8f64.ln() / 120.0).abs() < 1e-12);
}

#[test]
fn first_symbol_is_the_class() {
    let batch = Problem::First.generate(6, 40, &mut Rng::new(9)).unwrap();
    let Targets::Classes(c) = &batch.targets else {
        panic!("first has classes")
    };
    for (s, &class) in c.iter().enumerate() {
        assert_eq!(batch.x.data()[s * 8 + class as usize], 1.0);
    }
    assert_eq!(Problem::First.baseline(6).accuracy, Some(0.125));
}

#[test]
fn bad_lengths_and_names_are_refused_with_the_flag() {
    let e = Problem::Adding
        .generate(1, 1, &mut Rng::new(1))
        .unwrap_err();
    assert!(e.to_string().contains("`length` must be at least 2"), "{e}");
    let e = Problem::Copy.generate(0, 1, &mut Rng::new(1)).unwrap_err();
    assert!(e.to_string().contains("`length`"), "{e}");
    let e = "adder".parse::<Problem>().unwrap_err();
    assert!(e.to_string().contains("unknown task `adder`"), "{e}");
    let mut s = ProblemSettings::defaults(Problem::First, 10, CellType::Gru);
    s.hidden = 0;
    assert!(s
        .validate()
        .unwrap_err()
        .to_string()
        .contains("`hidden` must be at least 1"));
}

/// A GRU learns the first-symbol task over a short span in a few seconds, beating the baseline
/// by far; its checkpoint tensors load back into the same model.
#[test]
fn a_short_run_beats_the_baseline_and_reloads() {
    let mut s = ProblemSettings::defaults(Problem::First, 5, CellType::Gru);
    (s.hidden, s.steps, s.validate_every, s.eval_size) = (16, 300, 100, 200);
    let t = train(&s, &Threads::single(), &mut (), &AtomicBool::new(false)).unwrap();
    assert!(
        t.test.loss < 0.5 * t.baseline.loss,
        "{} vs {}",
        t.test.loss,
        t.baseline.loss
    );
    assert_eq!(t.summary.metrics.len(), 4);
    // Same settings, same bits.
    let again = train(
        &s,
        &Threads::new(2).unwrap(),
        &mut (),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(again.test, t.test);
    let dir = std::env::temp_dir().join(format!("recur-long-range-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({"format": "recur", "version": 1, "task": "long-range", "model": t.model.config()});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    recur::io::write_safetensors(dir.join("model.safetensors"), &t.model.named_tensors()).unwrap();
    let back = load(&dir).unwrap();
    assert_eq!(back.rnn.params(), t.model.rnn.params());
    assert_eq!(back.head, t.model.head);
    std::fs::write(
        dir.join("config.json"),
        r#"{"format": "recur", "version": 1, "task": "forecast"}"#,
    )
    .unwrap();
    assert!(load(&dir)
        .unwrap_err()
        .to_string()
        .contains("not a long-range checkpoint"));
    let _ = std::fs::remove_dir_all(&dir);
    // A model of another problem refuses the batch.
    let other = SequenceModel::new(
        SequenceModelConfig {
            problem: Problem::Adding,
            cell: CellType::Rnn,
            hidden_size: 4,
            num_layers: 1,
        },
        &mut Rng::new(1),
    )
    .unwrap();
    let batch = Problem::First.generate(5, 2, &mut Rng::new(1)).unwrap();
    assert!(other.run(&Threads::single(), &batch, None).is_err());
}
