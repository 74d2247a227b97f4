//! Operations on one direction of a descriptor: the direction lock ([`IoLock`], Go's
//! `readLock`/`writeLock`), and the waits, prepares and re-arms done while holding it.
//!
//! A front-end does what Go's `internal/poll` does for every read or write:
//!
//! ```text
//! lock = poll_lock(h, mode)        // readLock: queue behind the operation in progress
//! loop {
//!     lock.prepare()?              // pollReset: fail fast on close or an expired deadline
//!     match syscall() { would block => {}, result => return result }   // unlock on drop
//!     lock.arm(source)?            // oneshot backends only
//!     lock.poll_wait(cx)? / lock.park(cx)?   // waitRead: blocking keeps the lock,
//! }                                          // async hands it to the slot
//! ```
//!
//! The plain [`Netpoll::poll_wait`] does the lock and the wait in one call, for callers that
//! only need "wake me when this direction may make progress".

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::{closed_error, Netpoll};
use crate::desc::{check, check_flags, info_generation};
use crate::lifecycle::{self, Refused};
use crate::{Clock, Error, Handle, Mode, PollDesc, PollError, Poller, RawLock, SpinLock};

/// The lock of one direction of a descriptor, and a reference to it (Go's `readLock` /
/// `writeLock`): while it is held, no other operation in that direction runs and the
/// descriptor's slot is not reused. Dropping it unlocks and wakes the operations queued
/// behind it.
///
/// Get one with [`Netpoll::poll_lock`] or [`Netpoll::try_lock`].
#[must_use = "the lock is released when dropped"]
pub struct IoLock<'a, P, C, S, L = SpinLock>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    np: &'a Netpoll<P, C, S, L>,
    d: &'a PollDesc<L>,
    h: Handle,
    mode: Mode,
    /// [`park`](IoLock::park) handed the lock to the waiter slot: dropping must not unlock.
    handed_over: bool,
}

impl<P, C, S, L> Netpoll<P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    /// Take `mode`'s lock of `h` if no other operation holds it: `Ok(None)` if one does
    /// (nothing is queued).
    #[inline]
    pub fn try_lock(
        &self,
        h: Handle,
        mode: Mode,
    ) -> Result<Option<IoLock<'_, P, C, S, L>>, PollError> {
        let d = self.desc(h)?;
        match lifecycle::try_lock(&d.life, mode) {
            Ok(true) => self.locked(d, h, mode).map(Some),
            Ok(false) => Ok(None),
            Err(e) => Err(refused(d, h, e)),
        }
    }

    /// Take `mode`'s lock of `h` (Go's `readLock`/`writeLock`). If another operation holds
    /// it, the task's waker is queued and woken when the lock is released (or the descriptor
    /// closed), and the result is `Pending`. Fails with [`PollError::Closing`] once `h` is
    /// closed (or [`PollError::StaleHandle`] once its slot is reused).
    #[inline]
    pub fn poll_lock(
        &self,
        h: Handle,
        mode: Mode,
        cx: &mut Context<'_>,
    ) -> Poll<Result<IoLock<'_, P, C, S, L>, PollError>> {
        // The common case inline: a free lock on a current handle.
        if let Ok(d) = self.desc(h) {
            if lifecycle::try_lock(&d.life, mode) == Ok(true) {
                return Poll::Ready(self.locked(d, h, mode));
            }
        }
        self.poll_lock_slow(h, mode, cx)
    }

    #[cold]
    #[inline(never)]
    fn poll_lock_slow(
        &self,
        h: Handle,
        mode: Mode,
        cx: &mut Context<'_>,
    ) -> Poll<Result<IoLock<'_, P, C, S, L>, PollError>> {
        let d = match self.desc(h) {
            Ok(d) => d,
            Err(e) => return Poll::Ready(Err(e)),
        };
        loop {
            match lifecycle::try_lock(&d.life, mode) {
                Ok(true) => return Poll::Ready(self.locked(d, h, mode)),
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(refused(d, h, e))),
            }
            // Busy. A handle of an older incarnation must not queue behind the new one.
            if info_generation(d.load_info()) != h.generation() {
                return Poll::Ready(Err(PollError::StaleHandle));
            }
            let descs = self.descs();
            if !self
                .free
                .with(|f| f.table.push(descs, h.index(), mode, cx.waker()))
            {
                // The waiter table is full: ask to be polled again (see lifecycle.rs).
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let err = match lifecycle::mark_queued(&d.life, mode) {
                // Queued: on `h`'s incarnation unless the slot was closed and reopened since
                // the check above (then the waker went into the new descriptor's queue and
                // would wait for its unlock: take it back and report the stale handle).
                Ok(true) if info_generation(d.load_info()) == h.generation() => {
                    return Poll::Pending
                }
                Ok(true) => Some(PollError::StaleHandle),
                // Released meanwhile: try again.
                Ok(false) => None,
                Err(e) => Some(refused(d, h, e)),
            };
            // Not queued after all: take the waker back unless a wake-up took it already.
            drop(
                self.free
                    .with(|f| f.table.remove(descs, h.index(), mode, cx.waker())),
            );
            if let Some(e) = err {
                return Poll::Ready(Err(e));
            }
        }
    }

    /// The lock was taken on `d`: make sure it is `h`'s incarnation (stable now that a
    /// reference is held), or give it back.
    #[inline]
    fn locked<'a>(
        &'a self,
        d: &'a PollDesc<L>,
        h: Handle,
        mode: Mode,
    ) -> Result<IoLock<'a, P, C, S, L>, PollError> {
        if info_generation(d.load_info()) != h.generation() {
            self.unlock(d, h.index(), mode);
            return Err(PollError::StaleHandle);
        }
        Ok(IoLock {
            np: self,
            d,
            h,
            mode,
            handed_over: false,
        })
    }

    /// Get ready for an I/O attempt in `mode` outside any lock (Go's `pollReset`): fail fast
    /// if the descriptor is closing or the deadline has expired, even if data is ready, and
    /// forget any readiness edge not yet consumed. Front-ends that serialise their operations
    /// use [`IoLock::prepare`] instead.
    pub fn prepare(&self, h: Handle, mode: Mode) -> Result<(), PollError> {
        let d = self.incref(h)?;
        let r = check(d.load_info(), h.generation(), mode);
        if r.is_ok() {
            d.slot(mode).reset();
        }
        self.decref(h.index());
        r
    }

    /// Whether an event has reported that the peer of `h` will send nothing more
    /// ([`Readiness::read_closed`](crate::Readiness::read_closed)): sticky until `h` is
    /// closed. A front-end that skips the read syscall after a short read (the socket is then
    /// assumed drained) must not skip it when this is set: the end-of-file is there to be
    /// read, and no further edge will come.
    /// A closed handle gives [`PollError::Closing`] (or `StaleHandle` once the slot is reused).
    pub fn read_closed(&self, h: Handle) -> Result<bool, PollError> {
        let d = self.incref(h)?;
        let closing = d.load_info() & crate::desc::CLOSING != 0;
        let hup = d.read.hung_up();
        self.decref(h.index());
        if closing {
            return Err(PollError::Closing);
        }
        Ok(hup)
    }

    /// Re-arm `mode` in the backend before waiting (Go's `netpollarm`). Only oneshot or
    /// level-triggered backends need it; call it after the I/O said "would block" and before
    /// the first [`poll_wait`](Self::poll_wait). Front-ends holding the lock use
    /// [`IoLock::arm`].
    pub fn arm(&self, h: Handle, mode: Mode, source: &P::Source) -> Result<(), Error<P::Error>> {
        let d = self.incref(h)?;
        let r = match check(d.load_info(), h.generation(), mode) {
            Ok(()) => self
                .poller
                .arm(source, h.token(), mode)
                .map_err(Error::Backend),
            Err(e) => Err(Error::Poll(e)),
        };
        self.decref(h.index());
        r
    }

    /// Wait until `mode` may make progress (Go's `pollWait`): `Ready(Ok(()))` means "retry the
    /// I/O" (a readiness edge arrived, or was already stored); `Ready(Err(_))` gives the reason
    /// the I/O must fail now; `Pending` means the task's waker will be woken.
    ///
    /// Any number of tasks and threads may wait on one direction: they take turns on the
    /// direction's lock, and the one waiting holds it until it is woken (see
    /// [`IoLock::park`]). A readiness edge is consumed by one of them; the others go on
    /// waiting, so callers that share a direction should do their I/O under the lock
    /// ([`poll_lock`](Self::poll_lock)), which lets the next waiter try its I/O after them.
    /// Re-polling the same wait (with the same or a new waker) is fine.
    #[inline]
    pub fn poll_wait(
        &self,
        h: Handle,
        mode: Mode,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), PollError>> {
        self.poll_wait_parked(h, mode, cx).0
    }

    /// [`poll_wait`](Self::poll_wait), also saying whether a `Pending` parked the waker in
    /// the slot (rather than queuing it for the lock).
    fn poll_wait_parked(
        &self,
        h: Handle,
        mode: Mode,
        cx: &mut Context<'_>,
    ) -> (Poll<Result<(), PollError>>, bool) {
        let mut lock = match self.poll_lock(h, mode, cx) {
            Poll::Ready(Ok(lock)) => lock,
            Poll::Ready(Err(e)) => return (Poll::Ready(Err(e)), false),
            Poll::Pending => return (Poll::Pending, false),
        };
        match lock.park(cx) {
            Poll::Ready(r) => (Poll::Ready(r), false),
            Poll::Pending => (Poll::Pending, true),
        }
    }

    /// [`poll_wait`](Self::poll_wait) as a future.
    pub fn wait(&self, h: Handle, mode: Mode) -> Wait<'_, P, C, S, L> {
        Wait {
            netpoll: self,
            handle: h,
            mode,
            parked: None,
        }
    }

    /// Take back the waker a cancelled wait parked in `h`'s `mode` slot (the [`Wait`] future
    /// does this on drop), releasing the lock it held. `waker` is the cancelled wait's: if the
    /// waker found there is another one (the wait had been woken and someone else has parked
    /// since), that one is woken instead of dropped, so nobody is lost.
    pub fn cancel_wait(&self, h: Handle, mode: Mode, waker: &Waker) {
        let Ok(d) = self.incref(h) else { return };
        let taken = d.slot(mode).clear_parked();
        if taken.owned_lock {
            self.unlock(d, h.index(), mode);
        }
        self.decref(h.index());
        match taken.waker {
            Some(w) if !w.will_wake(waker) => w.wake(),
            other => drop(other),
        }
    }
}

fn refused<L: RawLock>(d: &PollDesc<L>, h: Handle, e: Refused) -> PollError {
    match e {
        Refused::Closed => closed_error(d, h),
        Refused::Overflow => PollError::TooManyOperations,
    }
}

impl<'a, P, C, S, L> IoLock<'a, P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    /// The descriptor.
    pub fn handle(&self) -> Handle {
        self.h
    }

    /// The direction this lock serialises.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether an I/O attempt may go ahead: fails if the descriptor is closing, the deadline
    /// for this direction has expired or (reads only) the backend reported an error. Keeps a
    /// stored readiness edge.
    #[inline]
    pub fn check(&self) -> Result<(), PollError> {
        // The generation was checked when the lock (and its reference) was taken.
        check_flags(self.d.load_info(), self.mode)
    }

    /// Get ready for an I/O attempt (Go's `pollReset`): [`check`](Self::check), then forget
    /// any readiness edge not yet consumed (the attempt sees what it announced).
    #[inline]
    pub fn prepare(&self) -> Result<(), PollError> {
        self.check()?;
        self.d.slot(self.mode).reset();
        Ok(())
    }

    /// Forget a stored readiness edge without the checks of [`prepare`](Self::prepare): for a
    /// front-end that attempts its I/O although `prepare` failed (a read after an event error,
    /// whose syscall reports the precise error), so that the attempt sees what the edge
    /// announced as after `prepare`.
    #[inline]
    pub fn forget_edge(&self) {
        self.d.slot(self.mode).reset();
    }

    /// Expire this direction's deadline now if the clock says it has passed, as the loop's
    /// timer would at its next turn (waking any waiter of the direction); the next
    /// [`check`](Self::check) then fails with [`PollError::Timeout`].
    ///
    /// For a caller that runs the loop itself and may make many operations between two turns
    /// of it: an inline runtime's driver whose calls never wait (UDP sends, reads of a socket
    /// that always has data) never runs the loop, so without this it would never see its
    /// deadline pass (Go's timers fire on any thread). Elsewhere the loop fires the deadline
    /// on time and this is not needed. Cost: one relaxed load when this direction has no
    /// deadline; otherwise a clock read as well, and the descriptor lock only when the
    /// deadline's lower bound (16.8 ms units) has passed: the deadline is near or past, or it
    /// was moved later since the bound was written (the lock is then taken once more, to bring
    /// the bound up). An expired direction pays the clock read and the out-of-line look too;
    /// the operation then fails anyway.
    #[inline(always)]
    pub fn expire_if_passed(&self) {
        // No deadline on this direction (the common case for writes), or certainly ahead: no
        // lock taken.
        let Some(bound) = self.d.deadline_lower_bound(self.mode) else {
            return;
        };
        if !self
            .np
            .clock()
            .has_passed(crate::Instant::from_nanos(bound))
        {
            return;
        }
        self.expire_if_passed_slow();
    }

    /// This direction's deadline is near or past: look at it under the lock, unless it has
    /// expired already.
    #[cold]
    #[inline(never)]
    fn expire_if_passed_slow(&self) {
        let bit = crate::desc::expired_bit(self.mode);
        if self.d.load_info() & bit != 0 {
            return;
        }
        let deadline = |dl: &mut crate::desc::Deadlines| match self.mode {
            Mode::Read => dl.read,
            Mode::Write => dl.write,
        };
        let at = self.d.deadlines.with(|dl| deadline(dl));
        if at == crate::desc::NEVER {
            return;
        }
        if self.np.clock().has_passed(crate::Instant::from_nanos(at)) {
            self.np.expire_passed(self.d, self.h, bit, at);
            return;
        }
        // Not yet: the deadline was moved later since its hint was written. Bring the hint up
        // to it (unless it changed again meanwhile), or every operation would come here until
        // it passes. Not when the hint cannot rise (near or past its saturation, 2.28 years
        // after the clock's epoch): the lock would buy nothing.
        if self.d.hint_lags(self.mode, at) {
            self.d.deadlines.with(|dl| {
                if deadline(dl) == at {
                    self.d.refresh_hint(self.mode, at);
                }
            });
        }
    }

    /// Whether a readiness edge is stored that no wait has consumed: a wait would return at
    /// once. A front-end that would wait only to consume that edge, and then try its I/O,
    /// can skip the wait and try at once; [`prepare`](Self::prepare) (or, where the front-end
    /// goes ahead despite an error that `prepare` reports, [`forget_edge`](Self::forget_edge))
    /// forgets the edge.
    #[inline]
    pub fn edge_stored(&self) -> bool {
        self.d.slot(self.mode).edge_stored()
    }

    /// Whether an event reported that the peer will send nothing more (see
    /// [`Netpoll::read_closed`]).
    #[inline]
    pub fn read_closed(&self) -> bool {
        self.d.read.hung_up()
    }

    /// Whether an event reported urgent data on this descriptor
    /// ([`Readiness::urgent`](crate::Readiness::urgent)): sticky until it is closed. A
    /// front-end that skips the read syscall after a short read must not skip it when this is
    /// set.
    #[inline]
    pub fn urgent(&self) -> bool {
        self.d.read.urgent()
    }

    /// Re-arm this direction in the backend before waiting (Go's `netpollarm`); a no-op on
    /// edge-triggered backends.
    pub fn arm(&self, source: &P::Source) -> Result<(), Error<P::Error>> {
        self.check()?;
        self.np
            .poller
            .arm(source, self.h.token(), self.mode)
            .map_err(Error::Backend)
    }

    /// Wait for readiness while keeping the lock (a blocking caller, or a future that unlocks
    /// in its `Drop`): `Ready(Ok(()))` means "retry the I/O". Re-poll after `Pending` (with the
    /// same or a new waker) until it is `Ready`.
    #[inline]
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PollError>> {
        let (d, mode) = (self.d, self.mode);
        d.slot(mode)
            .poll_wait::<false>(cx, || check_flags(d.load_info(), mode))
    }

    /// Wait for readiness, handing the lock to the waiter slot if the wait parks: for a
    /// `poll_*` caller that may never be polled again (an async read whose future was
    /// dropped). `Ready(Ok(()))`: the lock is still held, retry the I/O. `Pending`: the lock
    /// now belongs to the parked waker, and whoever wakes it (an edge, a deadline, `close`) or
    /// [`Netpoll::cancel_wait`] releases it; drop this value (which then does not unlock) and
    /// take the lock anew when the task is polled again, possibly after another operation.
    #[inline]
    pub fn park(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PollError>> {
        debug_assert!(!self.handed_over, "park after the lock was handed over");
        let (d, mode) = (self.d, self.mode);
        let r = d
            .slot(mode)
            .poll_wait::<true>(cx, || check_flags(d.load_info(), mode));
        // After `Pending` the slot owns the lock: the wake-up's taker unlocks, not us.
        self.handed_over = r.is_pending();
        r
    }
}

impl<P, C, S, L> Drop for IoLock<'_, P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    /// Unlock. A holder that gave up on a [`poll_wait`](Self::poll_wait) after `Pending` may
    /// leave its waker parked: harmless, the next holder's wait replaces it (a re-poll of the
    /// slot), and an unblock meanwhile only wakes it spuriously.
    #[inline]
    fn drop(&mut self) {
        if !self.handed_over {
            self.np.unlock(self.d, self.h.index(), self.mode);
        }
    }
}

impl<P, C, S, L> core::fmt::Debug for IoLock<'_, P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoLock")
            .field("handle", &self.h)
            .field("mode", &self.mode)
            .finish()
    }
}

/// A future that resolves when a [`Netpoll::poll_wait`] would return `Ready`.
///
/// Dropping it before completion takes back its parked waker and the lock that came with it.
#[must_use = "futures do nothing unless polled"]
pub struct Wait<'a, P, C, S, L = SpinLock>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    netpoll: &'a Netpoll<P, C, S, L>,
    handle: Handle,
    mode: Mode,
    /// The waker this wait parked in the slot, while it may still be there.
    parked: Option<Waker>,
}

impl<P, C, S, L> Future for Wait<'_, P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    type Output = Result<(), PollError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (r, parked) = this.netpoll.poll_wait_parked(this.handle, this.mode, cx);
        match (&r, parked) {
            (Poll::Pending, true) => this.parked = Some(cx.waker().clone()),
            // Queued for the lock: an earlier park (if any) may still hold it.
            (Poll::Pending, false) => {}
            (Poll::Ready(_), _) => this.parked = None,
        }
        r
    }
}

impl<P, C, S, L> Drop for Wait<'_, P, C, S, L>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    fn drop(&mut self) {
        if let Some(w) = self.parked.take() {
            self.netpoll.cancel_wait(self.handle, self.mode, &w);
        }
    }
}
