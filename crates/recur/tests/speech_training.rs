//! The acoustic model learns a synthetic connected-word task through the shared loop: each
//! "word" is a few frames with its own feature raised, words are separated by silent frames,
//! and the model must spell out the words of held-out utterances.

use recur::speech::train::{train_with, transcribe_greedy, Corpus, TranscribeSettings, Utterance};
use recur::speech::{word_error_rate, Unit};
use recur::training::Control;
use recur::{CellType, Rng, Threads};
use std::sync::atomic::AtomicBool;

const WORDS: [&str; 3] = ["ka", "lu", "mi"];
const F: usize = 4;

/// `n` utterances of 1-4 words; feature `k` marks word `k`, feature 3 silence.
fn corpus(n: usize, rng: &mut Rng) -> Corpus {
    let mut utterances = Vec::new();
    for _ in 0..n {
        let (mut frames, mut words) = (Vec::new(), Vec::new());
        let pause = |frames: &mut Vec<f32>, rng: &mut Rng| {
            for _ in 0..1 + rng.below(3) {
                frames.extend([0.0, 0.0, 0.0, 1.0].map(|v: f32| v + 0.3 * rng.normal() as f32));
            }
        };
        pause(&mut frames, rng);
        for _ in 0..1 + rng.below(4) {
            let k = rng.below(3);
            words.push(WORDS[k]);
            for _ in 0..2 + rng.below(3) {
                let mut frame = [0.0f32; F];
                frame[k] = 1.0;
                frames.extend(frame.map(|v| v + 0.3 * rng.normal() as f32));
            }
            pause(&mut frames, rng);
        }
        utterances.push(Utterance {
            frames,
            transcript: words.join(" "),
        });
    }
    Corpus {
        input_size: F,
        utterances,
    }
}

#[test]
fn a_small_bidirectional_gru_learns_to_transcribe_connected_words() {
    let mut rng = Rng::new(5);
    let train = corpus(240, &mut rng);
    let test = corpus(60, &mut rng);
    let settings = TranscribeSettings {
        cell: CellType::Gru,
        hidden: 24,
        layers: 1,
        frame_stack: 2,
        bidirectional: true,
        unit: Unit::Word,
        batch_size: 16,
        lr: 1e-2,
        epochs: 25,
        patience: 0,
        ..TranscribeSettings::default()
    };
    let threads = Threads::new(2).unwrap();
    let stop = AtomicBool::new(false);
    let trained = train_with(
        &train,
        &settings,
        &Default::default(),
        &threads,
        Control::new(&mut (), &stop),
    )
    .unwrap();
    let model = &trained.model;
    let frames: Vec<&[f32]> = test.utterances.iter().map(|u| &u.frames[..]).collect();
    let hyps = transcribe_greedy(model, &threads, &frames).unwrap();
    let alphabet = &model.config().alphabet;
    assert_eq!(alphabet.symbols, WORDS);
    let texts: Vec<String> = hyps.iter().map(|h| alphabet.decode(h)).collect();
    let wer = word_error_rate(
        test.utterances
            .iter()
            .zip(&texts)
            .map(|(u, h)| (u.transcript.as_str(), h.as_str())),
    );
    assert!(wer.rate() < 0.05, "word error rate {}", wer.rate());
    // The validation score is the greedy word error rate, and it fell.
    let first = trained.summary.metrics.iter().find_map(|r| r.val_score);
    let best = trained.summary.best.0.score.unwrap();
    assert!(
        best < first.unwrap_or(1.0) && best < 0.1,
        "{first:?} -> {best}"
    );
}

#[test]
fn the_step_api_gives_the_sequence_pass_frame_by_frame() {
    use recur::speech::model::{AcousticConfig, AcousticModel};
    use recur::speech::Alphabet;
    let mut rng = Rng::new(9);
    let data = corpus(3, &mut rng);
    let alphabet = Alphabet::from_transcripts(Unit::Word, WORDS).unwrap();
    for (cell, frame_stack) in [(CellType::Gru, 1), (CellType::Lstm, 1), (CellType::Gru, 3)] {
        let config = AcousticConfig {
            cell,
            input_size: F,
            frame_stack,
            hidden_size: 12,
            num_layers: 2,
            bidirectional: false,
            dropout: 0.0,
            alphabet: alphabet.clone(),
            mean: vec![0.1; F],
            std: vec![0.9; F],
        };
        let model = AcousticModel::new(config, &mut rng).unwrap();
        let t = Threads::single();
        for u in &data.utterances {
            let whole = model.forward(&t, &[&u.frames[..]], None).unwrap();
            let mut state = model.step_state().unwrap();
            let mut stepped: Vec<f32> = u
                .frames
                .chunks(F)
                .filter_map(|frame| model.step(&t, frame, &mut state).unwrap())
                .flatten()
                .collect();
            stepped.extend(
                model
                    .finish_steps(&t, &mut state)
                    .unwrap()
                    .unwrap_or_default(),
            );
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&stepped), bits(&whole.log_probs), "{cell:?}");
        }
    }
    let bi = AcousticModel::new(
        AcousticConfig {
            cell: CellType::Gru,
            input_size: F,
            frame_stack: 1,
            hidden_size: 4,
            num_layers: 1,
            bidirectional: true,
            dropout: 0.0,
            alphabet,
            mean: vec![0.0; F],
            std: vec![1.0; F],
        },
        &mut rng,
    )
    .unwrap();
    assert!(bi.step_state().is_err());
}
