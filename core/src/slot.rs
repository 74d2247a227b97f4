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
//! | `OWNS_LOCK`   | —           | the parked waiter handed its direction lock to the slot     |
//! | `URGENT`      | —           | an edge reported urgent (out-of-band) data (sticky)         |
//!
//! Whoever sets `REGISTERING` or `WAKING` on a word that had neither owns the cell until it
//! clears its bit. Every decision an unblocker makes is a read-modify-write of the word, so the
//! word's modification order totally orders it against the waiter's registration: either the
//! unblocker sees `REGISTERING` (and sets `WAKING`, which makes the waiter's commit fail) or the
//! waiter's registration reads the unblocker's write and, through it, the info word the unblocker
//! published first. That is Go's two-phase park (`netpollblock` + `netpollblockcommit`) and is
//! what the loom models in `tests/loom.rs` check.
//!
//! Only the holder of the direction's lock (see `lifecycle.rs`) waits in a slot, so a slot has
//! one waiter at a time; several readers take turns on the lock, never on the slot. A holder
//! that cannot keep the lock while it is parked (an async `poll_read` that returns `Pending`)
//! parks with `OWNS_LOCK`: whoever takes its waker out of the cell also unlocks on its behalf
//! ([`Taken::owned_lock`]). Were the lock rule broken, a second wait arriving during a
//! registration would get [`PollError::DoubleWait`]; one arriving after a park would look like
//! a re-poll with a new waker and replace the first waker; never a data race.

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
/// Set with `PARKED` by a waiter that handed its direction lock to the slot: whoever takes
/// the waker (and so clears `PARKED`) releases the lock for it.
pub(crate) const OWNS_LOCK: u8 = 32;
/// Sticky like `HUP`: an edge reported urgent data (`EPOLLPRI`, TCP's urgent mark). A TCP read
/// stops short at the mark with data still queued behind it, so after this a short read is no
/// proof that the receive queue is empty.
pub(crate) const URGENT: u8 = 64;

/// What an unblock or a cancellation took out of the slot.
#[must_use]
pub(crate) struct Taken {
    /// The parked waiter's waker, to wake (or drop) once state is published.
    pub(crate) waker: Option<Waker>,
    /// The waiter had handed its lock to the slot: the taker must unlock for it.
    pub(crate) owned_lock: bool,
}

impl Taken {
    pub(crate) const NONE: Taken = Taken {
        waker: None,
        owned_lock: false,
    };
}

/// Whether an unblock reports I/O readiness (`ioready` in Go) or only wakes the waiter so it
/// re-checks the info word (deadline expiry, close).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Unblock {
    /// Readiness edge: remembered as `READY` if nobody waits.
    Ready,
    /// Readiness edge that also sets sticky marks (`HUP`, `URGENT`).
    ReadySticky(u8),
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
        self.state
            .fetch_and(!(READY | HUP | URGENT), Ordering::AcqRel);
    }

    /// Whether a readiness edge is stored that no wait has consumed yet: a wait would return
    /// at once.
    #[inline]
    pub(crate) fn edge_stored(&self) -> bool {
        self.state.load(Ordering::Acquire) & READY != 0
    }

    /// Whether an edge has said the peer will send nothing more (see [`HUP`]).
    #[inline]
    pub(crate) fn hung_up(&self) -> bool {
        self.state.load(Ordering::Acquire) & HUP != 0
    }

    /// Whether an edge has reported urgent data (see [`URGENT`]).
    #[inline]
    pub(crate) fn urgent(&self) -> bool {
        self.state.load(Ordering::Acquire) & URGENT != 0
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
    /// the wait must fail with (closing, deadline expired, ...), if any. With `HAND_OVER`, a
    /// waiter that parks (`Pending`) gives its direction lock to the slot (`OWNS_LOCK`); the
    /// caller must then no longer touch the lock.
    // Inline on hosted targets, where an async read's wait is a hot path; out of line on bare
    // metal, where code size counts more (see `docs/porting.md`).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(crate) fn poll_wait<const HAND_OVER: bool>(
        &self,
        cx: &mut Context<'_>,
        check: impl Fn() -> Result<(), PollError>,
    ) -> Poll<Result<(), PollError>> {
        let parked = if HAND_OVER {
            PARKED | OWNS_LOCK
        } else {
            PARKED
        };
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
                self.state.fetch_and(
                    !(REGISTERING | WAKING | PARKED | OWNS_LOCK),
                    Ordering::AcqRel,
                );
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
                (s & !(REGISTERING | OWNS_LOCK)) | parked,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            drop(stale);
            match committed {
                Ok(_) => return Poll::Pending,
                Err(_) => {
                    // SAFETY: REGISTERING is still ours: only this thread clears it.
                    let mine = unsafe { self.waker.with_mut(Option::take) };
                    let gone = REGISTERING | WAKING | PARKED | OWNS_LOCK;
                    s = self.state.fetch_and(!gone, Ordering::AcqRel) & !gone;
                    drop(mine);
                    // Loop: consume READY, or report the error the unblocker published.
                }
            }
        }
    }

    /// Unblock the slot (Go's `netpollunblock`). Returns the waker to wake, if this call took
    /// one (the caller wakes it after it has finished publishing state), and whether the
    /// waiter's lock came with it.
    #[inline]
    pub(crate) fn unblock(&self, kind: Unblock) -> Taken {
        let add = match kind {
            Unblock::Ready => READY,
            Unblock::ReadySticky(marks) => READY | (marks & (HUP | URGENT)),
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
            return Taken::NONE;
        }
        self.take(s)
    }

    /// Take the waker out of a cell this thread owns through `WAKING` (set on `s`, a word with
    /// `PARKED` and neither `REGISTERING` nor `WAKING`), and settle the word.
    fn take(&self, s: u8) -> Taken {
        // SAFETY: the caller set WAKING on a word with neither REGISTERING nor WAKING set, so
        // it owns the cell until WAKING is cleared below.
        let waker = unsafe { self.waker.with_mut(Option::take) };
        // OWNS_LOCK only changes while the cell is owned, so `s` still tells.
        self.state
            .fetch_and(!(WAKING | PARKED | OWNS_LOCK), Ordering::AcqRel);
        Taken {
            waker,
            owned_lock: s & OWNS_LOCK != 0,
        }
    }

    /// Take the parked waker out, for a waiter that went away (a cancelled future), if one is
    /// parked and nobody else owns the cell. The caller drops it (or wakes it, if it is not the
    /// canceller's own) outside any lock, and unlocks if the lock came with it.
    pub(crate) fn clear_parked(&self) -> Taken {
        let s = self.state.load(Ordering::Acquire);
        if s & PARKED == 0 || s & (REGISTERING | WAKING) != 0 {
            return Taken::NONE;
        }
        if self
            .state
            .compare_exchange(s, s | WAKING, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Taken::NONE;
        }
        self.take(s)
    }
}

#[cfg(test)]
mod tests;
