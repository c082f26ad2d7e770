//! The machine's fp32 multiply-add ceiling: independent FMA chains with no memory traffic, on 1
//! and on N threads, with 512- and 256-bit vectors. The packed product's GFLOP/s
//! (`gemm_timing`) read against this number tell how much of the arithmetic units it uses.
//! `cargo run --release -p recur-kernels --example fma_peak -- [threads]`

use std::time::Instant;

/// Independent accumulators: enough to cover the FMA latency on both pipes.
const CHAINS: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); CHAINS];
    // x ← x/2 + 1/2 stays finite (it tends to 1).
    let (a, b) = (_mm512_set1_ps(0.5), _mm512_set1_ps(0.5));
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains256(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); CHAINS];
    let (a, b) = (_mm256_set1_ps(0.5), _mm256_set1_ps(0.5));
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut sum = 0.0;
    for x in acc {
        _mm256_storeu_ps(lanes.as_mut_ptr(), x);
        sum += lanes.iter().sum::<f32>();
    }
    sum
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        let threads: usize = std::env::args()
            .nth(1)
            .map_or(1, |s| s.parse().expect("threads"));
        let iters = 100_000_000u64;
        type Chains = unsafe fn(u64) -> f32;
        let widths: [(&str, f64, Chains, bool); 2] = [
            (
                "512-bit",
                16.0,
                chains512,
                is_x86_feature_detected!("avx512f"),
            ),
            (
                "256-bit",
                8.0,
                chains256,
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            ),
        ];
        for (name, lanes, f, available) in widths {
            if !available {
                println!("{name}: not available on this CPU");
                continue;
            }
            let start = Instant::now();
            let handles: Vec<_> = (0..threads)
                // SAFETY: the CPU has the features `f` needs (checked above).
                .map(|_| std::thread::spawn(move || unsafe { f(iters) }))
                .collect();
            let check: f32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            let secs = start.elapsed().as_secs_f64();
            let flops = iters as f64 * CHAINS as f64 * lanes * 2.0 * threads as f64;
            println!(
                "{name} FMA, {threads} thread(s): {:.1} GFLOP/s (check {check})",
                flops / secs / 1e9
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    println!("fma_peak measures x86-64 vector units only");
}
