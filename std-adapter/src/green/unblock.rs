//! [`unblock`]: run a call that blocks in the kernel (file I/O, a foreign library, a name
//! lookup) on a pool of helper threads while the coroutine that needs it is parked, so the
//! worker goes on running the others.
//!
//! The pool starts threads on demand, up to [`MAX_THREADS`], and a thread that has had
//! nothing to do for [`KEEP_ALIVE`] exits. If no thread can be started at all, the call runs
//! on the caller's thread (slower, never lost).
//!
//! The closure may borrow from the coroutine's stack (as with `std::thread::scope`): the
//! coroutine does not leave `unblock` until the closure has run and its result is dropped or
//! returned. Even when the coroutine is dropped while it waits (its worker shutting down),
//! the unwinding stops in `unblock` until the helper thread is done, blocking the worker
//! thread for that long.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use super::coroutine::Here;

/// Helper threads at most; further calls queue.
pub const MAX_THREADS: usize = 64;

/// How long an idle helper thread waits for work before it exits.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

static POOL: Pool = Pool {
    state: Mutex::new(PoolState {
        jobs: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    work: Condvar::new(),
};

impl Pool {
    /// Queue `job`; gives it back if no helper thread exists and none can be started.
    fn submit(&'static self, job: Job) -> Result<(), Job> {
        let mut st = lock(&self.state);
        if st.idle == 0 && st.threads < MAX_THREADS {
            let spawned = thread::Builder::new()
                .name("netpoll-unblock".into())
                .spawn(move || self.helper());
            match spawned {
                Ok(_) => st.threads += 1,
                Err(_) if st.threads == 0 => return Err(job),
                Err(_) => {}
            }
        }
        st.jobs.push_back(job);
        drop(st);
        self.work.notify_one();
        Ok(())
    }

    fn helper(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                job();
                st = lock(&self.state);
                continue;
            }
            st.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(st, KEEP_ALIVE)
                .unwrap_or_else(PoisonError::into_inner);
            st = next;
            st.idle -= 1;
            if timeout.timed_out() && st.jobs.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

struct Slot<R> {
    result: Option<thread::Result<R>>,
    done: bool,
    waker: Option<Waker>,
}

struct Call<R> {
    slot: Mutex<Slot<R>>,
    done: Condvar,
}

/// Waits (blocking the thread) for the call to finish if the coroutine leaves `unblock` by
/// unwinding, and drops an untaken result inside the borrowing frame.
struct Scope<'a, R> {
    call: &'a Call<R>,
}

impl<R> Drop for Scope<'_, R> {
    fn drop(&mut self) {
        let mut s = lock(&self.call.slot);
        while !s.done {
            s = self
                .call
                .done
                .wait(s)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let late = s.result.take();
        drop(s);
        drop(late);
    }
}

/// Run `f` on a helper thread and return its result, parking the calling coroutine
/// meanwhile; outside a coroutine, just call `f` (the thread blocks as it would anyway).
/// A panic in `f` resumes in the caller.
///
/// For anything that blocks the thread in the kernel or in a library: reading a file, a
/// name lookup, a database client, `std::process::Command::output`. Inside a coroutine such
/// a call made directly would stall every coroutine of its worker.
///
/// ```
/// use netpoll_std::green::{self, Scheduler};
///
/// let sched = Scheduler::new()?;
/// let len = sched
///     .spawn(|| green::unblock(|| std::fs::read("Cargo.toml").map(|b| b.len())))?
///     .join()
///     .expect("no panic")?;
/// assert!(len > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn unblock<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    let Some(mut here) = Here::current() else {
        return f();
    };
    let call = Arc::new(Call {
        slot: Mutex::new(Slot {
            result: None,
            done: false,
            waker: None,
        }),
        done: Condvar::new(),
    });
    let theirs = call.clone();
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let r = catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut s = lock(&theirs.slot);
            s.result = Some(r);
            s.done = true;
            s.waker.take()
        };
        theirs.done.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    });
    // SAFETY: only the lifetime is changed. The job borrows from this frame (through `f`
    // and `R`), and this frame is not left before the job has finished: the normal path
    // below waits for `done`, and if the wait unwinds (the coroutine is dropped), `Scope`
    // blocks until `done` and drops any result here. The job sets `done` as its last use of
    // anything borrowed (`f` has been consumed and `R` moved into the slot by then). A
    // coroutine that is leaked instead keeps its stack mapped forever, so borrows stay valid.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    let scope = Scope { call: &call };
    if let Err(job) = POOL.submit(job) {
        job();
    }
    let r = here.block_on(|cx| {
        let mut s = lock(&call.slot);
        if s.done {
            return Poll::Ready(s.result.take());
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    });
    drop(scope);
    match r {
        Some(Ok(v)) => v,
        Some(Err(p)) => resume_unwind(p),
        // `done` is set together with the result, and only this frame takes it.
        None => unreachable!("unblock: finished without a result"),
    }
}
