//! The blocking front-end for a superloop: the thread that waits also runs the poll loop.
//!
//! On a microcontroller without an executor, `main` does I/O, and when a driver says "would
//! block" it runs [`Netpoll::poll`], which sleeps in the board's [`Idle`](crate::Idle) hook
//! until an interrupt marks a line or the next deadline passes. A no-op waker is enough: the
//! same thread re-checks the waiter slot after every turn of the loop.
//!
//! [`retry`] holds the direction's lock for the whole operation, as Go's `internal/poll` does,
//! so an async task sharing the descriptor (on an executor that runs from the idle hook, say)
//! takes its turn after it instead of competing for the waiter slot.

use core::task::{Context, Poll, Waker};

use netpoll_core::{Clock, Error, Handle, IoLock, Mode, Netpoll, PollDesc, Poller, RawLock};

/// What a driver operation returns when it cannot make progress now (`EAGAIN`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WouldBlock;

impl core::fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("operation would block")
    }
}

impl core::error::Error for WouldBlock {}

/// Block until `mode` of `h` may make progress (Go's `pollWait`), running the poll loop on
/// this thread meanwhile.
///
/// `Ok(())` means "retry the operation"; `Err` carries the reason it must fail now (deadline,
/// close, event error, a backend failure, or another thread already running the loop).
pub fn wait_ready<P, C, S, L>(
    np: &Netpoll<P, C, S, L>,
    h: Handle,
    mode: Mode,
) -> Result<(), Error<P::Error>>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match np.poll_wait(h, mode, &mut cx) {
            Poll::Ready(r) => return r.map_err(Error::Poll),
            Poll::Pending => {
                if let Err(e) = np.poll(None) {
                    np.cancel_wait(h, mode, Waker::noop());
                    return Err(e);
                }
            }
        }
    }
}

/// Take `mode`'s lock of `h`, running the poll loop while another context holds it.
fn lock<'a, P, C, S, L>(
    np: &'a Netpoll<P, C, S, L>,
    h: Handle,
    mode: Mode,
    cx: &mut Context<'_>,
) -> Result<IoLock<'a, P, C, S, L>, Error<P::Error>>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    loop {
        match np.poll_lock(h, mode, cx) {
            Poll::Ready(r) => return r.map_err(Error::Poll),
            Poll::Pending => {
                np.poll(None)?;
            }
        }
    }
}

/// Run `attempt` until it stops saying [`WouldBlock`], waiting for `mode` in between (Go's
/// `prepareRead` + read loop + `waitRead`). Fails at once if the deadline for `mode` has passed
/// or the descriptor is closing, even if data is ready.
pub fn retry<T, P, C, S, L>(
    np: &Netpoll<P, C, S, L>,
    h: Handle,
    mode: Mode,
    mut attempt: impl FnMut() -> Result<T, WouldBlock>,
) -> Result<T, Error<P::Error>>
where
    P: Poller,
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut lock = lock(np, h, mode, &mut cx)?;
    lock.prepare()?;
    loop {
        if let Ok(v) = attempt() {
            return Ok(v);
        }
        // Wait with the lock held; an error drops it, which takes the parked waker back.
        loop {
            match lock.poll_wait(&mut cx) {
                Poll::Ready(r) => break r?,
                Poll::Pending => {
                    np.poll(None)?;
                }
            }
        }
    }
}
