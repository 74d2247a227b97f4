//! [`PollFd`]: a non-blocking socket registered with a runtime, and the two ways of waiting on
//! it (Go's `internal/poll.FD` plus `pollDesc`).
//!
//! Every operation follows Go's order: *prepare* (fail fast on a closed socket or an expired
//! deadline), try the syscall, and only on `EAGAIN` *arm* (oneshot backends) and *wait*, then
//! try again. The blocking form parks the calling thread; the async form returns `Pending` and
//! lets the poller thread wake the task.
//!
//! ## Close from another thread, and descriptor reuse
//! [`close`](PollFd::close) may run while other threads are inside an operation. It marks the
//! descriptor closing in the core (which wakes both waiters with an error), deregisters it,
//! and shuts the socket down, but does **not** close the file descriptor: that happens when the
//! owning socket value is dropped, which cannot happen while an operation borrows it. So an
//! operation racing with `close` may still make one syscall, but always on *this* socket,
//! never on an unrelated one that reused the descriptor number; the syscall then fails, sees
//! EOF, or says `EAGAIN`, and the following wait reports "use of closed network connection".
//!
//! ## One waiter per direction
//! Blocking operations take a per-direction lock (Go's `fdMutex` read/write locks), so two
//! threads reading one socket take turns instead of tripping the core's "double wait". Async
//! operations take no lock: through `&mut TcpStream` there can be only one; through
//! `&TcpStream` (a split) the caller must keep one owner per direction. Two async readers,
//! or an async reader next to a blocking one, are memory-safe but only the one that polled or
//! parked last is woken: the other waits for its deadline or the close (tokio's
//! `poll_read_ready` has the same rule).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};

use netpoll_core::{Handle, Mode, PollError};

use crate::error::{from_core, from_poll, NetError};
use crate::park;
use crate::runtime::{Runtime, Shared};
use crate::sys::net as sysnet;
use crate::trace;

pub(crate) struct Inner<S: AsFd + 'static> {
    io: S,
    handle: Handle,
    rt: Runtime,
    /// Shut the socket down on `close` (streams and listeners).
    shutdown_on_close: bool,
    closed: AtomicBool,
    read_lock: Mutex<()>,
    write_lock: Mutex<()>,
    /// Whether an async wait in each direction is counted in `async_pending_now`.
    pending: [AtomicBool; 2],
    /// Stream reads only: `DRAINED` after a read that returned fewer bytes than asked for
    /// (the receive queue was empty then), `DRAINED_ARMED` once the backend is armed for the
    /// wait that follows. Any other read-side operation clears it (see `read_stream`).
    drained: AtomicU8,
}

const DRAINED: u8 = 1;
const DRAINED_ARMED: u8 = 2;

/// A registered socket. Dropping it deregisters and closes the descriptor.
pub(crate) struct PollFd<S: AsFd + 'static> {
    inner: Arc<Inner<S>>,
}

fn idx(mode: Mode) -> usize {
    match mode {
        Mode::Read => 0,
        Mode::Write => 1,
    }
}

impl<S: AsFd + 'static> PollFd<S> {
    /// Register `io` (already non-blocking) with `rt`.
    pub(crate) fn new(io: S, rt: &Runtime, shutdown_on_close: bool) -> io::Result<PollFd<S>> {
        let handle = rt.shared().np.open(&io as &dyn AsFd).map_err(from_core)?;
        trace::add(io.as_fd().as_raw_fd(), handle);
        Ok(PollFd {
            inner: Arc::new(Inner {
                io,
                handle,
                rt: rt.clone(),
                shutdown_on_close,
                closed: AtomicBool::new(false),
                read_lock: Mutex::new(()),
                write_lock: Mutex::new(()),
                pending: [AtomicBool::new(false), AtomicBool::new(false)],
                drained: AtomicU8::new(0),
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
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(NetError::Closed.into());
        }
        Ok(())
    }

    fn shared(&self) -> &Shared {
        self.inner.rt.shared()
    }

    /// Set the read, write or both deadlines (`None` clears).
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

    fn fail(&self, e: PollError, mode: Mode) -> io::Error {
        if e == PollError::Timeout {
            self.shared()
                .counters
                .timeouts_seen
                .fetch_add(1, Ordering::Relaxed);
            trace::deadline(self.inner.io.as_fd().as_raw_fd(), self.inner.handle, mode);
        }
        if e == PollError::EventError {
            if let Ok(Some(err)) = sysnet::take_error(self.inner.io.as_fd()) {
                return err;
            }
        }
        from_poll(e)
    }

    /// Go's `pollReset`: `Ok` to go ahead with the syscall, forgetting any readiness edge not
    /// yet consumed (the syscall sees whatever that edge announced). An event error does not
    /// stop a read: the syscall reports the precise error.
    ///
    /// Forgetting the edge is safe for reads that skip the syscall after a short one (see
    /// [`read_stream_wait`](Self::read_stream_wait)): data arriving after the read brings a
    /// new edge, and an end-of-file that came with the data the short read returned is
    /// remembered by the core's sticky read-closed mark, which the skip honours.
    fn prepare(&self, mode: Mode) -> io::Result<()> {
        match self.shared().np.prepare(self.inner.handle, mode) {
            Ok(()) => Ok(()),
            Err(PollError::EventError) if mode == Mode::Read => Ok(()),
            Err(e) => Err(self.fail(e, mode)),
        }
    }

    /// Whether the backend has reported that the peer will send nothing more: then a read
    /// must not be skipped after a short one (the end-of-file is waiting, and no further edge
    /// will come).
    fn read_closed(&self) -> bool {
        self.shared()
            .np
            .read_closed(self.inner.handle)
            .unwrap_or(true)
    }

    fn arm(&self, mode: Mode) -> io::Result<()> {
        if self.shared().arm_is_noop {
            // The wait that follows checks for a close or an expired deadline itself.
            return Ok(());
        }
        self.shared()
            .np
            .arm(self.inner.handle, mode, &self.inner.io as &dyn AsFd)
            .map_err(|e| match e {
                netpoll_core::Error::Poll(p) => self.fail(p, mode),
                // A close that raced in after the core's check deregistered the socket (the
                // portable backend then says "not found"): report the close.
                netpoll_core::Error::Backend(_) if self.inner.closed.load(Ordering::Acquire) => {
                    NetError::Closed.into()
                }
                netpoll_core::Error::Backend(b) => b,
            })
    }

    /// Run `op` until it does not say "would block", parking this thread in between.
    pub(crate) fn blocking<T>(
        &self,
        mode: Mode,
        mut op: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        let lock = match mode {
            Mode::Read => &self.inner.read_lock,
            Mode::Write => &self.inner.write_lock,
        };
        let _turn = lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.blocking_locked(mode, &mut op)
    }

    fn blocking_locked<T>(
        &self,
        mode: Mode,
        op: &mut impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        if mode == Mode::Read {
            self.undrain();
        }
        loop {
            self.prepare(mode)?;
            match op(&self.inner.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
            self.arm(mode)?;
            park::wait(self.shared(), self.inner.handle, mode).map_err(|e| self.fail(e, mode))?;
        }
    }

    /// The async form of [`blocking`](Self::blocking): `Pending` when `op` would block and
    /// the task's waker is registered.
    pub(crate) fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        mode: Mode,
        mut op: impl FnMut(&S) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        self.unpend(mode);
        if mode == Mode::Read {
            self.undrain();
        }
        loop {
            if let Err(e) = self.prepare(mode) {
                return Poll::Ready(Err(e));
            }
            match op(&self.inner.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return Poll::Ready(r),
            }
            if let Err(e) = self.arm(mode) {
                return Poll::Ready(Err(e));
            }
            match self.shared().np.poll_wait(self.inner.handle, mode, cx) {
                Poll::Ready(Ok(())) => continue,
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

    fn undrain(&self) {
        if self.inner.drained.load(Ordering::Relaxed) != 0 {
            self.inner.drained.store(0, Ordering::Relaxed);
        }
    }

    /// After a short stream read, the next read would almost surely say `EAGAIN`: skip that
    /// syscall and wait for a readiness edge first (tokio does the same).
    ///
    /// Why no data and no end-of-file can be lost: the short read forgot only the edges
    /// harvested before it (`prepare`), whose data it returned. Data that arrives later is a
    /// new wake-up in the kernel, so a new edge, which `poll_wait` consumes at once (stored) or
    /// waits for. An end-of-file that came with the returned data brings no further edge, but
    /// the backend marked it (the core's sticky `read_closed`), and then the read is not
    /// skipped. Tokio keeps "read closed" apart from "readable" for the same reason.
    ///
    /// (Until this used the core's `check` (since removed) before reads, keeping edges: that
    /// lost the end-of-file when a waiting reader was woken by one edge carrying both the last
    /// data and the half-close, and it cost an `EAGAIN` read per message on a connection whose
    /// reader had once waited after an `EAGAIN`: S2 measured 0.23 of those per message.)
    fn read_stream_wait(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let state = self.inner.drained.load(Ordering::Relaxed);
        if state == 0 {
            return Poll::Ready(Ok(()));
        }
        if state == DRAINED {
            // Checked once per drained read, before its first wait: a hang-up reported after
            // this comes with a READY edge of its own, which the wait below consumes.
            if self.read_closed() {
                self.inner.drained.store(0, Ordering::Relaxed);
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = self.arm(Mode::Read) {
                self.inner.drained.store(0, Ordering::Relaxed);
                return Poll::Ready(Err(e));
            }
            self.inner.drained.store(DRAINED_ARMED, Ordering::Relaxed);
        }
        match self
            .shared()
            .np
            .poll_wait(self.inner.handle, Mode::Read, cx)
        {
            Poll::Ready(r) => {
                self.inner.drained.store(0, Ordering::Relaxed);
                Poll::Ready(r.map_err(|e| self.fail(e, Mode::Read)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn note_read(&self, r: &io::Result<usize>, cap: usize) {
        if let Ok(n) = r {
            if *n > 0 && *n < cap {
                self.inner.drained.store(DRAINED, Ordering::Relaxed);
            }
        }
    }

    /// A stream read of at most `cap` bytes (async): [`poll_io`](Self::poll_io), but after
    /// a short read the next one waits for an edge before its syscall.
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        cap: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if self.inner.drained.load(Ordering::Relaxed) != 0 {
            self.unpend(Mode::Read);
            match self.read_stream_wait(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.count_pending(Mode::Read);
                    return Poll::Pending;
                }
            }
        }
        let r = self.poll_io(cx, Mode::Read, op);
        if let Poll::Ready(r) = &r {
            self.note_read(r, cap);
        }
        r
    }

    /// A stream read of at most `cap` bytes (blocking): as
    /// [`poll_read_stream`](Self::poll_read_stream), parking the thread.
    pub(crate) fn blocking_read_stream(
        &self,
        cap: usize,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let _turn = self
            .inner
            .read_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let state = self.inner.drained.load(Ordering::Relaxed);
        if state != 0 && !self.read_closed() {
            self.inner.drained.store(0, Ordering::Relaxed);
            if state == DRAINED {
                self.arm(Mode::Read)?;
            }
            park::wait(self.shared(), self.inner.handle, Mode::Read)
                .map_err(|e| self.fail(e, Mode::Read))?;
        }
        let r = self.blocking_locked(Mode::Read, &mut op);
        self.note_read(&r, cap);
        r
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

impl<S: AsFd + 'static> Inner<S> {
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
        let r = self
            .rt
            .shared()
            .np
            .close(self.handle, &self.io as &dyn AsFd);
        trace::close(self.io.as_fd().as_raw_fd(), self.handle);
        if self.shutdown_on_close {
            sysnet::shutdown(self.io.as_fd());
        }
        self.unpend(Mode::Read);
        self.unpend(Mode::Write);
        r.map_err(from_core)
    }
}

impl<S: AsFd + 'static> Drop for Inner<S> {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            self.closed.store(true, Ordering::Release);
            let _ = self
                .rt
                .shared()
                .np
                .close(self.handle, &self.io as &dyn AsFd);
            trace::close(self.io.as_fd().as_raw_fd(), self.handle);
            self.unpend(Mode::Read);
            self.unpend(Mode::Write);
        }
        // `io` is dropped after this: the descriptor closes only now, when nothing can be
        // inside an operation on it.
    }
}

impl<S: AsFd + 'static> AsFd for PollFd<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.io.as_fd()
    }
}

trait CloseDyn: Send + Sync {
    fn close_dyn(&self) -> io::Result<()>;
}

impl<S: AsFd + Send + Sync + 'static> CloseDyn for Inner<S> {
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
