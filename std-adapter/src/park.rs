//! Blocking a caller: the core only knows [`Waker`]s, so a blocked thread hands it one that
//! unparks the thread, and parks until the core's answer is ready.
//!
//! The waker is made once per thread and reused; a spurious unpark only costs one more poll,
//! which the core allows (re-polling keeps the registration).
//!
//! Inside a green coroutine (`green/`) the same loop suspends the coroutine instead of the
//! thread: the operation is polled with the coroutine task's waker, and whatever wakes it
//! queues the coroutine on its worker.
//!
//! ## Blocking on an inline runtime
//! An inline runtime ([`Builder::drive_inline`](crate::Builder::drive_inline)) has no poller
//! thread: whoever drives it must run its loop, or no deadline fires and no edge arrives. A
//! caller that blocks on a socket of such a runtime and is its driver (the thread that last
//! ran [`Runtime::poll`](crate::Runtime::poll) on it, such as an async server worker whose
//! handler made a blocking call) runs the loop itself while it waits, instead of parking the
//! only thread that could wake it. Other threads park and are woken by the driver's loop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use netpoll_core::PollError;

use crate::runtime::Shared;

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
}

/// Poll `f` until it is ready, parking this thread (or, on an inline runtime this thread
/// drives, running its loop) in between. Inside a green coroutine, the coroutine is parked
/// instead: its worker runs the others and its runtime's loop meanwhile.
pub(crate) fn block_on<R>(shared: &Shared, mut f: impl FnMut(&mut Context<'_>) -> Poll<R>) -> R {
    let mut parked = Parked { shared, now: false };
    #[cfg(unix)]
    if let Some(mut here) = crate::green::Here::current() {
        here.spend();
        return here.block_on(|cx| {
            let r = f(cx);
            if r.is_pending() {
                parked.count();
            }
            r
        });
    }
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            match f(&mut cx) {
                Poll::Ready(r) => break r,
                Poll::Pending => {
                    parked.count();
                    sleep(shared);
                }
            }
        }
    })
}

#[cfg(unix)] // used by green mode only
/// Poll `f` until it is ready, parking the running green coroutine, or this thread outside
/// one, in between (for waits that need no runtime loop: a join, a helper thread's result).
pub(crate) fn wait<R>(mut f: impl FnMut(&mut Context<'_>) -> Poll<R>) -> R {
    #[cfg(unix)]
    if let Some(mut here) = crate::green::Here::current() {
        return here.block_on(f);
    }
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(r) = f(&mut cx) {
                break r;
            }
            thread::park();
        }
    })
}

/// Counts a caller in `parked_now` from its first wait until it returns (or unwinds).
struct Parked<'a> {
    shared: &'a Shared,
    now: bool,
}

impl Parked<'_> {
    fn count(&mut self) {
        let c = &self.shared.counters;
        if !self.now {
            self.now = true;
            c.parked_now.fetch_add(1, Ordering::Relaxed);
        }
        c.parks.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        if self.now {
            self.shared
                .counters
                .parked_now
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Sleep until this thread's waker is woken, or run the loop of an inline runtime this
/// thread drives until something happens.
fn sleep(shared: &Shared) {
    if !shared.may_drive_here() {
        thread::park();
        return;
    }
    match shared.np.poll(None) {
        // Whatever the loop woke (our waker included) is polled again by the caller; the
        // unpark it may have left behind only costs a spurious wake-up later.
        Ok(_) => {}
        // Another thread runs the loop after all: it wakes us.
        Err(netpoll_core::Error::Poll(PollError::DoubleWait)) => thread::park(),
        // A failing backend: do not spin on it.
        Err(_) => thread::park_timeout(Duration::from_millis(1)),
    }
}
