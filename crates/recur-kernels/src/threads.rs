//! Explicit parallelism: a kernel is told how many threads it may use.
//!
//! A small team of worker threads of our own: inside [`Threads::install`] the workers spin,
//! waiting for the next job, so that handing out the pieces of one recurrent step costs well
//! under a microsecond (a sleeping worker would take tens of microseconds to wake, longer than a
//! whole step of a small model). Outside it they sleep.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Jobs below this many multiply-adds run on the calling thread (a few microseconds of work).
pub const PARALLEL_MIN_MACS: usize = 1 << 16;

/// A fixed set of worker threads (or none), passed to every kernel that can split its work.
///
/// Work is always cut into the same pieces whatever the thread count, and each piece is
/// computed the same way, so results are bitwise identical for 1, 2 or more threads.
pub struct Threads {
    count: usize,
    team: Option<Team>,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads")
            .field("count", &self.count)
            .finish()
    }
}

type Job = dyn Fn(usize) + Sync;

struct Shared {
    /// `(job number << 32) | next piece to hand out`.
    ticket: AtomicU64,
    /// Pieces of the current job.
    pieces: AtomicUsize,
    /// Pieces of the current job finished.
    done: AtomicUsize,
    /// The current job (a `&Job` whose lifetime the caller guarantees until `done == pieces`).
    job: AtomicPtr<&'static Job>,
    /// Whether workers should spin (inside `install`) rather than sleep.
    active: AtomicBool,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    sleep: Mutex<()>,
    wake: Condvar,
}

struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Nesting depth of `install` on the owning thread.
    depth: AtomicUsize,
}

thread_local! {
    /// Set while a thread runs a piece: a nested parallel call then runs serially.
    static IN_PIECE: Cell<bool> = const { Cell::new(false) };
}

/// Why a thread pool could not be started (the system's message); `recur::Error` converts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadsError(pub String);

impl std::fmt::Display for ThreadsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ThreadsError {}

impl Threads {
    /// Runs everything on the calling thread.
    pub fn single() -> Self {
        Threads {
            count: 1,
            team: None,
        }
    }

    /// Uses `count` threads: the caller plus `count - 1` workers (0 is treated as 1).
    ///
    /// # Errors
    /// [`ThreadsError`] when the system refuses to start a worker thread.
    pub fn new(count: usize) -> Result<Self, ThreadsError> {
        if count <= 1 {
            return Ok(Self::single());
        }
        let shared = Arc::new(Shared {
            ticket: AtomicU64::new(0),
            pieces: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        });
        // Built first, so that a failure part-way drops it: the workers already started are shut
        // down and joined.
        let mut threads = Threads {
            count,
            team: Some(Team {
                shared,
                workers: Vec::with_capacity(count - 1),
                depth: AtomicUsize::new(0),
            }),
        };
        let team = threads.team.as_mut().expect("just built");
        for i in 0..count - 1 {
            let s = Arc::clone(&team.shared);
            let handle = std::thread::Builder::new()
                .name(format!("recur-worker-{i}"))
                .spawn(move || worker(&s))
                .map_err(|e| ThreadsError(format!("cannot start {count} worker threads: {e}")))?;
            team.workers.push(handle);
        }
        Ok(threads)
    }

    /// Number of threads work is spread over.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Runs `f` with the workers awake and spinning, so that the many small parallel jobs of a
    /// whole forward or backward pass start at once. Call it around such a pass.
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        let Some(team) = &self.team else { return f() };
        if team.depth.fetch_add(1, Ordering::AcqRel) == 0 {
            let _guard = team.shared.sleep.lock().unwrap_or_else(|p| p.into_inner());
            team.shared.active.store(true, Ordering::Release);
            team.shared.wake.notify_all();
        }
        struct Leave<'a>(&'a Team);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                if self.0.depth.fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.0.shared.active.store(false, Ordering::Release);
                }
            }
        }
        let _leave = Leave(team);
        f()
    }

    /// Like [`Self::for_each`], but on the calling thread alone when the whole job is smaller
    /// than [`PARALLEL_MIN_MACS`] multiply-adds. The pieces are the same either way, and so are
    /// the results.
    pub fn for_each_sized(&self, pieces: usize, macs: usize, work: impl Fn(usize) + Sync) {
        if macs < PARALLEL_MIN_MACS {
            (0..pieces).for_each(work)
        } else {
            self.for_each(pieces, work)
        }
    }

    /// Whether a job of `macs` multiply-adds is worth spreading over the threads.
    pub fn worth_parallel(&self, macs: usize) -> bool {
        self.count > 1 && macs >= PARALLEL_MIN_MACS
    }

    /// Calls `work(i)` for every `i` in `0..pieces`, spread over the threads.
    pub fn for_each(&self, pieces: usize, work: impl Fn(usize) + Sync) {
        let team = match &self.team {
            Some(team) if pieces > 1 && !IN_PIECE.with(Cell::get) => team,
            _ => return (0..pieces).for_each(work),
        };
        self.install(|| team.run(pieces, &work));
    }
}

impl Team {
    /// Publishes a job, takes pieces of it on this thread too, and waits for all of them.
    fn run<'a>(&self, pieces: usize, work: &'a (dyn Fn(usize) + Sync + 'a)) {
        let s = &*self.shared;
        // SAFETY: the reference is only used until `done == pieces`, which this function waits
        // for before returning, so `work` outlives every use.
        let job: &'static Job =
            unsafe { std::mem::transmute::<&'a (dyn Fn(usize) + Sync + 'a), &'static Job>(work) };
        let slot = Box::into_raw(Box::new(job));
        let old = s.job.swap(slot, Ordering::AcqRel);
        s.pieces.store(pieces, Ordering::Relaxed);
        s.done.store(0, Ordering::Relaxed);
        let number = (s.ticket.load(Ordering::Relaxed) >> 32) + 1;
        s.ticket.store(number << 32, Ordering::Release);
        if !old.is_null() {
            // SAFETY: the previous job finished before this one was published; no worker reads
            // a slot whose ticket is gone (a stale claim fails its compare-exchange).
            drop(unsafe { Box::from_raw(old) });
        }
        take_pieces(s);
        while s.done.load(Ordering::Acquire) < pieces {
            std::hint::spin_loop();
        }
        if s.panicked.swap(false, Ordering::AcqRel) {
            panic!("a worker thread panicked in a parallel kernel");
        }
    }
}

/// Claims and runs pieces of the current job until none are left.
fn take_pieces(s: &Shared) {
    loop {
        let ticket = s.ticket.load(Ordering::Acquire);
        let index = (ticket & 0xFFFF_FFFF) as usize;
        if index >= s.pieces.load(Ordering::Acquire) {
            return;
        }
        let job = s.job.load(Ordering::Acquire);
        if s.ticket
            .compare_exchange_weak(ticket, ticket + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        // SAFETY: the claim succeeded on this job's ticket, so the job is unfinished and its
        // slot and closure are alive until this piece is counted done.
        let work = unsafe { *job };
        IN_PIECE.with(|f| f.set(true));
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(index))).is_ok();
        IN_PIECE.with(|f| f.set(false));
        if !ok {
            s.panicked.store(true, Ordering::Release);
        }
        s.done.fetch_add(1, Ordering::AcqRel);
    }
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        if s.shutdown.load(Ordering::Acquire) {
            return;
        }
        let ticket = s.ticket.load(Ordering::Acquire);
        if ticket >> 32 != seen {
            seen = ticket >> 32;
            take_pieces(s);
            continue;
        }
        if s.active.load(Ordering::Acquire) {
            std::hint::spin_loop();
            continue;
        }
        let guard = s.sleep.lock().unwrap_or_else(|p| p.into_inner());
        if !s.active.load(Ordering::Acquire)
            && !s.shutdown.load(Ordering::Acquire)
            && s.ticket.load(Ordering::Acquire) >> 32 == seen
        {
            drop(s.wake.wait(guard));
        }
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        if let Some(team) = self.team.take() {
            {
                let _guard = team.shared.sleep.lock().unwrap_or_else(|p| p.into_inner());
                team.shared.shutdown.store(true, Ordering::Release);
                team.shared.wake.notify_all();
            }
            for w in team.workers {
                let _ = w.join();
            }
            let last = team.shared.job.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !last.is_null() {
                // SAFETY: every worker has exited; nothing else refers to the slot.
                drop(unsafe { Box::from_raw(last) });
            }
        }
    }
}

/// A raw pointer that may cross threads; the caller guarantees that pieces never overlap.
pub(crate) struct SendPtr<T>(pub *mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `SendPtr`).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }

    /// `len` elements from `start` of the buffer the pointer addresses.
    ///
    /// # Safety
    /// The range must lie inside the buffer and be used by no one else while the slice lives.
    pub(crate) unsafe fn slice<'a>(self, start: usize, len: usize) -> &'a mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_runs_exactly_once() {
        let threads = Threads::new(3).unwrap();
        for pieces in [1, 2, 7, 64] {
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..pieces).map(|_| AtomicUsize::new(0)).collect();
                threads.for_each(pieces, |i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
        let total = AtomicUsize::new(0);
        threads.install(|| {
            for _ in 0..1000 {
                threads.for_each(4, |i| {
                    total.fetch_add(i, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 6000);
    }

    #[test]
    fn a_panicking_piece_panics_the_caller_and_the_team_survives() {
        let threads = Threads::new(2).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            threads.for_each(8, |i| assert!(i != 5, "piece 5 fails"));
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        threads.for_each(8, |_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 8);
    }
}
