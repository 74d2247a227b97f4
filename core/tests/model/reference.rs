//! A reference model of `Netpoll`, written to be obviously correct rather than fast.
//!
//! Plain Rust: no atomics, no locks, no lazy timers. Every descriptor is a struct of booleans
//! and `Option`s, and every operation does exactly what Go's runtime poller
//! (`runtime/netpoll.go`) does to `pollDesc`, step by step. The harness (`harness.rs`) runs the
//! same operations on the real `Netpoll` and compares; a fuzzer can reuse both files.
//!
//! What the model keeps per descriptor (Go's name in brackets):
//! * `open`, `generation` (`closing`, `fdseq`): a handle is current iff its generation matches;
//! * per direction (`rg` / `wg`, `rd` / `wd`): the deadline, whether it has expired, whether a
//!   readiness edge is stored (`pdReady`), which waker is parked (`*g`), and the wakers queued
//!   for the direction's lock (Go's `fdMutex` read/write waiters);
//! * `event_error` (`pollEventErr`).
//!
//! The lock (`internal/poll.fdMutex`): `poll_wait` takes the direction's lock; a waiter that
//! parks keeps it (handed to the slot) until whoever takes its waker (an edge, a deadline,
//! `close`, a cancellation) releases it, which wakes every queued waiter. So in a sequential
//! run a direction is locked exactly while a waker is parked in it, and a second waiter
//! queues instead of replacing the first. The queue holds a task once (a waker that
//! `will_wake` the same task is not queued twice) and the pool can queue as many wakers as it
//! has slots; a waiter that finds no room is woken at once (asked to poll again).
//!
//! Timers are not modelled as a queue: when the loop runs, every direction whose deadline is at
//! or before `now` and has not expired yet expires. That is the definition; the real timer heap
//! is checked against it.

use core::task::Poll;
use core::time::Duration;
use std::collections::VecDeque;

use netpoll_core::testing::{Call, ScriptError};
use netpoll_core::{Error, Mode, PollError, Readiness};

/// The loop's wake word for "no promise": the largest even `u64`.
const PROMISE_NEVER: u64 = u64::MAX - 1;

/// A waker, by number. The model counts how often each was woken.
pub type WakerId = usize;

/// A handle as the model sees it: slot and the generation it was issued for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelHandle {
    /// Slot index; `usize::MAX` for a forged handle outside the pool.
    pub slot: usize,
    /// Which opening of the slot (1 for the first).
    pub generation: u64,
}

impl ModelHandle {
    /// A handle the pool never issued (outside the pool, or generation 0): always stale.
    pub const FORGED: ModelHandle = ModelHandle {
        slot: usize::MAX,
        generation: 0,
    };
}

/// One direction of a descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Direction {
    /// Absolute deadline in nanoseconds; `None` is no deadline.
    pub deadline: Option<u64>,
    /// The deadline has passed and was noticed (by the setter or the loop).
    pub expired: bool,
    /// A readiness edge arrived that no wait has consumed (Go's `pdReady`).
    pub ready: bool,
    /// The waker of the task parked in this direction (Go's `*g`); it holds the lock.
    pub parked: Option<WakerId>,
    /// Wakers queued for the direction's lock, each once.
    pub queued: Vec<WakerId>,
}

/// One descriptor slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    /// Open (not closing).
    pub open: bool,
    /// How many times the slot was taken from the pool (a failed open counts).
    pub generation: u64,
    /// The backend reported an error condition (Go's `pollEventErr`).
    pub event_error: bool,
    /// An event said the peer will send nothing more (sticky until the next open).
    pub read_closed: bool,
    /// Read direction.
    pub read: Direction,
    /// Write direction.
    pub write: Direction,
}

impl Desc {
    /// The direction `mode` uses.
    pub fn dir(&self, mode: Mode) -> &Direction {
        match mode {
            Mode::Read => &self.read,
            Mode::Write => &self.write,
        }
    }

    fn dir_mut(&mut self, mode: Mode) -> &mut Direction {
        match mode {
            Mode::Read => &mut self.read,
            Mode::Write => &mut self.write,
        }
    }
}

/// The counters of `netpoll_core::Stats`, as the model predicts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Descriptors open now.
    pub open: u32,
    /// Events applied (generation matched).
    pub events: u64,
    /// Events dropped for a stale generation.
    pub stale_events: u64,
    /// Directions whose deadline expired in the loop.
    pub timeouts: u64,
    /// Waiters woken by the loop.
    pub wakeups: u64,
    /// Calls to `poll`.
    pub polls: u64,
}

/// What the scripted backend should have seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelBackend {
    /// The injected failure not yet consumed.
    pub fail: Option<Call>,
    /// Calls to `wait`.
    pub waits: u64,
    /// Successful calls to `wake`.
    pub wakes: u64,
    /// Calls to `arm`.
    pub arms: u64,
    /// The timeout of the latest `wait`, as a bound: the core's loop may look earlier (an
    /// entry for a deadline that was moved later is re-keyed only when it comes due), never
    /// later, and it asks for a zero timeout exactly when this is zero.
    pub last_timeout: Option<Option<Duration>>,
    /// A `wake` reached the backend and no `wait` consumed it yet.
    pub wake_pending: bool,
}

/// The whole poller.
#[derive(Clone, Debug)]
pub struct Model {
    /// The clock, in nanoseconds.
    pub now: u64,
    /// The descriptor slots.
    pub descs: Vec<Desc>,
    /// Free slots; the pool hands out the most recently freed one first (like Go's
    /// `pollCache`). The model mirrors that order so that it knows which slot a failed open
    /// consumed a generation of.
    free: Vec<usize>,
    /// Events queued in the backend, delivered by the next successful `poll`.
    events: VecDeque<(ModelHandle, Readiness)>,
    /// How many times each waker was woken.
    pub woken: Vec<u64>,
    /// Predicted counters.
    pub stats: ModelStats,
    /// Predicted backend calls.
    pub backend: ModelBackend,
    /// `Netpoll::wake` was called and no `poll` has run since (the dedup flag).
    wake_requested: bool,
    /// After `poll_and_sleep`, until the next turn of the loop: the time the loop promised
    /// to look again, as its wake word holds it (see [`Model::promise`]).
    asleep_until: Option<u64>,
}

impl Model {
    /// A pool of `slots` descriptors, `wakers` wakers, the clock at `now`.
    pub fn new(slots: usize, wakers: usize, now: u64) -> Self {
        Model {
            now,
            descs: vec![Desc::default(); slots],
            free: (0..slots).rev().collect(),
            events: VecDeque::new(),
            woken: vec![0; wakers],
            stats: ModelStats::default(),
            backend: ModelBackend::default(),
            wake_requested: false,
            asleep_until: None,
        }
    }

    /// The descriptor `h` names, if `h` is current or was current until a close.
    fn lookup(&self, h: ModelHandle) -> Result<&Desc, PollError> {
        match self.descs.get(h.slot) {
            Some(d) if d.generation == h.generation => Ok(d),
            _ => Err(PollError::StaleHandle),
        }
    }

    /// Go's `netpollcheckerr`, preceded by the generation check: stale, closing, expired,
    /// event error (reads only).
    pub fn check(&self, h: ModelHandle, mode: Mode) -> Result<(), PollError> {
        let d = self.lookup(h)?;
        if !d.open {
            return Err(PollError::Closing);
        }
        if d.dir(mode).expired {
            return Err(PollError::Timeout);
        }
        if mode == Mode::Read && d.event_error {
            return Err(PollError::EventError);
        }
        Ok(())
    }

    /// Go's `netpollunblock`: a parked waiter is woken (and forgotten), and the lock it held
    /// is released, which wakes the queue; a readiness edge is stored whether or not someone
    /// was parked. Returns whether a parked waker was woken (the loop counts those only).
    fn unblock(dir: &mut Direction, ready: bool, woken: &mut [u64]) -> bool {
        if ready {
            dir.ready = true;
        }
        match dir.parked.take() {
            Some(w) => {
                Self::unlock(dir, woken);
                woken[w] += 1;
                true
            }
            None => false,
        }
    }

    /// Release a direction's lock: every queued waker is woken.
    fn unlock(dir: &mut Direction, woken: &mut [u64]) {
        for w in dir.queued.drain(..) {
            woken[w] += 1;
        }
    }

    fn queued_total(&self) -> usize {
        self.descs
            .iter()
            .map(|d| d.read.queued.len() + d.write.queued.len())
            .sum()
    }

    fn take_fail(&mut self, call: Call) -> bool {
        if self.backend.fail == Some(call) {
            self.backend.fail = None;
            true
        } else {
            false
        }
    }

    /// Make the next backend call of kind `call` fail (replacing any failure not yet used).
    pub fn fail_next(&mut self, call: Call) {
        self.backend.fail = Some(call);
    }

    /// `Netpoll::open`.
    pub fn open(&mut self) -> Result<ModelHandle, Error<ScriptError>> {
        let Some(slot) = self.free.pop() else {
            return Err(Error::Poll(PollError::PoolExhausted));
        };
        let d = &mut self.descs[slot];
        d.generation += 1;
        let h = ModelHandle {
            slot,
            generation: d.generation,
        };
        if self.backend.fail == Some(Call::Register) {
            // The slot went back to the pool, but its generation moved on: handles from the
            // previous opening are now stale, not merely closing.
            self.backend.fail = None;
            self.free.push(slot);
            return Err(Error::Backend(ScriptError::Injected));
        }
        *d = Desc {
            open: true,
            generation: d.generation,
            ..Desc::default()
        };
        self.stats.open += 1;
        Ok(h)
    }

    /// `Netpoll::close`: closing, deadlines retired, both waiters woken, slot freed.
    pub fn close(&mut self, h: ModelHandle) -> Result<(), Error<ScriptError>> {
        match self.lookup(h) {
            Ok(d) if d.open => {}
            // A second close is a stale use, not "closing".
            _ => return Err(Error::Poll(PollError::StaleHandle)),
        }
        let d = &mut self.descs[h.slot];
        d.open = false;
        for mode in [Mode::Read, Mode::Write] {
            let dir = d.dir_mut(mode);
            dir.deadline = None;
            Self::unblock(dir, false, &mut self.woken);
        }
        self.free.push(h.slot);
        self.stats.open -= 1;
        if self.take_fail(Call::Deregister) {
            return Err(Error::Backend(ScriptError::Injected));
        }
        Ok(())
    }

    /// `Netpoll::prepare` (Go's `pollReset`): fail if the check fails, else forget the edge.
    pub fn prepare(&mut self, h: ModelHandle, mode: Mode) -> Result<(), PollError> {
        self.check(h, mode)?;
        self.descs[h.slot].dir_mut(mode).ready = false;
        Ok(())
    }

    /// `Netpoll::read_closed`: the sticky hang-up mark of a handle that is not stale.
    pub fn read_closed(&self, h: ModelHandle) -> Result<bool, PollError> {
        let d = self.lookup(h)?;
        if !d.open {
            return Err(PollError::Closing);
        }
        Ok(d.read_closed)
    }

    /// `Netpoll::arm`: the check, then the backend.
    pub fn arm(&mut self, h: ModelHandle, mode: Mode) -> Result<(), Error<ScriptError>> {
        self.check(h, mode)?;
        self.backend.arms += 1;
        Ok(())
    }

    /// `Netpoll::poll_wait` (Go's `readLock` + `pollWait` + `netpollblock`): take the lock
    /// (queue if a waiter holds it), the check, then consume a stored edge, else park `waker`
    /// with the lock.
    ///
    /// Where the Rust API differs from Go on purpose, the model follows the Rust API:
    /// * An error wins over a stored edge on every poll. Go's `pollWait` checks first too, but
    ///   a goroutine woken by an edge and then closed before it runs returns the edge; a Rust
    ///   task polls again and gets `Closing`, the answer a fresh wait would give.
    /// * Polling a parked wait again (a task re-polled, possibly with a new waker) finds the
    ///   lock held by the parked waker and queues: both are woken by the next unblock, so no
    ///   waker is ever replaced and lost.
    /// * No spurious wake-up is allowed: sequentially, `poll_wait` wakes its own waker only
    ///   when it races an unblocker, and nothing races here. Wake-up counts are exact.
    pub fn poll_wait(
        &mut self,
        h: ModelHandle,
        mode: Mode,
        waker: WakerId,
    ) -> Poll<Result<(), PollError>> {
        let d = match self.lookup(h) {
            Ok(d) => d,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if !d.open {
            return Poll::Ready(Err(PollError::Closing));
        }
        if d.dir(mode).parked.is_some() {
            // Locked: queue, once per waker, if the table has room; else poll again at once.
            if d.dir(mode).queued.contains(&waker) {
                return Poll::Pending;
            }
            if self.queued_total() == self.descs.len() {
                self.woken[waker] += 1;
                return Poll::Pending;
            }
            self.descs[h.slot].dir_mut(mode).queued.push(waker);
            return Poll::Pending;
        }
        if let Err(e) = self.check(h, mode) {
            return Poll::Ready(Err(e));
        }
        let dir = self.descs[h.slot].dir_mut(mode);
        if dir.ready {
            dir.ready = false;
            return Poll::Ready(Ok(()));
        }
        dir.parked = Some(waker);
        Poll::Pending
    }

    /// `Netpoll::cancel_wait`: if `h` is open, take the parked waker back and release its
    /// lock; the waker is dropped if it is the canceller's (`waker`), woken otherwise.
    pub fn cancel_wait(&mut self, h: ModelHandle, mode: Mode, waker: WakerId) {
        if !self.lookup(h).is_ok_and(|d| d.open) {
            return;
        }
        let dir = self.descs[h.slot].dir_mut(mode);
        if let Some(p) = dir.parked.take() {
            Self::unlock(dir, &mut self.woken);
            if p != waker {
                self.woken[p] += 1;
            }
        }
    }

    /// The backend queues an event for `h`'s token; the next successful `poll` applies it.
    pub fn push_event(&mut self, h: ModelHandle, readiness: Readiness) {
        self.events.push_back((h, readiness));
    }

    /// `Netpoll::set_{read,write,}deadline`. `at == Some(u64::MAX)` is `Instant::MAX`, which
    /// never expires: the same as no deadline.
    pub fn set_deadline(
        &mut self,
        h: ModelHandle,
        read: bool,
        write: bool,
        at: Option<u64>,
    ) -> Result<(), PollError> {
        let d = self.lookup(h)?;
        if !d.open {
            return Err(PollError::Closing);
        }
        let at = at.filter(|&t| t != u64::MAX);
        // Go: a deadline at or before now is expired at once ("d <= 0" in pollSetDeadline).
        let expired = at.is_some_and(|t| t <= self.now);
        let d = &mut self.descs[h.slot];
        for (mode, on) in [(Mode::Read, read), (Mode::Write, write)] {
            if !on {
                continue;
            }
            let dir = d.dir_mut(mode);
            dir.deadline = at;
            if expired && !dir.expired {
                dir.expired = true;
                // The setter wakes the waiter; this is not the loop's work, so no counter.
                Self::unblock(dir, false, &mut self.woken);
            } else if !expired {
                dir.expired = false;
            }
        }
        self.wake_if_sleeping_past(h.slot);
        Ok(())
    }

    /// Move the clock forward (saturating, like `ManualClock::advance`).
    pub fn advance(&mut self, nanos: u64) {
        self.now = self.now.saturating_add(nanos);
    }

    /// Expire every due deadline (Go's `netpolldeadlineimpl`); returns the waiters woken.
    fn fire_due(&mut self) -> u64 {
        let mut woken = 0;
        for d in &mut self.descs {
            for mode in [Mode::Read, Mode::Write] {
                let dir = d.dir_mut(mode);
                if !dir.expired && dir.deadline.is_some_and(|t| t <= self.now) {
                    dir.expired = true;
                    self.stats.timeouts += 1;
                    woken += u64::from(Self::unblock(dir, false, &mut self.woken));
                }
            }
        }
        woken
    }

    /// The earliest deadline that has not expired.
    fn next_deadline(&self) -> Option<u64> {
        self.descs
            .iter()
            .flat_map(|d| [&d.read, &d.write])
            .filter(|dir| !dir.expired)
            .filter_map(|dir| dir.deadline)
            .min()
    }

    /// Apply one backend event (Go's `netpollready`).
    ///
    /// An event is stale only if the slot's generation moved on. A closed slot whose
    /// generation still matches takes the event (Go checks only `fdseq`, which changes at
    /// open): it can only set state that the next open resets, and it wakes nobody because
    /// close already woke both waiters and no wait can park on a closing descriptor.
    fn apply_event(&mut self, h: ModelHandle, r: Readiness) -> u64 {
        let Some(d) = self
            .descs
            .get_mut(h.slot)
            .filter(|d| d.generation == h.generation)
        else {
            self.stats.stale_events += 1;
            return 0;
        };
        self.stats.events += 1;
        // Go's `setEventErr(ev.events&EPOLLERR != 0)`: every event sets or clears the bit.
        d.event_error = r.error;
        d.read_closed |= r.read_closed;
        let mut woken = 0;
        if r.readable || r.error || r.read_closed || r.urgent {
            woken += u64::from(Self::unblock(&mut d.read, true, &mut self.woken));
        }
        if r.writable || r.error {
            woken += u64::from(Self::unblock(&mut d.write, true, &mut self.woken));
        }
        woken
    }

    /// `Netpoll::poll(delay)`: fire due deadlines; wait no longer than `delay` (zero if that
    /// already woke someone) and no later than the next deadline; apply the queued events
    /// unless the wait fails; returns the waiters the loop woke.
    pub fn poll(&mut self, delay: Option<Duration>) -> Result<usize, Error<ScriptError>> {
        self.stats.polls += 1;
        self.asleep_until = None;
        let mut woken = self.fire_due();
        let timeout = if woken > 0 {
            Some(Duration::ZERO)
        } else {
            let until_next = self
                .next_deadline()
                .map(|t| Duration::from_nanos(t - self.now));
            match (delay, until_next) {
                (Some(d), Some(n)) => Some(d.min(n)),
                (d, n) => d.or(n),
            }
        };
        self.backend.waits += 1;
        self.backend.last_timeout = Some(timeout);
        self.backend.wake_pending = false;
        self.wake_requested = false;
        let failed = self.take_fail(Call::Wait);
        if !failed {
            while let Some((h, r)) = self.events.pop_front() {
                woken += self.apply_event(h, r);
            }
        }
        // Events change no deadline, so a second look at the timers finds nothing new.
        woken += self.fire_due();
        self.stats.wakeups += woken;
        if failed {
            return Err(Error::Backend(ScriptError::Injected));
        }
        Ok(woken as usize)
    }

    /// `Netpoll::poll_and_sleep(max)`: a `poll(Some(ZERO))` turn, then a promise to look again
    /// by the next deadline, or by `now + max` if that is earlier.
    pub fn poll_and_sleep(
        &mut self,
        max: Option<Duration>,
    ) -> Result<(usize, Option<u64>), Error<ScriptError>> {
        let woken = self.poll(Some(Duration::ZERO))?;
        let cap = max.map(|m| {
            self.now
                .saturating_add(u64::try_from(m.as_nanos()).unwrap_or(u64::MAX))
        });
        let target = match (self.next_deadline(), cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let promise = Self::promise(target);
        // A promise of "never" still leaves the loop asleep: any pending deadline is earlier.
        self.asleep_until = Some(promise.unwrap_or(PROMISE_NEVER));
        Ok((woken, promise))
    }

    /// Adopt the core's promise after `poll_and_sleep` (checked to be no later than the
    /// model's, see [`ModelBackend::last_timeout`]): which later setters must wake the loop
    /// depends on what it promised.
    pub fn adopt_promise(&mut self, promise: Option<u64>) {
        self.asleep_until = Some(promise.unwrap_or(PROMISE_NEVER));
    }

    /// The instant the loop can promise for `target`.
    ///
    /// The core keeps its promise in a word whose low bit is the "asleep" flag, so it can only
    /// promise even nanoseconds: an odd time is promised 1 ns late (harmless: the loop looks a
    /// nanosecond after the deadline, as a backend with a coarser timer would), and a time at
    /// or past `u64::MAX - 1` (584 years after the clock's epoch) reads as "never". The model
    /// encodes exactly that rather than accepting any late promise.
    pub fn promise(target: Option<u64>) -> Option<u64> {
        let even = target?.saturating_add(1) & !1;
        (even < PROMISE_NEVER).then_some(even)
    }

    /// After a deadline setter: if the loop sleeps past the descriptor's earliest pending
    /// deadline, wake it (through `Netpoll::wake`, so at most once until the next turn) and
    /// remember the earlier time.
    fn wake_if_sleeping_past(&mut self, slot: usize) {
        let Some(until) = self.asleep_until else {
            return;
        };
        let d = &self.descs[slot];
        let next = [&d.read, &d.write]
            .into_iter()
            .filter(|dir| !dir.expired)
            .filter_map(|dir| dir.deadline)
            .min();
        let Some(want) = Self::promise(next).or(next.map(|_| PROMISE_NEVER)) else {
            return;
        };
        if want < until {
            self.asleep_until = Some(want);
            // A failure cannot be reported to the setter; the core ignores it too.
            let _ = self.wake();
        }
    }

    /// `Netpoll::wake`: reaches the backend once until the next `poll`.
    pub fn wake(&mut self) -> Result<(), ScriptError> {
        if self.wake_requested {
            return Ok(());
        }
        if self.take_fail(Call::Wake) {
            return Err(ScriptError::Injected);
        }
        self.wake_requested = true;
        self.backend.wakes += 1;
        self.backend.wake_pending = true;
        Ok(())
    }

    /// Every parked waiter: `(slot, mode, waker)`, in slot order, reads first.
    pub fn parked(&self) -> Vec<(usize, Mode, WakerId)> {
        let mut out = Vec::new();
        for (slot, d) in self.descs.iter().enumerate() {
            for mode in [Mode::Read, Mode::Write] {
                if let Some(w) = d.dir(mode).parked {
                    out.push((slot, mode, w));
                }
            }
        }
        out
    }

    /// The model's own consistency: no lost wake-up inside the model. A parked waiter must
    /// be one that `poll_wait` would park again: its descriptor open, its deadline not
    /// expired, no edge stored, no event error on a read. Anything else means a state change
    /// forgot to wake it.
    pub fn invariants(&self) -> Result<(), String> {
        for (slot, d) in self.descs.iter().enumerate() {
            for mode in [Mode::Read, Mode::Write] {
                let dir = d.dir(mode);
                if dir.parked.is_none() {
                    if !dir.queued.is_empty() {
                        return Err(format!("slot {slot} {mode:?}: queued behind nobody"));
                    }
                    continue;
                }
                let h = ModelHandle {
                    slot,
                    generation: d.generation,
                };
                if let Err(e) = self.check(h, mode) {
                    return Err(format!(
                        "slot {slot} {mode:?}: parked waiter not woken ({e:?})"
                    ));
                }
                if dir.ready {
                    return Err(format!("slot {slot} {mode:?}: parked waiter with an edge"));
                }
            }
        }
        if self.queued_total() > self.descs.len() {
            return Err("more wakers queued than the table has nodes".into());
        }
        let open = self.descs.iter().filter(|d| d.open).count();
        if open + self.free.len() != self.descs.len() || open != self.stats.open as usize {
            return Err(format!(
                "{open} open + {} free != capacity",
                self.free.len()
            ));
        }
        Ok(())
    }
}
