//! Who may touch a descriptor, and until when: Go's `internal/poll/fd_mutex.go`.
//!
//! Every operation on a descriptor holds a *reference* for its whole duration; reads and
//! writes also hold their direction's *lock*, so concurrent readers (and writers) take turns
//! and only the lock holder ever waits in the direction's waiter slot. `close` marks the
//! descriptor closed, wakes everyone, and the slot goes back to the pool only when the last
//! reference is dropped. One 32-bit word per descriptor (`PollDesc::life`) holds it all:
//!
//! | bits  | ours       | Go's `fdMutex.state` | meaning                                          |
//! |-------|------------|----------------------|--------------------------------------------------|
//! | 0     | `CLOSED`   | `mutexClosed`        | closed: every later lock or reference fails      |
//! | 1     | `RLOCK`    | `mutexRLock`         | a read operation is in progress                  |
//! | 2     | `WLOCK`    | `mutexWLock`         | a write operation is in progress                 |
//! | 3     | `RWAIT`    | `mutexRMask` (count) | readers are queued for the read lock             |
//! | 4     | `WWAIT`    | `mutexWMask` (count) | writers are queued for the write lock            |
//! | 5..31 | refs       | `mutexRefMask`       | operations in progress (27 bits; Go has 20)      |
//!
//! Go counts its queued waiters because each one sleeps on a semaphore and `rwunlock` hands
//! out one wake-up. Here a queued waiter is a [`Waker`] in the *waiter table*, and unlocking
//! wakes every waiter queued on that direction; they retry, one wins, the others queue again.
//! Waking all is what makes an abandoned waiter harmless: an async task that polled a read
//! once and was then dropped (a lost `select!` branch) leaves a waker that will never take the
//! lock, and handing the only wake-up to it would strand the others. So one bit per direction
//! says "someone may be queued", and the queue itself lives in the table.
//!
//! ## The waiter table
//! No allocation: every descriptor contributes one table node, so a pool of *n* descriptors
//! can queue *n* waiters at once, spread over its descriptors however they fall. Each
//! descriptor keeps the heads of its two queues (a linked list through node indices); nodes
//! and heads are only touched under the pool's lock (the free list's, see [`PoolKey`]), which
//! only contended operations take. A waiter polled again with a waker that
//! [`will_wake`](Waker::will_wake) the one it queued is not queued twice. If every node is in
//! use, the waiter cannot queue: it asks to be polled again at once (a busy wait, which needs
//! more simultaneous queued waiters than the pool has descriptors).
//!
//! ## Waiting with the lock handed to the slot
//! Go's reader keeps the read lock while it is parked in `waitRead`, and so do blocking callers
//! here. An async `poll_read` cannot: it returns `Pending`, and may never be polled again, so
//! nothing would ever unlock. Instead such a waiter *hands its lock to the waiter slot* when
//! it parks (`slot::OWNS_LOCK`), and whoever takes its waker out of the slot (a readiness
//! edge, a deadline, `close`, a cancellation) unlocks on its behalf. A waiter that was
//! abandoned therefore holds the lock only until the next event on its direction, which is
//! exactly when a queued waiter could have made progress anyway.
//!
//! ## The slot's lifetime
//! Free slots are `CLOSED` with no references, so a stale handle cannot take a reference or a
//! lock on them; `open` clears the word *after* publishing the new generation in the info
//! word. A reference taken with an old handle on a reopened slot is noticed at once (the
//! holder checks the generation after taking it, which is stable while it is held) and given
//! back. While anyone holds a reference the slot cannot be freed and reopened, so no slot word,
//! waker or arming of one incarnation can reach the next (the ABA the loom models check).

use core::task::Waker;

use crate::desc::NIL;
use crate::sync::{AtomicU32, Ordering, PoolKey};
use crate::{Mode, PollDesc, RawLock};

/// Closed: every later lock or reference fails.
pub(crate) const CLOSED: u32 = 1;
const RLOCK: u32 = 2;
const WLOCK: u32 = 4;
const RWAIT: u32 = 8;
const WWAIT: u32 = 16;
const REF: u32 = 32;
const REF_MASK: u32 = !(REF - 1);

const fn lock_bit(mode: Mode) -> u32 {
    match mode {
        Mode::Read => RLOCK,
        Mode::Write => WLOCK,
    }
}

const fn wait_bit(mode: Mode) -> u32 {
    match mode {
        Mode::Read => RWAIT,
        Mode::Write => WWAIT,
    }
}

pub(crate) const fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::Read => 0,
        Mode::Write => 1,
    }
}

/// Why a reference or lock was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Refused {
    /// The descriptor is closed (or free).
    Closed,
    /// 2^27 - 1 operations are already in progress on it.
    Overflow,
}

fn add_ref(old: u32) -> Result<u32, Refused> {
    if old & CLOSED != 0 {
        return Err(Refused::Closed);
    }
    if old & REF_MASK == REF_MASK {
        return Err(Refused::Overflow);
    }
    Ok(old + REF)
}

/// Take a reference (Go's `incref`).
#[inline]
pub(crate) fn incref(life: &AtomicU32) -> Result<(), Refused> {
    let mut old = life.load(Ordering::Relaxed);
    loop {
        let new = add_ref(old)?;
        match life.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Ok(()),
            Err(actual) => old = actual,
        }
    }
}

/// Close the descriptor (Go's `increfAndClose`, minus the reference: the caller holds one
/// already). Returns `false` if it was already closed. Queued waiters are forgotten here; the
/// caller wakes the queues.
pub(crate) fn mark_closed(life: &AtomicU32) -> bool {
    let old = life.fetch_or(CLOSED, Ordering::AcqRel);
    if old & CLOSED != 0 {
        return false;
    }
    life.fetch_and(!(RWAIT | WWAIT), Ordering::AcqRel);
    true
}

/// Drop a reference (Go's `decref`). Returns whether it was the last one of a closed
/// descriptor: then the caller frees the slot.
#[inline]
pub(crate) fn decref(life: &AtomicU32) -> bool {
    let new = life.fetch_sub(REF, Ordering::AcqRel) - REF;
    new & (CLOSED | REF_MASK) == CLOSED
}

/// Take the lock for `mode` and a reference (Go's `rwlock`), if the lock is free: `Ok(true)`.
/// `Ok(false)`: another operation holds it (nothing changed).
///
/// The common case (open, lock free, no contention on the word) is one load and one CAS,
/// inlined; anything else goes through the loop.
#[inline]
pub(crate) fn try_lock(life: &AtomicU32, mode: Mode) -> Result<bool, Refused> {
    let bit = lock_bit(mode);
    let old = life.load(Ordering::Relaxed);
    if old & (CLOSED | bit) == 0
        && old & REF_MASK != REF_MASK
        && life
            .compare_exchange(old, old + REF + bit, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        return Ok(true);
    }
    try_lock_loop(life, bit)
}

#[cold]
fn try_lock_loop(life: &AtomicU32, bit: u32) -> Result<bool, Refused> {
    let mut old = life.load(Ordering::Relaxed);
    loop {
        let new = add_ref(old)?;
        if old & bit != 0 {
            return Ok(false);
        }
        match life.compare_exchange_weak(old, new | bit, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Ok(true),
            Err(actual) => old = actual,
        }
    }
}

/// Say that a waiter is queued for `mode`'s lock, after it has put its waker in the table.
/// `Ok(true)`: queued; the next unlock wakes it. `Ok(false)`: the lock was released in the
/// meantime, retry [`try_lock`].
pub(crate) fn mark_queued(life: &AtomicU32, mode: Mode) -> Result<bool, Refused> {
    let (bit, wait) = (lock_bit(mode), wait_bit(mode));
    let mut old = life.load(Ordering::Relaxed);
    loop {
        if old & CLOSED != 0 {
            return Err(Refused::Closed);
        }
        if old & bit == 0 {
            return Ok(false);
        }
        if old & wait != 0 {
            // Still marked: a read-modify-write anyway, so that an unlock cannot slip in
            // between our waker going into the table and this check (it would have cleared
            // the bit, and the CAS below fails).
            match life.compare_exchange_weak(old, old, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Ok(true),
                Err(actual) => {
                    old = actual;
                    continue;
                }
            }
        }
        match life.compare_exchange_weak(old, old | wait, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Ok(true),
            Err(actual) => old = actual,
        }
    }
}

/// What [`unlock`] found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unlocked {
    /// Waiters were queued for the lock: wake them.
    pub(crate) queued: bool,
    /// It was the last reference of a closed descriptor: free the slot.
    pub(crate) last: bool,
}

/// Release `mode`'s lock and its reference (Go's `rwunlock`).
///
/// One `fetch_sub` on the common path: the lock bit is known to be set, so subtracting it
/// together with one reference clears it. If waiters were queued, the queued bit is cleared
/// afterwards and the caller wakes the queue; a waiter that queues in between either sees the
/// bit still set (its waker went into the table before, so the caller's wake-up reaches it)
/// or sets it again for the next holder's unlock.
#[inline]
pub(crate) fn unlock(life: &AtomicU32, mode: Mode) -> Unlocked {
    let (bit, wait) = (lock_bit(mode), wait_bit(mode));
    let old = life.fetch_sub(bit + REF, Ordering::AcqRel);
    debug_assert!(old & bit != 0, "unlock of a lock not held");
    let queued = old & wait != 0;
    if queued {
        life.fetch_and(!wait, Ordering::AcqRel);
    }
    // Only the `fetch_sub` says whether ours was the last reference: another thread's later
    // `decref` may take the count to zero before the `fetch_and`, and that thread frees.
    let new = old - bit - REF;
    Unlocked {
        queued,
        last: new & (CLOSED | REF_MASK) == CLOSED,
    }
}

/// One node of the waiter table: a queued waiter's waker and the next node of its queue. Free
/// nodes are chained through `next` from the pool's free-list head.
pub(crate) struct WaiterNode {
    pub(crate) waker: Option<Waker>,
    pub(crate) next: u32,
}

impl WaiterNode {
    pub(crate) const EMPTY: WaiterNode = WaiterNode {
        waker: None,
        next: NIL,
    };
}

/// The table's bookkeeping inside the pool lock: the free-node chain.
pub(crate) struct Table {
    pub(crate) spare: u32,
    pub(crate) key: PoolKey,
}

impl Table {
    pub(crate) const fn new() -> Self {
        Table {
            spare: NIL,
            key: PoolKey::new(),
        }
    }

    /// Chain every slot's node as free and empty every queue (storage reset, under the lock).
    pub(crate) fn reset<L: RawLock>(&mut self, slots: &[PollDesc<L>]) {
        for (i, d) in slots.iter().enumerate() {
            let next = if i + 1 < slots.len() {
                (i + 1) as u32
            } else {
                NIL
            };
            let stale = d.waiter.with(&mut self.key, |n| {
                n.next = next;
                n.waker.take()
            });
            drop(stale);
            d.queue.with(&mut self.key, |q| *q = [NIL, NIL]);
        }
        self.spare = if slots.is_empty() { NIL } else { 0 };
    }

    /// Queue `waker` on `mode` of slot `index` (a no-op if a waker that wakes the same task
    /// is queued there already). `false` if the table is full.
    pub(crate) fn push<L: RawLock>(
        &mut self,
        slots: &[PollDesc<L>],
        index: u32,
        mode: Mode,
        waker: &Waker,
    ) -> bool {
        let m = mode_index(mode);
        let d = &slots[index as usize];
        let head = d.queue.with(&mut self.key, |q| q[m]);
        let mut i = head;
        while i != NIL {
            let (same, next) = slots[i as usize].waiter.with(&mut self.key, |n| {
                (n.waker.as_ref().is_some_and(|w| w.will_wake(waker)), n.next)
            });
            if same {
                return true;
            }
            i = next;
        }
        let n = self.spare;
        if n == NIL {
            return false;
        }
        self.spare = slots[n as usize].waiter.with(&mut self.key, |node| {
            let next = node.next;
            node.waker = Some(waker.clone());
            node.next = head;
            next
        });
        d.queue.with(&mut self.key, |q| q[m] = n);
        true
    }

    /// Take back the waker of the task `waker` wakes from `mode`'s queue of slot `index`, if it
    /// is still there (a waiter whose queuing lost a race with the unlock or the close); the
    /// caller drops it outside the lock.
    pub(crate) fn remove<L: RawLock>(
        &mut self,
        slots: &[PollDesc<L>],
        index: u32,
        mode: Mode,
        waker: &Waker,
    ) -> Option<Waker> {
        let m = mode_index(mode);
        let d = &slots[index as usize];
        let mut prev = NIL;
        let mut i = d.queue.with(&mut self.key, |q| q[m]);
        while i != NIL {
            let (same, next) = slots[i as usize].waiter.with(&mut self.key, |n| {
                (n.waker.as_ref().is_some_and(|w| w.will_wake(waker)), n.next)
            });
            if same {
                if prev == NIL {
                    d.queue.with(&mut self.key, |q| q[m] = next);
                } else {
                    slots[prev as usize]
                        .waiter
                        .with(&mut self.key, |n| n.next = next);
                }
                let spare = self.spare;
                let taken = slots[i as usize].waiter.with(&mut self.key, |n| {
                    n.next = spare;
                    n.waker.take()
                });
                self.spare = i;
                return taken;
            }
            prev = i;
            i = next;
        }
        None
    }

    /// Take the first waker queued on `mode` of slot `index`, freeing its node.
    pub(crate) fn pop<L: RawLock>(
        &mut self,
        slots: &[PollDesc<L>],
        index: u32,
        mode: Mode,
    ) -> Option<Waker> {
        let m = mode_index(mode);
        let d = &slots[index as usize];
        let n = d.queue.with(&mut self.key, |q| q[m]);
        if n == NIL {
            return None;
        }
        let spare = self.spare;
        let (waker, next) = slots[n as usize].waiter.with(&mut self.key, |node| {
            let next = node.next;
            node.next = spare;
            (node.waker.take(), next)
        });
        self.spare = n;
        d.queue.with(&mut self.key, |q| q[m] = next);
        waker
    }
}

#[cfg(test)]
mod tests;
