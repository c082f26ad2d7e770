//! The packed-operand product: bitwise equal to its naive twin (same fused multiply-add chain per
//! element), whatever the row count, thread count or column tail.

use recur_kernels::packed::matmul_chain_naive;
use recur_kernels::{matmul_packed, matmul_packed_op, Accum, Operand, PackedB, Threads};

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
                matmul_chain_naive(m, n, k, &a, lda, op, &mut want, ldc, accum);
                let packed = PackedB::packed(op, k, n);
                for th in &threads {
                    let mut got = c0.clone();
                    matmul_packed(th, m, &a, lda, &packed, &mut got, ldc, accum);
                    assert_eq!(
                        got, want,
                        "m={m} n={n} k={k} transposed={transposed} {accum:?}"
                    );
                    // One row at a time gives the same bits as all rows at once.
                    let mut rowwise = c0.clone();
                    for i in 0..m {
                        matmul_packed(
                            th,
                            1,
                            &a[i * lda..],
                            lda,
                            &packed,
                            &mut rowwise[i * ldc..],
                            ldc,
                            accum,
                        );
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
            matmul_packed(th, m, &a, k, &packed, &mut want, n, Accum::Add);
            let mut got = vec![0.5f32; m * n];
            matmul_packed_op(th, m, Operand::t(&at, ld), &packed, &mut got, n, Accum::Add);
            assert_eq!(got, want, "m={m} n={n} k={k}");
        }
    }
}
