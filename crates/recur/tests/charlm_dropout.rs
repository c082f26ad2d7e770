//! The character model's dropout on the head's input: the gradient of a training step with
//! dropout equals the finite differences of its loss under the same mask, and evaluation is
//! unaffected.

use recur::charlm::{CharLm, CharLmConfig, StepWork, TokenBatch};
use recur::CellType;
use recur::{Rng, Threads};

fn loss(lm: &CharLm, inputs: &[u32], targets: &[u32], mask_seed: u64) -> (f64, Vec<Vec<f32>>) {
    let mut grads = lm.zero_grads();
    let mut carry = lm.zero_carry(2);
    let r = lm
        .train_batch(
            &Threads::single(),
            TokenBatch {
                inputs,
                targets,
                batch: 2,
            },
            &mut carry,
            &mut Rng::new(mask_seed),
            &mut grads,
            &mut StepWork::default(),
        )
        .unwrap();
    (r.loss, grads.buffers)
}

#[test]
fn head_input_dropout_gradient_matches_finite_differences() {
    for layers in [1, 2] {
        let config = CharLmConfig {
            cell: CellType::Gru,
            nonlinearity: None,
            vocab_size: 6,
            embed_dim: 3,
            hidden_size: 5,
            num_layers: layers,
            dropout: 0.5,
            bias: true,
        };
        let mut lm = CharLm::new(config, &mut Rng::new(3)).unwrap();
        let inputs = [0u32, 1, 2, 3, 4, 5, 1, 2];
        let targets = [1u32, 2, 3, 4, 5, 0, 2, 3];
        let (base, grads) = loss(&lm, &inputs, &targets, 9);
        let (other_mask, _) = loss(&lm, &inputs, &targets, 10);
        assert_ne!(base, other_mask, "dropout changes the loss");
        let mut checked = 0;
        for (b, grad) in grads.iter().enumerate() {
            for i in (0..grad.len()).step_by(7) {
                let eps = 1e-2f32;
                let orig = lm.buffers_mut()[b][i];
                lm.buffers_mut()[b][i] = orig + eps;
                let up = loss(&lm, &inputs, &targets, 9).0;
                lm.buffers_mut()[b][i] = orig - eps;
                let down = loss(&lm, &inputs, &targets, 9).0;
                lm.buffers_mut()[b][i] = orig;
                let numeric = (up - down) / (2.0 * eps as f64);
                let analytic = grad[i] as f64;
                assert!(
                    (numeric - analytic).abs() <= 2e-3 + 2e-2 * analytic.abs(),
                    "layers {layers}, buffer {b}, element {i}: numeric {numeric}, analytic {analytic}"
                );
                checked += 1;
            }
        }
        assert!(checked > 20);
    }
}
