//! The packed-operand product: bitwise equal to its naive twin (same fused multiply-add chain per
//! element), whatever the row count, thread count or column tail.

use recur_kernels::packed::{matmul_chain_naive, matmul_packed_bias};
use recur_kernels::{matmul_packed, matmul_packed_op, Accum, MatMut, Operand, PackedB, Threads};

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn packed_product_is_bitwise_equal_to_the_naive_chain() {
    let threads = [Threads::single(), Threads::new(2).unwrap()];
    for &(m, n, k) in &[
        (1, 1, 1),
        (1, 33, 7),
        (3, 64, 16),
        (8, 31, 9),
        (9, 100, 50),
        (17, 257, 130),
        (200, 70, 3),
        (5, 40, 0),
    ] {
        for transposed in [false, true] {
            for accum in [Accum::Replace, Accum::Add] {
                let ldb = if transposed { k + 1 } else { n + 3 };
                let b = data(if transposed { n * ldb } else { k * ldb }, 1);
                let op = Operand {
                    data: &b,
                    ld: ldb,
                    transposed,
                };
                let lda = k + 2;
                let a = data(m * lda, 2);
                let ldc = n + 1;
                let c0 = data(m * ldc, 3);
                let mut want = c0.clone();
                let (al, wm) = (Operand::new(&a, lda), MatMut::new(&mut want, ldc));
                matmul_chain_naive((m, n, k), al, op, wm, accum);
                let packed = PackedB::packed(op, k, n);
                for th in &threads {
                    let mut got = c0.clone();
                    matmul_packed(th, m, &a, lda, &packed, MatMut::new(&mut got, ldc), accum);
                    assert_eq!(
                        got, want,
                        "m={m} n={n} k={k} transposed={transposed} {accum:?}"
                    );
                    // One row at a time gives the same bits as all rows at once.
                    let mut rowwise = c0.clone();
                    for i in 0..m {
                        let row = MatMut::new(&mut rowwise[i * ldc..], ldc);
                        matmul_packed(th, 1, &a[i * lda..], lda, &packed, row, accum);
                    }
                    assert_eq!(rowwise, want, "row by row, m={m} n={n} k={k}");
                }
            }
        }
    }
}

#[test]
fn a_transposed_left_operand_gives_the_same_bits_as_its_copy() {
    let threads = [Threads::single(), Threads::new(2).unwrap()];
    for &(m, n, k) in &[(1, 5, 3), (9, 40, 17), (96, 70, 200), (130, 33, 64)] {
        let b = data(n * k, 4);
        let packed = PackedB::packed(Operand::t(&b, k), k, n);
        // A stored transposed: [k, ld] with ld >= m.
        let ld = m + 3;
        let at = data(k * ld, 5);
        let a: Vec<f32> = (0..m * k).map(|i| at[(i % k) * ld + i / k]).collect();
        for th in &threads {
            let mut want = vec![0.5f32; m * n];
            matmul_packed(th, m, &a, k, &packed, MatMut::new(&mut want, n), Accum::Add);
            let mut got = vec![0.5f32; m * n];
            let (atl, gm) = (Operand::t(&at, ld), MatMut::new(&mut got, n));
            matmul_packed_op(th, m, atl, &packed, gm, Accum::Add);
            assert_eq!(got, want, "m={m} n={n} k={k}");
        }
    }
}

#[test]
fn transpose_matches_the_element_wise_copy() {
    let threads = [Threads::single(), Threads::new(2).unwrap()];
    // Edges in both directions (not multiples of 8 or of a piece), and sizes that take several
    // pieces and threads.
    for &(rows, cols) in &[
        (1, 1),
        (1, 9),
        (9, 1),
        (7, 13),
        (8, 8),
        (16, 40),
        (33, 65),
        (130, 250),
        (2048, 64),
    ] {
        let src = data(rows * cols, 3);
        let mut want = vec![0.0f32; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                want[j * rows + i] = src[i * cols + j];
            }
        }
        for t in &threads {
            let mut got = vec![f32::NAN; rows * cols];
            recur_kernels::packed::transpose(t, &src, rows, cols, &mut got);
            assert_eq!(got, want, "rows={rows} cols={cols} threads={}", t.count());
            let src64: Vec<f64> = src.iter().map(|&v| v as f64).collect();
            let mut got64 = vec![f64::NAN; rows * cols];
            recur_kernels::packed::transpose(t, &src64, rows, cols, &mut got64);
            assert!(got64.iter().zip(&want).all(|(&a, &b)| a == b as f64));
        }
    }
}

#[test]
fn packing_over_threads_gives_the_same_panels() {
    let two = Threads::new(2).unwrap();
    for &(k, n) in &[(1, 1), (5, 33), (64, 96), (300, 70)] {
        for transposed in [false, true] {
            let ld = if transposed { k + 2 } else { n + 5 };
            let b = data(if transposed { n * ld } else { k * ld }, 7);
            let op = Operand {
                data: &b,
                ld,
                transposed,
            };
            let (mut one, mut par) = (PackedB::new(), PackedB::new());
            one.pack(op, k, n);
            // A buffer that held other panels of the same size first.
            let other = data(k * 2 * n.div_ceil(32) * 32, 9);
            let other_n = n.div_ceil(32) * 32;
            par.pack(Operand::new(&other, other_n), k, other_n);
            par.pack_in(&two, op, k, n);
            // Equal packings give equal products; compare through a product with the identity.
            let eye: Vec<f32> = (0..k * k)
                .map(|i| if i / k == i % k { 1.0 } else { 0.0 })
                .collect();
            let (mut c1, mut c2) = (vec![0.0f32; k * n], vec![0.0f32; k * n]);
            let (c1m, c2m) = (MatMut::new(&mut c1, n), MatMut::new(&mut c2, n));
            matmul_packed(&two, k, &eye, k, &one, c1m, Accum::Replace);
            matmul_packed(&two, k, &eye, k, &par, c2m, Accum::Replace);
            assert_eq!(c1, c2);
            for p in 0..k {
                for j in 0..n {
                    assert_eq!(c1[p * n + j], op.at(p, j), "k={k} n={n} t={transposed}");
                }
            }
        }
    }
}

#[test]
fn a_bias_product_equals_filling_then_accumulating() {
    let two = Threads::new(2).unwrap();
    // Row counts below, at and above the row blocks; widths off and on the panels.
    for &(m, n, k) in &[(1, 5, 3), (7, 33, 9), (200, 96, 17), (400, 65, 40)] {
        let a = data(m * k, 3);
        let w = data(n * k, 4);
        let bias = data(n, 5);
        let packed = PackedB::packed(Operand::t(&w, k), k, n);
        let mut want = vec![0.0f32; m * n];
        for row in want.chunks_exact_mut(n) {
            row.copy_from_slice(&bias);
        }
        matmul_packed(
            &two,
            m,
            &a,
            k,
            &packed,
            MatMut::new(&mut want, n),
            Accum::Add,
        );
        for threads in [Threads::single(), Threads::new(2).unwrap()] {
            let mut got = vec![f32::NAN; m * n];
            let gm = MatMut::new(&mut got, n);
            matmul_packed_bias(&threads, m, &a, k, &packed, &bias, gm);
            assert_eq!(got, want, "({m}, {n}, {k})");
        }
    }
}
