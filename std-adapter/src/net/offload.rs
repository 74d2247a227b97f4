//! Running a blocking call (a name lookup, a Unix connect into a full backlog) on a
//! short-lived thread so that an async caller's executor is not blocked, and awaiting its
//! result.

use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<io::Result<T>>,
    waker: Option<Waker>,
}

/// The result of [`run`], as a future.
pub(crate) struct Offload<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

/// Run `f` on a new thread named `name`.
pub(crate) fn run<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<Offload<T>> {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    let theirs = slot.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let v = catch_unwind(AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(io::Error::other("the helper thread panicked")));
            let waker = {
                let mut s = theirs.lock().unwrap_or_else(PoisonError::into_inner);
                s.value = Some(v);
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        })?;
    Ok(Offload { slot })
}

impl<T> Future for Offload<T> {
    type Output = io::Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let mut s = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
