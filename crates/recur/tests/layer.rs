//! Layer behaviour: dropout placement, the step API, layouts, padding, threads, validation.

mod common;
use common::{max_rel_err, random};
use recur::{
    CellType, ForwardArgs, Nonlinearity, Recurrent, RecurrentConfig, Rng, Tensor, Threads,
};

const CELLS: [CellType; 3] = [CellType::Rnn, CellType::Lstm, CellType::Gru];

fn eval(
    layer: &Recurrent<f32>,
    x: &Tensor<f32>,
    lengths: Option<&[usize]>,
) -> recur::RecurrentOutput<f32> {
    layer
        .forward(
            &Threads::single(),
            x,
            ForwardArgs {
                lengths,
                ..Default::default()
            },
        )
        .unwrap()
}

/// A one-layer model holding layer `k` of `stacked`.
fn single_layer(stacked: &Recurrent<f32>, k: usize) -> Recurrent<f32> {
    let c = stacked.config();
    let config = RecurrentConfig {
        input_size: c.layer_input_size(k),
        num_layers: 1,
        dropout: 0.0,
        ..c.clone()
    };
    let mut one = Recurrent::zeros(config).unwrap();
    for p in one.layout().to_vec() {
        let name = p.name.replace("_l0", &format!("_l{k}"));
        one.params_mut()[p.range()].copy_from_slice(stacked.param(&name).unwrap());
    }
    one
}

#[test]
fn dropout_sits_between_layers_only_and_only_in_training() {
    for cell in CELLS {
        let config = RecurrentConfig::new(cell, 5, 6).layers(2).dropout(0.5);
        let mut rng = Rng::new(1);
        let layer = Recurrent::<f32>::new(config, &mut rng).unwrap();
        let x = random(&mut rng, &[7, 4, 5], 1.0);
        let mut drop_rng = Rng::new(2);
        let train = layer
            .forward(
                &Threads::single(),
                &x,
                ForwardArgs {
                    dropout_rng: Some(&mut drop_rng),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(
            train.cache.dropout_mask(0).is_none(),
            "no dropout on the network's input"
        );
        let mask = train
            .cache
            .dropout_mask(1)
            .expect("dropout on the first layer's output");
        assert!(
            mask.iter().all(|&m| m == 0.0 || m == 2.0),
            "inverted dropout scales kept units by 1/(1-p)"
        );
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
        assert!((dropped - 0.5).abs() < 0.15, "dropped fraction {dropped}");

        // Layer 0 alone, then the mask, then layer 1 alone: exactly the stacked training output,
        // so nothing is dropped after the last layer and the states are not dropped.
        let first = eval(&single_layer(&layer, 0), &x, None);
        let masked: Vec<f32> = first
            .output
            .data()
            .iter()
            .zip(mask)
            .map(|(v, m)| v * m)
            .collect();
        let masked = Tensor::new("masked", first.output.shape(), masked).unwrap();
        let second = eval(&single_layer(&layer, 1), &masked, None);
        assert_eq!(train.output, second.output, "{cell:?}");
        assert_eq!(
            &train.h_n.data()[..24],
            first.h_n.data(),
            "{cell:?}: h_n of layer 0 is not dropped"
        );

        // Evaluation mode: no dropout at all.
        let evaluated = eval(&layer, &x, None);
        let unmasked = eval(&single_layer(&layer, 1), &first.output, None);
        assert_eq!(evaluated.output, unmasked.output);
        assert!(eval(&layer, &x, None).cache.dropout_mask(1).is_none());
    }
}

#[test]
fn step_api_is_bitwise_identical_to_the_sequence_path() {
    // A size below and one above the 32-column panels of the packed weights.
    for (cell, hidden) in CELLS.into_iter().flat_map(|c| [(c, 20), (c, 64)]) {
        let config = RecurrentConfig::new(cell, 3, hidden).layers(2);
        let mut rng = Rng::new(3);
        let layer = Recurrent::<f32>::new(config, &mut rng).unwrap();
        let (steps, batch) = (6, 2);
        let x = random(&mut rng, &[steps, batch, 3], 1.0);
        let h0 = random(&mut rng, &[2, batch, hidden], 0.5);
        let c0 = (cell == CellType::Lstm).then(|| random(&mut rng, &[2, batch, hidden], 0.5));
        let threads = Threads::new(2).unwrap();
        let seq = layer
            .forward(
                &threads,
                &x,
                ForwardArgs {
                    h0: Some(&h0),
                    c0: c0.as_ref(),
                    ..Default::default()
                },
            )
            .unwrap();
        let mut state = layer.step_state(batch, Some(&h0), c0.as_ref()).unwrap();
        for t in 0..steps {
            let xt = &x.data()[t * batch * 3..(t + 1) * batch * 3];
            let out = layer.step(&threads, xt, &mut state).unwrap();
            assert_eq!(
                out,
                &seq.output.data()[t * batch * hidden..(t + 1) * batch * hidden],
                "{cell:?} step {t}"
            );
        }
        assert_eq!(state.h(), seq.h_n.data());
        assert_eq!(state.c(), seq.c_n.as_ref().map(|c| c.data()));
    }
}

#[test]
fn token_steps_are_bitwise_the_steps_on_the_gathered_rows() {
    for (cell, hidden) in CELLS.into_iter().flat_map(|c| [(c, 20), (c, 64)]) {
        let (vocab, input, batch) = (7, 3, 2);
        let config = RecurrentConfig::new(cell, input, hidden).layers(2);
        let mut rng = Rng::new(5);
        let layer = Recurrent::<f32>::new(config, &mut rng).unwrap();
        let table = random(&mut rng, &[vocab, input], 1.0);
        let threads = Threads::new(2).unwrap();
        let mut rows = layer.step_state(batch, None, None).unwrap();
        let mut toks = layer.step_state(batch, None, None).unwrap();
        let err = layer.step_tokens(&threads, &[0, 1], &mut toks).unwrap_err();
        assert!(err.to_string().contains("set_step_table"), "{err}");
        layer.set_step_table(&mut toks, table.data()).unwrap();
        for t in 0..6u32 {
            let tokens = [t % vocab as u32, (t * 3 + 1) % vocab as u32];
            let x: Vec<f32> = tokens
                .iter()
                .flat_map(|&k| table.data()[k as usize * input..][..input].to_vec())
                .collect();
            let want = layer.step(&threads, &x, &mut rows).unwrap().to_vec();
            let got = layer.step_tokens(&threads, &tokens, &mut toks).unwrap();
            assert_eq!(got, &want[..], "{cell:?} step {t}");
        }
        assert_eq!(toks.h(), rows.h());
        let err = layer.step_tokens(&threads, &[0, 7], &mut toks).unwrap_err();
        assert!(err.to_string().contains("token 7"), "{err}");
        let err = layer.step_tokens(&threads, &[0], &mut toks).unwrap_err();
        assert!(err.to_string().contains("step tokens"), "{err}");
        let err = layer.set_step_table(&mut toks, &[0.0; 4]).unwrap_err();
        assert!(err.to_string().contains("step table"), "{err}");
        // New weights make the projected table stale: it is dropped.
        layer.repack_step_state(&mut toks);
        assert!(layer.step_tokens(&threads, &[0, 1], &mut toks).is_err());
    }
}

#[test]
fn batch_first_is_the_transpose_of_time_first() {
    for cell in CELLS {
        let config = RecurrentConfig::new(cell, 4, 5)
            .layers(2)
            .bidirectional(true);
        let mut rng = Rng::new(4);
        let tf = Recurrent::<f32>::new(config.clone(), &mut rng).unwrap();
        let mut bf = Recurrent::<f32>::zeros(config.batch_first(true)).unwrap();
        bf.params_mut().copy_from_slice(tf.params());
        let x = random(&mut rng, &[3, 2, 4], 1.0);
        let xb = Tensor::new("x", &[2, 3, 4], recur::swap_leading_axes(x.data(), 3, 2, 4)).unwrap();
        let lengths = [3, 2];
        let a = eval(&tf, &x, Some(&lengths));
        let b = eval(&bf, &xb, Some(&lengths));
        assert_eq!(
            b.output.data(),
            recur::swap_leading_axes(a.output.data(), 3, 2, 10)
        );
        assert_eq!(a.h_n, b.h_n);
    }
}

#[test]
fn padding_never_leaks_into_results() {
    for cell in CELLS {
        for bi in [false, true] {
            let config = RecurrentConfig::new(cell, 3, 7)
                .layers(2)
                .bidirectional(bi)
                .batch_first(true);
            let mut rng = Rng::new(5);
            let layer = Recurrent::<f32>::new(config, &mut rng).unwrap();
            let dirs = if bi { 2 } else { 1 };
            // Sequence 1 has 3 valid steps; pad it with two different fillers.
            let mut x = random(&mut rng, &[2, 5, 3], 1.0);
            let a = eval(&layer, &x, Some(&[5, 3]));
            for v in &mut x.data_mut()[15 + 9..] {
                *v = 100.0;
            }
            let b = eval(&layer, &x, Some(&[5, 3]));
            assert_eq!(a.output, b.output);
            assert_eq!(a.h_n, b.h_n);
            // And it equals running that sequence alone, unpadded.
            let alone = Tensor::new("x", &[1, 3, 3], x.data()[15..24].to_vec()).unwrap();
            let c = eval(&layer, &alone, None);
            let w = 7 * dirs;
            let rows = &b.output.data()[5 * w..5 * w + 3 * w];
            assert!(
                max_rel_err(rows, c.output.data()) < 1e-6,
                "{cell:?} bi={bi}"
            );
            assert!(
                b.output.data()[8 * w..].iter().all(|&v| v == 0.0),
                "outputs past the end are zero"
            );
            let hb: Vec<f32> = b
                .h_n
                .data()
                .chunks(7)
                .skip(1)
                .step_by(2)
                .flatten()
                .copied()
                .collect();
            assert!(
                max_rel_err(&hb, c.h_n.data()) < 1e-6,
                "{cell:?} bi={bi}: h_n at the last valid step"
            );
        }
    }
}

#[test]
fn one_and_two_threads_agree_bitwise() {
    for cell in CELLS {
        let config = RecurrentConfig::new(cell, 48, 130)
            .layers(2)
            .bidirectional(true);
        let mut rng = Rng::new(6);
        let layer = Recurrent::<f32>::new(config, &mut rng).unwrap();
        let x = random(&mut rng, &[9, 5, 48], 1.0);
        let d_out = random(&mut rng, &[9, 5, 260], 1.0);
        let lengths = [9, 1, 4, 9, 7];
        let mut results = Vec::new();
        for n in [1, 2] {
            let threads = Threads::new(n).unwrap();
            let mut f = layer
                .forward(
                    &threads,
                    &x,
                    ForwardArgs {
                        lengths: Some(&lengths),
                        ..Default::default()
                    },
                )
                .unwrap();
            let mut grads = vec![0.0; layer.params().len()];
            let g = layer
                .backward(&threads, &mut f.cache, &mut grads, &d_out, None, None)
                .unwrap();
            results.push((f.output, f.h_n, grads, g.input, g.h0));
        }
        assert!(results[0] == results[1], "{cell:?}");
    }
}

#[test]
fn initialisation_is_uniform_within_one_over_sqrt_h_and_seeded() {
    let config = RecurrentConfig::new(CellType::Lstm, 10, 64).layers(2);
    let a = Recurrent::<f32>::new(config.clone(), &mut Rng::new(7)).unwrap();
    let b = Recurrent::<f32>::new(config.clone(), &mut Rng::new(7)).unwrap();
    let c = Recurrent::<f32>::new(config, &mut Rng::new(8)).unwrap();
    assert_eq!(a.params(), b.params());
    assert_ne!(a.params(), c.params());
    let k = 1.0 / 8.0;
    assert!(a.params().iter().all(|&p| (-k..k).contains(&p)));
    let mean: f32 = a.params().iter().sum::<f32>() / a.params().len() as f32;
    let var: f32 = a.params().iter().map(|p| p * p).sum::<f32>() / a.params().len() as f32;
    assert!(
        mean.abs() < 0.005 && (var - k * k / 3.0).abs() < 0.0005,
        "mean {mean} var {var}"
    );
}

#[test]
fn bad_arguments_give_clear_errors() {
    let mut rng = Rng::new(9);
    let config = RecurrentConfig::new(CellType::Gru, 3, 4).layers(2);
    let layer = Recurrent::<f32>::new(config.clone(), &mut rng).unwrap();
    let x = random(&mut rng, &[5, 2, 3], 1.0);
    let err = |r: recur::Result<recur::RecurrentOutput<f32>>| r.unwrap_err().to_string();
    let wrong = random(&mut rng, &[5, 2, 4], 1.0);
    assert!(
        err(layer.forward(&Threads::single(), &wrong, ForwardArgs::default()))
            .contains("input_size 3")
    );
    let e = err(layer.forward(
        &Threads::single(),
        &x,
        ForwardArgs {
            lengths: Some(&[5, 6]),
            ..Default::default()
        },
    ));
    assert!(e.contains("lengths[1] = 6"), "{e}");
    let h0 = random(&mut rng, &[1, 2, 4], 1.0);
    let e = err(layer.forward(
        &Threads::single(),
        &x,
        ForwardArgs {
            h0: Some(&h0),
            ..Default::default()
        },
    ));
    assert!(e.contains("h0") && e.contains("[2, 2, 4]"), "{e}");
    let c0 = random(&mut rng, &[2, 2, 4], 1.0);
    let e = err(layer.forward(
        &Threads::single(),
        &x,
        ForwardArgs {
            c0: Some(&c0),
            ..Default::default()
        },
    ));
    assert!(e.contains("c0"), "{e}");
    for bad in [
        config.clone().layers(0),
        RecurrentConfig {
            hidden_size: 0,
            ..config.clone()
        },
        config.clone().dropout(1.5),
    ] {
        assert!(Recurrent::<f32>::zeros(bad).is_err());
    }
    let bi = Recurrent::<f32>::new(
        config.bidirectional(true).nonlinearity(Nonlinearity::Relu),
        &mut rng,
    )
    .unwrap();
    assert!(bi.step_state(1, None, None).is_err());
}

/// Token input (`forward_tokens`) against the same rows gathered into a dense input: outputs and
/// states bitwise equal, parameter gradients equal up to summation order, and the table's
/// gradient equal to the input gradient summed by token.
#[test]
fn token_input_matches_the_gathered_rows() {
    let two = Threads::new(2).unwrap();
    for cell in CELLS {
        for (bidirectional, batch_first, ragged, layers) in [
            (false, false, false, 1),
            (true, false, true, 2),
            (false, true, false, 2),
            (true, true, true, 1),
        ] {
            let (vocab, input, hidden, steps, batch) = (11, 6, 9, 7, 5);
            let config = RecurrentConfig::new(cell, input, hidden)
                .layers(layers)
                .bidirectional(bidirectional)
                .batch_first(batch_first);
            let mut rng = Rng::new(3);
            let layer = Recurrent::<f32>::new(config, &mut rng).unwrap();
            let table = random(&mut rng, &[vocab, input], 1.0);
            let tokens: Vec<u32> = (0..steps * batch)
                .map(|_| rng.below(vocab) as u32)
                .collect();
            let lengths = [7, 3, 1, 7, 5];
            let lengths = ragged.then_some(&lengths[..]);
            let mut rows = Vec::new();
            for &t in &tokens {
                let t = t as usize;
                rows.extend_from_slice(&table.data()[t * input..(t + 1) * input]);
            }
            let shape = if batch_first {
                [batch, steps, input]
            } else {
                [steps, batch, input]
            };
            let x = Tensor::new("x", &shape, rows).unwrap();
            let args = || ForwardArgs {
                lengths,
                ..Default::default()
            };
            let mut dense = layer.forward(&two, &x, args()).unwrap();
            let mut tok = layer
                .forward_tokens(&two, &table, &tokens, batch, args(), None)
                .unwrap();
            let what = format!("{cell:?} bi={bidirectional} bf={batch_first} ragged={ragged}");
            assert_eq!(dense.output.data(), tok.output.data(), "{what}");
            assert_eq!(dense.h_n.data(), tok.h_n.data(), "{what}");
            assert_eq!(
                dense.c_n.as_ref().map(|c| c.data().to_vec()),
                tok.c_n.as_ref().map(|c| c.data().to_vec())
            );

            let d_out = random(&mut rng, dense.output.shape(), 1.0);
            let n = layer.params().len();
            let (mut g_dense, mut g_tok) = (vec![0.0f32; n], vec![0.0f32; n]);
            let d_dense = layer
                .backward(&two, &mut dense.cache, &mut g_dense, &d_out, None, None)
                .unwrap();
            let d_tok = layer
                .backward(&two, &mut tok.cache, &mut g_tok, &d_out, None, None)
                .unwrap();
            assert!(max_rel_err(&g_dense, &g_tok) < 1e-5, "{what}");
            assert_eq!(d_dense.h0.data(), d_tok.h0.data(), "{what}");
            assert_eq!(d_tok.input.shape(), &[vocab, input]);
            let mut d_table = vec![0.0f32; vocab * input];
            for (row, &t) in d_dense.input.data().chunks_exact(input).zip(&tokens) {
                let t = t as usize;
                for (d, &v) in d_table[t * input..(t + 1) * input].iter_mut().zip(row) {
                    *d += v;
                }
            }
            assert!(max_rel_err(&d_table, d_tok.input.data()) < 1e-5, "{what}");

            // Bad tokens and tables are refused with errors that name them.
            let bad = layer
                .forward_tokens(&two, &table, &[vocab as u32], 1, args(), None)
                .unwrap_err()
                .to_string();
            assert!(bad.contains("tokens") && bad.contains("outside"), "{bad}");
            let narrow = random(&mut rng, &[vocab, input + 1], 1.0);
            let bad = layer
                .forward_tokens(&two, &narrow, &tokens, batch, args(), None)
                .unwrap_err()
                .to_string();
            assert!(bad.contains("table"), "{bad}");
        }
    }
}
