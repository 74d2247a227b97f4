//! Readiness waits and single non-blocking attempts: what lets a server wait for data
//! without lending a buffer to the wait (Go's `RawConn.Read` with a callback that reads
//! nothing; tokio's `readable` and `try_read`).
//!
//! A readiness wait is a read of nothing. It takes the direction's lock, fails at once on a
//! closed socket or an expired deadline, and otherwise returns at once *unless* the direction
//! is known not to be ready: the last attempt said "would block", or (TCP) the last read
//! was short, so the receive queue was empty. Only then does it wait for a readiness edge,
//! as a read would. So a wait may return when the next attempt still says "would block"
//! (another reader was faster, or nothing was known yet): the caller tries, and on "would
//! block" waits again, which then waits for an edge. No data can be missed: "known not
//! ready" rests on a syscall made after the edges before it were forgotten (`prepare`), so
//! anything that arrives later brings an edge of its own (see `read_stream_wait` in `fd.rs`).

use std::io;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use netpoll_core::{Mode, PollError};

use super::{idx, Lock, PollFd, WOULD_BLOCK};
use crate::sys::AsSource;

impl<S: AsSource + 'static> PollFd<S> {
    /// Fail fast like an operation would, but keep a stored edge: `Ok` if the direction may
    /// go ahead. An event error does not stop a read-side wait: the read reports it.
    fn ready_check(&self, lock: &Lock<'_>, mode: Mode) -> io::Result<()> {
        self.see_passed_deadline(lock);
        match lock.check() {
            Ok(()) | Err(PollError::EventError) => Ok(()),
            Err(e) => Err(self.fail(e, mode)),
        }
    }

    /// Wait (async) until `mode` may be ready: see the module documentation.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, mode: Mode) -> Poll<io::Result<()>> {
        self.unpend(mode);
        let mut lock = match self.shared().np.poll_lock(self.inner.handle, mode, cx) {
            Poll::Ready(Ok(lock)) => lock,
            other => return self.not_locked(other, mode),
        };
        if let Err(e) = self.ready_check(&lock, mode) {
            return Poll::Ready(Err(e));
        }
        match self.ready_wait(cx, &mut lock, mode) {
            Poll::Pending => {
                self.count_pending(mode);
                Poll::Pending
            }
            r => r,
        }
    }

    /// Wait (blocking, bounded by the direction's deadline) until `mode` may be ready.
    pub(crate) fn wait_ready(&self, mode: Mode) -> io::Result<()> {
        let mut lock = self.lock_blocking(mode)?;
        self.ready_check(&lock, mode)?;
        self.ready_wait_blocking(&mut lock, mode)
    }

    /// One non-blocking attempt of `op`: `WouldBlock` if it would block or another operation
    /// holds the direction (nothing waits, nothing is queued); then the next readiness wait
    /// waits for an edge. Fails like a blocking operation on a closed socket or an expired
    /// deadline.
    #[inline]
    pub(crate) fn try_io<T>(
        &self,
        mode: Mode,
        op: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        self.try_then(mode, op, |_, r| r)
    }

    /// [`try_io`](Self::try_io) for a stream read of at most `cap` bytes: a short read
    /// counts as "not ready" too (TCP), as in [`poll_read_stream`](Self::poll_read_stream).
    #[inline]
    pub(crate) fn try_read_stream(
        &self,
        cap: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.try_then(Mode::Read, op, |fd, r| fd.note_read(r, cap))
    }

    /// One attempt, then `after` on its outcome (other than "would block"), under the lock.
    #[inline]
    fn try_then<T>(
        &self,
        mode: Mode,
        mut op: impl FnMut(&S) -> io::Result<T>,
        after: impl FnOnce(&Self, io::Result<T>) -> io::Result<T>,
    ) -> io::Result<T> {
        let lock = match self.shared().np.try_lock(self.inner.handle, mode) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => return Err(self.fail(e, mode)),
        };
        self.prepare(&lock, mode)?;
        let r = loop {
            match op(&self.inner.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.inner.drained[idx(mode)].store(WOULD_BLOCK, Ordering::Relaxed);
                    return Err(e);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r.map_err(|e| self.syscall_error(e)),
            }
        };
        self.undrain(mode);
        let r = after(self, r);
        drop(lock);
        r
    }
}
