//! Every transition of the waiter slot (see docs/state-machine.md).

use core::cell::Cell;
use core::task::Poll;

use super::*;
use crate::test_util::CountingWaker;

fn ok() -> Result<(), PollError> {
    Ok(())
}

#[test]
fn idle_wait_parks_the_waker() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    assert_eq!(slot.poll_wait::<false>(&mut w.cx(), ok), Poll::Pending);
    assert_eq!(slot.state(), PARKED);
    assert_eq!(w.held(), 1);
}

#[test]
fn ready_edge_without_waiter_is_stored() {
    let slot = WaiterSlot::new();
    assert!(slot.unblock(Unblock::Ready).waker.is_none());
    assert_eq!(slot.state(), READY);
}

#[test]
fn stored_ready_is_consumed_by_next_wait() {
    let slot = WaiterSlot::new();
    drop(slot.unblock(Unblock::Ready).waker);
    let w = CountingWaker::new();
    assert_eq!(
        slot.poll_wait::<false>(&mut w.cx(), ok),
        Poll::Ready(Ok(()))
    );
    assert_eq!(slot.state(), 0);
    // Consumed: the next wait parks.
    assert_eq!(slot.poll_wait::<false>(&mut w.cx(), ok), Poll::Pending);
}

#[test]
fn ready_edge_wakes_parked_waiter_once_and_stays_ready() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    assert!(slot.poll_wait::<false>(&mut w.cx(), ok).is_pending());
    let taken = slot
        .unblock(Unblock::Ready)
        .waker
        .expect("the parked waker");
    assert_eq!(slot.state(), READY);
    taken.wake();
    assert_eq!(w.wakes(), 1);
    assert_eq!(w.held(), 0);
    // A second edge finds nobody parked: no second wake-up.
    assert!(slot.unblock(Unblock::Ready).waker.is_none());
    assert_eq!(w.wakes(), 1);
    // The woken waiter consumes the edge.
    assert_eq!(
        slot.poll_wait::<false>(&mut w.cx(), ok),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn wake_unblock_on_idle_slot_remembers_nothing() {
    let slot = WaiterSlot::new();
    assert!(slot.unblock(Unblock::Wake).waker.is_none());
    assert_eq!(slot.state(), 0);
}

#[test]
fn wake_unblock_keeps_stored_ready() {
    let slot = WaiterSlot::new();
    drop(slot.unblock(Unblock::Ready).waker);
    assert!(slot.unblock(Unblock::Wake).waker.is_none());
    assert_eq!(slot.state(), READY);
}

#[test]
fn wake_unblock_wakes_parked_waiter_without_ready() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    assert!(slot.poll_wait::<false>(&mut w.cx(), ok).is_pending());
    slot.unblock(Unblock::Wake)
        .waker
        .expect("parked waker")
        .wake();
    assert_eq!(slot.state(), 0);
    assert_eq!(w.wakes(), 1);
    // Woken without readiness or error (Go: timeout fired, then the deadline was reset):
    // the waiter parks again.
    assert!(slot.poll_wait::<false>(&mut w.cx(), ok).is_pending());
    // With the error published, the re-poll reports it.
    assert_eq!(
        slot.poll_wait::<false>(&mut w.cx(), || Err(PollError::Timeout)),
        Poll::Ready(Err(PollError::Timeout))
    );
}

#[test]
fn error_before_park_returns_at_once_and_parks_nothing() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    assert_eq!(
        slot.poll_wait::<false>(&mut w.cx(), || Err(PollError::Closing)),
        Poll::Ready(Err(PollError::Closing))
    );
    assert_eq!(slot.state(), 0);
    assert_eq!(w.held(), 0);
}

#[test]
fn error_wins_over_stored_ready() {
    // Go's pollWait checks errors before netpollblock consumes pdReady.
    let slot = WaiterSlot::new();
    drop(slot.unblock(Unblock::Ready).waker);
    let w = CountingWaker::new();
    assert_eq!(
        slot.poll_wait::<false>(&mut w.cx(), || Err(PollError::Timeout)),
        Poll::Ready(Err(PollError::Timeout))
    );
    assert_eq!(slot.state(), READY);
}

#[test]
fn reset_forgets_stored_ready() {
    let slot = WaiterSlot::new();
    drop(slot.unblock(Unblock::Ready).waker);
    slot.reset();
    assert_eq!(slot.state(), 0);
}

#[test]
fn reset_leaves_a_parked_waiter_alone() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    assert!(slot.poll_wait::<false>(&mut w.cx(), ok).is_pending());
    slot.reset();
    assert_eq!(slot.state(), PARKED);
    assert!(slot.unblock(Unblock::Ready).waker.is_some());
}

#[test]
fn repoll_with_new_waker_wakes_only_the_newest() {
    let slot = WaiterSlot::new();
    let old = CountingWaker::new();
    let new = CountingWaker::new();
    assert!(slot.poll_wait::<false>(&mut old.cx(), ok).is_pending());
    assert!(slot.poll_wait::<false>(&mut new.cx(), ok).is_pending());
    assert_eq!(old.held(), 0, "the old waker is released");
    slot.unblock(Unblock::Ready)
        .waker
        .expect("newest waker")
        .wake();
    assert_eq!((old.wakes(), new.wakes()), (0, 1));
}

#[test]
fn repoll_with_same_waker_keeps_one_clone() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    for _ in 0..3 {
        assert!(slot.poll_wait::<false>(&mut w.cx(), ok).is_pending());
    }
    assert_eq!(w.held(), 1);
}

#[test]
fn second_wait_during_registration_is_double_wait() {
    // The check closure runs a second time while this waiter holds REGISTERING (phase one);
    // a wait on the same slot at that moment is Go's "double wait".
    let slot = WaiterSlot::new();
    let first = CountingWaker::new();
    let second = CountingWaker::new();
    let calls = Cell::new(0);
    let nested = Cell::new(None);
    let r = slot.poll_wait::<false>(&mut first.cx(), || {
        calls.set(calls.get() + 1);
        if calls.get() == 2 {
            assert_eq!(slot.state() & REGISTERING, REGISTERING);
            nested.set(Some(slot.poll_wait::<false>(&mut second.cx(), ok)));
        }
        Ok(())
    });
    assert_eq!(nested.get(), Some(Poll::Ready(Err(PollError::DoubleWait))));
    assert_eq!(r, Poll::Pending, "the first waiter still parks");
    assert_eq!(slot.state(), PARKED);
}

#[test]
fn ready_edge_during_registration_fails_the_commit_and_is_consumed() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    let calls = Cell::new(0);
    let r = slot.poll_wait::<false>(&mut w.cx(), || {
        calls.set(calls.get() + 1);
        if calls.get() == 2 {
            // The unblocker sees REGISTERING: it takes no waker and leaves the cell alone.
            assert!(slot.unblock(Unblock::Ready).waker.is_none());
        }
        Ok(())
    });
    assert_eq!(
        r,
        Poll::Ready(Ok(())),
        "no lost wake-up: the edge is consumed"
    );
    assert_eq!(slot.state(), 0);
    assert_eq!(w.held(), 0, "the waker stored in phase one was released");
    assert_eq!(w.wakes(), 0);
}

#[test]
fn deadline_during_registration_fails_the_commit_with_timeout() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    let calls = Cell::new(0);
    let expired = Cell::new(false);
    let r = slot.poll_wait::<false>(&mut w.cx(), || {
        calls.set(calls.get() + 1);
        if calls.get() == 2 {
            // A deadline publishes its bit first, then unblocks: here the unblock lands after
            // this re-check passed, between phase one and the commit.
            drop(slot.unblock(Unblock::Wake).waker);
            expired.set(true);
            return Ok(());
        }
        if expired.get() {
            Err(PollError::Timeout)
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Poll::Ready(Err(PollError::Timeout)));
    assert_eq!(slot.state(), 0);
    assert_eq!(w.held(), 0);
}

#[test]
fn error_seen_at_recheck_abandons_the_park() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    let calls = Cell::new(0);
    let r = slot.poll_wait::<false>(&mut w.cx(), || {
        calls.set(calls.get() + 1);
        if calls.get() == 2 {
            Err(PollError::Closing)
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Poll::Ready(Err(PollError::Closing)));
    assert_eq!(slot.state(), 0);
    assert_eq!(w.held(), 0);
}

#[test]
fn wait_while_an_unblocker_holds_the_cell_yields() {
    let slot = WaiterSlot::new();
    slot.set_state(WAKING | PARKED);
    let w = CountingWaker::new();
    assert_eq!(slot.poll_wait::<false>(&mut w.cx(), ok), Poll::Pending);
    assert_eq!(w.wakes(), 1, "asks to be polled again instead of spinning");
    assert_eq!(slot.state(), WAKING | PARKED, "does not touch the slot");
}

#[test]
fn unblock_while_another_unblocker_holds_the_cell_adds_ready_only() {
    let slot = WaiterSlot::new();
    slot.set_state(WAKING | PARKED);
    assert!(slot.unblock(Unblock::Ready).waker.is_none());
    assert_eq!(slot.state(), WAKING | PARKED | READY);
}

#[test]
fn clear_parked_releases_a_cancelled_waiters_waker() {
    let slot = WaiterSlot::new();
    let w = CountingWaker::new();
    assert!(slot.poll_wait::<false>(&mut w.cx(), ok).is_pending());
    assert!(slot.clear_parked().waker.is_some());
    assert_eq!(slot.state(), 0);
    assert!(
        slot.unblock(Unblock::Ready).waker.is_none(),
        "nobody left to wake"
    );
    assert_eq!(w.wakes(), 0);
}
