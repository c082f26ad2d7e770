//! Faults in checkpoints and in arguments of the library, one test per kind: size fields beyond
//! the parameter limit, classifier scaling that does not fit the features, training counters
//! beyond the data, non-finite tensors, and data of another kind handed to a model. Every one is
//! an error naming the file and the field or tensor, never a panic.

mod checkpoints;

use checkpoints::*;
use recur::charlm::{checkpoint, evaluate, CharLmConfig, Trainer};
use recur::classify::data::{Dataset, Item};
use recur::classify::model::{self as classify_model, Classifier};
use recur::classify::train::{argmax_rows, predict, report};
use recur::forecast::model::{self as forecast_model, Forecaster};
use recur::io::{write_safetensors, TensorFile};
use recur::{CellType, Error, Recurrent, RecurrentConfig, Rng, Tensor, Threads, MAX_PARAMETERS};
use std::path::Path;

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The error of resuming `dir` (which must fail).
fn resume_err(dir: &Path, text: &str) -> Error {
    match Trainer::resume(dir, text, None) {
        Ok(_) => panic!("{} resumed", dir.display()),
        Err(e) => e,
    }
}

fn assert_mentions(e: &Error, needles: &[&str]) {
    let m = e.to_string();
    assert!(!m.contains('\n'), "not one line: {m}");
    for n in needles {
        assert!(m.contains(n), "{m:?} does not mention {n:?}");
    }
}

/// Replaces tensor `name` of a safetensors file by the same shape holding `value` at element 1.
fn poison(path: &Path, name: &str, value: f32) {
    let file = TensorFile::read(path).unwrap();
    let names: Vec<String> = file.names().map(String::from).collect();
    let mut owned: Vec<(String, Vec<usize>, Vec<f32>)> = names
        .iter()
        .map(|n| {
            let (s, d) = file.get(n).unwrap();
            (n.clone(), s.to_vec(), d.to_vec())
        })
        .collect();
    let t = owned
        .iter_mut()
        .find(|t| t.0 == name)
        .expect("tensor exists");
    t.2[1] = value;
    let tensors: Vec<_> = owned
        .iter()
        .map(|(n, s, d)| (n.clone(), s.clone(), &d[..]))
        .collect();
    write_safetensors(path, &tensors).unwrap();
}

#[test]
fn allocation_sizes_beyond_the_parameter_limit_are_refused() {
    let base = CharLmConfig {
        cell: CellType::Gru,
        nonlinearity: None,
        vocab_size: 30,
        embed_dim: 8,
        hidden_size: 16,
        num_layers: 1,
        dropout: 0.0,
        bias: true,
    };
    assert!(base.validate().is_ok());
    for (field, config) in [
        (
            "hidden_size",
            CharLmConfig {
                hidden_size: 1_000_000_000,
                ..base.clone()
            },
        ),
        (
            "hidden_size",
            CharLmConfig {
                hidden_size: usize::MAX,
                ..base.clone()
            },
        ),
        (
            "embed_dim",
            CharLmConfig {
                embed_dim: usize::MAX / 2,
                ..base.clone()
            },
        ),
        (
            "vocab_size",
            CharLmConfig {
                vocab_size: 100_000_000,
                ..base.clone()
            },
        ),
        (
            "num_layers",
            CharLmConfig {
                num_layers: usize::MAX,
                ..base.clone()
            },
        ),
    ] {
        let e = config.validate().unwrap_err();
        assert_mentions(&e, &[field]);
        let e = recur::charlm::CharLm::zeros(config).unwrap_err();
        assert_mentions(&e, &[field]);
    }
    let e = CharLmConfig {
        hidden_size: 20_000,
        ..base.clone()
    }
    .validate()
    .unwrap_err();
    assert_mentions(&e, &["hidden_size 20000", &MAX_PARAMETERS.to_string()]);
    // The recurrent layer alone, and the other tasks' models.
    for config in [
        RecurrentConfig::new(CellType::Lstm, 3, usize::MAX),
        RecurrentConfig::new(CellType::Lstm, usize::MAX, 3),
        RecurrentConfig::new(CellType::Rnn, 3, 3).layers(1 << 40),
        RecurrentConfig::new(CellType::Gru, 3, 1 << 31).bidirectional(true),
    ] {
        assert!(
            Recurrent::<f32>::zeros(config.clone()).is_err(),
            "{config:?}"
        );
        assert!(Recurrent::<f64>::new(config, &mut Rng::new(1)).is_err());
    }
    let mut c = forecaster_config();
    c.horizon = usize::MAX;
    assert_mentions(&Forecaster::zeros(c).unwrap_err(), &["horizon"]);
    let mut c = forecaster_config();
    c.hidden_size = 1 << 40;
    assert_mentions(
        &Forecaster::new(c, &mut Rng::new(1)).unwrap_err(),
        &["hidden_size"],
    );
    let mut c = classifier_config(false);
    c.embed_dim = usize::MAX;
    assert_mentions(&Classifier::zeros(c).unwrap_err(), &["embed_dim"]);
    let mut c = classifier_config(true);
    c.num_layers = 5000;
    assert_mentions(&Classifier::zeros(c).unwrap_err(), &["num_layers", "1024"]);

    // The same fields in a checkpoint's config.json: named with the file, refused before the
    // model is allocated (a size under the limit that the tensors do not hold included).
    let dir = temp("alloc");
    let ck = dir.join("charlm");
    write_charlm(&ck, CellType::Gru);
    let work = dir.join("work");
    for (field, value) in [
        ("hidden_size", serde_json::json!(1_000_000_000u64)),
        ("hidden_size", serde_json::json!(4000)),
        ("embed_dim", serde_json::json!(u64::MAX)),
        ("num_layers", serde_json::json!(1_000_000)),
    ] {
        copy_dir(&ck, &work);
        edit_json(&work.join("config.json"), |v| v["model"][field] = value);
        assert_mentions(
            &checkpoint::load(&work).unwrap_err(),
            &[field, "config.json"],
        );
        assert_mentions(&resume_err(&work, &text()), &[field, "config.json"]);
    }
    let cl = dir.join("classifier");
    write_classifier(&cl, true);
    copy_dir(&cl, &work);
    edit_json(&work.join("config.json"), |v| {
        v["model"]["hidden_size"] = 3000.into();
        v["training"]["hidden"] = 3000.into();
    });
    assert_mentions(
        &classify_model::load(&work).unwrap_err(),
        &["hidden_size 3000", "config.json", "model.safetensors"],
    );
    let fc = dir.join("forecaster");
    write_forecaster(&fc);
    copy_dir(&fc, &work);
    edit_json(&work.join("config.json"), |v| {
        v["model"]["horizon"] = serde_json::json!(u64::MAX);
        v["settings"]["horizon"] = serde_json::json!(u64::MAX);
    });
    assert_mentions(
        &forecast_model::load(&work).unwrap_err(),
        &["horizon", "config.json"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn classifier_scaling_that_does_not_fit_the_features_is_refused() {
    let dir = temp("scaling");
    let ck = dir.join("numeric");
    write_classifier(&ck, true);
    let loaded = classify_model::load(&ck).unwrap();
    assert_eq!(loaded.config(), &classifier_config(true));
    let work = dir.join("work");
    let edits: [(&str, serde_json::Value, &[&str]); 8] = [
        (
            "mean",
            serde_json::json!([0.5]),
            &["mean has 1 values", "dims is 2"],
        ),
        (
            "std",
            serde_json::json!([1.0, 2.0, 3.0]),
            &["std has 3 values"],
        ),
        ("std", serde_json::json!([1.0, 0.0]), &["std[1] is 0"]),
        ("std", serde_json::json!([-1.0, 1.0]), &["std[0] is -1"]),
        ("mean", serde_json::json!([1e39, 0.0]), &["mean"]),
        ("dims", serde_json::json!(3), &["dims is 3"]),
        (
            "classes",
            serde_json::json!(["x", "x", "y"]),
            &["classes", "twice"],
        ),
        ("embed_dim", serde_json::json!(4), &["embed_dim 4"]),
    ];
    for (field, value, needles) in edits {
        copy_dir(&ck, &work);
        edit_json(&work.join("config.json"), |v| v["model"][field] = value);
        let e = classify_model::load(&work).unwrap_err();
        assert_mentions(&e, &["config.json"]);
        assert_mentions(&e, needles);
    }
    // A text model carries no scaling.
    let text_ck = dir.join("text");
    write_classifier(&text_ck, false);
    classify_model::load(&text_ck).unwrap();
    copy_dir(&text_ck, &work);
    edit_json(&work.join("config.json"), |v| {
        v["model"]["mean"] = serde_json::json!([0.0])
    });
    assert_mentions(
        &classify_model::load(&work).unwrap_err(),
        &["config.json", "mean and std"],
    );
    // The training section must describe the same model.
    copy_dir(&ck, &work);
    edit_json(&work.join("config.json"), |v| {
        v["training"]["layers"] = 2.into()
    });
    assert_mentions(
        &classify_model::load(&work).unwrap_err(),
        &["training.layers is 2", "model.num_layers is 1"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn training_state_counters_beyond_the_data_are_refused() {
    let dir = temp("state");
    let ck = dir.join("charlm");
    write_charlm(&ck, CellType::Lstm);
    let text = text();
    let resumed = Trainer::resume(&ck, &text, None).unwrap();
    assert_eq!(resumed.state().step, 3);
    let spe = resumed.steps_per_epoch();
    let work = dir.join("work");
    let edits: [(&str, serde_json::Value, &str); 9] = [
        ("step_in_epoch", (spe + 5).into(), "step_in_epoch"),
        ("step_in_epoch", u64::MAX.into(), "step_in_epoch"),
        ("step", 4.into(), "step 4 does not match"),
        ("step", u64::MAX.into(), "step"),
        ("epoch", 2.into(), "epoch 2"),
        ("best_val_loss", (-1.0).into(), "best_val_loss"),
        ("train_seconds", (-3.0).into(), "train_seconds"),
        (
            "dropout_rng",
            serde_json::json!({"state": [0, 0, 0, 0]}),
            "dropout_rng",
        ),
        ("text_hash", "0".into(), "the text differs"),
    ];
    for (field, value, needle) in edits {
        copy_dir(&ck, &work);
        edit_json(&work.join("state.json"), |v| v[field] = value);
        let e = resume_err(&work, &text);
        assert_mentions(&e, &[needle]);
        if field != "text_hash" {
            assert_mentions(&e, &["state.json"]);
        }
    }
    // The saved training settings in config.json are checked too.
    copy_dir(&ck, &work);
    edit_json(&work.join("config.json"), |v| {
        v["training"]["batch_size"] = 0.into()
    });
    assert_mentions(
        &resume_err(&work, &text),
        &["config.json", "training", "batch"],
    );
    copy_dir(&ck, &work);
    edit_json(&work.join("config.json"), |v| {
        v["training"]["batch_size"] = serde_json::json!(u64::MAX);
        v["training"]["seq_len"] = serde_json::json!(u64::MAX);
    });
    assert!(Trainer::resume(&work, &text, None).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn non_finite_weights_are_rejected_naming_the_tensor() {
    let dir = temp("nan");
    let work = dir.join("work");
    let ck = dir.join("charlm");
    write_charlm(&ck, CellType::Gru);
    for (file, tensor, value) in [
        ("model.safetensors", "rnn.weight_hh_l1", f32::NAN),
        ("model.safetensors", "head.bias", f32::INFINITY),
        ("optim.safetensors", "second.1", f32::NAN),
        ("optim.safetensors", "carry.h", f32::NEG_INFINITY),
    ] {
        copy_dir(&ck, &work);
        poison(&work.join(file), tensor, value);
        let e = resume_err(&work, &text());
        assert_mentions(&e, &[file, &format!("'{tensor}'"), "non-finite"]);
        if file == "model.safetensors" {
            assert_mentions(&checkpoint::load(&work).unwrap_err(), &[tensor]);
        }
    }
    let cl = dir.join("classifier");
    write_classifier(&cl, false);
    copy_dir(&cl, &work);
    poison(
        &work.join("model.safetensors"),
        "embedding.weight",
        f32::NAN,
    );
    assert_mentions(
        &classify_model::load(&work).unwrap_err(),
        &["'embedding.weight'", "NaN"],
    );
    let fc = dir.join("forecaster");
    write_forecaster(&fc);
    forecast_model::load(&fc).unwrap();
    copy_dir(&fc, &work);
    poison(&work.join("model.safetensors"), "head.weight", f32::NAN);
    assert_mentions(
        &forecast_model::load(&work).unwrap_err(),
        &["'head.weight'", "non-finite"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn library_functions_return_errors_on_bad_arguments() {
    let threads = Threads::single();
    let numeric = Classifier::new(classifier_config(true), &mut Rng::new(1)).unwrap();
    let text_model = Classifier::new(classifier_config(false), &mut Rng::new(1)).unwrap();
    let good = classifier_data(true);
    assert_eq!(predict(&numeric, &threads, &good, 8).unwrap().len(), 2 * 3);
    // A different feature count (the panic of `classify::train::predict`).
    let three = Dataset {
        dims: 3,
        items: vec![Item::Numeric(vec![0.0; 6])],
        labels: vec!["x".into()],
        ..Default::default()
    };
    let e = predict(&numeric, &threads, &three, 8).unwrap_err();
    assert_mentions(&e, &["3 features per step", "expects 2"]);
    // Text for a numeric model and the reverse.
    assert!(predict(&numeric, &threads, &classifier_data(false), 8).is_err());
    assert!(predict(&text_model, &threads, &good, 8).is_err());
    assert_eq!(
        predict(&text_model, &threads, &classifier_data(false), 1)
            .unwrap()
            .len(),
        6
    );
    // Items that do not fit the declared width, empty sequences, wrong kinds.
    for items in [
        vec![Item::Numeric(vec![0.0; 5])],
        vec![Item::Numeric(vec![])],
        vec![Item::Text(vec!['a'])],
    ] {
        let data = Dataset {
            dims: 2,
            items,
            labels: vec!["x".into()],
            ..Default::default()
        };
        assert!(predict(&numeric, &threads, &data, 8).is_err());
    }
    // Bad indices, targets and gradient buffers given to `run`.
    assert!(numeric
        .run(&threads, &good, &[7], None, None, None)
        .is_err());
    assert!(numeric
        .run(&threads, &good, &[0, 1], Some(&[0, 9]), None, None)
        .is_err());
    assert!(numeric
        .run(&threads, &good, &[0], Some(&[0, 1]), None, None)
        .is_err());
    // Gradients shaped for another model.
    let mut grads = text_model.zero_grads();
    assert!(numeric
        .run(&threads, &good, &[0], Some(&[0]), Some(&mut grads), None)
        .is_err());
    // Scoring with ids outside the classes, or lists of different lengths.
    let classes = vec!["x".to_string(), "y".to_string()];
    assert!(report(&[0, 5], &[0, 1], &classes).is_err());
    assert!(report(&[0, 1], &[0], &classes).is_err());
    assert!(report(&[0, 1], &[1, 1], &classes).is_ok());
    assert!(argmax_rows(&[0.5, 0.5], 0).is_empty());
    // A forecaster given windows of the wrong shape or targets of the wrong length.
    let f = Forecaster::new(forecaster_config(), &mut Rng::new(1)).unwrap();
    let x = Tensor::new("x", &[4, 2, 2], vec![0.1; 16]).unwrap();
    assert_eq!(f.run(&threads, &x, None, None).unwrap().0.len(), 2 * 3);
    for shape in [vec![4, 2, 3], vec![0, 2, 2], vec![8, 2]] {
        let n = shape.iter().product();
        let x = Tensor::new("x", &shape, vec![0.1f32; n]).unwrap();
        assert!(f.run(&threads, &x, None, None).is_err(), "{shape:?}");
    }
    // Gradients shaped for another forecaster.
    let mut other = forecaster_config();
    other.hidden_size += 1;
    let mut grads = Forecaster::new(other, &mut Rng::new(1))
        .unwrap()
        .zero_grads();
    assert!(f
        .run(&threads, &x, Some(&[0.0; 6]), Some(&mut grads))
        .is_err());
    assert!(f.run(&threads, &x, Some(&[0.0; 5]), None).is_err());
    // A character model given a bad batch or tokens outside its vocabulary.
    let lm = recur::charlm::CharLm::new(
        CharLmConfig {
            cell: CellType::Gru,
            nonlinearity: None,
            vocab_size: 5,
            embed_dim: 3,
            hidden_size: 4,
            num_layers: 1,
            dropout: 0.0,
            bias: true,
        },
        &mut Rng::new(1),
    )
    .unwrap();
    let mut grads = lm.zero_grads();
    let mut work = recur::charlm::StepWork::default();
    let mut drop_rng = Rng::new(1);
    for (inputs, targets, batch) in [
        (vec![0u32, 1, 2, 3], vec![1u32, 2, 3, 4], 0usize),
        (vec![0, 1, 2], vec![1, 2, 3], 2),
        (vec![0, 1], vec![1], 1),
        (vec![0, 1], vec![1, 9], 1),
        (vec![0, 7], vec![1, 2], 1),
    ] {
        let mut carry = lm.zero_carry(batch.max(1));
        let tokens = recur::charlm::TokenBatch {
            inputs: &inputs,
            targets: &targets,
            batch,
        };
        let r = lm.train_batch(
            &threads,
            tokens,
            &mut carry,
            &mut drop_rng,
            &mut grads,
            &mut work,
        );
        assert!(r.is_err(), "{inputs:?} {targets:?} {batch}");
    }
    let mut carry = lm.zero_carry(1);
    let mut wrong = recur::charlm::CharLmGrads {
        buffers: vec![vec![0.0; 2]],
    };
    assert!(lm
        .train_batch(
            &threads,
            recur::charlm::TokenBatch {
                inputs: &[0, 1],
                targets: &[1, 2],
                batch: 1,
            },
            &mut carry,
            &mut drop_rng,
            &mut wrong,
            &mut work
        )
        .is_err());
    assert!(evaluate(&lm, &threads, &[0, 1, 2, 5], |_, _| {}).is_err());
    assert!(evaluate(&lm, &threads, &[0, 1, 2, 4], |_, _| {}).is_ok());
    let vocab = recur::charlm::Vocab::from_text("ab");
    let e = recur::charlm::generate(
        &lm,
        &vocab,
        &threads,
        "a",
        3,
        &recur::charlm::SampleOptions {
            seed: 1,
            ..Default::default()
        },
        |_| Ok(()),
    )
    .unwrap_err();
    assert_mentions(&e, &["vocab_size is 5"]);
}
