//! The encoder-decoder with attention: central-difference gradient checks in f64, PyTorch parity
//! on fixtures written by `scripts/make_seq2seq_fixtures.py` (torch 2.15.0), and decoding.

mod common;
use common::max_rel_err;
use recur::io::TensorFile;
use recur::nn::Score;
use recur::seq2seq::{DecodeOptions, PairBatch, Seq2Seq, Seq2SeqConfig};
use recur::{CellType, Rng, Threads};
use std::path::Path;

fn config(cell: CellType, attention: Score) -> Seq2SeqConfig {
    Seq2SeqConfig {
        cell,
        src_vocab: 7,
        tgt_vocab: 6,
        embed_dim: 3,
        hidden_size: 4,
        num_layers: 2,
        dropout: 0.0,
        attention,
    }
}

fn batch() -> PairBatch {
    PairBatch::new(
        &[
            (&[3, 4, 5, 6], &[3, 4]),
            (&[2, 6], &[5, 4, 3]),
            (&[5], &[4]),
        ],
        1,
        2,
    )
    .unwrap()
}

#[test]
fn gradients_match_central_differences() {
    let t = Threads::single();
    let b = batch();
    for cell in [CellType::Gru, CellType::Lstm] {
        for score in [Score::Dot, Score::General, Score::Additive] {
            let mut model: Seq2Seq<f64> = config(cell, score).init(&mut Rng::new(3)).unwrap();
            let loss = |m: &Seq2Seq<f64>| m.loss(&t, &b, 0.1, None).unwrap().loss;
            let mut grads = model.zero_grads();
            let mut rng = Rng::new(1);
            model
                .loss(&t, &b, 0.1, Some((&mut rng, &mut grads)))
                .unwrap();
            let analytic: Vec<Vec<f64>> = grads.buffers_mut().iter().map(|g| g.to_vec()).collect();
            let sizes: Vec<usize> = analytic.iter().map(Vec::len).collect();
            for (i, &n) in sizes.iter().enumerate() {
                // Every element of the small buffers, a spread of the large ones.
                let stride = (n / 40).max(1);
                let (mut got, mut want) = (Vec::new(), Vec::new());
                for j in (0..n).step_by(stride) {
                    let v = model.buffers_mut()[i][j];
                    model.buffers_mut()[i][j] = v + 1e-6;
                    let up = loss(&model);
                    model.buffers_mut()[i][j] = v - 1e-6;
                    let down = loss(&model);
                    model.buffers_mut()[i][j] = v;
                    got.push(analytic[i][j]);
                    want.push((up - down) / 2e-6);
                }
                let e = max_rel_err(&got, &want);
                let abs = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(
                    e < 1e-6 || abs < 1e-9,
                    "{cell:?} {score:?} buffer {i}: {e:e} (abs {abs:e})"
                );
            }
        }
    }
}

#[test]
fn padding_rows_of_the_embeddings_get_no_gradient() {
    let t = Threads::single();
    let mut model: Seq2Seq<f64> = config(CellType::Gru, Score::General)
        .init(&mut Rng::new(3))
        .unwrap();
    let mut grads = model.zero_grads();
    model
        .loss(&t, &batch(), 0.0, Some((&mut Rng::new(1), &mut grads)))
        .unwrap();
    assert!(grads.src_embedding[..3].iter().all(|&g| g == 0.0));
    assert!(grads.tgt_embedding[..3].iter().all(|&g| g == 0.0));
    assert!(model.buffers_mut()[0][..3].iter().all(|&w| w == 0.0));
}

/// A model of `config` whose tensors are `prefix` + their PyTorch names in `fixture`.
fn load(fixture: &TensorFile, config: Seq2SeqConfig, prefix: &str) -> Seq2Seq<f32> {
    let mut model = Seq2Seq::zeros(config).unwrap();
    let names: Vec<(String, Vec<usize>)> = model
        .named_tensors()
        .into_iter()
        .map(|(n, s, _)| (n, s))
        .collect();
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = names
        .into_iter()
        .map(|(n, s)| {
            let (shape, data) = fixture
                .get(&format!("{prefix}{n}"))
                .unwrap_or_else(|| panic!("no tensor {prefix}{n}"));
            assert_eq!(shape, &s[..], "{n}");
            (n, s, data.to_vec())
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("recur-seq2seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.safetensors", prefix.len()));
    let named: Vec<_> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), s.clone(), &d[..]))
        .collect();
    recur::io::write_safetensors(&path, &named).unwrap();
    model
        .load_tensors(TensorFile::read(&path).unwrap())
        .unwrap();
    model
}

#[test]
fn loss_and_gradients_match_pytorch() {
    let t = Threads::new(2).unwrap();
    for (case, cell, score) in [
        ("gru_general", CellType::Gru, Score::General),
        ("lstm_additive", CellType::Lstm, Score::Additive),
        ("gru_dot", CellType::Gru, Score::Dot),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/seq2seq")
            .join(format!("{case}.safetensors"));
        let f = TensorFile::read(path).unwrap();
        let data = |n: &str| f.get(n).unwrap().1.to_vec();
        let ids = |n: &str| data(n).iter().map(|&v| v as u32).collect::<Vec<u32>>();
        let lens = |n: &str| data(n).iter().map(|&v| v as usize).collect::<Vec<usize>>();
        let config = Seq2SeqConfig {
            cell,
            src_vocab: 11,
            tgt_vocab: 9,
            embed_dim: 5,
            hidden_size: 6,
            num_layers: 2,
            dropout: 0.0,
            attention: score,
        };
        let model = load(&f, config, "");
        let batch = PairBatch {
            batch: 4,
            src: ids("src"),
            src_lengths: lens("src_lengths"),
            tgt_in: ids("tgt_in"),
            tgt_out: ids("tgt_out"),
            tgt_lengths: lens("tgt_lengths"),
        };
        let fwd = model.forward(&t, &batch, None).unwrap();
        // PyTorch's logits past a target's end come from zero decoder outputs, as recur's.
        let e = max_rel_err(&fwd.logits, &data("logits"));
        assert!(e < 1e-5, "{case} logits: {e:e}");
        let mut grads = model.zero_grads();
        let loss = model
            .loss(&t, &batch, 0.1, Some((&mut Rng::new(0), &mut grads)))
            .unwrap();
        let want = data("loss")[0] as f64;
        assert!(
            (loss.loss - want).abs() < 1e-5 * want,
            "{case}: loss {} vs {want}",
            loss.loss
        );
        let mut expected = load(&f, config, "grad.");
        // f32 gradients: each buffer within 1e-5 of the largest gradient of the model (some
        // attention gradients are ~1e-7, where f32 rounding alone is a larger share).
        let scale = expected
            .buffers_mut()
            .iter()
            .flat_map(|b| b.iter())
            .fold(0.0f64, |m, &v| m.max((v as f64).abs()));
        for (i, (g, w)) in grads
            .buffers_mut()
            .into_iter()
            .zip(expected.buffers_mut())
            .enumerate()
        {
            let diff = g
                .iter()
                .zip(w.iter())
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs() as f64));
            assert!(
                diff < 1e-5 * scale,
                "{case} buffer {i}: {diff:e} against {scale:e}"
            );
        }
        // f64, from the same parameters: every buffer within 1e-5 of its own largest value.
        let mut m64: Seq2Seq<f64> = config.init(&mut Rng::new(0)).unwrap();
        let mut m32 = model.clone();
        for (d, s) in m64.buffers_mut().into_iter().zip(m32.buffers_mut()) {
            for (a, &b) in d.iter_mut().zip(s.iter()) {
                *a = b as f64;
            }
        }
        let mut g64 = m64.zero_grads();
        m64.loss(&t, &batch, 0.1, Some((&mut Rng::new(0), &mut g64)))
            .unwrap();
        for (i, (g, w)) in g64
            .buffers_mut()
            .into_iter()
            .zip(expected.buffers_mut())
            .enumerate()
        {
            let w: Vec<f64> = w.iter().map(|&v| v as f64).collect();
            // Va's bias moves every score alike: its gradient is zero up to rounding.
            let tiny = w.iter().chain(g.iter()).all(|v| v.abs() < 1e-12);
            let e = max_rel_err(g, &w);
            assert!(e < 1e-5 || tiny, "{case} f64 buffer {i}: {e:e}");
        }
    }
}

/// The log-probabilities the teacher-forced pass gives `out` (and `</s>`) after `src`.
fn sequence_log_prob(m: &Seq2Seq<f32>, src: &[u32], out: &[u32]) -> (f64, Vec<u32>) {
    let t = Threads::single();
    let b = PairBatch::new(&[(src, out)], 1, 2).unwrap();
    let f = m.forward(&t, &b, None).unwrap();
    let v = m.config().tgt_vocab;
    let mut total = 0.0;
    let mut argmax = Vec::new();
    for (row, &y) in f.logits.chunks(v).zip(&b.tgt_out) {
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x)) as f64;
        let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        total += row[y as usize] as f64 - max - sum.ln();
        // Decoding never outputs padding (0) or `<s>` (1).
        let best = (2..v).fold(2, |b, j| if row[j] > row[b] { j } else { b });
        argmax.push(best as u32);
    }
    (total, argmax)
}

/// Pairs of random sequences over tokens `3..13` and their reversal.
fn reversal(n: usize, seed: u64) -> recur::seq2seq::TokenPairs {
    let mut rng = Rng::new(seed);
    let pairs = (0..n)
        .map(|_| {
            let len = 1 + (rng.uniform_range(0.0, 6.0) as usize).min(5);
            let src: Vec<u32> = (0..len)
                .map(|_| 3 + (rng.uniform_range(0.0, 10.0) as u32).min(9))
                .collect();
            let tgt = src.iter().rev().copied().collect();
            (src, tgt)
        })
        .collect();
    recur::seq2seq::TokenPairs {
        pairs,
        bos: 1,
        eos: 2,
    }
}

#[test]
fn an_encoder_decoder_learns_to_reverse_sequences_and_beam_search_agrees() {
    use recur::training::{self, LoopSettings};
    let t = Threads::new(2).unwrap();
    let (train, val) = (reversal(3000, 1), reversal(200, 2));
    for (cell, attention) in [
        (CellType::Gru, Score::General),
        (CellType::Lstm, Score::Additive),
    ] {
        let config = Seq2SeqConfig {
            cell,
            src_vocab: 13,
            tgt_vocab: 13,
            embed_dim: 16,
            hidden_size: 32,
            num_layers: 1,
            dropout: 0.0,
            attention,
        };
        let model = config.init(&mut Rng::new(1)).unwrap();
        let mut task = recur::seq2seq::Seq2SeqTask::new(model, (&train, &val), 32, 0.0).unwrap();
        let settings = LoopSettings::per_epoch((Some(1500), None, 0), 94, 3e-3, 0, 0, 1);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let summary = training::run(&mut task, &settings, &t, &mut (), &stop).unwrap();
        let model = task.best.unwrap();
        assert!(
            summary.best.0.loss < 0.1,
            "validation loss {}",
            summary.best.0.loss
        );
        let sources: Vec<&[u32]> = val.pairs.iter().map(|p| &p.0[..]).collect();
        for beam in [1, 5] {
            let mut opts = DecodeOptions::new(beam, 1, 2);
            opts.keep_attention = true;
            let hyps = model.translate(&t, &sources, &opts).unwrap();
            let right = hyps
                .iter()
                .zip(&val.pairs)
                .filter(|(h, p)| h.tokens == p.1)
                .count();
            assert!(
                right >= 190,
                "{cell:?} beam {beam}: {right} of 200 reversed exactly"
            );
            for (h, (src, _)) in hyps.iter().zip(&val.pairs).take(20) {
                assert!(h.finished);
                let (lp, argmax) = sequence_log_prob(&model, src, &h.tokens);
                assert!((lp - h.log_prob).abs() < 1e-3, "{lp} vs {}", h.log_prob);
                assert_eq!(h.attention.len(), h.tokens.len() + 1);
                if beam == 1 {
                    let mut want = h.tokens.clone();
                    want.push(2);
                    assert_eq!(argmax, want);
                }
            }
        }
    }
}

/// Stops a run (as Ctrl-C would) once it has taken `at` steps.
struct StopAt<'a>(u64, &'a std::sync::atomic::AtomicBool);
impl recur::training::Observer for StopAt<'_> {
    fn step(&mut self, p: &recur::training::Progress) {
        if p.step >= self.0 {
            self.1.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[test]
fn a_run_interrupted_and_resumed_ends_bit_for_bit_as_the_whole_run() {
    use recur::seq2seq::Seq2SeqTask;
    use recur::training::{self, LoopCheckpoint, LoopSettings, Snapshot};
    use std::sync::atomic::AtomicBool;
    let t = Threads::new(2).unwrap();
    let (train, val) = (reversal(300, 3), reversal(40, 4));
    let mut c = config(CellType::Lstm, Score::Additive);
    (c.src_vocab, c.tgt_vocab, c.dropout) = (13, 13, 0.2);
    // 10 batches a pass, validation every 4 steps, 25 steps: the stop falls mid-pass.
    let settings = {
        let mut s = LoopSettings::per_epoch((Some(25), None, 0), 10, 3e-3, 0, 0, 5);
        s.validate_every = 4;
        s
    };
    let task = || Seq2SeqTask::new(c.init(&mut Rng::new(2)).unwrap(), (&train, &val), 32, 0.1);
    let never = AtomicBool::new(false);
    let mut whole = task().unwrap();
    let end = training::run_from(&mut whole, &settings, &t, &mut (), &never, None).unwrap();

    let dir = std::env::temp_dir().join(format!("recur-seq2seq-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flag = AtomicBool::new(false);
    let mut first = task().unwrap();
    let part = training::run_from(
        &mut first,
        &settings,
        &t,
        &mut StopAt(13, &flag),
        &flag,
        None,
    )
    .unwrap();
    assert!(part.summary.interrupted && part.summary.steps == 13);
    LoopCheckpoint {
        config: serde_json::Value::Null,
        best: first.best.as_ref().unwrap().named_tensors(),
        current: first.model.buffers(),
        order: first.order(),
        snapshot: Snapshot {
            state: &part.state,
            optimizer: &part.optimizer,
        },
        run: serde_json::Value::Null,
    }
    .write(&dir)
    .unwrap();
    let mut second = task().unwrap();
    let resume = second.restore(&dir, &settings).unwrap();
    let rest =
        training::run_from(&mut second, &settings, &t, &mut (), &never, Some(resume)).unwrap();
    // Every validation the same (the seconds aside).
    let rows = |m: &[recur::training::MetricsRow]| {
        m.iter()
            .map(|r| {
                (
                    r.step,
                    r.train_loss,
                    r.val_loss,
                    r.val_score,
                    r.grad_norm_max,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&rest.summary.metrics), rows(&end.summary.metrics));
    assert_eq!(rest.summary.metrics.len(), 8);
    assert_eq!(second.model.buffers(), whole.model.buffers());
    assert_eq!(
        second.best.unwrap().buffers(),
        whole.best.unwrap().buffers()
    );
    std::fs::remove_dir_all(&dir).ok();
}
