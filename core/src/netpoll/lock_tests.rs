//! Several operations on one descriptor: the direction locks, close waking everyone, and
//! the slot's lifetime (Go's `fdMutex` rules). Regression tests for issue 9 are named after
//! the case they pin.

use core::task::Poll;
use core::time::Duration;
use std::vec::Vec;

use super::*;
use crate::test_util::CountingWaker;
use crate::testing::{ManualClock, ScriptedPoller};
use crate::Readiness;

type TestNetpoll<'a> = Netpoll<ScriptedPoller<32>, ManualClock, &'a [PollDesc; 4]>;

fn fixture(slots: &[PollDesc; 4]) -> TestNetpoll<'_> {
    Netpoll::new(ScriptedPoller::new(), ManualClock::new(), slots).expect("fresh storage")
}

fn tick(np: &TestNetpoll<'_>) -> usize {
    np.poll(Some(Duration::ZERO)).expect("poll")
}

fn edge(np: &TestNetpoll<'_>, h: Handle, r: Readiness) -> usize {
    np.poller().push(h.token(), r).unwrap();
    tick(np)
}

#[test]
fn two_waiters_on_one_direction_are_both_woken_never_replaced() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let (a, b) = (CountingWaker::new(), CountingWaker::new());
    assert!(np.poll_wait(h, Mode::Read, &mut a.cx()).is_pending());
    assert!(np.poll_wait(h, Mode::Read, &mut b.cx()).is_pending());
    // The first edge wakes the parked one and, with the lock it releases, the queued one.
    assert_eq!(edge(&np, h, Readiness::READABLE), 1);
    assert_eq!((a.wakes(), b.wakes()), (1, 1));
    // One of them consumes the edge; the other waits again and gets the next one.
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut a.cx()),
        Poll::Ready(Ok(()))
    );
    assert!(np.poll_wait(h, Mode::Read, &mut b.cx()).is_pending());
    edge(&np, h, Readiness::READABLE);
    assert_eq!(b.wakes(), 2);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut b.cx()),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn close_wakes_every_parked_and_queued_waiter_with_closing() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let ws: Vec<CountingWaker> = (0..6).map(|_| CountingWaker::new()).collect();
    for (i, w) in ws.iter().enumerate() {
        let mode = if i % 2 == 0 { Mode::Read } else { Mode::Write };
        assert!(np.poll_wait(h, mode, &mut w.cx()).is_pending());
    }
    np.close(h, &1).unwrap();
    for (i, w) in ws.iter().enumerate() {
        assert_eq!(w.wakes(), 1, "waiter {i} woken once");
        let mode = if i % 2 == 0 { Mode::Read } else { Mode::Write };
        assert_eq!(
            np.poll_wait(h, mode, &mut w.cx()),
            Poll::Ready(Err(PollError::Closing))
        );
        assert_eq!(w.held(), 0, "waiter {i}'s waker released");
    }
    assert_eq!(np.stats().open, 0);
}

#[test]
fn deadline_wakes_the_parked_waiter_and_the_queue_with_timeout() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let (a, b) = (CountingWaker::new(), CountingWaker::new());
    assert!(np.poll_wait(h, Mode::Read, &mut a.cx()).is_pending());
    assert!(np.poll_wait(h, Mode::Read, &mut b.cx()).is_pending());
    let soon = np.clock().now().saturating_add(Duration::from_millis(1));
    np.set_read_deadline(h, Some(soon)).unwrap();
    np.clock().advance(Duration::from_millis(1));
    tick(&np);
    assert_eq!((a.wakes(), b.wakes()), (1, 1));
    for w in [&a, &b] {
        assert_eq!(
            np.poll_wait(h, Mode::Read, &mut w.cx()),
            Poll::Ready(Err(PollError::Timeout))
        );
    }
}

#[test]
fn slot_is_not_reused_while_an_operation_holds_it() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let hs: Vec<Handle> = (0..4).map(|i| np.open(&i).unwrap()).collect();
    let lock = np.try_lock(hs[2], Mode::Read).unwrap().expect("free");
    np.close(hs[2], &2).unwrap();
    // Closed, but the reader is still inside its operation: the slot stays taken.
    assert_eq!(np.stats().open, 4);
    assert_eq!(np.open(&9), Err(Error::Poll(PollError::PoolExhausted)));
    assert_eq!(lock.prepare(), Err(PollError::Closing));
    drop(lock);
    assert_eq!(np.stats().open, 3);
    let again = np.open(&9).unwrap();
    assert_eq!(again.index(), hs[2].index());
    // A fresh descriptor in the old slot: its first wait parks, no "double wait".
    let w = CountingWaker::new();
    assert!(np.poll_wait(again, Mode::Read, &mut w.cx()).is_pending());
}

#[test]
fn stale_handle_cannot_lock_or_queue_on_the_reopened_slot() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let old = np.open(&1).unwrap();
    np.close(old, &1).unwrap();
    let new = np.open(&2).unwrap();
    assert_eq!(new.index(), old.index());
    assert_eq!(
        np.try_lock(old, Mode::Read).err(),
        Some(PollError::StaleHandle)
    );
    let w = CountingWaker::new();
    assert_eq!(
        np.poll_wait(old, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::StaleHandle))
    );
    // Busy lock: the stale handle still does not queue behind the new descriptor.
    let held = np.try_lock(new, Mode::Read).unwrap().expect("free");
    assert_eq!(
        np.poll_wait(old, Mode::Read, &mut w.cx()),
        Poll::Ready(Err(PollError::StaleHandle))
    );
    drop(held);
    assert_eq!(w.wakes(), 0);
    // And a stale cancel does not touch the new descriptor's parked waiter.
    let n = CountingWaker::new();
    assert!(np.poll_wait(new, Mode::Read, &mut n.cx()).is_pending());
    np.cancel_wait(old, Mode::Read, w.cx().waker());
    assert_eq!(n.held(), 1, "the new waiter is still parked");
    edge(&np, new, Readiness::READABLE);
    assert_eq!(n.wakes(), 1);
}

#[test]
fn lock_holder_waits_in_the_slot_and_the_next_reader_queues_behind_it() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let (a, b) = (CountingWaker::new(), CountingWaker::new());
    // A blocking-style holder: keeps the lock while it waits.
    let mut lock = np.try_lock(h, Mode::Read).unwrap().expect("free");
    lock.prepare().unwrap();
    assert!(lock.poll_wait(&mut a.cx()).is_pending());
    assert!(np.poll_lock(h, Mode::Read, &mut b.cx()).is_pending());
    // The edge wakes the holder only: it still holds the lock.
    edge(&np, h, Readiness::READABLE);
    assert_eq!((a.wakes(), b.wakes()), (1, 0));
    assert_eq!(lock.poll_wait(&mut a.cx()), Poll::Ready(Ok(())));
    // Its I/O done, it unlocks: the queued reader is woken and takes its turn.
    drop(lock);
    assert_eq!(b.wakes(), 1);
    let next = np.poll_lock(h, Mode::Read, &mut b.cx());
    assert!(matches!(next, Poll::Ready(Ok(_))));
}

#[test]
fn parked_waiter_hands_its_lock_over_and_gets_it_back_after_the_wake() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let w = CountingWaker::new();
    let mut lock = np.try_lock(h, Mode::Write).unwrap().expect("free");
    assert!(lock.park(&mut w.cx()).is_pending());
    drop(lock);
    // The slot holds the lock now.
    assert!(np.try_lock(h, Mode::Write).unwrap().is_none());
    edge(&np, h, Readiness::WRITABLE);
    assert_eq!(w.wakes(), 1);
    let mut lock = np
        .try_lock(h, Mode::Write)
        .unwrap()
        .expect("released by the wake-up");
    // The edge is still there for the next wait, and the lock stays with its holder.
    assert_eq!(lock.park(&mut w.cx()), Poll::Ready(Ok(())));
    assert!(np.try_lock(h, Mode::Write).unwrap().is_none());
}

#[test]
fn cancelling_a_parked_wait_releases_its_lock_and_wakes_a_stranger() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let (a, b, q) = (
        CountingWaker::new(),
        CountingWaker::new(),
        CountingWaker::new(),
    );
    assert!(np.poll_wait(h, Mode::Read, &mut a.cx()).is_pending());
    assert!(np.poll_lock(h, Mode::Read, &mut q.cx()).is_pending());
    // Cancelled by its owner: dropped, and the queued waiter gets the lock.
    np.cancel_wait(h, Mode::Read, a.cx().waker());
    assert_eq!((a.wakes(), a.held(), q.wakes()), (0, 0, 1));
    // A cancel that finds someone else parked (the canceller was woken meanwhile) wakes
    // that one instead of dropping it.
    assert!(np.poll_wait(h, Mode::Read, &mut b.cx()).is_pending());
    np.cancel_wait(h, Mode::Read, a.cx().waker());
    assert_eq!(b.wakes(), 1);
    assert!(np.try_lock(h, Mode::Read).unwrap().is_some());
}

#[test]
fn full_waiter_table_asks_to_be_polled_again() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let _held = np.try_lock(h, Mode::Read).unwrap().expect("free");
    let ws: Vec<CountingWaker> = (0..5).map(|_| CountingWaker::new()).collect();
    for w in &ws[..4] {
        assert!(np.poll_lock(h, Mode::Read, &mut w.cx()).is_pending());
        assert_eq!(w.wakes(), 0, "queued");
    }
    // Four descriptors, four nodes: the fifth cannot queue and is woken at once instead.
    assert!(np.poll_lock(h, Mode::Read, &mut ws[4].cx()).is_pending());
    assert_eq!(ws[4].wakes(), 1);
}

#[test]
fn close_while_a_waiter_is_queued_frees_the_slot_once_everyone_left() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let held = np.try_lock(h, Mode::Read).unwrap().expect("free");
    let q = CountingWaker::new();
    assert!(np.poll_lock(h, Mode::Read, &mut q.cx()).is_pending());
    np.close(h, &1).unwrap();
    assert_eq!(q.wakes(), 1);
    assert!(matches!(
        np.poll_lock(h, Mode::Read, &mut q.cx()),
        Poll::Ready(Err(PollError::Closing))
    ));
    assert_eq!(
        np.stats().open,
        1,
        "the holder is still inside its operation"
    );
    drop(held);
    assert_eq!(np.stats().open, 0);
    assert_eq!(q.held(), 0);
}

#[test]
fn event_for_a_handed_over_waiter_unlocks_it_even_on_a_reused_slot() {
    // The stale-event race of apply_event: an edge of the old incarnation reaching a waiter of
    // the new one only wakes it spuriously; its lock is released with the wake-up, never lost.
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let old = np.open(&1).unwrap();
    let w = CountingWaker::new();
    let mut lock = np.try_lock(old, Mode::Read).unwrap().expect("free");
    assert!(lock.park(&mut w.cx()).is_pending());
    drop(lock);
    edge(&np, old, Readiness::READABLE);
    assert_eq!(w.wakes(), 1);
    assert!(np.try_lock(old, Mode::Read).unwrap().is_some());
}

#[test]
fn an_operation_sees_its_passed_deadline_without_a_turn_of_the_loop() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let at = np.clock().now().saturating_add(Duration::from_millis(10));
    np.set_write_deadline(h, Some(at)).unwrap();
    let r = CountingWaker::new();
    np.set_read_deadline(h, Some(at)).unwrap();
    assert!(np.poll_wait(h, Mode::Read, &mut r.cx()).is_pending());
    let lock = np.try_lock(h, Mode::Write).unwrap().expect("free");
    // Not yet passed: nothing changes.
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Ok(()));
    // Passed, and the loop has not run: the operation itself expires its direction, only it.
    np.clock().advance(Duration::from_millis(10));
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Err(PollError::Timeout));
    assert_eq!(r.wakes(), 0, "the read direction is the loop's to expire");
    drop(lock);
    // The loop's turn fires the read deadline and finds the write one already done.
    assert_eq!(tick(&np), 1);
    assert_eq!(r.wakes(), 1);
    assert_eq!(
        np.poll_wait(h, Mode::Read, &mut r.cx()),
        Poll::Ready(Err(PollError::Timeout))
    );
    // A later deadline clears the expiry, as ever.
    np.set_write_deadline(h, Some(at.saturating_add(Duration::from_secs(1))))
        .unwrap();
    let lock = np.try_lock(h, Mode::Write).unwrap().expect("free");
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Ok(()));
}

#[test]
fn a_reader_queued_behind_the_one_that_saw_the_deadline_pass_times_out_too() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let at = np.clock().now().saturating_add(Duration::from_millis(10));
    np.set_read_deadline(h, Some(at)).unwrap();
    let b = CountingWaker::new();
    let lock = np.try_lock(h, Mode::Read).unwrap().expect("free");
    assert!(np.poll_lock(h, Mode::Read, &mut b.cx()).is_pending());
    np.clock().advance(Duration::from_millis(20));
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Err(PollError::Timeout));
    drop(lock);
    assert_eq!(b.wakes(), 1);
    let next = np.poll_lock(h, Mode::Read, &mut b.cx());
    let Poll::Ready(Ok(next)) = next else {
        panic!("the queued reader gets the lock")
    };
    assert_eq!(next.prepare(), Err(PollError::Timeout));
}

#[test]
fn a_deadline_moved_earlier_inline_is_still_seen_passing_by_an_operation() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let now = np.clock().now();
    // The write deadline arms the loop's look at 10 ms; the read deadline goes to an hour,
    // then back to 20 ms: both changes are at or after that look, so both take the inline
    // path, and the second must lower what operations read without the lock.
    np.set_write_deadline(h, Some(now.saturating_add(Duration::from_millis(10))))
        .unwrap();
    np.set_read_deadline(h, Some(now.saturating_add(Duration::from_secs(3600))))
        .unwrap();
    np.set_read_deadline(h, Some(now.saturating_add(Duration::from_millis(20))))
        .unwrap();
    let lock = np.try_lock(h, Mode::Read).unwrap().expect("free");
    np.clock().advance(Duration::from_millis(15));
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Ok(()), "20 ms has not passed at 15 ms");
    np.clock().advance(Duration::from_millis(10));
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Err(PollError::Timeout));
    drop(lock);
    // Cleared: nothing left to see, and a later deadline lifts the expiry.
    np.set_read_deadline(h, None).unwrap();
    let lock = np.try_lock(h, Mode::Read).unwrap().expect("free");
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Ok(()));
}

#[test]
fn a_deadline_moved_later_inline_refreshes_its_hint_and_is_still_seen_passing() {
    let slots = PollDesc::array();
    let np = fixture(&slots);
    let h = np.open(&1).unwrap();
    let d = &np.descs()[h.index() as usize];
    let now = np.clock().now();
    // The write deadline arms the loop's look at 10 ms. The read deadline is set at 20 ms,
    // then moved to 1 s on the inline path, which keeps the 20 ms hint (a lower bound).
    np.set_write_deadline(h, Some(now.saturating_add(Duration::from_millis(10))))
        .unwrap();
    np.set_read_deadline(h, Some(now.saturating_add(Duration::from_millis(20))))
        .unwrap();
    let early = d.deadline_lower_bound(Mode::Read).expect("a hint");
    let later = now.saturating_add(Duration::from_secs(1));
    np.set_read_deadline(h, Some(later)).unwrap();
    assert_eq!(d.deadline_lower_bound(Mode::Read), Some(early));
    // Past the old bound, not the deadline: the operation looks under the lock, finds the
    // deadline ahead and brings the hint up to it.
    let lock = np.try_lock(h, Mode::Read).unwrap().expect("free");
    np.clock().advance(Duration::from_millis(30));
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Ok(()), "1 s has not passed at 30 ms");
    let refreshed = d.deadline_lower_bound(Mode::Read).expect("a hint");
    assert!(refreshed > early && refreshed <= later.as_nanos());
    // Past the deadline: seen without a turn of the loop.
    np.clock().advance(Duration::from_secs(1));
    lock.expire_if_passed();
    assert_eq!(lock.prepare(), Err(PollError::Timeout));
}
