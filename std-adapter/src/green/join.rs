//! [`JoinHandle`]: waiting for a spawned coroutine's result.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::thread;

struct Slot<T> {
    result: Option<thread::Result<T>>,
    done: bool,
    waker: Option<Waker>,
}

pub(crate) struct Shared<T> {
    slot: Mutex<Slot<T>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Shared<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Shared {
            slot: Mutex::new(Slot {
                result: None,
                done: false,
                waker: None,
            }),
        })
    }

    /// Store the coroutine's result and wake the joiner.
    pub(crate) fn finish(&self, r: thread::Result<T>) {
        let waker = {
            let mut s = lock(&self.slot);
            s.result = Some(r);
            s.done = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// An owned permission to wait for a coroutine spawned with [`spawn`](super::spawn) or
/// [`Scheduler::spawn`](super::Scheduler::spawn), like [`std::thread::JoinHandle`].
/// Dropping it detaches the coroutine.
pub struct JoinHandle<T> {
    pub(crate) shared: Arc<Shared<T>>,
}

impl<T> JoinHandle<T> {
    /// Wait for the coroutine to finish: inside a coroutine this parks the coroutine, outside
    /// one the thread. `Err` carries the panic payload if it panicked (or `Err` with a
    /// "cancelled" message if it was dropped unfinished, at its worker's shutdown).
    pub fn join(self) -> thread::Result<T> {
        crate::park::wait(|cx| {
            let mut s = lock(&self.shared.slot);
            if s.done {
                return Poll::Ready(
                    s.result
                        .take()
                        .unwrap_or_else(|| Err(Box::new("cancelled"))),
                );
            }
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Whether the coroutine has finished (`join` would not wait).
    pub fn is_finished(&self) -> bool {
        lock(&self.shared.slot).done
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Marks the coroutine's result as gone if its body never finished (the coroutine was
/// dropped suspended), so that a joiner does not wait forever.
pub(crate) struct FinishOnDrop<T> {
    pub(crate) shared: Arc<Shared<T>>,
}

impl<T> Drop for FinishOnDrop<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.shared.slot);
            if s.done {
                return;
            }
            s.done = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}
