//! Unit tests of the simulation machinery itself.

use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use netpoll_core::{Clock, Instant};

use super::{Nvic, VirtualIdle, VirtualTime};
use crate::{Idle, Line};

#[test]
fn virtual_time_runs_actions_in_time_then_schedule_order() {
    let vt = VirtualTime::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for (t, tag) in [(5, 'b'), (1, 'a'), (5, 'c'), (9, 'd')] {
        let log = log.clone();
        vt.at(Instant::from_nanos(t), move || {
            log.lock().unwrap().push(tag)
        });
    }
    vt.advance(Duration::from_nanos(5));
    assert_eq!(*log.lock().unwrap(), ['a', 'b', 'c']);
    assert_eq!(vt.now(), Instant::from_nanos(5));
    assert_eq!(vt.next_action(), Some(Instant::from_nanos(9)));
}

#[test]
fn virtual_idle_jumps_to_the_timeout_or_the_next_action() {
    let vt = VirtualTime::new();
    let idle = VirtualIdle::new(vt.clone());
    idle.wait_for_interrupt(Some(Duration::from_millis(3)), &|| false);
    assert_eq!(vt.now(), Instant::from_nanos(3_000_000));
    // An action that makes `pending` true ends the sleep at its time.
    let hit = Arc::new(Mutex::new(false));
    let h = hit.clone();
    vt.after(Duration::from_millis(1), move || *h.lock().unwrap() = true);
    idle.wait_for_interrupt(Some(Duration::from_secs(1)), &|| *hit.lock().unwrap());
    assert_eq!(vt.now(), Instant::from_nanos(4_000_000));
}

#[test]
#[should_panic(expected = "simulation deadlock")]
fn virtual_idle_reports_a_deadlock() {
    let vt = VirtualTime::new();
    VirtualIdle::new(vt).wait_for_interrupt(None, &|| false);
}

#[test]
fn inline_nvic_runs_the_handler_at_once_and_ignores_unknown_lines() {
    let nvic = Nvic::inline();
    let n = Arc::new(Mutex::new(0));
    let c = n.clone();
    nvic.set_handler(Line(3), Arc::new(move || *c.lock().unwrap() += 1));
    nvic.pend(Line(3));
    nvic.pend(Line(2)); // no handler
    nvic.pend(Line(64)); // out of range
    assert_eq!(*n.lock().unwrap(), 1);
    assert_eq!(nvic.taken(), 2);
}
