//! The fast kernels against their naive twins, on random and awkward shapes, and across thread
//! counts (where results must be bitwise identical).

use recur_kernels::naive::{backward_seq_naive, forward_seq_naive, StateRef};
use recur_kernels::{
    backward_seq, forward_seq, matmul, matmul_naive, Accum, Cell, DirGrads, DirWeights, GradView,
    MatMut, Operand, OutView, PackedWeights, Scalar, SeqCache, SeqGradInput, SeqGradWork, SeqGrads,
    SeqInput, SeqOut, SeqPass, SeqShape, Threads,
};

/// Small deterministic generator for test data (SplitMix64).
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    fn vec<T: Scalar>(&mut self, n: usize, scale: f64) -> Vec<T> {
        (0..n).map(|_| T::of(self.next() * scale)).collect()
    }
}

fn max_rel_err<T: Scalar>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b
        .iter()
        .fold(0.0f64, |m, v| m.max(v.to_f64().unwrap().abs()))
        .max(1e-30);
    let diff = a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        m.max((x.to_f64().unwrap() - y.to_f64().unwrap()).abs())
    });
    diff / scale
}

#[test]
fn matmul_matches_naive_on_awkward_shapes() {
    let mut gen = Gen(7);
    let threads = [Threads::single(), Threads::new(2).unwrap()];
    for &(m, n, k) in &[
        (1, 1, 1),
        (3, 5, 7),
        (1, 70, 33),
        (17, 129, 5),
        (64, 300, 48),
        (5, 0, 3),
        (4, 6, 0),
    ] {
        for ta in [false, true] {
            for tb in [false, true] {
                for accum in [Accum::Replace, Accum::Add] {
                    let lda = if ta { m + 2 } else { k + 1 };
                    let ldb = if tb { k + 3 } else { n + 1 };
                    let a: Vec<f64> = gen.vec(if ta { k * lda } else { m * lda }, 1.0);
                    let b: Vec<f64> = gen.vec(if tb { n * ldb } else { k * ldb }, 1.0);
                    let ldc = n + 2;
                    let c0: Vec<f64> = gen.vec(m * ldc, 1.0);
                    let op = |d: &'static str, data, ld, t| {
                        let _ = d;
                        Operand {
                            data,
                            ld,
                            transposed: t,
                        }
                    };
                    let mut want = c0.clone();
                    matmul_naive(
                        (m, n, k),
                        op("a", &a, lda, ta),
                        op("b", &b, ldb, tb),
                        MatMut::new(&mut want, ldc),
                        accum,
                    );
                    let mut outs = Vec::new();
                    for th in &threads {
                        let mut got = c0.clone();
                        matmul(
                            th,
                            (m, n, k),
                            op("a", &a, lda, ta),
                            op("b", &b, ldb, tb),
                            MatMut::new(&mut got, ldc),
                            accum,
                        );
                        assert!(
                            max_rel_err(&got, &want) < 1e-12,
                            "({m},{n},{k}) ta={ta} tb={tb}"
                        );
                        outs.push(got);
                    }
                    assert_eq!(outs[0], outs[1], "thread counts disagree");
                }
            }
        }
    }
}

const CELLS: [Cell; 4] = [Cell::RnnTanh, Cell::RnnRelu, Cell::Lstm, Cell::Gru];
/// `(steps, batch, input, hidden)`: hidden sizes off and on the 32-column panels of the packed
/// weights.
const SHAPES: [(usize, usize, usize, usize); 7] = [
    (1, 1, 1, 1),
    (5, 3, 4, 7),
    (3, 2, 9, 17),
    (4, 5, 33, 70),
    (2, 1, 3, 130),
    (4, 3, 5, 32),
    (3, 9, 6, 64),
];

struct Case<T> {
    cell: Cell,
    shape: SeqShape,
    x: Vec<T>,
    w_ih: Vec<T>,
    w_hh: Vec<T>,
    b_ih: Option<Vec<T>>,
    b_hh: Option<Vec<T>>,
    lengths: Option<Vec<usize>>,
    h0: Vec<T>,
    c0: Option<Vec<T>>,
    d_out: Vec<T>,
    d_h: Vec<T>,
    d_c: Option<Vec<T>>,
}

impl<T: Scalar> Case<T> {
    fn new(
        gen: &mut Gen,
        cell: Cell,
        dims: (usize, usize, usize, usize),
        bias: bool,
        ragged: bool,
    ) -> Self {
        let (steps, batch, input, hidden) = dims;
        let shape = SeqShape {
            steps,
            batch,
            input,
            hidden,
        };
        let gh = cell.gates() * hidden;
        let k = 1.0 / (hidden as f64).sqrt();
        let lstm = cell == Cell::Lstm;
        Case {
            cell,
            shape,
            x: gen.vec(shape.rows() * input, 1.0),
            w_ih: gen.vec(gh * input, k),
            w_hh: gen.vec(gh * hidden, k),
            b_ih: bias.then(|| gen.vec(gh, k)),
            b_hh: bias.then(|| gen.vec(gh, k)),
            lengths: ragged.then(|| (0..batch).map(|b| steps - (b * 2) % steps).collect()),
            h0: gen.vec(batch * hidden, 0.5),
            c0: lstm.then(|| gen.vec(batch * hidden, 0.5)),
            d_out: gen.vec(shape.rows() * hidden, 1.0),
            d_h: gen.vec(batch * hidden, 1.0),
            d_c: lstm.then(|| gen.vec(batch * hidden, 1.0)),
        }
    }

    fn weights(&self) -> DirWeights<'_, T> {
        DirWeights {
            w_ih: &self.w_ih,
            w_hh: &self.w_hh,
            b_ih: self.b_ih.as_deref(),
            b_hh: self.b_hh.as_deref(),
        }
    }

    /// Fast forward + backward: (out, h_n, c_n, [dW_ih, dW_hh, db_ih, db_hh, dx, dh0, dc0]).
    fn run_fast(&self, threads: &Threads, reverse: bool) -> Vec<Vec<T>> {
        let s = self.shape;
        let gh = self.cell.gates() * s.hidden;
        let mut h = self.h0.clone();
        let mut c = self.c0.clone();
        let mut out = vec![T::zero(); s.rows() * s.hidden * 2];
        let ld = 2 * s.hidden;
        let mut cache = SeqCache::new();
        let lengths = self.lengths.as_deref();
        let packed = PackedWeights::new(self.cell, s.input, s.hidden, self.weights());
        let pass = SeqPass {
            cell: self.cell,
            shape: s,
            reverse,
            lengths,
        };
        let state = SeqOut {
            h: &mut h,
            c: c.as_deref_mut(),
            out: OutView {
                data: &mut out,
                ld,
                col: s.hidden,
            },
        };
        let x = SeqInput::Rows(&self.x);
        forward_seq(threads, pass, x, self.weights(), &packed, state, &mut cache);
        let out: Vec<T> = out
            .chunks(ld)
            .flat_map(|r| r[s.hidden..].to_vec())
            .collect();
        let (mut dw_ih, mut dw_hh) = (
            vec![T::zero(); gh * s.input],
            vec![T::zero(); gh * s.hidden],
        );
        let (mut db_ih, mut db_hh) = (vec![T::zero(); gh], vec![T::zero(); gh]);
        let mut dx = vec![T::zero(); s.rows() * s.input];
        let mut dh = self.d_h.clone();
        let mut dc = self.d_c.clone();
        let mut work = SeqGradWork::new();
        let bias = self.b_ih.is_some();
        let grads = SeqGrads {
            d_out: GradView {
                data: &self.d_out,
                ld: s.hidden,
                col: 0,
            },
            d_h: &mut dh,
            d_c: dc.as_deref_mut(),
            params: DirGrads {
                w_ih: &mut dw_ih,
                w_hh: &mut dw_hh,
                b_ih: bias.then_some(&mut db_ih[..]),
                b_hh: bias.then_some(&mut db_hh[..]),
            },
        };
        let x = SeqGradInput::Rows {
            x: &self.x,
            d_x: &mut dx,
        };
        backward_seq(threads, pass, x, self.weights(), &cache, grads, &mut work);
        vec![
            out,
            h,
            c.unwrap_or_default(),
            dw_ih,
            dw_hh,
            db_ih,
            db_hh,
            dx,
            dh,
            dc.unwrap_or_default(),
        ]
    }

    fn run_naive(&self, reverse: bool) -> Vec<Vec<T>> {
        let pass = SeqPass {
            cell: self.cell,
            shape: self.shape,
            reverse,
            lengths: self.lengths.as_deref(),
        };
        let start = StateRef {
            h: &self.h0,
            c: self.c0.as_deref(),
        };
        let d_end = StateRef {
            h: &self.d_h,
            c: self.d_c.as_deref(),
        };
        let f = forward_seq_naive(pass, &self.x, self.weights(), start);
        let g = backward_seq_naive(pass, &self.x, self.weights(), start, &self.d_out, d_end);
        let bias = self.b_ih.is_some();
        let zeros = |v: &Vec<T>| {
            if bias {
                v.clone()
            } else {
                vec![T::zero(); v.len()]
            }
        };
        vec![
            f.out,
            f.h_n,
            f.c_n.unwrap_or_default(),
            g.w_ih,
            g.w_hh,
            zeros(&g.b_ih),
            zeros(&g.b_hh),
            g.x,
            g.h0,
            g.c0.unwrap_or_default(),
        ]
    }
}

const NAMES: [&str; 10] = [
    "out", "h_n", "c_n", "dW_ih", "dW_hh", "db_ih", "db_hh", "dx", "dh0", "dc0",
];

fn compare_all<T: Scalar>(tol: f64) {
    let mut gen = Gen(42);
    let threads = [Threads::single(), Threads::new(2).unwrap()];
    for cell in CELLS {
        for dims in SHAPES {
            for bias in [true, false] {
                for ragged in [false, true] {
                    let case = Case::<T>::new(&mut gen, cell, dims, bias, ragged);
                    for reverse in [false, true] {
                        let want = case.run_naive(reverse);
                        let one = case.run_fast(&threads[0], reverse);
                        let two = case.run_fast(&threads[1], reverse);
                        for (i, name) in NAMES.iter().enumerate() {
                            let err = max_rel_err(&one[i], &want[i]);
                            assert!(err <= tol, "{cell:?} {dims:?} bias={bias} ragged={ragged} reverse={reverse}: {name} off by {err:e}");
                            assert!(
                                one[i] == two[i],
                                "{cell:?} {dims:?}: {name} differs between 1 and 2 threads"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn sequence_kernels_match_naive_f64() {
    compare_all::<f64>(1e-12);
}

#[test]
fn sequence_kernels_match_naive_f32() {
    compare_all::<f32>(2e-5);
}

#[test]
fn zero_length_sequence_keeps_initial_state() {
    let mut gen = Gen(3);
    for cell in CELLS {
        let mut case = Case::<f64>::new(&mut gen, cell, (3, 2, 4, 5), true, false);
        case.lengths = Some(vec![0, 3]);
        let got = case.run_fast(&Threads::single(), false);
        assert_eq!(
            &got[1][..5],
            &case.h0[..5],
            "{cell:?}: h_n of an empty sequence is h0"
        );
        assert!(got[0]
            .chunks(5)
            .step_by(2)
            .all(|r| r.iter().all(|&v| v == 0.0)));
        assert_eq!(
            &got[8][..5],
            &case.d_h[..5],
            "{cell:?}: dh0 passes straight through"
        );
    }
}
