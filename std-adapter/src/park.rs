//! Parking a blocking caller: the core only knows [`Waker`]s, so a blocked thread hands it one
//! that unparks the thread, and parks until its wait is ready.
//!
//! The waker is made once per thread and reused; a spurious unpark only costs one more
//! `poll_wait`, which the core allows (re-polling a wait keeps the registration).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use netpoll_core::{Handle, Mode, PollError};

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

/// Block this thread until the wait on `(h, mode)` resolves.
pub(crate) fn wait(shared: &Shared, h: Handle, mode: Mode) -> Result<(), PollError> {
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        let mut parked = false;
        let r = loop {
            match shared.np.poll_wait(h, mode, &mut cx) {
                Poll::Ready(r) => break r,
                Poll::Pending => {
                    if !parked {
                        parked = true;
                        shared.counters.parked_now.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.counters.parks.fetch_add(1, Ordering::Relaxed);
                    thread::park();
                }
            }
        };
        if parked {
            shared.counters.parked_now.fetch_sub(1, Ordering::Relaxed);
        }
        r
    })
}
