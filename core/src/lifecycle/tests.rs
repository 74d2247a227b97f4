//! The lifecycle word and the waiter table on their own (the races are in `tests/loom.rs`, the
//! descriptor-level rules in `netpoll/tests.rs`).

use std::vec::Vec;

use super::*;
use crate::test_util::CountingWaker;

fn open_word() -> AtomicU32 {
    AtomicU32::new(0)
}

#[test]
fn lock_takes_a_reference_and_excludes_a_second_holder() {
    let life = open_word();
    assert_eq!(try_lock(&life, Mode::Read), Ok(true));
    assert_eq!(try_lock(&life, Mode::Read), Ok(false));
    // The other direction is independent.
    assert_eq!(try_lock(&life, Mode::Write), Ok(true));
    assert_eq!(life.load(Ordering::Relaxed), RLOCK | WLOCK | (2 * REF));
    let u = unlock(&life, Mode::Read);
    assert!(!u.queued && !u.last);
    let u = unlock(&life, Mode::Write);
    assert!(!u.queued && !u.last);
    assert_eq!(life.load(Ordering::Relaxed), 0);
}

#[test]
fn queued_bit_is_set_only_while_the_lock_is_held_and_cleared_by_unlock() {
    let life = open_word();
    // Lock free: queuing says "retry".
    assert_eq!(mark_queued(&life, Mode::Read), Ok(false));
    assert_eq!(try_lock(&life, Mode::Read), Ok(true));
    assert_eq!(mark_queued(&life, Mode::Read), Ok(true));
    assert_eq!(mark_queued(&life, Mode::Read), Ok(true));
    let u = unlock(&life, Mode::Read);
    assert!(u.queued, "the unlock must wake the queue");
    assert_eq!(life.load(Ordering::Relaxed), 0);
    // The next unlock has nobody to wake.
    assert_eq!(try_lock(&life, Mode::Read), Ok(true));
    assert!(!unlock(&life, Mode::Read).queued);
}

#[test]
fn closed_word_refuses_references_locks_and_queuing() {
    let life = open_word();
    incref(&life).unwrap();
    assert!(mark_closed(&life));
    assert!(!mark_closed(&life), "a second close is refused");
    assert_eq!(incref(&life), Err(Refused::Closed));
    assert_eq!(try_lock(&life, Mode::Write), Err(Refused::Closed));
    assert_eq!(mark_queued(&life, Mode::Write), Err(Refused::Closed));
    assert!(decref(&life), "the closer held the last reference");
}

#[test]
fn last_reference_of_a_closed_descriptor_is_reported_once() {
    let life = open_word();
    assert_eq!(try_lock(&life, Mode::Read), Ok(true));
    incref(&life).unwrap(); // a deadline setter, say
    incref(&life).unwrap(); // the closer
    assert!(mark_closed(&life));
    assert!(!decref(&life), "the closer is not the last");
    assert!(
        !unlock(&life, Mode::Read).last,
        "the reader is not the last"
    );
    assert!(decref(&life), "the setter is");
}

#[test]
fn close_forgets_queued_bits() {
    let life = open_word();
    assert_eq!(try_lock(&life, Mode::Read), Ok(true));
    assert_eq!(try_lock(&life, Mode::Write), Ok(true));
    assert_eq!(mark_queued(&life, Mode::Read), Ok(true));
    assert_eq!(mark_queued(&life, Mode::Write), Ok(true));
    incref(&life).unwrap();
    assert!(mark_closed(&life));
    assert_eq!(life.load(Ordering::Relaxed) & (RWAIT | WWAIT), 0);
}

#[test]
fn reference_overflow_is_an_error_not_a_wrap() {
    let life = AtomicU32::new(REF_MASK - REF);
    incref(&life).unwrap();
    assert_eq!(life.load(Ordering::Relaxed), REF_MASK);
    assert_eq!(incref(&life), Err(Refused::Overflow));
    assert_eq!(try_lock(&life, Mode::Read), Err(Refused::Overflow));
    assert_eq!(life.load(Ordering::Relaxed), REF_MASK, "nothing changed");
}

fn table(slots: &[PollDesc]) -> Table {
    let mut t = Table::new();
    t.reset(slots);
    t
}

#[test]
fn table_queues_in_any_descriptor_and_dedups_by_task() {
    let slots: Vec<PollDesc> = (0..3).map(|_| PollDesc::new()).collect();
    let mut t = table(&slots);
    let (a, b) = (CountingWaker::new(), CountingWaker::new());
    // All three nodes can queue on one descriptor.
    assert!(t.push(&slots, 1, Mode::Read, a.cx().waker()));
    assert!(
        t.push(&slots, 1, Mode::Read, a.cx().waker()),
        "same task: no new node"
    );
    assert!(t.push(&slots, 1, Mode::Read, b.cx().waker()));
    assert!(t.push(&slots, 1, Mode::Write, a.cx().waker()));
    let c = CountingWaker::new();
    assert!(!t.push(&slots, 2, Mode::Read, c.cx().waker()), "table full");
    let mut woken = 0;
    while let Some(w) = t.pop(&slots, 1, Mode::Read) {
        w.wake();
        woken += 1;
    }
    assert_eq!(woken, 2);
    assert_eq!((a.wakes(), b.wakes()), (1, 1));
    // Freed nodes are reused.
    assert!(t.push(&slots, 2, Mode::Read, c.cx().waker()));
    assert!(t.pop(&slots, 1, Mode::Write).is_some());
    assert!(t.pop(&slots, 2, Mode::Read).is_some());
    assert!(t.pop(&slots, 2, Mode::Read).is_none());
    assert_eq!((a.held(), b.held(), c.held()), (0, 0, 0), "no waker kept");
}

#[test]
fn table_takes_back_one_waiter_from_the_middle_of_a_queue() {
    let slots: Vec<PollDesc> = (0..3).map(|_| PollDesc::new()).collect();
    let mut t = table(&slots);
    let ws: Vec<CountingWaker> = (0..3).map(|_| CountingWaker::new()).collect();
    for w in &ws {
        assert!(t.push(&slots, 0, Mode::Read, w.cx().waker()));
    }
    assert!(t
        .remove(&slots, 0, Mode::Read, ws[1].cx().waker())
        .is_some());
    assert!(
        t.remove(&slots, 0, Mode::Read, ws[1].cx().waker())
            .is_none(),
        "once"
    );
    assert!(
        t.remove(&slots, 0, Mode::Write, ws[0].cx().waker())
            .is_none(),
        "other queue"
    );
    let mut left = Vec::new();
    while let Some(w) = t.pop(&slots, 0, Mode::Read) {
        w.wake();
        left.push(());
    }
    assert_eq!(left.len(), 2);
    assert_eq!((ws[0].wakes(), ws[1].wakes(), ws[2].wakes()), (1, 0, 1));
    // Its node is free again: three more fit.
    for w in &ws {
        assert!(t.push(&slots, 2, Mode::Write, w.cx().waker()));
    }
}
