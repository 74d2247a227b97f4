//! A waiter slot: one per direction of a descriptor (Go's `pollDesc.rg` / `pollDesc.wg`).
//!
//! Go keeps `pdNil`, `pdReady`, `pdWait` or a goroutine pointer in one word. A Rust task is
//! represented by a [`Waker`] (two words), so the slot is a small state word plus a cell for the
//! waker, and the word says who may touch the cell:
//!
//! | bit           | Go          | meaning                                                     |
//! |---------------|-------------|-------------------------------------------------------------|
//! | `READY`       | `pdReady`   | a readiness edge arrived that no wait has consumed yet      |
//! | `PARKED`      | `*g`        | a waker is stored in the cell and will be woken             |
//! | `REGISTERING` | `pdWait`    | a waiter owns the cell: phase one of the two-phase park     |
//! | `WAKING`      | —           | an unblocker owns the cell, or interrupted a registration   |
//! | `HUP`         | —           | an edge said the peer will send nothing more (sticky)       |
//!
//! Whoever sets `REGISTERING` or `WAKING` on a word that had neither owns the cell until it
//! clears its bit. Every decision an unblocker makes is a read-modify-write of the word, so the
//! word's modification order totally orders it against the waiter's registration: either the
//! unblocker sees `REGISTERING` (and sets `WAKING`, which makes the waiter's commit fail) or the
//! waiter's registration reads the unblocker's write and, through it, the info word the unblocker
//! published first. That is Go's two-phase park (`netpollblock` + `netpollblockcommit`) and is
//! what the loom models in `tests/loom.rs` check.
//!
//! A misuse (two tasks waiting on one direction at once) is never a data race, but it cannot
//! always be reported: a second wait that arrives while the first is registering gets
//! [`PollError::DoubleWait`]; one that arrives after the first has parked looks exactly like a
//! re-poll with a new waker (which the `Future` contract allows) and replaces the first task's
//! waker, so the first task is not woken by the next edge.

use core::task::{Context, Poll, Waker};

use crate::sync::{AtomicU8, Ordering, WakerCell};
use crate::PollError;

pub(crate) const READY: u8 = 1;
pub(crate) const PARKED: u8 = 2;
pub(crate) const REGISTERING: u8 = 4;
pub(crate) const WAKING: u8 = 8;
/// Sticky: an edge reported that the peer will send nothing more (`EPOLLRDHUP`). Neither a
/// wait nor `reset` clears it; only a new incarnation of the descriptor does. It lets a reader
/// that skips the syscall after a short read know that an end-of-file is waiting.
pub(crate) const HUP: u8 = 16;

/// Whether an unblock reports I/O readiness (`ioready` in Go) or only wakes the waiter so it
/// re-checks the info word (deadline expiry, close).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Unblock {
    /// Readiness edge: remembered as `READY` if nobody waits.
    Ready,
    /// Readiness edge that also says the peer will send nothing more: `READY` and the sticky
    /// `HUP`.
    ReadyHup,
    /// Wake only: a waiter wakes and re-reads the info word; nothing is remembered.
    Wake,
}

pub(crate) struct WaiterSlot {
    state: AtomicU8,
    waker: WakerCell,
}

impl WaiterSlot {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
            waker: WakerCell::new(),
        }
    }
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
            waker: WakerCell::new(),
        }
    }

    /// Forget a readiness edge nobody consumed (Go's `pollReset`): the caller is about to
    /// retry the I/O itself, and a later `EAGAIN` will be followed by a fresh edge.
    #[inline]
    pub(crate) fn reset(&self) {
        if self.state.load(Ordering::Relaxed) & READY != 0 {
            self.state.fetch_and(!READY, Ordering::AcqRel);
        }
    }

    /// Forget a stored edge and the hang-up mark with an unconditional read-modify-write (for
    /// `open`, which needs the ordering, and for an edge that turned out to belong to an old
    /// incarnation; see `apply_event`).
    pub(crate) fn forget_ready(&self) {
        self.state.fetch_and(!(READY | HUP), Ordering::AcqRel);
    }

    /// Whether an edge has said the peer will send nothing more (see [`HUP`]).
    #[inline]
    pub(crate) fn hung_up(&self) -> bool {
        self.state.load(Ordering::Acquire) & HUP != 0
    }

    /// Put the word back to idle. Only for storage nobody else can reach (a `Netpoll` being
    /// built over it); a waker left in the cell is dropped when the next waiter replaces it.
    pub(crate) fn force_idle(&self) {
        self.state.store(0, Ordering::Release);
    }

    /// Force the state word, to reach transient states in unit tests.
    #[cfg(test)]
    pub(crate) fn set_state(&self, s: u8) {
        self.state.store(s, Ordering::Release);
    }

    /// The raw state word, for tests and debug output.
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Wait for readiness. `check` re-reads the descriptor's info word and returns the error
    /// the wait must fail with (closing, deadline expired, ...), if any.
    pub(crate) fn poll_wait(
        &self,
        cx: &mut Context<'_>,
        check: impl Fn() -> Result<(), PollError>,
    ) -> Poll<Result<(), PollError>> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if let Err(e) = check() {
                return Poll::Ready(Err(e));
            }
            if s & READY != 0 {
                match self.state.compare_exchange_weak(
                    s,
                    s & !READY,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Poll::Ready(Ok(())),
                    Err(actual) => {
                        s = actual;
                        continue;
                    }
                }
            }
            if s & REGISTERING != 0 {
                return Poll::Ready(Err(PollError::DoubleWait));
            }
            if s & WAKING != 0 {
                // An unblocker is handing the stored waker a wake-up right now. Ask to be
                // polled again rather than spin: by then the slot has settled.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // Phase one: take the cell.
            if let Err(actual) = self.state.compare_exchange_weak(
                s,
                s | REGISTERING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                s = actual;
                continue;
            }
            // Unblockers publish the info word before they touch the slot; re-read it now that
            // they must either see REGISTERING or have been seen by the CAS above.
            if let Err(e) = check() {
                // SAFETY: this thread set REGISTERING on a word that had neither
                // REGISTERING nor WAKING, so it owns the cell until it clears the bit below.
                let old = unsafe { self.waker.with_mut(Option::take) };
                self.state
                    .fetch_and(!(REGISTERING | WAKING | PARKED), Ordering::AcqRel);
                drop(old);
                return Poll::Ready(Err(e));
            }
            // SAFETY: as above, this thread owns the cell while REGISTERING is its own.
            let stale = unsafe {
                self.waker.with_mut(|slot| match slot {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => slot.replace(cx.waker().clone()),
                })
            };
            // Phase two: commit (Go's netpollblockcommit). Fails if an unblocker set READY or
            // WAKING while the cell was ours.
            let committed = self.state.compare_exchange(
                s | REGISTERING,
                (s | PARKED) & !REGISTERING,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            drop(stale);
            match committed {
                Ok(_) => return Poll::Pending,
                Err(_) => {
                    // SAFETY: REGISTERING is still ours: only this thread clears it.
                    let mine = unsafe { self.waker.with_mut(Option::take) };
                    s = self
                        .state
                        .fetch_and(!(REGISTERING | WAKING | PARKED), Ordering::AcqRel)
                        & !(REGISTERING | WAKING | PARKED);
                    drop(mine);
                    // Loop: consume READY, or report the error the unblocker published.
                }
            }
        }
    }

    /// Unblock the slot (Go's `netpollunblock`). Returns the waker to wake, if this call took
    /// one; the caller wakes it after it has finished publishing state.
    #[inline]
    pub(crate) fn unblock(&self, kind: Unblock) -> Option<Waker> {
        let add = match kind {
            Unblock::Ready => READY,
            Unblock::ReadyHup => READY | HUP,
            Unblock::Wake => 0,
        };
        let mut s = self.state.load(Ordering::Relaxed);
        let own = loop {
            let busy = s & (REGISTERING | WAKING) != 0;
            let own = s & PARKED != 0 && !busy;
            // A registration in progress is told about us through WAKING so its commit fails.
            let new = if own || s & REGISTERING != 0 {
                s | add | WAKING
            } else {
                s | add
            };
            // Even when `new == s` this is a read-modify-write: it reads the latest value,
            // which is what orders us against a concurrent registration.
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break own,
                Err(actual) => s = actual,
            }
        };
        if !own {
            return None;
        }
        // SAFETY: this thread set WAKING on a word with neither REGISTERING nor WAKING set, so it
        // owns the cell until it clears WAKING below.
        let waker = unsafe { self.waker.with_mut(Option::take) };
        self.state.fetch_and(!(WAKING | PARKED), Ordering::AcqRel);
        waker
    }

    /// Drop a waker left behind by a waiter that went away (a cancelled future), if the slot
    /// is idle. Returns it so the caller drops it outside any lock.
    pub(crate) fn clear_parked(&self) -> Option<Waker> {
        let s = self.state.load(Ordering::Acquire);
        if s & PARKED == 0 || s & (REGISTERING | WAKING) != 0 {
            return None;
        }
        if self
            .state
            .compare_exchange(s, s | WAKING, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        // SAFETY: WAKING set on a word without REGISTERING/WAKING: the cell is ours.
        let waker = unsafe { self.waker.with_mut(Option::take) };
        self.state.fetch_and(!(WAKING | PARKED), Ordering::AcqRel);
        waker
    }
}

#[cfg(test)]
mod tests;
