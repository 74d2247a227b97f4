//! The async front-end: the poll loop as a task of an async executor (embassy-executor).
//!
//! A task cannot block inside [`Poller::wait`], so the loop uses an [`IrqPoller`] with
//! [`NoIdle`] and [`Netpoll::poll_and_sleep`]. Each turn ([`poll_once`]) applies interrupt marks
//! and expired deadlines without blocking and gets back the instant by which the loop has
//! promised to look again; the task then awaits whichever comes first of the loop waker (an
//! interrupt mark or a [`Poller::wake`]) and an embassy-time timer at that instant.
//!
//! ## Deadlines set while the loop sleeps
//! Plain [`Netpoll::set_read_deadline`], [`set_write_deadline`](Netpoll::set_write_deadline)
//! and [`set_deadline`](Netpoll::set_deadline) work from any task or handler. While the loop
//! task sleeps, the core remembers the instant it promised; a deadline set earlier than that
//! makes the core call [`Poller::wake`], which for an [`IrqPoller`] wakes the loop task, and
//! the next turn sleeps to the new deadline. Moving a deadline later or clearing it never
//! wakes the loop: its timer fires at the old instant, the turn finds nothing due and sleeps
//! again.
//!
//! [`Poller::wait`]: netpoll_core::Poller::wait
//! [`Poller::wake`]: netpoll_core::Poller::wake

use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;

use netpoll_core::{Clock, Error, Netpoll, PollDesc, RawLock};

use crate::{IrqError, IrqPoller, NoIdle};

/// The longest single timer. embassy-time panics if `now + duration` overflows its tick count,
/// so a far-off deadline is approached in steps of at most this; waking early is harmless,
/// the loop takes a turn and sleeps again.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// The IRQ poller of an async loop, as [`Netpoll`] holds it.
pub type AsyncNetpoll<'p, const N: usize, C, S, L> = Netpoll<&'p IrqPoller<N, NoIdle>, C, S, L>;

/// Convert a core duration to an embassy-time one, rounding up (a timer must not fire early).
pub fn to_embassy_duration(d: Duration) -> embassy_time::Duration {
    let ticks = (d.as_nanos() * u128::from(embassy_time::TICK_HZ)).div_ceil(1_000_000_000);
    embassy_time::Duration::from_ticks(u64::try_from(ticks).unwrap_or(u64::MAX))
}

/// One turn of the async poll loop: apply interrupt marks and expired deadlines, then sleep
/// until the next mark, wake or deadline. Returns how many waiters the turn woke.
///
/// The sleep is measured on `np`'s clock and slept on embassy-time, so `np` should use
/// [`EmbassyClock`](crate::EmbassyClock) (or a clock that runs at the same rate).
pub async fn poll_once<const N: usize, C, S, L>(
    np: &AsyncNetpoll<'_, N, C, S, L>,
) -> Result<usize, Error<IrqError>>
where
    C: Clock,
    S: AsRef<[PollDesc<L>]>,
    L: RawLock,
{
    let poller: &IrqPoller<N, NoIdle> = np.poller();
    let (woken, promised) = np.poll_and_sleep(None)?;
    let mut timer = promised.map(|at| {
        let d = at.saturating_duration_since(np.clock().now());
        embassy_time::Timer::after(to_embassy_duration(d.min(MAX_SLEEP)))
    });
    poll_fn(|cx| {
        // A mark or wake since the turn's non-blocking wait left the signal set: go round.
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
