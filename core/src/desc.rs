//! The per-descriptor state (Go's `pollDesc`): info word, two waiter slots, deadlines.
//!
//! ## Why an info word
//! Every wait and every `prepare` must know whether the descriptor is closing, has an expired
//! deadline or an event error, and whether the caller's handle is still current. Taking a lock
//! for that on every I/O would make the common path contend with the poll loop, so the answers
//! are folded into one atomic word (Go's `pollDesc.atomicInfo`) that is read without a lock.
//! Writers update the word *before* they wake a waiter slot, which is what lets a parking waiter
//! re-check it after announcing itself (see `slot.rs`).

use crate::handle::{Generation, GENERATION_MASK};
use crate::lifecycle::{WaiterNode, CLOSED};
use crate::slot::WaiterSlot;
use crate::sync::{AtomicBool, AtomicU32, AtomicU8, Locked, LoopCell, Ordering, PoolCell, RawLock};
use crate::{Mode, PollError};

/// Info word: the descriptor is closing.
pub(crate) const CLOSING: u32 = 1;
/// Info word: the backend reported an error condition.
pub(crate) const EVENT_ERR: u32 = 2;
/// Info word: the read deadline has expired.
pub(crate) const READ_EXPIRED: u32 = 4;
/// Info word: the write deadline has expired.
pub(crate) const WRITE_EXPIRED: u32 = 8;
const GEN_SHIFT: u32 = 4;

/// "No deadline" / "no timer" in the nanosecond fields.
pub(crate) const NEVER: u64 = u64::MAX;
/// A `u32` link meaning "none".
pub(crate) const NIL: u32 = u32::MAX;

pub(crate) const fn info_generation(info: u32) -> Generation {
    Generation::new(info >> GEN_SHIFT)
}

pub(crate) const fn info_with_generation(g: Generation) -> u32 {
    (g.get() & GENERATION_MASK) << GEN_SHIFT
}

pub(crate) const fn expired_bit(mode: Mode) -> u32 {
    match mode {
        Mode::Read => READ_EXPIRED,
        Mode::Write => WRITE_EXPIRED,
    }
}

/// What a wait in `mode` must fail with, given the info word (Go's `netpollcheckerr`).
#[inline]
pub(crate) fn check(info: u32, generation: Generation, mode: Mode) -> Result<(), PollError> {
    if info_generation(info) != generation {
        return Err(PollError::StaleHandle);
    }
    check_flags(info, mode)
}

/// [`check`] without the generation comparison, for the holder of a reference (a direction
/// lock): its generation was checked when it took the reference and cannot change while it
/// holds it (the slot is not reopened).
#[inline]
pub(crate) fn check_flags(info: u32, mode: Mode) -> Result<(), PollError> {
    if info & CLOSING != 0 {
        return Err(PollError::Closing);
    }
    if info & expired_bit(mode) != 0 {
        return Err(PollError::Timeout);
    }
    // Like Go, only reads report the event error; a write reports the precise error itself.
    if mode == Mode::Read && info & EVENT_ERR != 0 {
        return Err(PollError::EventError);
    }
    Ok(())
}

/// Deadline fields, guarded by the descriptor lock. Times are nanoseconds; [`NEVER`] is none.
#[derive(Clone, Copy)]
pub(crate) struct Deadlines {
    pub(crate) read: u64,
    pub(crate) write: u64,
    /// When the poll loop will look at this descriptor next: the key of its timer entry, or
    /// lower while a dirty notice is on its way to the loop. `NEVER` if no entry.
    pub(crate) armed: u64,
}

impl Deadlines {
    pub(crate) const NONE: Deadlines = Deadlines {
        read: NEVER,
        write: NEVER,
        armed: NEVER,
    };

    /// The earliest deadline that has not expired yet, given the info word's expired bits.
    pub(crate) fn next_pending(&self, info: u32) -> u64 {
        let r = if info & READ_EXPIRED == 0 {
            self.read
        } else {
            NEVER
        };
        let w = if info & WRITE_EXPIRED == 0 {
            self.write
        } else {
            NEVER
        };
        r.min(w)
    }
}

/// The poll loop's per-slot timer bookkeeping (an indexed binary heap spread over the slots):
/// `key`/`index` describe heap position *i*, `pos` is where slot *i* sits in the heap.
#[derive(Clone, Copy)]
pub(crate) struct TimerCell {
    pub(crate) key: u64,
    pub(crate) index: u32,
    pub(crate) pos: u32,
}

impl TimerCell {
    pub(crate) const EMPTY: TimerCell = TimerCell {
        key: NEVER,
        index: NIL,
        pos: NIL,
    };
}

/// One descriptor slot. A pool is a slice of these: an array `[PollDesc; N]` on a board, a
/// boxed slice sized at start-up on a server.
///
/// Create them with [`PollDesc::new`] (a `const fn`) or [`PollDesc::array`].
pub struct PollDesc<L: RawLock = crate::SpinLock> {
    pub(crate) info: AtomicU32,
    /// References, read/write locks and the closed bit (see `lifecycle.rs`).
    pub(crate) life: AtomicU32,
    pub(crate) read: WaiterSlot,
    pub(crate) write: WaiterSlot,
    pub(crate) deadlines: Locked<L, Deadlines>,
    /// Free-list link, only touched under the pool lock.
    pub(crate) next_free: AtomicU32,
    /// Dirty-list link and membership flag (see `netpoll.rs`).
    pub(crate) dirty_next: AtomicU32,
    pub(crate) queued: AtomicBool,
    /// A lower bound of each direction's deadline (read, write), in units of 2^24 ns
    /// (16.8 ms) and readable without the lock; [`NO_DEADLINE`] if the direction has none
    /// (expired or not, a deadline keeps its hint). Written only under the deadline lock (by
    /// [`PollDesc::store_deadlines`], [`PollDesc::store_later`] and
    /// [`PollDesc::refresh_hint`]). Lets an operation that must look at the clock
    /// (`IoLock::expire_if_passed`) skip the lock unless its deadline is near or past. On
    /// hosted targets a deadline moved later by the inline reset keeps its old hint, still a
    /// lower bound: the first operation that finds that bound passed refreshes it under the
    /// lock.
    pub(crate) due_hint: [AtomicU32; 2],
    /// Set on slot 0 while a `Netpoll` owns the storage.
    pub(crate) claimed: AtomicU8,
    pub(crate) timer: LoopCell<TimerCell>,
    /// This slot's node of the pool's waiter table, and the heads of this descriptor's two
    /// lock queues (read, write); both only under the pool lock (see `lifecycle.rs`).
    pub(crate) waiter: PoolCell<WaiterNode>,
    pub(crate) queue: PoolCell<[u32; 2]>,
}

#[cfg(not(loom))]
impl PollDesc<crate::SpinLock> {
    /// An unused slot with the default [`SpinLock`](crate::SpinLock).
    pub const fn new() -> Self {
        Self::with_lock()
    }

    /// An array of unused slots, for const-generic storage.
    pub const fn array<const N: usize>() -> [Self; N] {
        Self::array_with_lock()
    }
}

impl<L: RawLock> PollDesc<L> {
    /// An unused slot whose deadline lock is `L`.
    #[cfg(not(loom))]
    pub const fn with_lock() -> Self {
        PollDesc {
            info: AtomicU32::new(0),
            life: AtomicU32::new(CLOSED),
            read: WaiterSlot::new(),
            write: WaiterSlot::new(),
            deadlines: Locked::new(Deadlines::NONE),
            next_free: AtomicU32::new(NIL),
            dirty_next: AtomicU32::new(NIL),
            queued: AtomicBool::new(false),
            due_hint: [AtomicU32::new(NO_DEADLINE), AtomicU32::new(NO_DEADLINE)],
            claimed: AtomicU8::new(0),
            timer: LoopCell::new(TimerCell::EMPTY),
            waiter: PoolCell::new(WaiterNode::EMPTY),
            queue: PoolCell::new([NIL, NIL]),
        }
    }

    /// An array of unused slots whose deadline lock is `L`.
    #[cfg(not(loom))]
    pub const fn array_with_lock<const N: usize>() -> [Self; N] {
        [const { Self::with_lock() }; N]
    }

    pub(crate) fn slot(&self, mode: Mode) -> &WaiterSlot {
        match mode {
            Mode::Read => &self.read,
            Mode::Write => &self.write,
        }
    }

    #[inline]
    pub(crate) fn load_info(&self) -> u32 {
        self.info.load(Ordering::Acquire)
    }

    /// With the deadline lock held (`dl` is its value): set the deadlines of the directions
    /// in `which` (expired bits) to `t`, keeping their [`due_hint`](Self::due_hint) in step.
    #[inline]
    pub(crate) fn store_deadlines(&self, dl: &mut Deadlines, which: u32, t: u64) {
        if which & READ_EXPIRED != 0 {
            dl.read = t;
            self.store_hint(0, t);
        }
        if which & WRITE_EXPIRED != 0 {
            dl.write = t;
            self.store_hint(1, t);
        }
    }

    /// With the deadline lock held: set the deadlines in `which` to `t` (not `NEVER`), the
    /// per-read reset's way. A direction whose deadline moves later keeps its hint, which
    /// stays a lower bound of the new deadline, so that reset writes the deadline and
    /// nothing else; [`refresh_hint`](Self::refresh_hint) catches up once the old bound
    /// passes. A direction that had no deadline, or whose deadline moves earlier, gets the
    /// hint of `t`.
    #[cfg(not(target_os = "none"))]
    #[inline(always)]
    pub(crate) fn store_later(&self, dl: &mut Deadlines, which: u32, t: u64) {
        if which & READ_EXPIRED != 0 {
            if t < dl.read {
                self.due_hint[0].store(due_hint(t), Ordering::Relaxed);
            }
            dl.read = t;
        }
        if which & WRITE_EXPIRED != 0 {
            if t < dl.write {
                self.due_hint[1].store(due_hint(t), Ordering::Relaxed);
            }
            dl.write = t;
        }
    }

    /// Whether `mode`'s hint is below the one deadline `t` would have, so that
    /// [`refresh_hint`](Self::refresh_hint) would raise it. Read without the lock.
    pub(crate) fn hint_lags(&self, mode: Mode, t: u64) -> bool {
        let i = crate::lifecycle::mode_index(mode);
        self.due_hint[i].load(Ordering::Relaxed) < due_hint(t)
    }

    /// With the deadline lock held: bring `mode`'s hint up to its deadline `t` (see
    /// [`store_later`](Self::store_later)).
    pub(crate) fn refresh_hint(&self, mode: Mode, t: u64) {
        let i = crate::lifecycle::mode_index(mode);
        self.store_hint(i, t);
    }

    #[inline]
    fn store_hint(&self, i: usize, t: u64) {
        // Only the lock holder writes it: a load and, when it changes, a store (on bare
        // metal, where the per-read reset comes here too, once per 16.8 ms of resets). A
        // saturated or absent hint never equals `t >> HINT_SHIFT` (which is above
        // `NO_DEADLINE - 1` then), so it is stored again.
        let stored = self.due_hint[i].load(Ordering::Relaxed);
        if u64::from(stored) != t >> HINT_SHIFT || stored >= NO_DEADLINE - 1 {
            self.due_hint[i].store(due_hint(t), Ordering::Relaxed);
        }
    }

    /// Read without the lock: `None` if the direction has no deadline, else a lower bound of
    /// it in nanoseconds. A deadline set concurrently may be missed, as if the caller had come
    /// first.
    #[inline]
    pub(crate) fn deadline_lower_bound(&self, mode: Mode) -> Option<u64> {
        let i = crate::lifecycle::mode_index(mode);
        let hint = self.due_hint[i].load(Ordering::Relaxed);
        (hint != NO_DEADLINE).then_some(u64::from(hint) << HINT_SHIFT)
    }
}

/// [`PollDesc::due_hint`] of a direction without a deadline.
pub(crate) const NO_DEADLINE: u32 = u32::MAX;
const HINT_SHIFT: u32 = 24;

/// The hint of deadline `t`: `t` in 2^24 ns units, rounded down, so the hint's nanoseconds
/// never exceed `t`; saturating below `NO_DEADLINE` (past 2.28 years from the clock's epoch
/// every hint is that one, whose bound has passed: the caller takes the lock each time, which
/// is slower and still right).
#[inline]
const fn due_hint(t: u64) -> u32 {
    if t == NEVER {
        return NO_DEADLINE;
    }
    let units = t >> HINT_SHIFT;
    if units >= NO_DEADLINE as u64 {
        NO_DEADLINE - 1
    } else {
        units as u32
    }
}

#[cfg(loom)]
impl<L: RawLock> PollDesc<L> {
    /// An unused slot (loom's atomics are not `const`).
    pub fn with_lock() -> Self {
        PollDesc {
            info: AtomicU32::new(0),
            life: AtomicU32::new(CLOSED),
            read: WaiterSlot::new(),
            write: WaiterSlot::new(),
            deadlines: Locked::new(Deadlines::NONE),
            next_free: AtomicU32::new(NIL),
            dirty_next: AtomicU32::new(NIL),
            queued: AtomicBool::new(false),
            due_hint: [AtomicU32::new(NO_DEADLINE), AtomicU32::new(NO_DEADLINE)],
            claimed: AtomicU8::new(0),
            timer: LoopCell::new(TimerCell::EMPTY),
            waiter: PoolCell::new(WaiterNode::EMPTY),
            queue: PoolCell::new([NIL, NIL]),
        }
    }
}

impl<L: RawLock> Default for PollDesc<L> {
    fn default() -> Self {
        Self::with_lock()
    }
}

impl<L: RawLock> core::fmt::Debug for PollDesc<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let info = self.info.load(Ordering::Relaxed);
        f.debug_struct("PollDesc")
            .field("generation", &info_generation(info).get())
            .field("flags", &(info & 0xf))
            .field("life", &self.life.load(Ordering::Relaxed))
            .field("read", &self.read.state())
            .field("write", &self.write.state())
            .finish_non_exhaustive()
    }
}

// The per-descriptor state must stay small: Go's pollDesc is 240 bytes (plus the fdMutex in
// its FD); ours is 160 on 64-bit targets, of which 36 are the lifecycle word and this slot's
// share of the waiter table, and 8 the deadline hints. (loom's instrumented atomics are
// larger, so the check is skipped under loom.)
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<PollDesc<crate::SpinLock>>() <= 160);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_hint_never_exceeds_its_deadline() {
        assert_eq!(due_hint(NEVER), NO_DEADLINE);
        for t in [
            0,
            1,
            (1 << HINT_SHIFT) - 1,
            1 << HINT_SHIFT,
            30_000_000_000,
            NEVER - 1,
        ] {
            let hint = due_hint(t);
            assert_ne!(hint, NO_DEADLINE, "{t}");
            assert!(u64::from(hint) << HINT_SHIFT <= t, "{t}");
        }
        // Past 2.28 years from the epoch the hint saturates, still below the deadline.
        assert_eq!(due_hint(NEVER - 1), NO_DEADLINE - 1);
    }
}
