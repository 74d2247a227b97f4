//! [`PollFd`]: a non-blocking socket registered with a runtime, and the two ways of waiting on
//! it (Go's `internal/poll.FD` plus `pollDesc`).
//!
//! Every operation follows Go's order: take the direction's lock (Go's `readLock` /
//! `writeLock`: concurrent readers, and writers, take turns), *prepare* (fail fast on a closed
//! socket or an expired deadline), try the syscall, and only on `EAGAIN` *arm* (oneshot
//! backends) and *wait*, then try again. The lock, the reference it carries and the waiting all
//! live in the core (`IoLock`); this module adds the syscalls.
//!
//! * **Blocking** operations park the calling thread, first while queued for the lock, then
//!   while waiting for readiness with the lock held, as Go's goroutines do.
//! * **Async** operations return `Pending`. A task queued for the lock is woken when it is
//!   released; a task that waits for readiness hands its lock to the waiter slot
//!   (`IoLock::park`), because a `poll_read` may never be polled again: the wake-up that
//!   takes its waker (an edge, a deadline, `close`) releases the lock for it, and the task
//!   takes the lock anew when it runs. So any number of tasks and threads may use one
//!   direction at once; each completes or fails with a timeout or "closed", and none is lost.
//!
//! ## Close from another thread, and descriptor reuse
//! [`close`](PollFd::close) may run while other threads are inside an operation. It closes the
//! descriptor in the core (which wakes every parked and queued waiter with an error, and keeps
//! the core's slot until the last operation has let go of it), deregisters it, and shuts the
//! socket down, but does **not** close the file descriptor: that happens when the owning socket
//! value is dropped, which cannot happen while an operation borrows it. So an operation racing
//! with `close` may still make one syscall, but always on *this* socket, never on an unrelated
//! one that reused the descriptor number. Whatever that syscall reports because of the
//! shutdown (an error, or end-of-file on a read), the operation reports "use of closed network
//! connection", as Go does for every operation that started or retried after `Close`.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use netpoll_core::{IoLock, Mode, PollDesc, PollError};

use crate::clock::StdClock;
use crate::error::{from_core, from_poll, NetError};
use crate::park;
use crate::runtime::{Runtime, Shared};
use crate::sys::{net as sysnet, AsSource, Selector, Source};
use crate::trace;

mod ready;

/// A direction lock of one of this crate's descriptors.
type Lock<'a> = IoLock<'a, Selector, StdClock, Box<[PollDesc]>>;

pub(crate) struct Inner<S: AsSource + 'static> {
    io: S,
    handle: netpoll_core::Handle,
    rt: Runtime,
    /// Shut the socket down on `close` (streams and listeners).
    shutdown_on_close: bool,
    /// A short stream read proves the receive queue was empty (TCP, see `read_stream_wait`).
    short_read_drains: bool,
    closed: AtomicBool,
    /// Whether an async wait in each direction is counted in `async_pending_now`.
    pending: [AtomicBool; 2],
    /// Per direction, touched under its lock: `DRAINED` once the direction is known not to be
    /// ready because a stream read returned fewer bytes than asked for (the receive queue was
    /// empty then, unless the backend marked a hang-up or urgent data), `WOULD_BLOCK` after a
    /// non-blocking attempt said so (conclusive), `DRAINED_ARMED` once the backend is armed
    /// for the wait that follows. Stream reads and the readiness
    /// waits use it to wait for an edge without a syscall (see `ready_wait`); every other
    /// operation in the direction clears it.
    drained: [AtomicU8; 2],
}

const DRAINED: u8 = 1;
const DRAINED_ARMED: u8 = 2;
const WOULD_BLOCK: u8 = 3;

/// A registered socket. Dropping it deregisters and closes the descriptor.
pub(crate) struct PollFd<S: AsSource + 'static> {
    inner: Arc<Inner<S>>,
}

fn idx(mode: Mode) -> usize {
    match mode {
        Mode::Read => 0,
        Mode::Write => 1,
    }
}

impl<S: AsSource + 'static> PollFd<S> {
    /// Register `io` (already non-blocking) with `rt`.
    pub(crate) fn new(io: S, rt: &Runtime, shutdown_on_close: bool) -> io::Result<PollFd<S>> {
        Self::with_reads(io, rt, shutdown_on_close, false)
    }

    /// Register a connected TCP stream: shut down on close, and short reads mean "drained"
    /// (a Unix stream's do not: a read stops early at a segment carrying `SCM_RIGHTS`).
    pub(crate) fn tcp_stream(io: S, rt: &Runtime) -> io::Result<PollFd<S>> {
        Self::with_reads(io, rt, true, true)
    }

    fn with_reads(
        io: S,
        rt: &Runtime,
        shutdown_on_close: bool,
        short_read_drains: bool,
    ) -> io::Result<PollFd<S>> {
        let handle = rt.shared().np.open(&io as &Source).map_err(from_core)?;
        trace::add(io.raw_source(), handle);
        Ok(PollFd {
            inner: Arc::new(Inner {
                io,
                handle,
                rt: rt.clone(),
                shutdown_on_close,
                short_read_drains,
                closed: AtomicBool::new(false),
                pending: [AtomicBool::new(false), AtomicBool::new(false)],
                drained: [AtomicU8::new(0), AtomicU8::new(0)],
            }),
        })
    }

    /// A second handle to the same registered socket (deadlines, locks and close shared); the
    /// descriptor is released when the last handle is dropped.
    pub(crate) fn share(&self) -> PollFd<S> {
        PollFd {
            inner: self.inner.clone(),
        }
    }

    /// Whether `self` and `other` are handles to the same registered socket.
    pub(crate) fn same_as(&self, other: &PollFd<S>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The wrapped `std` socket.
    pub(crate) fn io(&self) -> &S {
        &self.inner.io
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.inner.rt
    }

    pub(crate) fn closer(&self) -> Closer
    where
        S: Send + Sync + 'static,
    {
        let weak: Weak<dyn CloseDyn> = Arc::downgrade(&self.inner) as Weak<dyn CloseDyn>;
        Closer { inner: weak }
    }

    pub(crate) fn close(&self) -> io::Result<()> {
        self.inner.close()
    }

    /// `Ok` unless closed: what a zero-length read checks (Go returns at once for those: Linux
    /// would say `EAGAIN` for an empty `recv` and make it wait for data it cannot take).
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.is_closed() {
            return Err(NetError::Closed.into());
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    fn shared(&self) -> &Shared {
        self.inner.rt.shared()
    }

    /// Set the read, write or both deadlines (`None` clears).
    #[inline(always)]
    pub(crate) fn set_deadline(
        &self,
        which: Option<Mode>,
        at: Option<std::time::Instant>,
    ) -> io::Result<()> {
        let np = &self.shared().np;
        let at = np.clock().deadline(at);
        let h = self.inner.handle;
        match which {
            Some(Mode::Read) => np.set_read_deadline(h, at),
            Some(Mode::Write) => np.set_write_deadline(h, at),
            None => np.set_deadline(h, at),
        }
        .map_err(from_poll)
    }

    /// Set the read, write or both deadlines `d` from now (see `Clock::deadline_after`).
    #[inline(always)]
    pub(crate) fn set_deadline_after(
        &self,
        which: Option<Mode>,
        d: std::time::Duration,
    ) -> io::Result<()> {
        let np = &self.shared().np;
        let h = self.inner.handle;
        match which {
            Some(Mode::Read) => np.set_read_deadline_after(h, d),
            Some(Mode::Write) => np.set_write_deadline_after(h, d),
            None => np.set_deadline_after(h, d),
        }
        .map_err(from_poll)
    }

    #[cold]
    fn fail(&self, e: PollError, mode: Mode) -> io::Error {
        if e == PollError::Timeout {
            self.shared()
                .counters
                .timeouts_seen
                .fetch_add(1, Ordering::Relaxed);
            trace::deadline(self.inner.io.raw_source(), self.inner.handle, mode);
        }
        if e == PollError::EventError {
            if let Ok(Some(err)) = sysnet::take_error(self.inner.io.as_source()) {
                return err;
            }
        }
        from_poll(e)
    }

    /// What an operation reports for its syscall's error: "closed" if the socket was closed
    /// meanwhile (the error is then the shutdown's doing), the error itself otherwise.
    fn syscall_error(&self, e: io::Error) -> io::Error {
        if self.is_closed() {
            NetError::Closed.into()
        } else {
            e
        }
    }

    /// Go's `pollReset`: `Ok` to go ahead with the syscall, forgetting any readiness edge not
    /// yet consumed (the syscall sees whatever that edge announced). An event error does not
    /// stop a read: the syscall reports the precise error.
    #[inline(always)]
    fn prepare(&self, lock: &Lock<'_>, mode: Mode) -> io::Result<()> {
        self.see_passed_deadline(lock);
        match lock.prepare() {
            Ok(()) => Ok(()),
            Err(PollError::EventError) if mode == Mode::Read => {
                // Going ahead: forget the edge as `prepare` would have.
                lock.forget_edge();
                Ok(())
            }
            Err(e) => Err(self.fail(e, mode)),
        }
    }

    /// On an inline runtime's driver, check the direction's deadline against the clock before
    /// an attempt: the driver runs the loop only when it waits, and an operation that never
    /// waits would otherwise never see its deadline pass. Elsewhere the loop fires it.
    #[inline(always)]
    fn see_passed_deadline(&self, lock: &Lock<'_>) {
        if self.shared().may_drive_here() {
            lock.expire_if_passed();
        }
    }

    #[inline(always)]
    fn arm(&self, lock: &Lock<'_>, mode: Mode) -> io::Result<()> {
        if self.shared().arm_is_noop {
            // The wait that follows checks for a close or an expired deadline itself.
            return Ok(());
        }
        self.arm_backend(lock, mode)
    }

    /// Re-arm in a oneshot or level-triggered backend.
    #[inline(never)]
    fn arm_backend(&self, lock: &Lock<'_>, mode: Mode) -> io::Result<()> {
        lock.arm(&self.inner.io as &Source).map_err(|e| match e {
            netpoll_core::Error::Poll(p) => self.fail(p, mode),
            // A close that raced in after the core's check deregistered the socket (the
            // portable backend then says "not found"): report the close.
            netpoll_core::Error::Backend(_) if self.is_closed() => NetError::Closed.into(),
            netpoll_core::Error::Backend(b) => b,
        })
    }

    /// Take `mode`'s lock, parking this thread while another operation holds it.
    fn lock_blocking(&self, mode: Mode) -> io::Result<Lock<'_>> {
        let np = &self.shared().np;
        let h = self.inner.handle;
        park::block_on(self.shared(), |cx| np.poll_lock(h, mode, cx))
            .map_err(|e| self.fail(e, mode))
    }

    /// Wait for readiness with the lock held, parking this thread.
    fn wait_blocking(&self, lock: &mut Lock<'_>, mode: Mode) -> io::Result<()> {
        park::block_on(self.shared(), |cx| lock.poll_wait(cx)).map_err(|e| self.fail(e, mode))
    }

    /// Run `op` until it does not say "would block", parking this thread in between.
    pub(crate) fn blocking<T>(
        &self,
        mode: Mode,
        mut op: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut lock = self.lock_blocking(mode)?;
        self.blocking_locked(&mut lock, mode, &mut op)
    }

    fn blocking_locked<T>(
        &self,
        lock: &mut Lock<'_>,
        mode: Mode,
        op: &mut impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        self.undrain(mode);
        loop {
            self.prepare(lock, mode)?;
            match op(&self.inner.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r.map_err(|e| self.syscall_error(e)),
            }
            self.arm(lock, mode)?;
            self.wait_blocking(lock, mode)?;
        }
    }

    /// The async form of [`blocking`](Self::blocking): `Pending` when `op` would block (or
    /// another operation holds the lock) and the task's waker is registered.
    #[inline]
    pub(crate) fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        mode: Mode,
        op: impl FnMut(&S) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        self.unpend(mode);
        let mut lock = match self.shared().np.poll_lock(self.inner.handle, mode, cx) {
            Poll::Ready(Ok(lock)) => lock,
            other => return self.not_locked(other, mode),
        };
        self.undrain(mode);
        self.poll_locked(cx, &mut lock, mode, op)
    }

    /// `poll_lock` did not give the lock: the error, or `Pending` (counted).
    #[cold]
    fn not_locked<T>(
        &self,
        r: Poll<Result<Lock<'_>, PollError>>,
        mode: Mode,
    ) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail(e, mode))),
            _ => {
                self.count_pending(mode);
                Poll::Pending
            }
        }
    }

    #[inline]
    fn poll_locked<T>(
        &self,
        cx: &mut Context<'_>,
        lock: &mut Lock<'_>,
        mode: Mode,
        mut op: impl FnMut(&S) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            if let Err(e) = self.prepare(lock, mode) {
                return Poll::Ready(Err(e));
            }
            match op(&self.inner.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return Poll::Ready(r.map_err(|e| self.syscall_error(e))),
            }
            if let Err(e) = self.arm(lock, mode) {
                return Poll::Ready(Err(e));
            }
            match lock.park(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e, mode))),
                Poll::Pending => {
                    self.count_pending(mode);
                    return Poll::Pending;
                }
            }
        }
    }

    fn unpend(&self, mode: Mode) {
        self.inner.unpend(mode);
    }

    fn undrain(&self, mode: Mode) {
        let d = &self.inner.drained[idx(mode)];
        if d.load(Ordering::Relaxed) != 0 {
            d.store(0, Ordering::Relaxed);
        }
    }

    /// Whether the read after a short one must not be skipped: the backend reported that the
    /// peer will send nothing more (the end-of-file is waiting, and no further edge will
    /// come), or that urgent data arrived (a TCP read stops short at the urgent mark, with
    /// data still queued behind it).
    fn short_read_inconclusive(lock: &Lock<'_>) -> bool {
        lock.read_closed() || lock.urgent()
    }

    /// After a short stream read, the next read would almost surely say `EAGAIN`: skip that
    /// syscall and wait for a readiness edge first (tokio does the same).
    ///
    /// Why no data and no end-of-file can be lost: the short read forgot only the edges
    /// harvested before it (`prepare`), whose data it returned, and (TCP only) a short read
    /// means the receive queue was empty: the kernel stops a read early only when it runs out
    /// of queued data or at the urgent mark, and urgent data brings an `EPOLLPRI` edge that the
    /// core keeps as a sticky mark, after which nothing is skipped. Data that arrives later is
    /// a new wake-up in the kernel, so a new edge: stored already (then the read goes ahead,
    /// and its `prepare` forgets the edge) or waited for. An end-of-file that came with the
    /// returned data brings no further edge, but the backend marked it (the core's sticky
    /// `read_closed`), and then the read is not skipped. Unix streams never skip: a read stops early at a segment carrying `SCM_RIGHTS`
    /// with more data queued and no edge to come. Tokio keeps "read closed" apart from
    /// "readable" for the same reason.
    ///
    /// The drained state is the socket's, kept under the read lock: a reader that finds it
    /// set after another reader's short read waits for an edge too, which is right, the
    /// queue was empty when that read returned.
    fn read_stream_wait(&self, cx: &mut Context<'_>, lock: &mut Lock<'_>) -> Poll<io::Result<()>> {
        self.ready_wait(cx, lock, Mode::Read)
    }

    /// If `mode` is known not to be ready (`drained`), wait for an edge (arming the backend
    /// first); otherwise `Ready(Ok)` at once. Reads do not wait when the edge that would end
    /// the wait may never come (`short_read_inconclusive`). An edge already stored ends the
    /// wait before it starts: the attempt that follows forgets it (`prepare`), as a wait that
    /// consumed it would have, so the common wake-up (the edge came, the task runs) costs a
    /// load here, not a wait.
    #[inline(always)]
    fn ready_wait(
        &self,
        cx: &mut Context<'_>,
        lock: &mut Lock<'_>,
        mode: Mode,
    ) -> Poll<io::Result<()>> {
        let drained = &self.inner.drained[idx(mode)];
        let state = drained.load(Ordering::Relaxed);
        if state == 0 {
            return Poll::Ready(Ok(()));
        }
        if lock.edge_stored() {
            drained.store(0, Ordering::Relaxed);
            return Poll::Ready(Ok(()));
        }
        self.ready_wait_park(cx, lock, mode, state)
    }

    /// [`ready_wait`](Self::ready_wait) with no edge stored: arm and park.
    #[inline(never)]
    fn ready_wait_park(
        &self,
        cx: &mut Context<'_>,
        lock: &mut Lock<'_>,
        mode: Mode,
        state: u8,
    ) -> Poll<io::Result<()>> {
        let drained = &self.inner.drained[idx(mode)];
        if state != DRAINED_ARMED {
            // Checked once per drained read, before its first wait: a hang-up or urgent data
            // reported after this comes with a READY edge of its own, which the wait below
            // consumes. A "would block" needs no such check: the syscall saw the queue.
            if state == DRAINED && Self::short_read_inconclusive(lock) {
                drained.store(0, Ordering::Relaxed);
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = self.arm(lock, mode) {
                drained.store(0, Ordering::Relaxed);
                return Poll::Ready(Err(e));
            }
            drained.store(DRAINED_ARMED, Ordering::Relaxed);
        }
        match lock.park(cx) {
            Poll::Ready(r) => {
                drained.store(0, Ordering::Relaxed);
                Poll::Ready(r.map_err(|e| self.fail(e, mode)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The blocking form of [`ready_wait`](Self::ready_wait).
    fn ready_wait_blocking(&self, lock: &mut Lock<'_>, mode: Mode) -> io::Result<()> {
        let drained = &self.inner.drained[idx(mode)];
        let state = drained.load(Ordering::Relaxed);
        if state == 0
            || lock.edge_stored()
            || (state == DRAINED && Self::short_read_inconclusive(lock))
        {
            drained.store(0, Ordering::Relaxed);
            return Ok(());
        }
        drained.store(0, Ordering::Relaxed);
        if state != DRAINED_ARMED {
            self.arm(lock, mode)?;
        }
        self.wait_blocking(lock, mode)
    }

    fn note_read(&self, r: io::Result<usize>, cap: usize) -> io::Result<usize> {
        match r {
            Ok(n) if n > 0 && n < cap && self.inner.short_read_drains => {
                self.inner.drained[0].store(DRAINED, Ordering::Relaxed);
                Ok(n)
            }
            // End-of-file because our own close shut the socket down: "closed", as in Go.
            Ok(0) if self.is_closed() => Err(NetError::Closed.into()),
            r => r,
        }
    }

    /// A stream read of at most `cap` bytes (async): [`poll_io`](Self::poll_io), but after
    /// a short read the next one waits for an edge before its syscall.
    #[inline]
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        cap: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.unpend(Mode::Read);
        let mut lock = match self
            .shared()
            .np
            .poll_lock(self.inner.handle, Mode::Read, cx)
        {
            Poll::Ready(Ok(lock)) => lock,
            other => return self.not_locked(other, Mode::Read),
        };
        if self.inner.drained[0].load(Ordering::Relaxed) != 0 {
            match self.read_stream_wait(cx, &mut lock) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.count_pending(Mode::Read);
                    return Poll::Pending;
                }
            }
        }
        match self.poll_locked(cx, &mut lock, Mode::Read, op) {
            Poll::Ready(r) => Poll::Ready(self.note_read(r, cap)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A stream read of at most `cap` bytes (blocking): as
    /// [`poll_read_stream`](Self::poll_read_stream), parking the thread.
    pub(crate) fn blocking_read_stream(
        &self,
        cap: usize,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut lock = self.lock_blocking(Mode::Read)?;
        if self.inner.drained[0].load(Ordering::Relaxed) != 0 {
            self.ready_wait_blocking(&mut lock, Mode::Read)?;
        }
        let r = self.blocking_locked(&mut lock, Mode::Read, &mut op);
        self.note_read(r, cap)
    }

    fn count_pending(&self, mode: Mode) {
        let c = &self.shared().counters;
        c.async_parks.fetch_add(1, Ordering::Relaxed);
        // Plain load first: the locked swap only when the flag changes.
        let flag = &self.inner.pending[idx(mode)];
        if !flag.load(Ordering::Relaxed) && !flag.swap(true, Ordering::Relaxed) {
            c.async_pending_now.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<S: AsSource + 'static> Inner<S> {
    fn unpend(&self, mode: Mode) {
        // Plain load first: the locked swap only when there is something to undo.
        let flag = &self.pending[idx(mode)];
        if flag.load(Ordering::Relaxed) && flag.swap(false, Ordering::Relaxed) {
            self.rt
                .shared()
                .counters
                .async_pending_now
                .fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn close(&self) -> io::Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(NetError::Closed.into());
        }
        let r = self.rt.shared().np.close(self.handle, &self.io as &Source);
        trace::close(self.io.raw_source(), self.handle);
        if self.shutdown_on_close {
            sysnet::shutdown(self.io.as_source());
        }
        self.unpend(Mode::Read);
        self.unpend(Mode::Write);
        r.map_err(from_core)
    }
}

impl<S: AsSource + 'static> Drop for Inner<S> {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            self.closed.store(true, Ordering::Release);
            let _ = self.rt.shared().np.close(self.handle, &self.io as &Source);
            trace::close(self.io.raw_source(), self.handle);
            self.unpend(Mode::Read);
            self.unpend(Mode::Write);
        }
        // `io` is dropped after this: the descriptor closes only now, when nothing can be
        // inside an operation on it.
    }
}

trait CloseDyn: Send + Sync {
    fn close_dyn(&self) -> io::Result<()>;
}

impl<S: AsSource + Send + Sync + 'static> CloseDyn for Inner<S> {
    fn close_dyn(&self) -> io::Result<()> {
        self.close()
    }
}

/// Closes a socket from anywhere (another thread, a shutdown routine) without owning it,
/// like calling Go's `Close` on a shared `net.Conn`: blocked readers and writers wake with
/// "use of closed network connection". Does not keep the socket alive.
#[derive(Clone)]
pub struct Closer {
    inner: Weak<dyn CloseDyn>,
}

impl Closer {
    /// Close the socket. An error if it was already closed (or dropped).
    pub fn close(&self) -> io::Result<()> {
        match self.inner.upgrade() {
            Some(inner) => inner.close_dyn(),
            None => Err(NetError::Closed.into()),
        }
    }
}

impl std::fmt::Debug for Closer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closer")
            .field("alive", &(self.inner.strong_count() > 0))
            .finish()
    }
}
