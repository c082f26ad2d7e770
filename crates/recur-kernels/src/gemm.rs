//! The one matrix product every kernel uses: `C (+)= op(A) · op(B)`, row-major, split by columns.

use crate::kernel::{Strided, Token};
use crate::scalar::Scalar;
use crate::threads::{SendPtr, Threads};

/// A read-only row-major matrix operand, optionally read transposed.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a, T> {
    /// The stored elements.
    pub data: &'a [T],
    /// Distance between consecutive stored rows.
    pub ld: usize,
    /// Read the stored matrix transposed.
    pub transposed: bool,
}

impl<'a, T> Operand<'a, T> {
    /// `data` stored as rows of length `ld`, used as is.
    pub fn new(data: &'a [T], ld: usize) -> Self {
        Operand {
            data,
            ld,
            transposed: false,
        }
    }

    /// `data` stored as rows of length `ld`, used transposed.
    pub fn t(data: &'a [T], ld: usize) -> Self {
        Operand {
            data,
            ld,
            transposed: true,
        }
    }

    /// Element `(row, col)` of the operand as read (after transposition).
    #[inline]
    pub fn at(&self, row: usize, col: usize) -> T
    where
        T: Copy,
    {
        if self.transposed {
            self.data[col * self.ld + row]
        } else {
            self.data[row * self.ld + col]
        }
    }

    /// Row and column strides of the operand as read (`rows × cols` after transposition).
    pub(crate) fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.ld as isize)
        } else {
            (self.ld as isize, 1)
        }
    }

    /// Panics unless an operand read as `rows × cols` stays inside `data`.
    pub(crate) fn check(&self, rows: usize, cols: usize, what: &str) {
        if rows == 0 || cols == 0 {
            return;
        }
        let (stored_rows, stored_cols) = if self.transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        assert!(
            stored_cols <= self.ld,
            "{what}: row length {stored_cols} exceeds ld {}",
            self.ld
        );
        let needed = (stored_rows - 1) * self.ld + stored_cols;
        assert!(
            needed <= self.data.len(),
            "{what}: needs {needed} elements, has {}",
            self.data.len()
        );
    }
}

/// A row-major matrix written by a product: row `r` starts at `data[r * ld]`.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    /// The stored elements.
    pub data: &'a mut [T],
    /// Distance between consecutive rows.
    pub ld: usize,
}

impl<'a, T> MatMut<'a, T> {
    /// `data` as rows of length `ld`.
    pub fn new(data: &'a mut [T], ld: usize) -> Self {
        MatMut { data, ld }
    }
}

/// Whether a product overwrites its output or adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accum {
    /// `C = op(A)·op(B)`
    Replace,
    /// `C += op(A)·op(B)`
    Add,
}

/// Width of the column pieces a product of `n` columns is cut into. Depends on `n` alone, never on
/// the thread count, which is what makes results identical for every thread count.
pub fn column_piece(n: usize) -> usize {
    const TARGET_PIECES: usize = 8;
    const MIN_WIDTH: usize = 32;
    if n <= MIN_WIDTH {
        return n.max(1);
    }
    n.div_ceil(TARGET_PIECES)
        .next_multiple_of(16)
        .max(MIN_WIDTH)
}

/// `C[m×n] (+)= op(A)[m×k] · op(B)[k×n]`, the sizes given as `(m, n, k)`.
///
/// Columns of `C` are cut into pieces (see [`column_piece`]) spread over `threads`.
pub fn matmul<T: Scalar>(
    threads: &Threads,
    (m, n, k): (usize, usize, usize),
    a: Operand<'_, T>,
    b: Operand<'_, T>,
    c: MatMut<'_, T>,
    accum: Accum,
) {
    let MatMut { data: c, ld: ldc } = c;
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= ldc, "C: row length {n} exceeds ldc {ldc}");
    assert!((m - 1) * ldc + n <= c.len(), "C: too short");
    if k == 0 {
        if accum == Accum::Replace {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].fill(T::zero());
            }
        }
        return;
    }
    a.check(m, k, "A");
    b.check(k, n, "B");
    let (rsa, csa) = a.strides();
    let (rsb, csb) = b.strides();
    let beta = match accum {
        Accum::Replace => T::zero(),
        Accum::Add => T::one(),
    };
    let width = column_piece(n);
    let pa = SendPtr(a.data.as_ptr() as *mut T);
    let pb = SendPtr(b.data.as_ptr() as *mut T);
    let pc = SendPtr(c.as_mut_ptr());
    threads.for_each_sized(n.div_ceil(width), m * n * k, |piece| {
        let j0 = piece * width;
        let cols = width.min(n - j0);
        // SAFETY: bounds were checked above; pieces write disjoint columns of C, and C is a
        // `&mut` borrow, so it cannot alias A or B.
        unsafe {
            let g = Strided {
                m,
                k,
                n: cols,
                a: (pa.get(), rsa, csa),
                b: (pb.get().offset(j0 as isize * csb), rsb, csb),
                beta,
                c: (pc.get().add(j0), ldc as isize, 1),
            };
            T::gemm_strided(Token(()), g)
        }
    });
}

/// Naive twin of [`matmul`]: triple loop, one thread, accumulating in `T`.
pub fn matmul_naive<T: Scalar>(
    (m, n, k): (usize, usize, usize),
    a: Operand<'_, T>,
    b: Operand<'_, T>,
    c: MatMut<'_, T>,
    accum: Accum,
) {
    let MatMut { data: c, ld: ldc } = c;
    for i in 0..m {
        for j in 0..n {
            let mut sum = T::zero();
            for p in 0..k {
                sum += a.at(i, p) * b.at(p, j);
            }
            let out = &mut c[i * ldc + j];
            *out = match accum {
                Accum::Replace => sum,
                Accum::Add => *out + sum,
            };
        }
    }
}
