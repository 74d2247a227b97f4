//! EmbassyClock and the async poll loop under embassy-time's mock driver.
//!
//! The mock driver is global, so this file holds exactly one test: no other test in this
//! binary can move its time.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use embassy_time::MockDriver;
use netpoll_boards::{asynch, CsLock, EmbassyClock, IrqPoller, Line, NoIdle};
use netpoll_core::{Clock, Mode, Netpoll, PollDesc, PollError};

struct Flag(AtomicUsize);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag(AtomicUsize::new(0)));
    (f.clone(), Waker::from(f))
}

fn count(f: &Flag) -> usize {
    f.0.load(Ordering::SeqCst)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn async_loop_under_the_mock_driver() {
    let driver = MockDriver::get();
    driver.reset();

    // --- EmbassyClock follows embassy time, in nanoseconds.
    let clock = EmbassyClock::new();
    let t0 = clock.now();
    driver.advance(embassy_time::Duration::from_micros(1_500));
    assert_eq!(clock.now().as_nanos() - t0.as_nanos(), 1_500_000);

    // --- The poll loop as a task; readers as tasks; an "ISR" marks the line.
    let poller = IrqPoller::<4, NoIdle>::new(NoIdle);
    let slots = PollDesc::<CsLock>::array_with_lock::<4>();
    let np = Netpoll::new(&poller, EmbassyClock, &slots).unwrap();
    let line = Line(2);
    let h = np.open(&line).unwrap();

    let (loop_flag, loop_waker) = flag();
    let mut loop_cx = Context::from_waker(&loop_waker);
    let mut main_loop = pin!(asynch::run(&np));
    let (rd_flag, rd_waker) = flag();
    let mut rd_cx = Context::from_waker(&rd_waker);

    // The loop finds nothing and parks with no deadline.
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());
    let mut read = pin!(np.wait(h, Mode::Read));
    assert!(read.as_mut().poll(&mut rd_cx).is_pending());

    // An interrupt: the loop task is woken, applies the mark, and wakes the reader.
    assert!(poller.mark_readable(line));
    assert_eq!(count(&loop_flag), 1, "the mark wakes the loop task");
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());
    assert_eq!(count(&rd_flag), 1, "the loop wakes the reader");
    assert_eq!(read.as_mut().poll(&mut rd_cx), Poll::Ready(Ok(())));

    // A read deadline 50 ms out, set with the plain setter: the loop sleeps with no timer (no
    // deadline was pending), so the core wakes it through `Poller::wake`.
    let woken_before = count(&loop_flag);
    let t1 = np.clock().now();
    np.set_read_deadline(h, Some(t1.saturating_add(ms(50))))
        .unwrap();
    assert_eq!(
        count(&loop_flag),
        woken_before + 1,
        "a first deadline wakes the sleeping loop"
    );
    let mut read = pin!(np.wait(h, Mode::Read));
    assert!(read.as_mut().poll(&mut rd_cx).is_pending());
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());

    // The loop now sleeps with a timer 50 ms out. Move the deadline EARLIER, to 20 ms: the
    // core calls `Poller::wake`, the loop task wakes and re-arms its timer for 20 ms.
    let woken_before = count(&loop_flag);
    let early = t1.saturating_add(ms(20));
    np.set_read_deadline(h, Some(early)).unwrap();
    assert_eq!(
        count(&loop_flag),
        woken_before + 1,
        "an earlier deadline wakes the loop sleeping towards a later one"
    );
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());
    let rd_before = count(&rd_flag);
    driver.advance(embassy_time::Duration::from_millis(19));
    if count(&loop_flag) > woken_before + 1 {
        assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());
    }
    assert_eq!(count(&rd_flag), rd_before, "1 ms before the deadline");
    driver.advance(embassy_time::Duration::from_millis(1));
    assert!(
        count(&loop_flag) > woken_before + 1,
        "the loop's timer fires at the new deadline"
    );
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());
    assert_eq!(
        count(&rd_flag),
        rd_before + 1,
        "the reader is woken at 20 ms"
    );
    assert_eq!(
        read.as_mut().poll(&mut rd_cx),
        Poll::Ready(Err(PollError::Timeout))
    );
    assert_eq!(np.clock().now(), early, "honoured on time, not at 50 ms");
    assert_eq!(np.stats().timeouts, 1);

    // A new deadline 30 ms out (clearing the expiry); the loop wakes for it.
    let woken_before = count(&loop_flag);
    let deadline = np.clock().now().saturating_add(ms(30));
    np.set_read_deadline(h, Some(deadline)).unwrap();
    assert_eq!(count(&loop_flag), woken_before + 1);
    let mut read = pin!(np.wait(h, Mode::Read));
    assert!(read.as_mut().poll(&mut rd_cx).is_pending());
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());

    // Pushing it later does not wake the loop (it sleeps until the old time and re-arms).
    let woken_before = count(&loop_flag);
    let later = deadline.saturating_add(ms(30));
    np.set_read_deadline(h, Some(later)).unwrap();
    assert_eq!(
        count(&loop_flag),
        woken_before,
        "a later deadline costs no wake-up"
    );

    // Time passes: the embassy timer wakes the loop at the old time, which re-arms; then at
    // the new deadline the loop fires it and the reader gets a timeout.
    let rd_before = count(&rd_flag);
    driver.advance(embassy_time::Duration::from_millis(30));
    assert!(count(&loop_flag) > woken_before, "the timer wakes the loop");
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());
    assert_eq!(count(&rd_flag), rd_before, "not yet: the deadline moved");
    driver.advance(embassy_time::Duration::from_millis(30));
    assert!(main_loop.as_mut().poll(&mut loop_cx).is_pending());
    assert_eq!(count(&rd_flag), rd_before + 1);
    assert_eq!(
        read.as_mut().poll(&mut rd_cx),
        Poll::Ready(Err(PollError::Timeout))
    );
    assert_eq!(np.stats().timeouts, 2);
    assert_eq!(np.clock().now(), later);
}
