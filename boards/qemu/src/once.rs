//! [`Once`]: a value made at run time and then shared, read-only, with interrupt handlers.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

use portable_atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

/// A `static` slot written once; readers see `None` before that and the value after.
pub struct Once<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by the caller that moved `state` from EMPTY to WRITING,
// before `state` becomes READY (Release); it is only read after observing READY (Acquire)
// and never written again, so shared references to it from several contexts are sound when
// `T` is `Sync` (and `Send`, since it was made in one context and used in others).
unsafe impl<T: Send + Sync> Sync for Once<T> {}

impl<T> Once<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        Once {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Store `value`; gives it back if the slot was already taken.
    pub fn init(&'static self, value: T) -> Result<&'static T, T> {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: winning EMPTY -> WRITING makes this the only writer, and no reader touches
        // the value before READY is published below.
        let r = unsafe { (*self.value.get()).write(value) };
        self.state.store(READY, Ordering::Release);
        Ok(r)
    }

    /// The value, once stored.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) != READY {
            return None;
        }
        // SAFETY: READY is published only after the value was written, and it is never
        // written again.
        Some(unsafe { (*self.value.get()).assume_init_ref() })
    }
}

impl<T> Default for Once<T> {
    fn default() -> Self {
        Self::new()
    }
}
