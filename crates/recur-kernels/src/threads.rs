//! Explicit parallelism: a kernel is told how many threads it may use.

/// A fixed set of worker threads (or none), passed to every kernel that can split its work.
///
/// Work is always cut into the same pieces whatever the thread count, and each piece is
/// computed the same way, so results are bitwise identical for 1, 2 or more threads.
pub struct Threads {
    count: usize,
    pool: Option<rayon::ThreadPool>,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads")
            .field("count", &self.count)
            .finish()
    }
}

impl Threads {
    /// Runs everything on the calling thread.
    pub fn single() -> Self {
        Threads {
            count: 1,
            pool: None,
        }
    }

    /// Uses `count` worker threads (1 means the calling thread only; 0 is treated as 1).
    pub fn new(count: usize) -> Result<Self, String> {
        if count <= 1 {
            return Ok(Self::single());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(count)
            .thread_name(|i| format!("recur-worker-{i}"))
            .build()
            .map_err(|e| format!("cannot start {count} worker threads: {e}"))?;
        Ok(Threads {
            count,
            pool: Some(pool),
        })
    }

    /// Number of threads work is spread over.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Runs `f` on one of the worker threads, so that the serial parts of a kernel and the
    /// parallel pieces it spawns share the same `count` threads instead of competing with the
    /// calling thread for cores. Call it around a whole forward or backward pass.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }

    /// Calls `work(i)` for every `i` in `0..pieces`, spread over the threads.
    pub fn for_each(&self, pieces: usize, work: impl Fn(usize) + Sync + Send) {
        match &self.pool {
            Some(pool) if pieces > 1 => pool.install(|| {
                use rayon::prelude::*;
                (0..pieces).into_par_iter().for_each(&work)
            }),
            _ => (0..pieces).for_each(work),
        }
    }
}

/// A raw pointer that may cross threads; the caller guarantees that pieces never overlap.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `SendPtr`).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}
