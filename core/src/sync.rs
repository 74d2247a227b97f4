//! The one module of `netpoll-core` that may use `unsafe`.
//!
//! Everything else in the crate is written against the small, safe surface defined here:
//!
//! * atomics, from `portable-atomic` normally (so targets without native compare-and-swap
//!   can fall back to critical sections) and from `loom` under `--cfg loom`, so the model
//!   checker sees every access. `AtomicU64` is portable-atomic's spin-lock fallback on 32-bit
//!   targets, unsafe to touch from an interrupt handler: nothing an interrupt can reach uses
//!   it there (`wake_at.rs` and `counters.rs` pick 32-bit schemes; `ManualClock` is a host
//!   test double);
//! * [`RawLock`], the lock protecting a descriptor's deadline fields, and [`Locked`], a value
//!   reachable only through that lock;
//! * [`WakerCell`], the storage for a parked task's waker, accessed only by whoever owns the
//!   waiter slot (the ownership protocol lives in `slot.rs`);
//! * [`LoopCell`], per-slot storage owned by the poll loop while it holds the loop lock;
//! * [`PoolCell`], per-slot storage reachable only with the [`PoolKey`] kept inside the pool's
//!   lock (the waiter table of `lifecycle.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};
#[cfg(not(loom))]
pub(crate) use portable_atomic::AtomicU64;
// Where the target has compare-and-swap, the 8- and 32-bit atomics are the standard library's:
// the same instructions as portable-atomic's, without its run-time ordering checks, which a
// size-optimised build keeps out of line (120 bytes of netpoll-core on thumbv7m at
// opt-level "z").
#[cfg(all(not(loom), target_has_atomic = "8", target_has_atomic = "32"))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8};
#[cfg(all(not(loom), not(all(target_has_atomic = "8", target_has_atomic = "32"))))]
pub(crate) use portable_atomic::{AtomicBool, AtomicU32, AtomicU8};

// Used only by the narrow (32-bit) counters.
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use core::sync::atomic::fence;
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::fence;

pub(crate) use core::sync::atomic::Ordering;

use core::task::Waker;

/// Tell the CPU (or loom) that this thread is spinning on another one.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

#[cfg(not(loom))]
struct RawCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> RawCell<T> {
    const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }
    /// # Safety
    /// The caller has exclusive access to the cell for the duration of `f`.
    #[inline]
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: exclusivity is the caller's obligation (see the function's contract).
        f(unsafe { &mut *self.0.get() })
    }
}

#[cfg(loom)]
struct RawCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(loom)]
impl<T> RawCell<T> {
    fn new(value: T) -> Self {
        Self(loom::cell::UnsafeCell::new(value))
    }
    /// # Safety
    /// The caller has exclusive access to the cell for the duration of `f`.
    #[inline]
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: exclusivity is the caller's obligation; loom checks it.
        self.0.with_mut(|p| f(unsafe { &mut *p }))
    }
}

/// A lock that serialises access to one descriptor's deadline fields (and to the pool's free
/// list).
///
/// The core never holds it across user code, never nests two of them and never takes it in
/// an event path, so a simple lock is enough. [`SpinLock`] suits threads on a host; on a
/// single-core target where a higher-priority context may set deadlines, use a lock that masks
/// those contexts instead (`netpoll-boards` provides one over `critical-section`).
///
/// # Safety
/// `lock` must run `f` with mutual exclusion against every other `lock` call on the same
/// value that is not nested inside this one, and must not return before `f` has returned.
pub unsafe trait RawLock {
    /// An unlocked lock, usable in `static` initialisers.
    const INIT: Self;
    /// An unlocked lock made at run time (loom's atomics cannot be made in a `const`).
    #[doc(hidden)]
    fn new_runtime() -> Self
    where
        Self: Sized,
    {
        Self::INIT
    }
    /// Run `f` while holding the lock.
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R;
}

/// A test-and-test-and-set spin lock: one byte, no allocation, no OS.
pub struct SpinLock {
    held: AtomicBool,
}

impl SpinLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            held: AtomicBool::new(false),
        }
    }
    /// An unlocked lock.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            held: AtomicBool::new(false),
        }
    }
}

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}

struct Unlock<'a>(&'a AtomicBool);

impl Drop for Unlock<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

// SAFETY: the compare-exchange from `false` to `true` succeeds for one caller at a time and
// the flag is cleared (Release) only after `f` returns or unwinds, so bodies never overlap.
unsafe impl RawLock for SpinLock {
    #[cfg(not(loom))]
    const INIT: Self = Self::new();
    #[cfg(loom)]
    const INIT: Self = panic!("loom atomics are not const; use SpinLock::new()");
    #[cfg(loom)]
    fn new_runtime() -> Self {
        Self::new()
    }

    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        while self
            .held
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.held.load(Ordering::Relaxed) {
                spin_hint();
            }
        }
        let _unlock = Unlock(&self.held);
        f()
    }
}

/// A value reachable only while holding its lock.
pub(crate) struct Locked<L, T> {
    lock: L,
    value: RawCell<T>,
}

// SAFETY: the value is only reached inside `RawLock::lock`, which serialises access, so
// sharing `Locked` between threads is sound when `T` may move between threads.
unsafe impl<L: Sync, T: Send> Sync for Locked<L, T> {}

impl<L: RawLock, T> Locked<L, T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self {
            lock: L::INIT,
            value: RawCell::new(value),
        }
    }
    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self {
            lock: L::new_runtime(),
            value: RawCell::new(value),
        }
    }

    /// Run `f` on the value with the lock held. `f` must not call `with` on the same value.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: `RawLock::lock` gives mutual exclusion with every other `with` on this value;
        // the crate never nests `with` calls on one value, so the `&mut` is unique.
        self.lock.lock(|| unsafe { self.value.with_mut(f) })
    }
}

/// Storage for the waker of a parked task.
///
/// Access is governed by the waiter-slot state word (see `slot.rs`): only the thread that set
/// `REGISTERING` (a waiter) or `WAKING` (an unblocker) on that word, observing neither bit set
/// before, may touch the cell, until it clears its bit.
pub(crate) struct WakerCell(RawCell<Option<Waker>>);

// SAFETY: wakers are `Send + Sync`, and the slot protocol gives one owner at a time.
unsafe impl Sync for WakerCell {}

impl WakerCell {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self(RawCell::new(None))
    }
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self(RawCell::new(None))
    }

    /// # Safety
    /// The caller owns the cell under the slot protocol (holds `REGISTERING` or `WAKING`).
    #[inline]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut Option<Waker>) -> R) -> R {
        // SAFETY: forwarded from the caller's ownership of the slot.
        unsafe { self.0.with_mut(f) }
    }
}

/// Per-slot storage that only the poll loop touches, while it holds the loop lock.
pub(crate) struct LoopCell<T>(RawCell<T>);

// SAFETY: the cell is only reached through `LoopGuard`, of which at most one exists per
// `Netpoll` at a time (it is created after winning the loop lock), so accesses never overlap.
unsafe impl<T: Send> Sync for LoopCell<T> {}

impl<T: Copy> LoopCell<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self(RawCell::new(value))
    }
    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self(RawCell::new(value))
    }

    #[inline]
    pub(crate) fn get(&self, _guard: &LoopGuard<'_>) -> T {
        // SAFETY: a `LoopGuard` exists only while its holder owns the loop lock, which makes
        // it the only thread touching any `LoopCell` of this instance; no reference escapes.
        unsafe { self.0.with_mut(|v| *v) }
    }

    #[inline]
    pub(crate) fn set(&self, _guard: &mut LoopGuard<'_>, value: T) {
        // SAFETY: as in `get`; `&mut LoopGuard` additionally rules out a live `get` borrow.
        unsafe { self.0.with_mut(|v| *v = value) }
    }
}

/// Proof that the current thread holds the poll-loop lock of one `Netpoll`.
pub(crate) struct LoopGuard<'a> {
    flag: &'a AtomicBool,
}

impl<'a> LoopGuard<'a> {
    /// Take the loop lock, or `None` if another thread is polling.
    pub(crate) fn try_acquire(flag: &'a AtomicBool) -> Option<Self> {
        flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Self { flag })
    }
}

impl Drop for LoopGuard<'_> {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::Release);
    }
}

/// Proof that the current thread holds one `Netpoll`'s pool lock: the only value of this type
/// lives inside the pool's `Locked` free list, so a `&mut PoolKey` exists only inside that
/// lock's critical section.
pub(crate) struct PoolKey {
    _private: (),
}

impl PoolKey {
    /// The key of a new pool. The crate makes exactly one per `Netpoll`, stores it inside
    /// that pool's lock, and uses it only with that pool's own slots.
    pub(crate) const fn new() -> Self {
        PoolKey { _private: () }
    }
}

/// Per-slot storage that is only touched under the pool lock (see [`PoolKey`]).
pub(crate) struct PoolCell<T>(RawCell<T>);

// SAFETY: the cell is only reached through `with`, which takes `&mut PoolKey`; that key is only
// reachable inside the pool lock, which serialises every access to the pool's cells.
unsafe impl<T: Send> Sync for PoolCell<T> {}

impl<T> PoolCell<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self(RawCell::new(value))
    }
    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self(RawCell::new(value))
    }

    /// Run `f` on the value. `f` must not reach another `PoolCell` (it cannot: the key is
    /// borrowed for the call).
    #[inline]
    pub(crate) fn with<R>(&self, _key: &mut PoolKey, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: `&mut PoolKey` proves the pool lock is held by this thread and that no other
        // `with` call is active (it would need the same `&mut` borrow), so access is exclusive.
        unsafe { self.0.with_mut(f) }
    }
}
