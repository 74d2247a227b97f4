//! Helpers for the unit tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

/// A waker that counts its wake-ups.
pub(crate) struct CountingWaker {
    count: Arc<Count>,
    waker: Waker,
}

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    pub(crate) fn new() -> Self {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        CountingWaker { count, waker }
    }
    pub(crate) fn cx(&self) -> Context<'_> {
        Context::from_waker(&self.waker)
    }
    pub(crate) fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }
    /// References to the waker other than this helper's own (clones held by a slot).
    pub(crate) fn held(&self) -> usize {
        Arc::strong_count(&self.count) - 2
    }
}
