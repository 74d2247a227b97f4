//! The async front-end: the poll loop as a task of an async executor (embassy-executor).
//!
//! A task cannot block inside [`Poller::wait`], so the loop uses
//! an [`IrqPoller`] with [`NoIdle`]: [`poll_once`] runs one non-blocking turn of
//! [`Netpoll::poll`], then awaits whichever comes first of an interrupt mark, a
//! [`wake`](netpoll_core::Netpoll::wake), and an embassy-time timer for the next deadline.
//!
//! ## Moving a deadline earlier
//! The core wakes its loop when a deadline moves before the time the loop sleeps to, but only
//! while the loop is inside `Poller::wait`; an async loop sleeps *outside* it. So after setting
//! a deadline from async code, use [`set_read_deadline`] and friends (or call
//! [`IrqPoller::deadline_changed`]): they wake the loop task when it sleeps past the new
//! deadline, or may have scanned its deadlines already. Pushing a deadline later or clearing
//! it never wakes the loop.

use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;

use netpoll_core::{Clock, Error, Handle, Instant, Netpoll, PollDesc, PollError, Poller, RawLock};
use portable_atomic::Ordering;

use crate::{IrqError, IrqPoller, NoIdle};

/// `parked_until`: the loop task is running (it may or may not have scanned the deadlines).
pub(crate) const RUNNING: u64 = 0;
/// `parked_until`: the loop task sleeps with no deadline.
const FOREVER: u64 = u64::MAX;
/// The longest single sleep; the loop recomputes after it.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// The IRQ poller of an async loop, as [`Netpoll`] holds it.
pub type AsyncNetpoll<'p, const N: usize, C, S, L> = Netpoll<&'p IrqPoller<N, NoIdle>, C, S, L>;

impl<const N: usize> IrqPoller<N, NoIdle> {
    /// A deadline of some descriptor was set to `at`: wake the loop task if it sleeps past
    /// `at` or is running (it may have scanned the deadlines before this one was set).
    pub fn deadline_changed(&self, at: Option<Instant>) {
        let Some(at) = at else { return };
        // A read-modify-write, not a load: if it reads a value older than the loop's own swap
        // to RUNNING, that swap synchronises with it and the loop sees the new deadline.
        let parked = self.parked_until.fetch_add(0, Ordering::AcqRel);
        if parked == RUNNING || at.as_nanos() < parked {
            let _ = Poller::wake(self);
        }
    }
}

/// Convert a core duration to an embassy-time one, rounding up (a timer must not fire early).
pub fn to_embassy_duration(d: Duration) -> embassy_time::Duration {
    let ticks = (d.as_nanos() * u128::from(embassy_time::TICK_HZ)).div_ceil(1_000_000_000);
    embassy_time::Duration::from_ticks(u64::try_from(ticks).unwrap_or(u64::MAX))
}

/// One turn of the async poll loop: apply interrupt marks and expired deadlines, then sleep
/// until the next mark, wake or deadline. Returns how many waiters the turn woke.
pub async fn poll_once<const N: usize, C, S, L>(
    np: &AsyncNetpoll<'_, N, C, S, L>,
) -> Result<usize, Error<IrqError>>
where
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    let poller: &IrqPoller<N, NoIdle> = np.poller();
    poller.parked_until.swap(RUNNING, Ordering::AcqRel);
    let woken = np.poll(None)?;
    let timeout = poller.last_timeout();
    if timeout == Some(Duration::ZERO) {
        return Ok(woken);
    }
    let until = timeout.map_or(FOREVER, |t| {
        np.clock()
            .now()
            .saturating_add(t)
            .as_nanos()
            .clamp(1, FOREVER)
    });
    poller.parked_until.swap(until, Ordering::AcqRel);
    let mut timer =
        timeout.map(|t| embassy_time::Timer::after(to_embassy_duration(t.min(MAX_SLEEP))));
    poll_fn(|cx| {
        if poller.register_loop_waker(cx.waker()) {
            return Poll::Ready(());
        }
        match timer.as_mut() {
            Some(t) => Pin::new(t).poll(cx),
            None => Poll::Pending,
        }
    })
    .await;
    Ok(woken)
}

/// Run the async poll loop until the backend fails (an [`IrqPoller`] never does) or another
/// context runs the loop concurrently.
pub async fn run<const N: usize, C, S, L>(np: &AsyncNetpoll<'_, N, C, S, L>) -> Error<IrqError>
where
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    loop {
        if let Err(e) = poll_once(np).await {
            return e;
        }
    }
}

/// [`Netpoll::set_read_deadline`], then tell the async loop.
pub fn set_read_deadline<const N: usize, C, S, L>(
    np: &AsyncNetpoll<'_, N, C, S, L>,
    h: Handle,
    at: Option<Instant>,
) -> Result<(), PollError>
where
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    np.set_read_deadline(h, at)?;
    np.poller().deadline_changed(at);
    Ok(())
}

/// [`Netpoll::set_write_deadline`], then tell the async loop.
pub fn set_write_deadline<const N: usize, C, S, L>(
    np: &AsyncNetpoll<'_, N, C, S, L>,
    h: Handle,
    at: Option<Instant>,
) -> Result<(), PollError>
where
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    np.set_write_deadline(h, at)?;
    np.poller().deadline_changed(at);
    Ok(())
}

/// [`Netpoll::set_deadline`], then tell the async loop.
pub fn set_deadline<const N: usize, C, S, L>(
    np: &AsyncNetpoll<'_, N, C, S, L>,
    h: Handle,
    at: Option<Instant>,
) -> Result<(), PollError>
where
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    np.set_deadline(h, at)?;
    np.poller().deadline_changed(at);
    Ok(())
}
