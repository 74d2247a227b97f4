//! [`Netpoll`]: the descriptor pool, the front-end operations and the poll loop.
//!
//! ## Who touches what
//! * Any thread: `open`, `prepare`, `poll_wait`, `set_*deadline`, `close`, `wake`. They touch
//!   one descriptor's atomics and, for deadlines and close, that descriptor's lock. Two
//!   descriptors never share a lock; `open`/`close` also take the pool's free-list lock.
//! * One thread at a time (the loop lock): [`Netpoll::poll`], which owns the timer heap.
//!
//! ## How a deadline reaches the loop
//! A setter that makes a descriptor's earliest deadline *earlier* than the loop knows about
//! pushes the descriptor on a lock-free "dirty" list (at most once; a flag dedups) and lowers
//! `wake_at`, the time the loop has promised to look again. If the loop is asleep past the new
//! deadline, the setter wakes the backend. Pushing a deadline *later* does none of this. Both
//! the setter's and the loop's updates of `wake_at` are read-modify-writes of one word, so one
//! of them always sees the other (`wake_at.rs` keeps that word, in 32 bits where 64-bit
//! atomics would need a lock).

use core::marker::PhantomData;
use core::time::Duration;

use crate::counters::Counters;
use crate::desc::{
    info_generation, info_with_generation, Deadlines, TimerCell, CLOSING, EVENT_ERR, NEVER, NIL,
    READ_EXPIRED, WRITE_EXPIRED,
};
use crate::fmt::{debug, trace};
use crate::lifecycle::{self, Refused, Table, CLOSED};
use crate::slot::{self, Taken, Unblock};
use crate::sync::{AtomicBool, AtomicU32, Locked, LoopGuard, Ordering, RawLock, SpinLock};
use crate::timer::TimerHeap;
use crate::wake_at::WakeAt;
use crate::{
    Clock, Error, Event, Generation, Handle, Instant, Mode, PollDesc, PollError, Poller,
    StorageInUse,
};

/// The pool's free list and the waiter table's bookkeeping, under one lock.
pub(crate) struct FreeList {
    head: u32,
    open: u32,
    pub(crate) table: Table,
}

/// Counters, readable at run time with [`Netpoll::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Descriptor slots in use: open, or closed with an operation still in progress (a slot
    /// returns to the pool when the last operation on it ends).
    pub open: u32,
    /// Descriptor capacity.
    pub capacity: u32,
    /// Events delivered by the backend and applied.
    pub events: u64,
    /// Events dropped because their generation was stale: the slot was reopened (or taken by
    /// a failed open) since the event's registration, or the token names no slot. An event for
    /// a descriptor closed but not yet reopened still counts in `events`; it finds the
    /// descriptor closing and wakes nobody new.
    pub stale_events: u64,
    /// Deadlines that expired in the poll loop.
    pub timeouts: u64,
    /// Waiters woken by the poll loop (readiness or deadline).
    pub wakeups: u64,
    /// Calls to [`Netpoll::poll`].
    pub polls: u64,
}

#[derive(Default)]
struct LoopCounters {
    events: u64,
    stale_events: u64,
    timeouts: u64,
    wakeups: u64,
}

/// Go's network poller over a [`Poller`] backend, a [`Clock`] and caller-provided descriptor
/// storage `S` (an array `[PollDesc; N]`, a `&'static` slice, or a boxed slice).
///
/// All operations take `&self`; share it between threads (or tasks and interrupt handlers).
pub struct Netpoll<P, C, S, L = SpinLock>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    poller: P,
    clock: C,
    slots: S,
    pub(crate) free: Locked<L, FreeList>,
    dirty: AtomicU32,
    wake_at: WakeAt,
    wake_pending: AtomicBool,
    polling: AtomicBool,
    heap_len: AtomicU32,
    /// events, stale_events, timeouts, wakeups, polls
    counters: Counters<5>,
    _lock: PhantomData<fn() -> L>,
}

impl<P, C, S, L> Netpoll<P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    /// Build a poller over `slots`; its length is the descriptor capacity (at most 2^32 - 1
    /// slots are used).
    ///
    /// Fails if another live `Netpoll` uses the same storage (possible with `&'static` slices).
    pub fn new(poller: P, clock: C, slots: S) -> Result<Self, StorageInUse> {
        let all = slots.as_ref();
        if let Some(first) = all.first() {
            if first.claimed.swap(1, Ordering::AcqRel) != 0 {
                return Err(StorageInUse);
            }
        }
        let this = Netpoll {
            poller,
            clock,
            free: Self::new_free_list(),
            slots,
            dirty: AtomicU32::new(NIL),
            wake_at: WakeAt::new(),
            wake_pending: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            heap_len: AtomicU32::new(0),
            counters: Counters::new(),
            _lock: PhantomData,
        };
        this.reset_storage();
        Ok(this)
    }

    fn new_free_list() -> Locked<L, FreeList> {
        Locked::new(FreeList {
            head: NIL,
            open: 0,
            table: Table::new(),
        })
    }

    /// Put every slot in its unused state and chain the free list. Runs once, with the
    /// storage claimed, before `self` is shared.
    fn reset_storage(&self) {
        let slots = self.descs();
        // A per-storage salt for initial generations, so a handle from another pool rarely
        // matches; the storage address is good enough for that.
        let salt = (slots.as_ptr() as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 36;
        let mut guard = LoopGuard::try_acquire(&self.polling);
        for (i, d) in slots.iter().enumerate() {
            // Never generation 0, so `Handle::default()` matches no slot.
            let g = Generation::new(salt as u32 ^ i as u32).next();
            d.info
                .store(info_with_generation(g) | CLOSING, Ordering::Relaxed);
            d.life.store(CLOSED, Ordering::Relaxed);
            d.read.force_idle();
            d.write.force_idle();
            d.deadlines.with(|dl| {
                *dl = Deadlines::NONE;
                d.store_deadlines(dl, READ_EXPIRED | WRITE_EXPIRED, NEVER);
            });
            let next = if i + 1 < slots.len() {
                (i + 1) as u32
            } else {
                NIL
            };
            d.next_free.store(next, Ordering::Relaxed);
            d.dirty_next.store(NIL, Ordering::Relaxed);
            d.queued.store(false, Ordering::Relaxed);
            if let Some(g) = guard.as_mut() {
                d.timer.set(g, TimerCell::EMPTY);
            }
        }
        self.free.with(|f| {
            f.head = if slots.is_empty() { NIL } else { 0 };
            f.table.reset(slots);
        });
    }

    pub(crate) fn descs(&self) -> &[PollDesc<L>] {
        let all = self.slots.as_ref();
        &all[..all.len().min(NIL as usize)]
    }

    /// The slot `h` names. (No cap at `NIL` needed here: a slot past it is never opened, so
    /// its lifecycle word stays `CLOSED` and every use of it fails.)
    #[inline]
    pub(crate) fn desc(&self, h: Handle) -> Result<&PollDesc<L>, PollError> {
        self.slots
            .as_ref()
            .get(h.index() as usize)
            .ok_or(PollError::StaleHandle)
    }

    /// The backend.
    pub fn poller(&self) -> &P {
        &self.poller
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// How many descriptors the pool holds.
    pub fn capacity(&self) -> usize {
        self.descs().len()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let [events, stale_events, timeouts, wakeups, polls] = self.counters.load();
        Stats {
            open: self.free.with(|f| f.open),
            capacity: self.capacity() as u32,
            events,
            stale_events,
            timeouts,
            wakeups,
            polls,
        }
    }

    // ---------------------------------------------------------------- open / close

    /// Take a descriptor from the pool and register `source` with the backend (Go's
    /// `poll_runtime_pollOpen`).
    pub fn open(&self, source: &P::Source) -> Result<Handle, Error<P::Error>> {
        let index = self.alloc().ok_or(PollError::PoolExhausted)?;
        let d = &self.descs()[index as usize];
        let generation = info_generation(d.info.load(Ordering::Relaxed)).next();
        // A free slot has no deadlines: `close` (or `new`) cleared them under the lock, and
        // that lock's release ordered it before the free-list lock we just took.
        // Publish the new generation first, then drop readiness left by the old incarnation.
        // The drop is a read-modify-write even when nothing is set: a stale event that passed
        // its generation check before the store either sets READY before it (and is cleared
        // here) or after it, and then sees the new generation when it re-checks (apply_event).
        d.info
            .store(info_with_generation(generation), Ordering::Release);
        d.read.forget_ready();
        d.write.forget_ready();
        // Only now may references be taken: one taken with an old handle finds the new
        // generation in the info word and is given back (see lifecycle.rs).
        d.life.store(0, Ordering::Release);
        let handle = Handle::new(index, generation);
        if let Err(e) = self.poller.register(source, handle.token()) {
            d.info.fetch_or(CLOSING, Ordering::AcqRel);
            // Close the word with a reference of our own, so that whoever drops the last one
            // (us, unless a stale handle holds one for a moment) frees the slot.
            if lifecycle::incref(&d.life).is_ok() && lifecycle::mark_closed(&d.life) {
                self.decref(index);
            }
            return Err(Error::Backend(e));
        }
        trace!("netpoll: open {}", handle.index());
        Ok(handle)
    }

    /// Take a slot from the free list and put it back: the pool's share of `open` + `close`,
    /// for the benchmarks. Not part of the API.
    #[doc(hidden)]
    pub fn bench_pool_cycle(&self) -> Result<(), PollError> {
        let index = self.alloc().ok_or(PollError::PoolExhausted)?;
        self.release(index);
        Ok(())
    }

    fn alloc(&self) -> Option<u32> {
        self.free.with(|f| {
            let i = f.head;
            if i == NIL {
                return None;
            }
            f.head = self.descs()[i as usize].next_free.load(Ordering::Relaxed);
            f.open += 1;
            Some(i)
        })
    }

    fn release(&self, index: u32) {
        self.free.with(|f| {
            self.descs()[index as usize]
                .next_free
                .store(f.head, Ordering::Relaxed);
            f.head = index;
            f.open -= 1;
        });
    }

    /// Return a closed slot whose last reference is gone to the pool. A waiter that queued on
    /// its lock after `close` woke the queues (it then saw `CLOSED` and left) may have left its
    /// waker behind: wake it rather than hand it to the next incarnation.
    fn free_slot(&self, index: u32) {
        for mode in [Mode::Read, Mode::Write] {
            self.wake_queue(index, mode);
        }
        self.release(index);
        debug!("netpoll: free {}", index);
    }

    /// Take a reference on `h`'s descriptor (Go's `incref`), checking that `h` is still its
    /// handle; the generation cannot change while the reference is held.
    pub(crate) fn incref(&self, h: Handle) -> Result<&PollDesc<L>, PollError> {
        let d = self.desc(h)?;
        match lifecycle::incref(&d.life) {
            Ok(()) => {}
            Err(Refused::Closed) => return Err(closed_error(d, h)),
            Err(Refused::Overflow) => return Err(PollError::TooManyOperations),
        }
        if info_generation(d.load_info()) != h.generation() {
            self.decref(h.index());
            return Err(PollError::StaleHandle);
        }
        Ok(d)
    }

    /// Drop a reference (Go's `decref`); the last one of a closed descriptor frees its slot.
    pub(crate) fn decref(&self, index: u32) {
        if lifecycle::decref(&self.descs()[index as usize].life) {
            self.free_slot(index);
        }
    }

    /// Release `mode`'s lock of slot `index` (Go's `rwunlock`): wake the waiters queued for
    /// it, and free the slot if that was the last reference of a closed descriptor.
    #[inline]
    pub(crate) fn unlock(&self, d: &PollDesc<L>, index: u32, mode: Mode) {
        let u = lifecycle::unlock(&d.life, mode);
        if u.queued || u.last {
            self.after_unlock(index, mode, u);
        }
    }

    #[cold]
    fn after_unlock(&self, index: u32, mode: Mode, u: lifecycle::Unlocked) {
        if u.queued {
            self.wake_queue(index, mode);
        }
        if u.last {
            self.free_slot(index);
        }
    }

    /// Wake every waiter queued for `mode`'s lock of slot `index`.
    pub(crate) fn wake_queue(&self, index: u32, mode: Mode) {
        let descs = self.descs();
        // One node per lock round: wakers are woken (and dropped) outside the pool lock.
        while let Some(w) = self.free.with(|f| f.table.pop(descs, index, mode)) {
            w.wake();
        }
    }

    /// Settle what an unblock took from a slot: unlock for a waiter that had handed its lock
    /// over, then wake it. Returns how many wakers it woke.
    #[inline]
    fn settle(&self, d: &PollDesc<L>, index: u32, mode: Mode, taken: Taken) -> usize {
        if taken.owned_lock {
            self.unlock(d, index, mode);
        }
        match taken.waker {
            Some(w) => {
                w.wake();
                1
            }
            None => 0,
        }
    }

    /// Close a descriptor (Go's `Close`: `increfAndClose`, `pollUnblock`, `decref`): mark it
    /// closed, retire its deadlines, wake every waiter (parked or queued, both directions)
    /// with [`PollError::Closing`] and deregister `source`. The slot returns to the pool when
    /// the last operation on it ends, which is at once if none is in progress. The handle is
    /// stale from then on; a second close gives [`PollError::StaleHandle`].
    pub fn close(&self, h: Handle, source: &P::Source) -> Result<(), Error<P::Error>> {
        // The reference pins this incarnation: nothing below can reach a reopened slot.
        let d = self.incref(h).map_err(|_| PollError::StaleHandle)?;
        let index = h.index();
        if !lifecycle::mark_closed(&d.life) {
            self.decref(index);
            return Err(Error::Poll(PollError::StaleHandle));
        }
        let had_entry = d.deadlines.with(|dl| {
            // Under this lock the only other writer of the info word is the loop flipping
            // EVENT_ERR; a read-modify-write keeps it. Release orders CLOSING before the slot
            // unblocks below (see slot.rs).
            d.info.fetch_or(CLOSING, Ordering::AcqRel);
            d.store_deadlines(dl, READ_EXPIRED | WRITE_EXPIRED, NEVER);
            dl.armed != NEVER
        });
        if had_entry {
            // The loop drops the entry at its next turn instead of waking for it.
            self.mark_dirty(index);
        }
        let r = d.read.unblock(Unblock::Wake);
        let w = d.write.unblock(Unblock::Wake);
        self.settle(d, index, Mode::Read, r);
        self.settle(d, index, Mode::Write, w);
        self.wake_queue(index, Mode::Read);
        self.wake_queue(index, Mode::Write);
        let deregistered = self.poller.deregister(source, h.token());
        debug!("netpoll: close {}", index);
        self.decref(index);
        deregistered.map_err(Error::Backend)
    }

    // ---------------------------------------------------------------- deadlines

    /// Set the read deadline (`None` clears it). See [`set_deadline`](Self::set_deadline).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn set_read_deadline(&self, h: Handle, at: Option<Instant>) -> Result<(), PollError> {
        self.set_deadlines(h, at, READ_EXPIRED)
    }

    /// Set the write deadline (`None` clears it). See [`set_deadline`](Self::set_deadline).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn set_write_deadline(&self, h: Handle, at: Option<Instant>) -> Result<(), PollError> {
        self.set_deadlines(h, at, WRITE_EXPIRED)
    }

    /// Set both deadlines (Go's `SetDeadline`); `None` clears them.
    ///
    /// Deadlines are absolute. One at or before now is expired at once: a blocked waiter wakes
    /// with [`PollError::Timeout`] and later waits fail until the deadline is moved or cleared.
    /// Moving a deadline later never touches the timer queue.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn set_deadline(&self, h: Handle, at: Option<Instant>) -> Result<(), PollError> {
        self.set_deadlines(h, at, READ_EXPIRED | WRITE_EXPIRED)
    }

    /// Set the read deadline `d` from now (Go's `SetReadDeadline(time.Now().Add(d))`). See
    /// [`set_deadline_after`](Self::set_deadline_after).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn set_read_deadline_after(&self, h: Handle, d: Duration) -> Result<(), PollError> {
        self.set_deadlines_after(h, d, READ_EXPIRED)
    }

    /// Set the write deadline `d` from now. See [`set_deadline_after`](Self::set_deadline_after).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn set_write_deadline_after(&self, h: Handle, d: Duration) -> Result<(), PollError> {
        self.set_deadlines_after(h, d, WRITE_EXPIRED)
    }

    /// Set both deadlines `d` from now: the deadline is [`Clock::deadline_after`]`(d)`, which
    /// is never earlier than `now + d` and, with a coarse clock, may be a little later (see the
    /// clock's documentation). This is the cheap form of the per-read reset: the deadline is
    /// in the future by construction, so nobody asks the clock whether it has passed.
    /// `Duration::ZERO` expires the deadline at once, like a deadline of now.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn set_deadline_after(&self, h: Handle, d: Duration) -> Result<(), PollError> {
        self.set_deadlines_after(h, d, READ_EXPIRED | WRITE_EXPIRED)
    }

    // Forced inline on hosted targets (the per-read reset is a few instructions plus a clock
    // read, and a call costs as much); on bare metal the compiler decides, for size.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn set_deadlines(&self, h: Handle, at: Option<Instant>, which: u32) -> Result<(), PollError> {
        let t = at.map_or(NEVER, Instant::as_nanos);
        let expired = t != NEVER && self.clock.has_passed(Instant::from_nanos(t));
        if !expired && self.try_set_later(h, t, which) {
            return Ok(());
        }
        self.set_deadlines_slow(h, t, expired, which)
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn set_deadlines_after(&self, h: Handle, d: Duration, which: u32) -> Result<(), PollError> {
        if d.is_zero() {
            // A deadline of now: expired (Go's -1 for a deadline that is not in the future).
            return self.set_deadlines_slow(h, self.clock.now().as_nanos(), true, which);
        }
        // At least now + d with d > 0: in the future, so not expired.
        let t = self.clock.deadline_after(d).as_nanos();
        if self.try_set_later(h, t, which) {
            return Ok(());
        }
        self.set_deadlines_slow(h, t, false, which)
    }

    /// The per-read reset, inline: set the deadlines in `which` to `t` if that changes
    /// nothing but the fields: `t` is a deadline (not `NEVER`) that has not passed, on
    /// directions that have not expired, no earlier than the loop's next look at this
    /// descriptor (`armed`, which is never later than a pending deadline). No expired bit
    /// changes and no earlier wake-up is needed: the loop's entry comes due at `armed` and is
    /// re-keyed then. So the whole update is a store or two under the descriptor's lock.
    /// Returns false, changing nothing, when the general path is needed (also for a stale
    /// or closed handle, which it reports).
    #[inline(always)]
    fn try_set_later(&self, h: Handle, t: u64, which: u32) -> bool {
        let Some(d) = self.slots.as_ref().get(h.index() as usize) else {
            return false;
        };
        d.deadlines.with(|dl| {
            let info = d.load_info();
            let fast = info_generation(info) == h.generation()
                && info & (CLOSING | which) == 0
                && t != NEVER
                && t >= dl.armed;
            if fast {
                // Hosted targets keep a later deadline's hint (`store_later`, fewer
                // instructions per reset); bare metal shares the general store, for size.
                #[cfg(not(target_os = "none"))]
                d.store_later(dl, which, t);
                #[cfg(target_os = "none")]
                d.store_deadlines(dl, which, t);
            }
            fast
        })
    }

    /// Everything else a deadline change may do: fail on a closed or stale handle, expire a
    /// direction (waking its waiter) or clear its expiry, move the loop's next look earlier.
    #[cold]
    #[inline(never)]
    fn set_deadlines_slow(
        &self,
        h: Handle,
        t: u64,
        expired: bool,
        which: u32,
    ) -> Result<(), PollError> {
        let d = self.desc(h)?;
        let (fire, lowered, drop_entry) = d.deadlines.with(|dl| {
            let info = d.load_info();
            if info_generation(info) != h.generation() {
                return Err(PollError::StaleHandle);
            }
            if info & CLOSING != 0 {
                return Err(PollError::Closing);
            }
            d.store_deadlines(dl, which, t);
            let (set, clear) = if expired { (which, 0) } else { (0, which) };
            // Only newly expired directions wake their waiter.
            let fire = set & !info;
            let mut info = info;
            if (info & !clear) | set != info {
                info = update_info(&d.info, |i| (i & !clear) | set);
            }
            let next = dl.next_pending(info);
            let lowered = if next < dl.armed {
                dl.armed = next;
                Some(next)
            } else {
                None
            };
            // No deadline left but an entry in the loop's queue: let the loop drop it at its
            // next turn (no wake-up needed: it would only look earlier than necessary).
            let drop_entry = next == NEVER && dl.armed != NEVER;
            Ok((fire, lowered, drop_entry))
        })?;
        if let Some(mut e) = lowered {
            if self.mark_dirty(h.index()) {
                e = e.min(d.deadlines.with(|dl| dl.armed));
            }
            self.lower_wake_at(e);
        } else if drop_entry {
            self.mark_dirty(h.index());
        }
        if fire != 0 {
            self.unblock_expired(h.index(), fire);
        }
        Ok(())
    }

    /// Expire the direction `which` of `d` (its deadline `at` has passed), unless its deadline
    /// was changed or it expired meanwhile. The loop's timer entry stays: it comes due and
    /// finds nothing left to fire.
    #[cold]
    #[inline(never)]
    pub(crate) fn expire_passed(&self, d: &PollDesc<L>, h: Handle, which: u32, at: u64) {
        let fire = d.deadlines.with(|dl| {
            let current = if which & READ_EXPIRED != 0 {
                dl.read
            } else {
                dl.write
            };
            let info = d.load_info();
            if current != at || info & (CLOSING | which) != 0 {
                return false;
            }
            d.info.fetch_or(which, Ordering::AcqRel);
            true
        });
        if fire {
            trace!("netpoll: deadline {} (seen by an operation)", h.index());
            self.unblock_expired(h.index(), which);
        }
    }

    /// Queue descriptor `index` for the loop's attention. Returns whether this call pushed it.
    fn mark_dirty(&self, index: u32) -> bool {
        let d = &self.descs()[index as usize];
        if d.queued.swap(true, Ordering::AcqRel) {
            return false;
        }
        let mut head = self.dirty.load(Ordering::Relaxed);
        loop {
            d.dirty_next.store(head, Ordering::Relaxed);
            match self
                .dirty
                .compare_exchange_weak(head, index, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => head = actual,
            }
        }
    }

    /// Make the loop look at the timers no later than `at`, waking it if it sleeps past that.
    fn lower_wake_at(&self, at: u64) {
        if self.wake_at.lower(at, || self.clock.now().as_nanos()) {
            // The loop promised to sleep past `at`. A failure here cannot be reported to the
            // setter usefully; the loop still wakes at its old time and fires late.
            let _ = self.wake();
        }
    }

    // ---------------------------------------------------------------- the poll loop

    /// Make a concurrent or the next [`poll`](Self::poll) return promptly (Go's
    /// `netpollBreak`). Calls made while one is already pending reach the backend once.
    pub fn wake(&self) -> Result<(), P::Error> {
        if self.wake_pending.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.poller
            .wake()
            .inspect_err(|_| self.wake_pending.store(false, Ordering::Release))
    }

    /// Run the poll loop once (Go's `netpoll(delay)` followed by `netpollready` and the
    /// deadline timers): fire expired deadlines, wait for events no longer than `delay` and no
    /// later than the next deadline, apply the events, fire again. Returns how many waiters it
    /// woke.
    ///
    /// `delay`: `None` blocks until an event, a deadline or a [`wake`](Self::wake); zero polls.
    /// One thread polls at a time; a concurrent call gets [`PollError::DoubleWait`].
    pub fn poll(&self, delay: Option<Duration>) -> Result<usize, Error<P::Error>> {
        self.turn(delay, None).map(|(woken, _)| woken)
    }

    /// One non-blocking turn of the loop for a loop that sleeps *outside* [`Poller::wait`]
    /// (an async task awaiting an interrupt signal or a timer): like `poll(Some(ZERO))`, then
    /// a promise to look again by the returned instant (`None`: no deadline pending), capped at
    /// `now + max` when `max` is given.
    ///
    /// Until the next `poll` or `poll_and_sleep`, a deadline set earlier than the promise
    /// calls [`Poller::wake`], so the backend's wake must also wake the sleeping loop.
    /// Returns how many waiters the turn woke and the promised instant.
    pub fn poll_and_sleep(
        &self,
        max: Option<Duration>,
    ) -> Result<(usize, Option<Instant>), Error<P::Error>> {
        self.turn(Some(Duration::ZERO), Some(max))
    }

    fn turn(
        &self,
        delay: Option<Duration>,
        sleep_outside: Option<Option<Duration>>,
    ) -> Result<(usize, Option<Instant>), Error<P::Error>> {
        let guard =
            LoopGuard::try_acquire(&self.polling).ok_or(Error::Poll(PollError::DoubleWait))?;
        let mut heap = TimerHeap::new(self.descs(), guard, &self.heap_len);
        let mut counters = LoopCounters::default();
        let mut promised = None;
        let result = self.poll_once(&mut heap, &mut counters, delay);
        if let (Ok(()), Some(max)) = (&result, sleep_outside) {
            let now = self.clock.now().as_nanos();
            let mut target = self.next_timer(&mut heap).unwrap_or(NEVER);
            if let Some(max) = max {
                target = target.min(add_nanos(now, max));
            }
            let t = self.wake_at.promise(target, now);
            promised = (t != NEVER).then_some(Instant::from_nanos(t));
        }
        let n = &counters;
        let delta = [n.events, n.stale_events, n.timeouts, n.wakeups, 1];
        self.counters.add(heap.guard(), delta);
        drop(heap);
        result.map(|()| (counters.wakeups as usize, promised))
    }

    fn poll_once(
        &self,
        heap: &mut TimerHeap<'_, L>,
        n: &mut LoopCounters,
        delay: Option<Duration>,
    ) -> Result<(), Error<P::Error>> {
        self.wake_at.awake();
        self.drain_dirty(heap);
        let now = self.clock.now().as_nanos();
        self.fire_due(heap, now, n);

        let mut timeout = if n.wakeups > 0 {
            Some(Duration::ZERO)
        } else {
            delay
        };
        if timeout != Some(Duration::ZERO) {
            if let Some(next) = self.next_timer(heap) {
                let until = Duration::from_nanos(next.saturating_sub(now));
                timeout = Some(timeout.map_or(until, |t| t.min(until)));
            }
            let target = timeout.map_or(NEVER, |t| add_nanos(now, t));
            let promised = self.wake_at.promise(target, now);
            if promised < target {
                timeout = Some(Duration::from_nanos(promised.saturating_sub(now)));
            }
        }

        let mut on_event = |ev: Event| self.apply_event(ev, n);
        let waited = self.poller.wait(timeout, &mut on_event);
        self.wake_at.awake();
        self.wake_pending.store(false, Ordering::Release);

        self.drain_dirty(heap);
        let now = self.clock.now().as_nanos();
        self.fire_due(heap, now, n);
        waited.map_err(Error::Backend)
    }

    fn drain_dirty(&self, heap: &mut TimerHeap<'_, L>) {
        let descs = self.descs();
        let mut index = self.dirty.swap(NIL, Ordering::AcqRel);
        while index != NIL {
            let d = &descs[index as usize];
            let next = d.dirty_next.load(Ordering::Relaxed);
            // Clear the flag before reading the deadlines: a setter that still sees it set
            // published its deadline before we read it.
            d.queued.swap(false, Ordering::AcqRel);
            let key = d.deadlines.with(|dl| {
                dl.armed = dl.next_pending(d.load_info());
                dl.armed
            });
            heap.set(index, key);
            index = next;
        }
    }

    /// When the loop must look at the timers next: the top entry's key. It may be earlier
    /// than the deadline it stands for, if that deadline was moved later since: the entry is
    /// re-keyed when it comes due (`fire_due`), not before. Re-keying stale entries here, each
    /// time the loop is about to sleep, would keep the sleep exact but cost a heap operation per
    /// deadline reset on a busy loop (every connection resetting its read deadline before every
    /// read makes the top stale at almost every turn); the lazy way costs at most one early
    /// look per deadline that is still pending when its old time comes, and none per reset.
    /// Cleared deadlines do not wait for that: their entries go through the dirty list.
    fn next_timer(&self, heap: &mut TimerHeap<'_, L>) -> Option<u64> {
        heap.peek().map(|(key, _)| key)
    }

    fn fire_due(&self, heap: &mut TimerHeap<'_, L>, now: u64, n: &mut LoopCounters) {
        let descs = self.descs();
        while let Some((key, index)) = heap.peek() {
            if key > now {
                break;
            }
            let d = &descs[index as usize];
            let (fire, next) = d.deadlines.with(|dl| {
                let info = d.load_info();
                let mut fire = 0;
                if dl.read != NEVER && dl.read <= now && info & READ_EXPIRED == 0 {
                    fire |= READ_EXPIRED;
                }
                if dl.write != NEVER && dl.write <= now && info & WRITE_EXPIRED == 0 {
                    fire |= WRITE_EXPIRED;
                }
                if fire != 0 {
                    d.info.fetch_or(fire, Ordering::AcqRel);
                }
                dl.armed = dl.next_pending(info | fire);
                (fire, dl.armed)
            });
            heap.set(index, next);
            if fire != 0 {
                n.timeouts +=
                    u64::from(fire & READ_EXPIRED != 0) + u64::from(fire & WRITE_EXPIRED != 0);
                trace!("netpoll: deadline {}", index);
                n.wakeups += self.unblock_expired(index, fire) as u64;
            }
        }
    }

    /// The number of timer entries queued (for tests and benchmarks).
    #[doc(hidden)]
    pub fn timer_entries(&self) -> u32 {
        self.heap_len.load(Ordering::Relaxed)
    }
}

impl<P, C, S, L> Drop for Netpoll<P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    fn drop(&mut self) {
        if let Some(first) = self.slots.as_ref().first() {
            first.claimed.store(0, Ordering::Release);
        }
    }
}

impl<P, C, S, L> core::fmt::Debug for Netpoll<P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Netpoll")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a refused reference means for `h`: closed (its slot not reused yet) or stale.
pub(crate) fn closed_error<L: RawLock>(d: &PollDesc<L>, h: Handle) -> PollError {
    if info_generation(d.load_info()) == h.generation() {
        PollError::Closing
    } else {
        PollError::StaleHandle
    }
}

impl<P, C, S, L> Netpoll<P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    /// Apply one backend event (Go's `netpollready`): drop it if its generation is stale,
    /// record an error condition, and unblock the directions it reports.
    fn apply_event(&self, ev: Event, n: &mut LoopCounters) {
        let index = ev.token.index();
        let Some(d) = self.descs().get(index as usize) else {
            n.stale_events += 1;
            return;
        };
        let g = ev.token.generation();
        let info = d.load_info();
        if info_generation(info) != g {
            n.stale_events += 1;
            return;
        }
        n.events += 1;
        let r = ev.readiness;
        // Like Go's `setEventErr(ev.events == EPOLLERR)`: an error event sets the flag, any
        // other event clears it. Only while the generation still matches: a reused slot must
        // not inherit (or lose) the flag of an old incarnation.
        if r.error != (info & EVENT_ERR != 0) {
            let flip = |i: u32| {
                let v = if r.error {
                    i | EVENT_ERR
                } else {
                    i & !EVENT_ERR
                };
                (info_generation(i) == g).then_some(v)
            };
            let _ = d
                .info
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, flip);
        }
        let marks =
            if r.read_closed { slot::HUP } else { 0 } | if r.urgent { slot::URGENT } else { 0 };
        let rw = if marks != 0 {
            d.read.unblock(Unblock::ReadySticky(marks))
        } else if r.readable || r.error {
            d.read.unblock(Unblock::Ready)
        } else {
            Taken::NONE
        };
        let ww = if r.writable || r.error {
            d.write.unblock(Unblock::Ready)
        } else {
            Taken::NONE
        };
        // The slot may have been closed and reopened between the generation check and the
        // unblocks: then the edge belongs to the old descriptor. Only this loop sets READY, so
        // it can take it back; the waiter it may have woken sees a spurious wake-up (and, if
        // it had handed its lock over, is unlocked like after any wake-up) and parks again.
        if info_generation(d.load_info()) != g {
            d.read.forget_ready();
            d.write.forget_ready();
        }
        n.wakeups +=
            (self.settle(d, index, Mode::Read, rw) + self.settle(d, index, Mode::Write, ww)) as u64;
    }

    /// Wake the waiters of the directions in `fire` (deadline expiry); returns how many.
    fn unblock_expired(&self, index: u32, fire: u32) -> usize {
        let d = &self.descs()[index as usize];
        let r = if fire & READ_EXPIRED != 0 {
            d.read.unblock(Unblock::Wake)
        } else {
            Taken::NONE
        };
        let w = if fire & WRITE_EXPIRED != 0 {
            d.write.unblock(Unblock::Wake)
        } else {
            Taken::NONE
        };
        self.settle(d, index, Mode::Read, r) + self.settle(d, index, Mode::Write, w)
    }
}

/// Atomically apply `f` to the info word; returns the new value.
fn update_info(info: &AtomicU32, f: impl Fn(u32) -> u32) -> u32 {
    let mut cur = info.load(Ordering::Acquire);
    loop {
        let new = f(cur);
        match info.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return new,
            Err(actual) => cur = actual,
        }
    }
}

fn add_nanos(now: u64, d: Duration) -> u64 {
    now.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

mod io;

pub use io::{IoLock, Wait};

#[cfg(test)]
mod lock_tests;
#[cfg(test)]
mod tests;
