//! The worker threads every computation runs on, shared by the whole module (PyTorch's
//! `torch.set_num_threads`): every core the process may use unless set.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recur::Threads;
use std::sync::{Mutex, MutexGuard};

/// The most threads `set_num_threads` accepts (as the command line's `--threads`).
const MAX_THREADS: usize = 1024;

/// The pool; `None` until first used or set. One computation holds it at a time: a second
/// Python thread waits (without the GIL) until the first is done.
static POOL: Mutex<Option<Threads>> = Mutex::new(None);

/// The pool, locked, started with every available core if it was not set.
fn lock() -> MutexGuard<'static, Option<Threads>> {
    // A panic inside a computation poisons the lock but leaves the pool usable.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` on the pool, with the GIL released so that other Python threads run meanwhile.
pub(crate) fn run<R: Send>(
    py: Python<'_>,
    f: impl FnOnce(&Threads) -> recur::Result<R> + Send,
) -> PyResult<R> {
    py.detach(|| {
        let mut pool = lock();
        if pool.is_none() {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            *pool = Some(Threads::new(n.min(MAX_THREADS))?);
        }
        let threads = pool.as_ref().expect("just started");
        f(threads)
    })
    .map_err(crate::to_py)
}

/// Sets the number of threads recur computes with (`torch.set_num_threads`). Results are
/// bitwise the same for any number.
///
/// Raises `ValueError` unless `1 <= n <= 1024`, `OSError` when the threads cannot start.
#[pyfunction]
pub(crate) fn set_num_threads(py: Python<'_>, n: usize) -> PyResult<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(PyValueError::new_err(format!(
            "n: the number of threads must be in [1, {MAX_THREADS}], got {n}"
        )));
    }
    py.detach(|| {
        let threads = Threads::new(n).map_err(|e| pyo3::exceptions::PyOSError::new_err(e.0))?;
        *lock() = Some(threads);
        Ok(())
    })
}

/// The number of threads recur computes with.
#[pyfunction]
pub(crate) fn get_num_threads(py: Python<'_>) -> usize {
    py.detach(|| {
        lock().as_ref().map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            Threads::count,
        )
    })
}
