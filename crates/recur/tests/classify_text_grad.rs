//! The classifier's gradient through word embeddings, embedding dropout and head dropout
//! agrees with central differences of its loss under the same dropout masks (the masks come
//! from a generator seeded the same way for every evaluation).

use recur::classify::model::{Classifier, ClassifierConfig, Pooling};
use recur::classify::text::WordUnits;
use recur::classify::{Dataset, Item};
use recur::nn::Gradients as _;
use recur::{CellType, Rng, Threads};

#[test]
fn gradient_through_word_embeddings_and_both_dropouts_matches_differences() {
    let config = ClassifierConfig {
        cell: CellType::Gru,
        hidden_size: 4,
        num_layers: 1,
        bidirectional: true,
        dropout: 0.0,
        pooling: Pooling::Mean,
        dims: 0,
        embed_dim: 3,
        vocab: vec![],
        classes: vec!["neg".into(), "pos".into()],
        mean: vec![],
        std: vec![],
        frame_size: 1,
        target: None,
        words: Some(WordUnits {
            words: vec!["bad".into(), "good".into(), "film".into()],
            lowercase: true,
        }),
        embed_dropout: 0.3,
        head_dropout: 0.4,
        audio: None,
    };
    let mut model = Classifier::new(config, &mut Rng::new(11)).unwrap();
    let data = Dataset {
        dims: 0,
        items: ["good film", "Bad film , unseen", "good"]
            .iter()
            .map(|t| Item::Text(t.chars().collect()))
            .collect(),
        labels: vec!["pos".into(), "neg".into(), "pos".into()],
        ..Default::default()
    };
    let (idx, targets) = ([0, 1, 2], [1u32, 0, 1]);
    let threads = Threads::single();
    let loss = |m: &Classifier| {
        let (_, r) = m
            .run(
                &threads,
                &data,
                &idx,
                Some(&targets),
                None,
                Some(&mut Rng::new(5)),
            )
            .unwrap();
        r.loss_sum / 3.0
    };
    let mut grads = model.zero_grads();
    model
        .run(
            &threads,
            &data,
            &idx,
            Some(&targets),
            Some(&mut grads),
            Some(&mut Rng::new(5)),
        )
        .unwrap();
    let analytic: Vec<Vec<f32>> = grads.buffers_mut().iter().map(|b| b.to_vec()).collect();
    let eps = 1e-2f32;
    let mut checked = 0;
    for (b, g) in analytic.iter().enumerate() {
        for i in (0..g.len()).step_by(g.len().div_ceil(12).max(1)) {
            let orig = model.buffers()[b][i];
            model.buffers_mut()[b][i] = orig + eps;
            let up = loss(&model);
            model.buffers_mut()[b][i] = orig - eps;
            let down = loss(&model);
            model.buffers_mut()[b][i] = orig;
            let numeric = (up - down) / (2.0 * eps as f64);
            let diff = (numeric - g[i] as f64).abs();
            assert!(
                diff < 2e-3 + 0.05 * numeric.abs(),
                "buffer {b}, element {i}: analytic {} numeric {numeric}",
                g[i]
            );
            checked += 1;
        }
    }
    assert!(checked > 30);
    // The embedding received a gradient through the masked rows.
    assert!(analytic[0].iter().any(|&v| v != 0.0));
}
