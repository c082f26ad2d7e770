//! GFLOP/s of the packed product against the general one on RNN-shaped products.
//! `cargo run --release -p recur-kernels --example gemm_timing -- [threads]`; with `TRANSPOSE=1`
//! in the environment it times the transposed copy and the parallel packing instead (2 threads).

use recur_kernels::{
    matmul, matmul_packed, matmul_packed_op, Accum, MatMut, Operand, PackedB, Threads,
};
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
    if std::env::var("TRANSPOSE").is_ok() {
        let pool = Threads::new(2).unwrap();
        transpose_timing(&pool);
        return;
    }
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
                (m, n, k),
                Operand::new(&a, k),
                Operand::t(&w, k),
                MatMut::new(&mut c, n),
                Accum::Replace,
            )
        });
        let packed = PackedB::packed(Operand::t(&w, k), k, n);
        let fast = best_of(reps, || {
            matmul_packed(
                &pool,
                m,
                &a,
                k,
                &packed,
                MatMut::new(&mut c, n),
                Accum::Replace,
            )
        });
        println!(
            "({m}, {n}, {k})  {:.1}  {:.1}",
            flops / general / 1e9,
            flops / fast / 1e9
        );
    }
    println!("weight-gradient shapes: (m, n, k) = (G·H, I, T·B), δA read in place (transposed) or copied");
    for &(m, n, k, in_place) in &[
        (512, 64, 2048, true),
        (512, 128, 2048, true),
        (384, 128, 2048, true),
        (1024, 256, 2048, false),
        (2048, 512, 2048, false),
        (2048, 256, 2048, false),
    ] {
        let da = vec![0.5f32; m * k]; // δA [k, m] in place, or its transposed copy [m, k]
        let x = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let reps = (2e10 / flops).clamp(3.0, 2000.0) as usize;
        let packed = PackedB::packed(Operand::new(&x, n), k, n);
        let a = if in_place {
            Operand::t(&da, m)
        } else {
            Operand::new(&da, k)
        };
        let fast = best_of(reps, || {
            matmul_packed_op(&pool, m, a, &packed, MatMut::new(&mut c, n), Accum::Add)
        });
        println!(
            "({m}, {n}, {k}) {}  {:.1}",
            if in_place { "in place" } else { "copied" },
            flops / fast / 1e9
        );
    }
}

#[allow(dead_code)]
fn transpose_timing(pool: &Threads) {
    for &(r, c) in &[(2048usize, 2048usize), (2048, 1024), (2048, 512)] {
        let src: Vec<f32> = (0..r * c).map(|i| i as f32).collect();
        let mut dst = vec![0.0f32; r * c];
        let t = best_of(10, || {
            recur_kernels::packed::transpose(pool, &src, r, c, &mut dst)
        });
        let mut p = PackedB::new();
        let tp = best_of(10, || p.pack_in(pool, Operand::new(&src, c), r, c));
        println!(
            "transpose ({r}, {c}): {:.2} ms; pack as B: {:.2} ms",
            t * 1e3,
            tp * 1e3
        );
    }
}
