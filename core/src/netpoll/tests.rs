//! Descriptor, deadline and poll-loop rules. Where a rule comes from Go's
//! `net/timeout_test.go`, the test is named after the Go test (snake_case).

use core::task::Poll;
use core::time::Duration;
use std::vec::Vec;

use super::*;
use crate::test_util::CountingWaker;
use crate::testing::{Call, ManualClock, ScriptError, ScriptedPoller};
use crate::{Readiness, Token};

type TestNetpoll<'a> = Netpoll<ScriptedPoller<32>, ManualClock, &'a [PollDesc; 8]>;

fn fixture(slots: &[PollDesc; 8]) -> TestNetpoll<'_> {
    Netpoll::new(ScriptedPoller::new(), ManualClock::new(), slots).expect("fresh storage")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(np: &TestNetpoll<'_>, from_now: Duration) -> Option<Instant> {
    Some(np.clock().now().saturating_add(from_now))
}

fn ago(np: &TestNetpoll<'_>, d: Duration) -> Option<Instant> {
    Some(np.clock().now().saturating_sub(d))
}

fn tick(np: &TestNetpoll<'_>) -> usize {
    np.poll(Some(Duration::ZERO)).expect("poll")
}

// ------------------------------------------------------------------ pool and handles

#[test]
fn reused_slot_rejects_the_old_handle() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let w = CountingWaker::new();
    // Fill the pool so the next open must reuse the slot we close.
    let hs: Vec<Handle> = (0..8).map(|i| np.open(&i).unwrap()).collect();
    np.close(hs[3], &3).unwrap();
    let again = np.open(&100).unwrap();
    assert_eq!(again.index(), hs[3].index());
    assert_ne!(again.generation(), hs[3].generation());
    assert_eq!(np.prepare(hs[3], Mode::Read), Err(PollError::StaleHandle));
    assert_eq!(
        np.poll_wait(hs[3], Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::StaleHandle))
    );
    assert_eq!(
        np.set_read_deadline(hs[3], None),
        Err(PollError::StaleHandle)
    );
    assert_eq!(
        np.close(hs[3], &3),
        Err(Error::Poll(PollError::StaleHandle))
    );
    assert_eq!(np.prepare(again, Mode::Read), Ok(()));
}

#[test]
fn closed_handle_reports_closing_until_the_slot_is_reused() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.close(h, &1).unwrap();
    assert_eq!(np.prepare(h, Mode::Write), Err(PollError::Closing));
    assert_eq!(np.set_deadline(h, None), Err(PollError::Closing));
}

#[test]
fn double_close_is_a_stale_handle() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.close(h, &1).unwrap();
    assert_eq!(np.close(h, &1), Err(Error::Poll(PollError::StaleHandle)));
    assert_eq!(np.stats().open, 0, "the slot was returned once, not twice");
}

#[test]
fn foreign_and_forged_handles_are_stale() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let other_slots = PollDesc::array::<32>();
    let other = Netpoll::new(ScriptedPoller::<4>::new(), ManualClock::new(), &other_slots).unwrap();
    let mine = np.open(&1).unwrap();
    let theirs = other.open(&1).unwrap();
    assert_eq!(mine.index(), theirs.index());
    assert_eq!(np.prepare(theirs, Mode::Read), Err(PollError::StaleHandle));
    assert_eq!(
        np.prepare(Handle::default(), Mode::Read),
        Err(PollError::StaleHandle)
    );
    let out_of_range = Handle::new(31, theirs.generation());
    assert_eq!(
        np.prepare(out_of_range, Mode::Read),
        Err(PollError::StaleHandle)
    );
}

#[test]
fn full_pool_is_exhausted_and_recovers_after_close() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let hs: Vec<Handle> = (0..8).map(|i| np.open(&i).unwrap()).collect();
    assert_eq!(np.open(&99), Err(Error::Poll(PollError::PoolExhausted)));
    assert_eq!(np.stats().open, 8);
    np.close(hs[5], &5).unwrap();
    assert!(np.open(&99).is_ok());
    assert_eq!(np.open(&100), Err(Error::Poll(PollError::PoolExhausted)));
}

#[test]
fn failed_registration_returns_the_slot() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.poller().fail_next(Call::Register);
    assert_eq!(np.open(&1), Err(Error::Backend(ScriptError::Injected)));
    assert_eq!(np.stats().open, 0);
    assert!(np.open(&1).is_ok());
}

#[test]
fn failed_deregistration_still_closes() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.poller().fail_next(Call::Deregister);
    assert_eq!(np.close(h, &1), Err(Error::Backend(ScriptError::Injected)));
    assert_eq!(np.stats().open, 0);
    assert_eq!(np.prepare(h, Mode::Read), Err(PollError::Closing));
}

#[test]
fn storage_cannot_serve_two_pollers_at_once() {
    let slots = PollDesc::array::<8>();
    let first = fixture(&slots);
    assert!(Netpoll::new(ScriptedPoller::<4>::new(), ManualClock::new(), &slots).is_err());
    drop(first);
    let second = fixture(&slots);
    assert!(second.open(&1).is_ok());
}

#[test]
fn empty_storage_is_always_exhausted() {
    let slots: [PollDesc; 0] = PollDesc::array();
    let np = Netpoll::new(ScriptedPoller::<4>::new(), ManualClock::new(), &slots).unwrap();
    assert_eq!(np.open(&1), Err(Error::Poll(PollError::PoolExhausted)));
    assert_eq!(np.poll(Some(Duration::ZERO)), Ok(0));
}

// ------------------------------------------------------------------ events

#[test]
fn readiness_edge_wakes_the_parked_waiter() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    np.prepare(h, Mode::Read).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    assert_eq!(tick(&np), 1);
    assert_eq!(w.wakes(), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut w.cx()),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn edge_for_one_direction_leaves_the_other_parked() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let r = CountingWaker::new();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut r.cx()).is_pending());
    assert!(np.poll_wait(h, Mode::Write, &mut w.cx()).is_pending());
    np.poller().push(h.token(), Readiness::WRITABLE).unwrap();
    assert_eq!(tick(&np), 1);
    assert_eq!((r.wakes(), w.wakes()), (0, 1));
}

#[test]
fn prepare_forgets_a_stale_edge() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    tick(&np);
    np.prepare(h, Mode::Read).unwrap();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
}

#[test]
fn event_with_an_old_generation_is_dropped() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let hs: Vec<Handle> = (0..8).map(|i| np.open(&i).unwrap()).collect();
    np.close(hs[2], &2).unwrap();
    let reused = np.open(&50).unwrap();
    assert_eq!(reused.index(), hs[2].index());
    let w = CountingWaker::new();
    assert!(np.poll_wait(reused, Mode::Read, &mut w.cx()).is_pending());
    np.poller().push(hs[2].token(), Readiness::ERROR).unwrap();
    assert_eq!(tick(&np), 0);
    assert_eq!(w.wakes(), 0);
    assert_eq!(
        np.prepare(reused, Mode::Read),
        Ok(()),
        "no error inherited from the old fd"
    );
    assert_eq!(np.stats().stale_events, 1);
}

#[test]
fn event_for_an_unknown_slot_is_dropped() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.poller().push(Token(u64::MAX), Readiness::BOTH).unwrap();
    assert_eq!(tick(&np), 0);
    assert_eq!(np.stats().stale_events, 1);
}

#[test]
fn event_error_fails_reads_and_wakes_both_directions() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let r = CountingWaker::new();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut r.cx()).is_pending());
    assert!(np.poll_wait(h, Mode::Write, &mut w.cx()).is_pending());
    np.poller().push(h.token(), Readiness::ERROR).unwrap();
    assert_eq!(tick(&np), 2);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut r.cx()),
        Poll::Ready(Err(PollError::EventError))
    );
    // Writes retry and get the precise error from the syscall (Go does the same).
    assert_eq!(
        np.poll_wait(h, Mode::Write, &mut w.cx()),
        Poll::Ready(Ok(()))
    );
    assert_eq!(np.prepare(h, Mode::Read), Err(PollError::EventError));
    assert_eq!(np.prepare(h, Mode::Write), Ok(()));
}

// ------------------------------------------------------------------ deadlines

#[test]
fn read_timeout() {
    // Go's TestReadTimeout, second case: a 50 ms deadline lets the first wait block and
    // times it out when it passes.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    np.set_read_deadline(h, at(&np, ms(50))).unwrap();
    np.prepare(h, Mode::Read).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.poll(None).unwrap();
    assert_eq!(
        np.poller().last_timeout(),
        Some(Some(ms(50))),
        "loop wait bounded by deadline"
    );
    np.clock().advance(ms(49));
    assert_eq!(tick(&np), 0);
    np.clock().advance(ms(1));
    assert_eq!(tick(&np), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::Timeout))
    );
    assert_eq!(
        np.prepare(h, Mode::Read),
        Err(PollError::Timeout),
        "stays expired"
    );
    assert_eq!(np.stats().timeouts, 1);
}

#[test]
fn read_timeout_past_deadline_fails_even_with_data_ready() {
    // Go's TestReadTimeout, first case (-5 s): deadlines work even if data is ready.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.clock().advance(Duration::from_secs(10));
    let h = np.open(&1).unwrap();
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    tick(&np);
    np.set_read_deadline(h, ago(&np, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(np.prepare(h, Mode::Read), Err(PollError::Timeout));
    let w = CountingWaker::new();
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::Timeout))
    );
}

#[test]
fn deadline_equal_to_now_is_already_expired() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.set_write_deadline(h, Some(np.clock().now())).unwrap();
    assert_eq!(np.prepare(h, Mode::Write), Err(PollError::Timeout));
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
}

#[test]
fn setting_a_past_deadline_wakes_the_blocked_waiter() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.clock().advance(ms(100));
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.set_read_deadline(h, ago(&np, ms(1))).unwrap();
    assert_eq!(w.wakes(), 1, "woken by the setter itself, no loop needed");
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::Timeout))
    );
    // Setting another past deadline does not wake again.
    assert!(np.poll_wait(h, Mode::Write, &mut w.cx()).is_pending());
    np.set_read_deadline(h, ago(&np, ms(2))).unwrap();
    assert_eq!(w.wakes(), 1);
}

#[test]
fn read_timeout_must_not_return() {
    // Go's TestReadTimeoutMustNotReturn: both deadlines in the past, then the read deadline
    // cleared: reads block again, writes still time out.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.clock().advance(Duration::from_secs(10));
    let h = np.open(&1).unwrap();
    np.set_deadline(h, ago(&np, Duration::from_secs(5)))
        .unwrap();
    np.set_write_deadline(h, ago(&np, Duration::from_secs(5)))
        .unwrap();
    np.set_read_deadline(h, None).unwrap();
    let w = CountingWaker::new();
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.clock().advance(Duration::from_secs(60));
    assert_eq!(tick(&np), 0);
    assert_eq!(w.wakes(), 0);
    assert_eq!(np.prepare(h, Mode::Write), Err(PollError::Timeout));
    // Closing is what ends the blocked read, with a non-timeout error.
    np.close(h, &1).unwrap();
    assert_eq!(w.wakes(), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::Closing))
    );
}

#[test]
fn accept_timeout_must_not_return() {
    // Go's TestAcceptTimeoutMustNotReturn: a past deadline, then cleared.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.clock().advance(Duration::from_secs(10));
    let h = np.open(&1).unwrap();
    np.set_deadline(h, ago(&np, Duration::from_secs(5)))
        .unwrap();
    np.set_deadline(h, None).unwrap();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.poll(None).unwrap();
    assert_eq!(
        np.poller().last_timeout(),
        Some(None),
        "no deadline: the loop blocks"
    );
}

#[test]
fn accept_timeout_must_return() {
    // Go's TestAcceptTimeoutMustReturn: no deadline, then 10 ms.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.set_deadline(h, None).unwrap();
    np.set_deadline(h, at(&np, ms(10))).unwrap();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.clock().advance(ms(10));
    assert_eq!(tick(&np), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::Timeout))
    );
}

#[test]
fn clearing_an_expired_deadline_makes_the_next_wait_block() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.set_read_deadline(h, at(&np, ms(5))).unwrap();
    np.clock().advance(ms(5));
    tick(&np);
    assert_eq!(np.prepare(h, Mode::Read), Err(PollError::Timeout));
    np.set_read_deadline(h, None).unwrap();
    let w = CountingWaker::new();
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    // Moving it to the future instead also un-expires it (Go's read_write_prolonged_timeout).
    np.set_read_deadline(h, Some(np.clock().now())).unwrap();
    np.set_read_deadline(h, at(&np, ms(5))).unwrap();
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
}

#[test]
fn read_and_write_deadlines_are_independent() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let r = CountingWaker::new();
    let w = CountingWaker::new();
    np.set_read_deadline(h, at(&np, ms(10))).unwrap();
    np.set_write_deadline(h, at(&np, ms(20))).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut r.cx()).is_pending());
    assert!(np.poll_wait(h, Mode::Write, &mut w.cx()).is_pending());
    assert_eq!(np.timer_entries(), 0);
    np.poll(None).unwrap();
    assert_eq!(
        np.timer_entries(),
        1,
        "one entry per descriptor, keyed by the earliest"
    );
    assert_eq!(np.poller().last_timeout(), Some(Some(ms(10))));
    np.clock().advance(ms(10));
    assert_eq!(tick(&np), 1);
    assert_eq!((r.wakes(), w.wakes()), (1, 0));
    assert_eq!(np.prepare(h, Mode::Write), Ok(()));
    np.poll(None).unwrap();
    assert_eq!(
        np.poller().last_timeout(),
        Some(Some(ms(10))),
        "re-keyed to the write deadline"
    );
    np.clock().advance(ms(10));
    assert_eq!(tick(&np), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Write, &mut w.cx()),
        Poll::Ready(Err(PollError::Timeout))
    );
    assert_eq!(np.timer_entries(), 0);
}

#[test]
fn equal_read_and_write_deadlines_fire_together_from_one_entry() {
    // Go's "combo" timer: one timer when rd == wd.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let r = CountingWaker::new();
    let w = CountingWaker::new();
    np.set_deadline(h, at(&np, ms(10))).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut r.cx()).is_pending());
    assert!(np.poll_wait(h, Mode::Write, &mut w.cx()).is_pending());
    tick(&np);
    assert_eq!(np.timer_entries(), 1);
    np.clock().advance(ms(10));
    assert_eq!(tick(&np), 2);
    assert_eq!(np.stats().timeouts, 2);
}

#[test]
fn pushing_a_deadline_later_does_not_touch_the_timer_queue() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    np.set_read_deadline(h, at(&np, ms(10))).unwrap();
    tick(&np);
    let desc = &slots[h.index() as usize];
    assert_eq!(desc.deadlines.with(|d| d.armed), ms(10).as_nanos() as u64);
    for i in 1..=100 {
        np.clock().advance(ms(1));
        np.set_read_deadline(h, at(&np, ms(10))).unwrap();
        assert_eq!(
            np.dirty.load(Ordering::Relaxed),
            NIL,
            "reset {i} queued nothing"
        );
        assert!(!desc.queued.load(Ordering::Relaxed));
    }
    assert_eq!(
        desc.deadlines.with(|d| d.armed),
        ms(10).as_nanos() as u64,
        "entry untouched"
    );
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    // The old entry is due; the loop finds the deadline moved and re-keys it lazily.
    assert_eq!(tick(&np), 0);
    assert_eq!(desc.deadlines.with(|d| d.armed), ms(110).as_nanos() as u64);
    assert_eq!(w.wakes(), 0);
    np.clock().advance(ms(10));
    assert_eq!(tick(&np), 1);
}

#[test]
fn moving_a_deadline_earlier_reaches_the_loop() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.set_read_deadline(h, at(&np, ms(100))).unwrap();
    np.poll(None).unwrap();
    assert_eq!(np.poller().last_timeout(), Some(Some(ms(100))));
    np.set_read_deadline(h, at(&np, ms(30))).unwrap();
    np.poll(None).unwrap();
    assert_eq!(np.poller().last_timeout(), Some(Some(ms(30))));
}

#[test]
fn cleared_deadline_costs_no_wakeup() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    np.set_read_deadline(h, at(&np, ms(10))).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    tick(&np);
    np.set_read_deadline(h, None).unwrap();
    np.poll(None).unwrap();
    assert_eq!(
        np.poller().last_timeout(),
        Some(None),
        "the loop does not wake for it"
    );
    assert_eq!(np.timer_entries(), 0);
    np.clock().advance(ms(20));
    assert_eq!(tick(&np), 0);
    assert_eq!(w.wakes(), 0);
}

#[test]
fn far_future_deadline_saturates_and_never_fires() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let huge = np.clock().now().saturating_add(Duration::MAX);
    assert_eq!(huge, Instant::MAX);
    np.set_deadline(h, Some(huge)).unwrap();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.poll(None).unwrap();
    assert_eq!(np.poller().last_timeout(), Some(None));
    np.clock().set(Instant::from_nanos(u64::MAX - 1));
    assert_eq!(tick(&np), 0);
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
}

#[test]
fn relative_deadline_fires_after_its_duration() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.clock().advance(ms(7));
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    np.set_read_deadline_after(h, ms(50)).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.poll(None).unwrap();
    assert_eq!(np.poller().last_timeout(), Some(Some(ms(50))));
    np.clock().advance(ms(49));
    assert_eq!(tick(&np), 0);
    assert_eq!(np.prepare(h, Mode::Write), Ok(()), "write side untouched");
    np.clock().advance(ms(1));
    assert_eq!(tick(&np), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::Timeout))
    );
}

#[test]
fn relative_deadline_of_zero_expires_at_once_and_max_clears() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Write, &mut w.cx()).is_pending());
    np.set_write_deadline_after(h, Duration::ZERO).unwrap();
    assert_eq!(w.wakes(), 1, "the blocked writer is woken by the setter");
    assert_eq!(np.prepare(h, Mode::Write), Err(PollError::Timeout));
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
    // A duration past the end of time is no deadline: the expired one is cleared.
    np.set_deadline_after(h, Duration::MAX).unwrap();
    assert_eq!(np.prepare(h, Mode::Write), Ok(()));
    np.clock().set(Instant::from_nanos(u64::MAX - 1));
    assert_eq!(tick(&np), 0);
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
}

#[test]
fn relative_reset_later_does_not_touch_the_timer_queue() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.set_read_deadline_after(h, ms(10)).unwrap();
    tick(&np);
    let desc = &slots[h.index() as usize];
    for _ in 0..20 {
        np.clock().advance(ms(1));
        np.set_read_deadline_after(h, ms(10)).unwrap();
        assert_eq!(np.dirty.load(Ordering::Relaxed), NIL);
    }
    assert_eq!(desc.deadlines.with(|d| d.armed), ms(10).as_nanos() as u64);
    assert_eq!(desc.deadlines.with(|d| d.read), ms(30).as_nanos() as u64);
}

#[test]
fn deadline_entry_of_a_closed_descriptor_is_a_noop() {
    // Go's sequence numbers: a timer armed for an earlier incarnation must not fire on the
    // new one.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let hs: Vec<Handle> = (0..8).map(|i| np.open(&i).unwrap()).collect();
    np.set_read_deadline(hs[4], at(&np, ms(10))).unwrap();
    tick(&np);
    assert_eq!(np.timer_entries(), 1);
    np.close(hs[4], &4).unwrap();
    let reused = np.open(&40).unwrap();
    assert_eq!(reused.index(), hs[4].index());
    let w = CountingWaker::new();
    assert!(np.poll_wait(reused, Mode::Read, &mut w.cx()).is_pending());
    np.clock().advance(ms(10));
    assert_eq!(tick(&np), 0);
    assert_eq!(w.wakes(), 0);
    assert_eq!(np.timer_entries(), 0);
    assert_eq!(np.prepare(reused, Mode::Read), Ok(()));
}

#[test]
fn close_wakes_both_waiters_with_closing_and_retires_timers() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let r = CountingWaker::new();
    let w = CountingWaker::new();
    np.set_deadline(h, at(&np, ms(10))).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut r.cx()).is_pending());
    assert!(np.poll_wait(h, Mode::Write, &mut w.cx()).is_pending());
    tick(&np);
    np.close(h, &1).unwrap();
    assert_eq!((r.wakes(), w.wakes()), (1, 1));
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut r.cx()),
        Poll::Ready(Err(PollError::Closing))
    );
    assert_eq!(
        np.poll_wait(h, Mode::Write, &mut w.cx()),
        Poll::Ready(Err(PollError::Closing))
    );
    np.poll(None).unwrap();
    assert_eq!(np.poller().last_timeout(), Some(None));
    assert_eq!(np.timer_entries(), 0);
    assert_eq!(np.poller().registered(), 0);
}

#[test]
fn many_deadlines_fire_in_order() {
    // The core of Go's TestVariousDeadlines: many descriptors, many deadlines.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let hs: Vec<Handle> = (0..8).map(|i| np.open(&i).unwrap()).collect();
    let wakers: Vec<CountingWaker> = (0..8).map(|_| CountingWaker::new()).collect();
    let order = [5u64, 1, 7, 3, 8, 2, 6, 4];
    for ((h, w), k) in hs.iter().zip(&wakers).zip(order) {
        np.set_read_deadline(*h, at(&np, ms(k))).unwrap();
        assert!(np.poll_wait(*h, Mode::Read, &mut w.cx()).is_pending());
    }
    for step in 1..=8u64 {
        np.poll(None).unwrap();
        assert_eq!(np.poller().last_timeout(), Some(Some(ms(1))), "step {step}");
        np.clock().advance(ms(1));
        assert_eq!(tick(&np), 1);
        let fired: Vec<u64> = order
            .iter()
            .zip(&wakers)
            .filter(|(_, w)| w.wakes() == 1)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(fired.len() as u64, step);
        assert!(fired.iter().all(|k| *k <= step));
    }
}

// ------------------------------------------------------------------ the loop and wakes

#[test]
fn wake_is_deduplicated_until_the_loop_runs() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.wake().unwrap();
    np.wake().unwrap();
    assert_eq!(np.poller().calls().1, 1);
    tick(&np);
    np.wake().unwrap();
    assert_eq!(np.poller().calls().1, 2);
}

#[test]
fn failed_wake_can_be_retried() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    np.poller().fail_next(Call::Wake);
    assert_eq!(np.wake(), Err(ScriptError::Injected));
    np.wake().unwrap();
    assert_eq!(np.poller().calls().1, 1);
}

#[test]
fn second_concurrent_poll_is_double_wait() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let guard = LoopGuard::try_acquire(&np.polling).unwrap();
    assert_eq!(
        np.poll(Some(Duration::ZERO)),
        Err(Error::Poll(PollError::DoubleWait))
    );
    drop(guard);
    assert_eq!(np.poll(Some(Duration::ZERO)), Ok(0));
}

#[test]
fn lowering_a_deadline_while_the_loop_sleeps_wakes_the_backend() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    // The loop has promised to sleep for 1 s.
    np.wake_at
        .promise(ms(1000).as_nanos() as u64, np.clock().now().as_nanos());
    np.set_read_deadline(h, at(&np, ms(2000))).unwrap();
    assert_eq!(np.poller().calls().1, 0, "later than the promise: no wake");
    np.set_read_deadline(h, at(&np, ms(10))).unwrap();
    assert_eq!(np.poller().calls().1, 1, "earlier than the promise: wake");
}

#[test]
fn lowering_a_deadline_while_the_loop_is_awake_is_folded_into_its_next_sleep() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.set_read_deadline(h, at(&np, ms(10))).unwrap();
    assert_eq!(np.poller().calls().1, 0, "an awake loop is not woken");
    let promised = np.wake_at.promise(NEVER, np.clock().now().as_nanos());
    assert!(promised <= ms(10).as_nanos() as u64 + 1);
}

#[test]
fn arm_reaches_the_backend_and_checks_the_handle() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.arm(h, Mode::Read, &1).unwrap();
    assert_eq!(np.poller().calls().2, 1);
    np.close(h, &1).unwrap();
    assert_eq!(
        np.arm(h, Mode::Read, &1),
        Err(Error::Poll(PollError::Closing))
    );
}

#[test]
fn dropping_a_pending_wait_future_forgets_its_waker() {
    use core::future::Future;
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    let mut fut = std::boxed::Box::pin(np.wait(h, Mode::Read));
    assert!(fut.as_mut().poll(&mut w.cx()).is_pending());
    // One clone parked in the slot, one kept by the future to recognise it on drop.
    assert_eq!(w.held(), 2);
    drop(fut);
    assert_eq!(w.held(), 0);
    // The lock that went with the parked waker is free again.
    assert!(np.try_lock(h, Mode::Read).unwrap().is_some());
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    assert_eq!(tick(&np), 0);
}

#[test]
fn stats_count_what_happened() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    tick(&np);
    let s = np.stats();
    assert_eq!(
        (s.open, s.capacity, s.events, s.wakeups, s.polls),
        (1, 8, 1, 1, 1)
    );
}

#[test]
fn no_deadline_never_fires_even_at_the_end_of_time() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    np.set_read_deadline(h, at(&np, ms(1))).unwrap();
    tick(&np);
    np.set_read_deadline(h, None).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending());
    np.clock().set(Instant::MAX);
    assert_eq!(tick(&np), 0);
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
}

#[test]
fn event_error_clears_on_the_next_clean_event() {
    // Go: setEventErr(ev.events == EPOLLERR) on every event.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.poller().push(h.token(), Readiness::ERROR).unwrap();
    tick(&np);
    assert_eq!(np.prepare(h, Mode::Read), Err(PollError::EventError));
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    tick(&np);
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
}

#[test]
fn read_closed_is_sticky_until_the_descriptor_is_reopened() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let hs: Vec<Handle> = (0..8).map(|i| np.open(&i).unwrap()).collect();
    let h = hs[3];
    assert_eq!(np.read_closed(h), Ok(false));
    // A plain readable edge is not a hang-up.
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    tick(&np);
    assert_eq!(np.read_closed(h), Ok(false));
    // A hang-up wakes the reader like a readable edge ...
    let r = CountingWaker::new();
    np.prepare(h, Mode::Read).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut r.cx()).is_pending());
    let hup = Readiness {
        readable: false,
        ..Readiness::READ_CLOSED
    };
    np.poller().push(h.token(), hup).unwrap();
    assert_eq!(tick(&np), 1);
    assert_eq!(r.wakes(), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut r.cx()),
        Poll::Ready(Ok(()))
    );
    // ... and stays: neither consuming the edge, nor `prepare`, nor a later plain edge
    // clears it.
    np.prepare(h, Mode::Read).unwrap();
    np.poller().push(h.token(), Readiness::BOTH).unwrap();
    tick(&np);
    np.prepare(h, Mode::Read).unwrap();
    assert_eq!(np.read_closed(h), Ok(true));
    // Closed: the handle is stale; the reopened slot starts clean, and an old-generation
    // hang-up does not reach it.
    np.close(h, &3).unwrap();
    assert_eq!(np.read_closed(h), Err(PollError::Closing));
    let again = np.open(&9).unwrap();
    assert_eq!(np.read_closed(h), Err(PollError::StaleHandle));
    assert_eq!(again.index(), h.index());
    assert_eq!(np.read_closed(again), Ok(false));
    np.poller().push(h.token(), Readiness::READ_CLOSED).unwrap();
    tick(&np);
    assert_eq!(np.read_closed(again), Ok(false));
}

#[test]
fn reopened_slot_starts_without_event_error() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let hs: Vec<Handle> = (0..8).map(|i| np.open(&i).unwrap()).collect();
    np.poller().push(hs[1].token(), Readiness::ERROR).unwrap();
    tick(&np);
    np.close(hs[1], &1).unwrap();
    let again = np.open(&9).unwrap();
    assert_eq!(again.index(), hs[1].index());
    assert_eq!(np.prepare(again, Mode::Read), Ok(()));
}

#[test]
fn sleeping_outside_the_backend_is_woken_by_an_earlier_deadline() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.set_read_deadline(h, at(&np, ms(100))).unwrap();
    let (woken, until) = np.poll_and_sleep(None).unwrap();
    assert_eq!(woken, 0);
    assert_eq!(until, at(&np, ms(100)));
    assert_eq!(np.poller().calls().1, 0);
    // While the loop sleeps outside `wait`, an earlier deadline wakes the backend...
    np.set_read_deadline(h, at(&np, ms(20))).unwrap();
    assert_eq!(np.poller().calls().1, 1);
    // ...and the next turn promises the earlier time.
    let (_, until) = np.poll_and_sleep(Some(ms(50))).unwrap();
    assert_eq!(until, at(&np, ms(20)));
    // No deadline: the cap, or nothing.
    np.set_read_deadline(h, None).unwrap();
    assert_eq!(np.poll_and_sleep(Some(ms(50))).unwrap().1, at(&np, ms(50)));
    assert_eq!(np.poll_and_sleep(None).unwrap().1, None);
}

#[test]
fn prepare_fails_fast_and_forgets_a_stored_edge() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    np.poller().push(h.token(), Readiness::READABLE).unwrap();
    tick(&np);
    assert_eq!(np.prepare(h, Mode::Read), Ok(()));
    let w = CountingWaker::new();
    assert!(
        np.poll_wait(h, Mode::Read, &mut w.cx()).is_pending(),
        "edge forgotten"
    );
    np.set_read_deadline(h, Some(np.clock().now())).unwrap();
    assert_eq!(np.prepare(h, Mode::Read), Err(PollError::Timeout));
    np.close(h, &1).unwrap();
    assert_eq!(np.prepare(h, Mode::Write), Err(PollError::Closing));
    assert_eq!(
        np.prepare(Handle::default(), Mode::Write),
        Err(PollError::StaleHandle)
    );
}
