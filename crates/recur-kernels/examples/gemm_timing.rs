//! GFLOP/s of the packed product against the general one on RNN-shaped products.
//! `cargo run --release -p recur-kernels --example gemm_timing -- [threads]`

use recur_kernels::{matmul, matmul_packed, Accum, Operand, PackedB, Threads};
use std::time::Instant;

fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .map_or(1, |s| s.parse().expect("threads"));
    let pool = Threads::new(threads).expect("threads");
    println!(
        "threads {threads}: shape (m, n, k)  general GFLOP/s  packed GFLOP/s (packing excluded)"
    );
    for &(m, n, k) in &[
        (32, 2048, 512),
        (32, 512, 2048),
        (2048, 2048, 512),
        (1, 2048, 512),
        (32, 512, 128),
        (64, 1024, 256),
    ] {
        let a = vec![0.5f32; m * k];
        let w = vec![0.25f32; n * k]; // W [n, k], used transposed
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let reps = (2e10 / flops).clamp(3.0, 2000.0) as usize;
        let general = best_of(reps, || {
            matmul(
                &pool,
                m,
                n,
                k,
                Operand::new(&a, k),
                Operand::t(&w, k),
                &mut c,
                n,
                Accum::Replace,
            )
        });
        let packed = PackedB::packed(Operand::t(&w, k), k, n);
        let fast = best_of(reps, || {
            matmul_packed(&pool, m, &a, k, &packed, &mut c, n, Accum::Replace)
        });
        println!(
            "({m}, {n}, {k})  {:.1}  {:.1}",
            flops / general / 1e9,
            flops / fast / 1e9
        );
    }
}
