//! [`AtomicWaker`]: one task's waker, registered by the task and woken from an interrupt.
//!
//! Lock-free and wait-free for both sides, so an interrupt handler can call
//! [`wake`](AtomicWaker::wake) while the task it preempted is halfway through
//! [`register`](AtomicWaker::register): neither side ever spins on the other.
//!
//! The protocol uses two bits of one byte. `REGISTERING` is set by the (single) registering
//! task while it stores its waker; `WAKING` is set by a waker while it takes the stored one.
//! Whoever sets its bit on a word where neither bit was set owns the cell until it clears its
//! bit. A wake that finds `REGISTERING` set leaves its bit for the registrant, which sees it
//! when it tries to clear its own bit and wakes itself; a registration that finds `WAKING` set
//! asks to be polled again at once. Either way no wake-up is lost.

use core::cell::UnsafeCell;
use core::task::Waker;

use portable_atomic::{AtomicU8, Ordering};

const IDLE: u8 = 0;
const REGISTERING: u8 = 1;
const WAKING: u8 = 2;

/// A waker slot for one task, wakeable from interrupt handlers.
pub struct AtomicWaker {
    state: AtomicU8,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is only touched by the context that owns it under the state protocol
// (see the module documentation), and `Waker` is `Send + Sync`.
unsafe impl Sync for AtomicWaker {}
// SAFETY: as above; moving the whole value moves an `Option<Waker>`, which is `Send`.
unsafe impl Send for AtomicWaker {}

impl AtomicWaker {
    /// An empty slot.
    pub const fn new() -> Self {
        AtomicWaker {
            state: AtomicU8::new(IDLE),
            waker: UnsafeCell::new(None),
        }
    }

    /// Store `waker` as the one to wake. One task registers at a time; a second concurrent
    /// registrant is told to poll again (its waker is woken at once) rather than blocked.
    pub fn register(&self, waker: &Waker) {
        if !self.begin_register() {
            // Someone is waking (or, misuse, registering): have the task polled again.
            waker.wake_by_ref();
            return;
        }
        // SAFETY: `begin_register` moved the state from IDLE to REGISTERING, so we own the
        // cell until `finish_register` clears that bit; wakers only take the cell from IDLE.
        unsafe {
            let slot = &mut *self.waker.get();
            match slot {
                Some(old) if old.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        self.finish_register();
    }

    fn begin_register(&self) -> bool {
        self.state
            .compare_exchange(IDLE, REGISTERING, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
    }

    /// Clear REGISTERING; if a wake arrived meanwhile (it set WAKING and left), deliver it.
    fn finish_register(&self) {
        if self
            .state
            .compare_exchange(REGISTERING, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: REGISTERING is still ours (only we clear it), so the cell still is.
            let taken = unsafe { (*self.waker.get()).take() };
            self.state.swap(IDLE, Ordering::AcqRel);
            if let Some(w) = taken {
                w.wake();
            }
        }
    }

    /// Take the registered waker, if any, leaving the slot empty.
    pub fn take(&self) -> Option<Waker> {
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            IDLE => {
                // SAFETY: we moved the state from IDLE to WAKING, so we own the cell until we
                // clear WAKING; a registrant only takes it from IDLE.
                let w = unsafe { (*self.waker.get()).take() };
                self.state.fetch_and(!WAKING, Ordering::Release);
                w
            }
            // A registrant owns the cell and will see our bit; or another waker is taking it.
            _ => None,
        }
    }

    /// Wake the registered task, if any. Callable from interrupt handlers.
    pub fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }
}

impl Default for AtomicWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for AtomicWaker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AtomicWaker")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn wakes(c: &Count) -> usize {
        c.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn wake_before_register_is_not_remembered_but_wake_after_is_delivered_once() {
        let aw = AtomicWaker::new();
        let (c, w) = counter();
        aw.wake(); // nothing registered: nothing to do
        aw.register(&w);
        assert_eq!(wakes(&c), 0);
        aw.wake();
        assert_eq!(wakes(&c), 1);
        aw.wake(); // the waker was taken by the first wake
        assert_eq!(wakes(&c), 1);
    }

    #[test]
    fn wake_during_registration_is_handed_to_the_registrant() {
        let aw = AtomicWaker::new();
        let (c, w) = counter();
        // The task is between `begin_register` and `finish_register` when an interrupt
        // calls `wake`: the wake must not touch the cell, and must not be lost.
        assert!(aw.begin_register());
        // SAFETY: REGISTERING is held by this test, which owns the cell.
        unsafe { *aw.waker.get() = Some(w) };
        assert!(aw.take().is_none());
        assert_eq!(wakes(&c), 0);
        aw.finish_register();
        assert_eq!(
            wakes(&c),
            1,
            "the registrant delivers the wake it was handed"
        );
        assert_eq!(aw.state.load(Ordering::SeqCst), IDLE);
    }

    #[test]
    fn registration_during_a_wake_repolls_the_task() {
        let aw = AtomicWaker::new();
        let (c, w) = counter();
        aw.state.store(WAKING, Ordering::SeqCst);
        aw.register(&w);
        assert_eq!(wakes(&c), 1);
    }

    #[test]
    fn threads_never_lose_a_wake() {
        // The "interrupt" thread sets a flag, then wakes. The task registers, then checks the
        // flag: if it is not set yet, a wake must follow. A lost wake fails by the bound.
        for _ in 0..500 {
            let aw = Arc::new(AtomicWaker::new());
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (c, w) = counter();
            let t = {
                let aw = aw.clone();
                let flag = flag.clone();
                std::thread::spawn(move || {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    aw.wake();
                })
            };
            aw.register(&w);
            if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let limit = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while wakes(&c) == 0 && std::time::Instant::now() < limit {
                    std::thread::yield_now();
                }
                assert!(wakes(&c) >= 1, "lost wake-up");
            }
            t.join().expect("waker thread");
        }
    }
}
