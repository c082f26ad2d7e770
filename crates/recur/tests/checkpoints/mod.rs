//! Small valid checkpoints of every task (character model with optimiser state, numeric and text
//! classifiers, forecaster), written into a directory, for the checkpoint fault tests.
#![allow(dead_code)]

use recur::charlm::{CharLm, CharLmConfig, Stop, TrainSettings, Trainer, Vocab};
use recur::classify::data::{Dataset, Item};
use recur::classify::model::{Classifier, ClassifierConfig, Pooling};
use recur::classify::train::ClassifySettings;
use recur::forecast::model::{Forecaster, ForecasterConfig};
use recur::forecast::pipeline::ForecastSettings;
use recur::io::write_safetensors;
use recur::optim::{OptimizerConfig, OptimizerKind, Schedule, ScheduleKind};
use recur::rundir::{OutPolicy, RunDir};
use recur::{CellType, Rng, Threads};
use std::path::{Path, PathBuf};

/// A fresh, empty directory for one test.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recur-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The training text of the character checkpoint.
pub fn text() -> String {
    let mut rng = Rng::new(3);
    (0..400)
        .map(|_| ['a', 'b', 'c', 'd', 'e', ' '][rng.below(6)])
        .collect()
}

/// A character model trained three steps (stateful GRU, so `optim.safetensors` holds moments
/// and the carried state), saved into `dir` with `state.json` and `metrics.jsonl`.
pub fn write_charlm(dir: &Path, cell: CellType) {
    let text = text();
    let vocab = Vocab::from_text(&text);
    let config = CharLmConfig {
        cell,
        nonlinearity: None,
        vocab_size: vocab.len(),
        embed_dim: 4,
        hidden_size: 6,
        num_layers: 2,
        dropout: 0.1,
        bias: true,
    };
    let model = CharLm::new(config, &mut Rng::new(1)).unwrap();
    let settings = TrainSettings {
        text: "fuzz.txt".into(),
        batch_size: 2,
        seq_len: 8,
        stop: Stop::Steps(10),
        optimizer: OptimizerConfig::new(OptimizerKind::Adam),
        schedule: Schedule {
            kind: ScheduleKind::Cosine,
            lr: 1e-2,
            warmup_steps: 2,
            min_lr: 1e-3,
            step_fraction: 0.25,
            gamma: 0.5,
        },
        clip: 1.0,
        clip_value: 0.0,
        val_frac: 0.1,
        eval_every: 0,
        early_stop: false,
        seed: 1,
    };
    let mut trainer = Trainer::new(model, vocab, settings, &text).unwrap();
    let threads = Threads::single();
    for _ in 0..3 {
        trainer.step(&threads).unwrap();
    }
    let mut out = RunDir::open(dir, OutPolicy::Fresh).unwrap();
    trainer.save(&mut out, false).unwrap();
}

/// The classifier configuration of `write_classifier`: numeric (2 features) or text.
pub fn classifier_config(numeric: bool) -> ClassifierConfig {
    ClassifierConfig {
        cell: CellType::Lstm,
        hidden_size: 5,
        num_layers: 1,
        bidirectional: true,
        dropout: 0.0,
        pooling: Pooling::Mean,
        dims: if numeric { 2 } else { 0 },
        embed_dim: if numeric { 0 } else { 3 },
        vocab: if numeric { vec![] } else { vec!['a', 'b', 'c'] },
        classes: vec!["x".into(), "y".into(), "z".into()],
        mean: if numeric { vec![0.5, -1.0] } else { vec![] },
        std: if numeric { vec![2.0, 0.25] } else { vec![] },
        frame_size: 1,
        target: None,
        words: None,
        embed_dropout: 0.0,
        head_dropout: 0.0,
        audio: None,
    }
}

/// A classifier checkpoint as `recur classify train` writes it.
pub fn write_classifier(dir: &Path, numeric: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let config = classifier_config(numeric);
    let model = Classifier::new(config.clone(), &mut Rng::new(2)).unwrap();
    let settings = ClassifySettings {
        cell: config.cell,
        hidden: config.hidden_size,
        layers: config.num_layers,
        bidirectional: config.bidirectional,
        dropout: 0.0,
        pooling: config.pooling,
        embed: 3,
        frame_size: 1,
        max_vocab: 200,
        val_frac: 0.15,
        epochs: 3,
        steps: None,
        time_budget: None,
        min_steps: 0,
        patience: 2,
        batch_size: 4,
        lr: 3e-3,
        seed: 1,
        text: recur::classify::text::TextSettings {
            units: recur::classify::text::Units::Char,
            ..Default::default()
        },
        augment: 0.0,
        ensemble: 1,
        audio: None,
        spec_augment: None,
    };
    let json = serde_json::json!({"format": "recur", "version": 1, "task": "classify",
        "model": config, "training": settings});
    std::fs::write(dir.join("config.json"), format!("{json:#}\n")).unwrap();
    write_safetensors(dir.join("model.safetensors"), &model.named_tensors()).unwrap();
}

/// Sequences for the classifier of `write_classifier`.
pub fn classifier_data(numeric: bool) -> Dataset {
    let items = if numeric {
        vec![
            Item::Numeric(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
            Item::Numeric(vec![1.0, -1.0]),
        ]
    } else {
        vec![
            Item::Text("abcq".chars().collect()),
            Item::Text("c".chars().collect()),
        ]
    };
    Dataset {
        dims: if numeric { 2 } else { 0 },
        items,
        labels: vec!["x".into(), "z".into()],
        ..Default::default()
    }
}

/// The forecaster configuration of `write_forecaster`.
pub fn forecaster_config() -> ForecasterConfig {
    ForecasterConfig {
        cell: CellType::Gru,
        inputs: 2,
        hidden_size: 4,
        num_layers: 2,
        horizon: 3,
        future_steps: false,
    }
}

/// A forecaster checkpoint as `recur forecast` writes it.
pub fn write_forecaster(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let config = forecaster_config();
    let model = Forecaster::new(config.clone(), &mut Rng::new(4)).unwrap();
    let settings = ForecastSettings {
        lookback: 6,
        horizon: 3,
        test_size: 6,
        period: 4,
        log: false,
        seasonal_diff: false,
        diff: false,
        val_frac: 0.2,
        cell: CellType::Gru,
        hidden: 4,
        layers: 2,
        epochs: 3,
        steps: None,
        time_budget: None,
        patience: 2,
        batch_size: 4,
        lr: 3e-3,
        seed: 1,
        calendar: Vec::new(),
        series_identity: false,
        series_transforms: Vec::new(),
    };
    let json = serde_json::json!({"format": "recur", "version": 1, "task": "forecast",
        "model": config, "settings": settings});
    std::fs::write(dir.join("config.json"), format!("{json:#}\n")).unwrap();
    write_safetensors(dir.join("model.safetensors"), &model.named_tensors()).unwrap();
}
