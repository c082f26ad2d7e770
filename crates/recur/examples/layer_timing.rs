//! Times one recurrent layer, forward + backward over a whole sequence, and prints JSON.
//!
//! `cargo run --release -p recur --example layer_timing -- --cell lstm --input 512 --hidden 512
//!  --batch 32 --steps 64 --threads 2`
//! The PyTorch twin is `bench/torch_layer.py` with the same flags.

use recur::{CellType, ForwardArgs, Recurrent, RecurrentConfig, Rng, Tensor, Threads};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cell = CellType::Lstm;
    let (mut input, mut hidden, mut batch, mut steps, mut threads, mut reps) =
        (512, 512, 32, 64, 1, 20);
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).ok_or(format!("{} needs a value", pair[0]))?;
        match pair[0].as_str() {
            "--cell" => cell = value.parse()?,
            "--input" => input = value.parse()?,
            "--hidden" => hidden = value.parse()?,
            "--batch" => batch = value.parse()?,
            "--steps" => steps = value.parse()?,
            "--threads" => threads = value.parse()?,
            "--reps" => reps = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let config = RecurrentConfig::new(cell, input, hidden).batch_first(true);
    let mut rng = Rng::new(0);
    let layer = Recurrent::<f32>::new(config, &mut rng)?;
    let data = (0..batch * steps * input)
        .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
        .collect();
    let x = Tensor::new("x", &[batch, steps, input], data)?;
    let d_out = Tensor::new(
        "d_out",
        &[batch, steps, hidden],
        vec![1e-3; batch * steps * hidden],
    )?;
    let pool = Threads::new(threads)?;
    let mut grads = vec![0.0f32; layer.params().len()];
    let (mut times, mut forward_times) = (Vec::new(), Vec::new());
    let mut recycled = None;
    for rep in 0..reps + 3 {
        let start = Instant::now();
        let mut out = match recycled.take() {
            Some(old) => layer.forward_recycling(&pool, &x, ForwardArgs::default(), old)?,
            None => layer.forward(&pool, &x, ForwardArgs::default())?,
        };
        let forward = start.elapsed().as_secs_f64();
        layer.backward(&pool, &mut out.cache, &mut grads, &d_out, None, None)?;
        if rep >= 3 {
            times.push(start.elapsed().as_secs_f64());
            forward_times.push(forward);
        }
        recycled = Some(out.cache);
    }
    times.sort_by(f64::total_cmp);
    forward_times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let forward_median = forward_times[forward_times.len() / 2];
    let gates = config_gates(cell);
    // Forward 2·T·B·G·H·(I+H), backward twice that.
    let flops = 6.0 * (steps * batch * gates * hidden * (input + hidden)) as f64;
    println!(
        "{{\"impl\": \"recur\", \"cell\": \"{cell:?}\", \"threads\": {threads}, \"ms\": {:.3}, \"forward_ms\": {:.3}, \"tokens_per_s\": {:.0}, \"gflops\": {:.1}}}",
        median * 1e3,
        forward_median * 1e3,
        (steps * batch) as f64 / median,
        flops / median / 1e9
    );
    Ok(())
}

fn config_gates(cell: CellType) -> usize {
    match cell {
        CellType::Rnn => 1,
        CellType::Lstm => 4,
        CellType::Gru => 3,
    }
}
