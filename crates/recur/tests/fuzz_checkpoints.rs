//! A seeded fuzz test of the checkpoint loaders: small valid checkpoints of every task (character
//! model with optimiser state, numeric and text classifiers, forecaster) are mutated a few
//! thousand times (byte flips, truncation, huge, negative and fractional numbers, missing and
//! extra fields, NaN in tensors, broken tensor headers) and loaded through the library's loaders
//! and `Trainer::resume`. Every load must return (a model or an error), never panic or abort; a
//! model that loads must also run.
//!
//! `RECUR_FUZZ_ROUNDS` sets the mutations per checkpoint (default 500; set it higher for a
//! longer run) and `RECUR_FUZZ_SEED` the seed.

mod checkpoints;

use checkpoints::*;
use recur::charlm::{checkpoint, evaluate, Trainer};
use recur::classify::model as classify_model;
use recur::classify::train::predict;
use recur::forecast::model as forecast_model;
use recur::{CellType, Rng, Tensor, Threads};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug)]
enum Kind {
    CharLm,
    NumericClassifier,
    TextClassifier,
    Forecaster,
}

/// The files of the checkpoint in `dir`, as (name, bytes).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        // The plot is written for people and never read back.
        .filter(|e| e.file_name() != "loss.svg")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A number that tends to break size arithmetic or ranges.
fn nasty_number(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::from(u64::MAX),
        1 => Value::from(i64::MIN),
        2 => Value::from(-1),
        3 => Value::from(0),
        4 => Value::from(1u64 << 40),
        5 => Value::from(1_000_000_000u64),
        6 => serde_json::json!(1e300),
        7 => serde_json::json!(-1e-300),
        8 => serde_json::json!(0.5),
        9 => Value::from(u32::MAX as u64 + 1),
        10 => Value::from(rng.below(5) as u64),
        11 => Value::from(rng.below(100_000) as u64),
        12 => Value::from("NaN"),
        _ => Value::from(i32::MAX as u64),
    }
}

/// Every path (object keys and array indices) of `v`, depth first.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                prefix.push(Value::from(k.clone()));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate().take(8) {
                prefix.push(Value::from(i as u64));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match k {
        Value::String(s) => &mut v[s.as_str()],
        Value::Number(n) => &mut v[n.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// A structural mutation of a JSON document.
fn mutate_json(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(bytes) else {
        return bytes.to_vec();
    };
    let mut all = Vec::new();
    paths(&v, &mut Vec::new(), &mut all);
    let path = all[rng.below(all.len())].clone();
    let (parent_path, last) = match path.split_last() {
        Some((last, parent)) => (parent.to_vec(), Some(last.clone())),
        None => (Vec::new(), None),
    };
    match rng.below(8) {
        // Remove the field or element.
        0 => {
            let parent = at(&mut v, &parent_path);
            match (parent, last) {
                (Value::Object(m), Some(Value::String(k))) => {
                    m.remove(&k);
                }
                (Value::Array(a), Some(Value::Number(i))) => {
                    a.remove(i.as_u64().unwrap() as usize);
                }
                _ => {}
            }
        }
        // An extra field.
        1 => {
            if let Value::Object(m) = at(&mut v, &parent_path) {
                m.insert("unexpected".into(), nasty_number(rng));
            }
        }
        // Another type.
        2 => {
            *at(&mut v, &path) = match rng.below(5) {
                0 => Value::Null,
                1 => Value::from("x"),
                2 => Value::from(true),
                3 => serde_json::json!([]),
                _ => serde_json::json!({}),
            }
        }
        // Grow or shrink an array.
        3 => {
            let target = at(&mut v, &path);
            if let Value::Array(a) = target {
                if rng.below(2) == 0 || a.is_empty() {
                    let item = a.first().cloned().unwrap_or(Value::from(1));
                    let n = 1 + rng.below(40);
                    a.extend(std::iter::repeat_n(item, n));
                } else {
                    let n = rng.below(a.len());
                    a.truncate(n);
                }
            } else {
                *target = nasty_number(rng);
            }
        }
        // Numbers: the most common mutation.
        _ => {
            let target = at(&mut v, &path);
            match target {
                Value::Number(_) | Value::Bool(_) | Value::Null => *target = nasty_number(rng),
                Value::String(s) => {
                    *s = [
                        "", "rnn", "lstm", "gru", "tanh", "relu", "mean", "ab", "char-lm",
                    ][rng.below(9)]
                    .into()
                }
                _ => *target = nasty_number(rng),
            }
        }
    }
    serde_json::to_vec(&v).unwrap()
}

/// Rewrites the JSON header of a safetensors file through `edit`.
fn edit_header(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    if bytes.len() < 8 {
        return bytes.to_vec();
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let Some(header) = n.checked_add(8).and_then(|end| bytes.get(8..end)) else {
        return bytes.to_vec();
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(header) else {
        return bytes.to_vec();
    };
    edit(&mut v);
    let new = serde_json::to_vec(&v).unwrap();
    let mut out = (new.len() as u64).to_le_bytes().to_vec();
    out.extend(new);
    out.extend(&bytes[8 + n..]);
    out
}

/// A mutation of a safetensors file: bytes, length, values or header.
fn mutate_safetensors(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.len() < 8 {
        b.push(rng.below(256) as u8);
        return b;
    }
    let header = u64::from_le_bytes(b[..8].try_into().unwrap());
    let data_start = usize::try_from(header)
        .unwrap_or(usize::MAX)
        .saturating_add(8);
    match rng.below(7) {
        // A non-finite value somewhere in the data.
        0 | 1 => {
            let words = b.len().saturating_sub(data_start) / 4;
            if words > 0 {
                let i = data_start + 4 * rng.below(words);
                let v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38][rng.below(4)];
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            b
        }
        // Truncated.
        2 => {
            let n = rng.below(b.len());
            b.truncate(n);
            b
        }
        // Random bytes flipped (anywhere, the header included).
        3 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            b
        }
        // The header length itself.
        4 => {
            let n = [0u64, 1, u64::MAX, (b.len() * 2) as u64, 7][rng.below(5)];
            b[..8].copy_from_slice(&n.to_le_bytes());
            b
        }
        // Shapes, offsets and dtypes in the header.
        _ => {
            let choice = rng.below(4);
            let number = nasty_number(rng);
            let pick = rng.below(64);
            edit_header(&b, |v| {
                let Some(m) = v.as_object_mut() else { return };
                let keys: Vec<String> =
                    m.keys().filter(|k| *k != "__metadata__").cloned().collect();
                if keys.is_empty() {
                    return;
                }
                let t = &mut m[&keys[pick % keys.len()]];
                match choice {
                    0 => t["shape"] = serde_json::json!([number, 2]),
                    1 => t["shape"] = serde_json::json!([]),
                    2 => t["data_offsets"] = serde_json::json!([0, number]),
                    _ => t["dtype"] = Value::from(["F64", "I32", "BF16", "U8"][pick % 4]),
                }
            })
        }
    }
}

/// A plain byte-level mutation of a text file.
fn mutate_text(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.below(4) {
        0 => b.truncate(rng.below(b.len().max(1))),
        1 => {
            let i = rng.below(b.len().max(1));
            if i < b.len() {
                b[i] = b"0123456789-.e\"{}[],:x"[rng.below(21)];
            }
        }
        2 => {
            // A digit string made enormous.
            if let Some(i) = b.iter().position(|c| c.is_ascii_digit()) {
                let j = i + rng.below(b.len() - i);
                if b[j].is_ascii_digit() {
                    b.splice(j..j, b"99999999999999999999".iter().copied());
                }
            }
        }
        _ => {
            let i = rng.below(b.len().max(1));
            if i < b.len() {
                b[i] ^= 1 << rng.below(8);
            }
        }
    }
    b
}

/// Loads the checkpoint in `dir` as `kind` and, if it loads, runs it on a little data.
fn load_and_run(kind: Kind, dir: &Path, text: &str) -> bool {
    let threads = Threads::single();
    // The one entry point for any checkpoint never panics either, and agrees with the loaders.
    if let Ok(opened) = recur::checkpoint::open(dir) {
        let task = match opened {
            recur::checkpoint::Checkpoint::CharLm(_) => recur::checkpoint::Task::CharLm,
            recur::checkpoint::Checkpoint::Classifier(_) => recur::checkpoint::Task::Classify,
            recur::checkpoint::Checkpoint::Regressor(_) => recur::checkpoint::Task::Regress,
            recur::checkpoint::Checkpoint::Forecaster(_) => recur::checkpoint::Task::Forecast,
            recur::checkpoint::Checkpoint::Translator(_) => recur::checkpoint::Task::Translate,
            recur::checkpoint::Checkpoint::Acoustic(_) => recur::checkpoint::Task::Transcribe,
        };
        assert_eq!(recur::checkpoint::task(dir).unwrap(), task);
    }
    match kind {
        Kind::CharLm => {
            let mut ok = false;
            if let Ok(loaded) = checkpoint::load(dir) {
                if let Ok(tokens) = loaded.vocab.encode(&text[..40], "text") {
                    // Huge finite weights may give an infinite loss: a figure, not a panic.
                    let _ = evaluate(&loaded.model, &threads, &tokens, |_, _| {});
                }
                ok = true;
            }
            if let Ok(mut trainer) = Trainer::resume(dir, text, None) {
                // A mutated learning rate or moment may diverge: an error, not a panic.
                let _ = trainer.step(&threads);
                ok = true;
            }
            ok
        }
        Kind::NumericClassifier | Kind::TextClassifier => {
            let numeric = matches!(kind, Kind::NumericClassifier);
            match classify_model::load(dir) {
                Ok(model) => {
                    let _ = predict(&model, &threads, &classifier_data(numeric), 4);
                    true
                }
                Err(_) => false,
            }
        }
        Kind::Forecaster => match forecast_model::load(dir) {
            Ok(loaded) => {
                let inputs = loaded.model.config().inputs;
                let x = Tensor::new("x", &[5, 2, inputs], vec![0.3; 10 * inputs]).unwrap();
                let _ = loaded.model.run(&threads, &x, None, None);
                true
            }
            Err(_) => false,
        },
    }
}

#[test]
fn fuzzed_checkpoints_load_or_fail_without_panicking() {
    let rounds: usize = std::env::var("RECUR_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let seed: u64 = std::env::var("RECUR_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let root = temp("fuzz");
    let text = text();
    let kinds: [(Kind, PathBuf); 5] = [
        (Kind::CharLm, root.join("charlm_gru")),
        (Kind::CharLm, root.join("charlm_lstm")),
        (Kind::NumericClassifier, root.join("numeric")),
        (Kind::TextClassifier, root.join("text")),
        (Kind::Forecaster, root.join("forecaster")),
    ];
    write_charlm(&kinds[0].1, CellType::Gru);
    write_charlm(&kinds[1].1, CellType::Lstm);
    write_classifier(&kinds[2].1, true);
    write_classifier(&kinds[3].1, false);
    write_forecaster(&kinds[4].1);
    let mut rng = Rng::new(seed);
    let mut failures = Vec::new();
    let (mut loaded, mut total) = (0usize, 0usize);
    let work = root.join("work");
    for (kind, dir) in &kinds {
        let originals = files(dir);
        // The unmutated checkpoint loads, also through the one entry point, as its task.
        assert!(load_and_run(*kind, dir, &text), "{kind:?} does not load");
        let task = recur::checkpoint::task(dir).unwrap();
        let expected = match kind {
            Kind::CharLm => recur::checkpoint::Task::CharLm,
            Kind::NumericClassifier | Kind::TextClassifier => recur::checkpoint::Task::Classify,
            Kind::Forecaster => recur::checkpoint::Task::Forecast,
        };
        assert_eq!(task, expected);
        assert!(recur::checkpoint::open(dir).is_ok());
        for round in 0..rounds {
            let _ = std::fs::remove_dir_all(&work);
            std::fs::create_dir_all(&work).unwrap();
            let mut mutated = originals.clone();
            let mut what = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let i = rng.below(mutated.len());
                let (name, bytes) = &mut mutated[i];
                *bytes = if name.ends_with(".safetensors") {
                    mutate_safetensors(bytes, &mut rng)
                } else if name.ends_with(".json") && rng.below(4) != 0 {
                    mutate_json(bytes, &mut rng)
                } else {
                    mutate_text(bytes, &mut rng)
                };
                what.push(name.clone());
            }
            // Now and then a file goes missing altogether.
            if rng.below(25) == 0 {
                let i = rng.below(mutated.len());
                what.push(format!("-{}", mutated[i].0));
                mutated.remove(i);
            }
            for (name, bytes) in &mutated {
                std::fs::write(work.join(name), bytes).unwrap();
            }
            total += 1;
            match catch_unwind(AssertUnwindSafe(|| load_and_run(*kind, &work, &text))) {
                Ok(true) => loaded += 1,
                Ok(false) => {}
                Err(_) => {
                    let keep = root.join(format!("failure-{kind:?}-{round}"));
                    copy_all(&work, &keep);
                    failures.push(format!(
                        "{kind:?} round {round} ({what:?}), kept in {}",
                        keep.display()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} mutated checkpoints panicked (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{loaded} of {total} mutated checkpoints loaded, the rest were refused");
    // Some mutations keep the checkpoint loadable (extra fields, harmless values); most do not.
    assert!(loaded > 0 && loaded < total, "{loaded} of {total} loaded");
    let _ = std::fs::remove_dir_all(root);
}

fn copy_all(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in files(from) {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}
