//! Unit tests of the line table: marks, edges, stale marks, registration errors.
extern crate std;
use std::vec::Vec;

use super::*;
use crate::NoIdle;

fn collect<const N: usize, I: Idle>(p: &IrqPoller<N, I>) -> Vec<Event> {
    let mut out = Vec::new();
    p.wait(Some(Duration::ZERO), &mut |e| out.push(e))
        .expect("wait");
    out
}

const A: Token = Token((3 << 32) | 1);
const B: Token = Token((4 << 32) | 1);

#[test]
fn a_mark_is_delivered_once_with_its_token() {
    let p = IrqPoller::<4, NoIdle>::new(NoIdle);
    p.register(&Line(2), A).unwrap();
    assert!(p.mark_readable(Line(2)));
    assert_eq!(
        collect(&p),
        [Event {
            token: A,
            readiness: Readiness::READABLE
        }]
    );
    assert!(collect(&p).is_empty(), "edge: consumed by the first wait");
}

#[test]
fn marks_between_waits_merge_into_one_event() {
    let p = IrqPoller::<4, NoIdle>::new(NoIdle);
    p.register(&Line(0), A).unwrap();
    p.mark_readable(Line(0));
    p.mark_readable(Line(0));
    p.mark_writable(Line(0));
    let evs = collect(&p);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].readiness, Readiness::BOTH);
    assert_eq!(p.stats().marks, 3);
    assert_eq!(p.stats().events, 1);
}

#[test]
fn error_mark_reports_error() {
    let p = IrqPoller::<4, NoIdle>::new(NoIdle);
    p.register(&Line(1), A).unwrap();
    p.mark_error(Line(1));
    let evs = collect(&p);
    assert!(evs[0].readiness.error);
    assert!(!evs[0].readiness.readable);
}

#[test]
fn marks_for_unregistered_or_unknown_lines_are_dropped() {
    let p = IrqPoller::<4, NoIdle>::new(NoIdle);
    assert!(!p.mark_readable(Line(0)));
    assert!(!p.mark_readable(Line(4)));
    assert!(!p.mark_readable(Line(u16::MAX)));
    assert_eq!(p.stats().dropped_marks, 3);
    // A mark on an unregistered line does not leak into a later registration.
    p.register(&Line(0), A).unwrap();
    assert!(collect(&p).is_empty());
}

#[test]
fn regression_mark_for_old_registration_is_not_delivered_to_the_next() {
    let p = IrqPoller::<4, NoIdle>::new(NoIdle);
    p.register(&Line(3), A).unwrap();
    p.mark_readable(Line(3));
    // Closed and reopened before the loop ran: the old mark must vanish with A.
    p.deregister(&Line(3), A).unwrap();
    p.register(&Line(3), B).unwrap();
    assert!(collect(&p).is_empty());
    p.mark_writable(Line(3));
    assert_eq!(
        collect(&p),
        [Event {
            token: B,
            readiness: Readiness::WRITABLE
        }]
    );
}

#[test]
fn registration_errors() {
    let p = IrqPoller::<2, NoIdle>::new(NoIdle);
    assert_eq!(p.register(&Line(2), A), Err(IrqError::NoSuchLine));
    p.register(&Line(0), A).unwrap();
    assert_eq!(p.register(&Line(0), B), Err(IrqError::AlreadyRegistered));
    assert_eq!(p.deregister(&Line(0), B), Err(IrqError::NotRegistered));
    assert_eq!(p.deregister(&Line(1), A), Err(IrqError::NotRegistered));
    assert_eq!(p.deregister(&Line(9), A), Err(IrqError::NoSuchLine));
    p.deregister(&Line(0), A).unwrap();
    assert_eq!(p.deregister(&Line(0), A), Err(IrqError::NotRegistered));
    assert!(!p.is_registered(Line(0)));
}

#[test]
fn wake_sets_the_signal_and_a_wait_clears_it() {
    let p = IrqPoller::<2, NoIdle>::new(NoIdle);
    assert!(!p.pending());
    p.wake().unwrap();
    assert!(p.pending());
    assert!(collect(&p).is_empty());
    assert!(!p.pending());
}

#[test]
fn wake_wakes_the_async_loop_task() {
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
    let waker = core::task::Waker::from(count.clone());
    let woken = || count.0.load(std::sync::atomic::Ordering::SeqCst);

    let p = IrqPoller::<2, NoIdle>::new(NoIdle);
    assert!(!p.register_loop_waker(&waker), "nothing pending yet");
    // The core calls `Poller::wake` for a deadline set before the loop's promised instant.
    p.wake().unwrap();
    assert_eq!(woken(), 1);
    assert!(
        p.register_loop_waker(&waker),
        "the signal stays until the next wait"
    );
    assert!(collect(&p).is_empty());
    assert!(!p.register_loop_waker(&waker));
    p.register(&Line(1), A).unwrap();
    assert!(p.mark_writable(Line(1)));
    assert_eq!(woken(), 2, "a mark wakes it too");
}

/// An idle hook that records its calls and runs an "interrupt" while asleep.
struct ScriptIdle<'a> {
    calls: std::sync::Mutex<Vec<Option<Duration>>>,
    on_sleep: &'a (dyn Fn() + Sync),
}

impl Idle for ScriptIdle<'_> {
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool) {
        self.calls.lock().unwrap().push(timeout);
        assert!(!pending(), "the poller sleeps only with nothing pending");
        (self.on_sleep)();
    }
}

#[test]
fn blocking_wait_sleeps_in_the_idle_hook_and_delivers_marks_made_meanwhile() {
    let cell: std::sync::OnceLock<&IrqPoller<2, ScriptIdle<'_>>> = std::sync::OnceLock::new();
    let isr = || {
        if let Some(p) = cell.get() {
            p.mark_readable(Line(1));
        }
    };
    let p = IrqPoller::<2, _>::new(ScriptIdle {
        calls: std::sync::Mutex::new(Vec::new()),
        on_sleep: &isr,
    });
    assert!(cell.set(&p).is_ok());
    p.register(&Line(1), A).unwrap();
    let mut evs = Vec::new();
    p.wait(Some(Duration::from_millis(3)), &mut |e| evs.push(e))
        .unwrap();
    assert_eq!(evs.len(), 1, "the mark made during the sleep is delivered");
    assert_eq!(
        p.idle().calls.lock().unwrap().as_slice(),
        [Some(Duration::from_millis(3))]
    );
    // With a mark already pending, the hook is not called and a zero timeout never sleeps.
    p.mark_writable(Line(1));
    p.wait(None, &mut |_| {}).unwrap();
    p.wait(Some(Duration::ZERO), &mut |_| {}).unwrap();
    assert_eq!(p.idle().calls.lock().unwrap().len(), 1);
}

#[test]
fn regression_a_wake_before_the_wait_is_not_lost() {
    let never = || {};
    let p = IrqPoller::<2, _>::new(ScriptIdle {
        calls: std::sync::Mutex::new(Vec::new()),
        on_sleep: &never,
    });
    p.wake().unwrap();
    // The wait must return at once instead of sleeping past the wake.
    p.wait(None, &mut |_| {}).unwrap();
    assert!(p.idle().calls.lock().unwrap().is_empty());
    // With nothing new, the next wait sleeps.
    p.wait(Some(Duration::from_millis(1)), &mut |_| {}).unwrap();
    assert_eq!(p.idle().calls.lock().unwrap().len(), 1);
}

#[test]
fn concurrent_marks_and_reregistration_never_misdeliver() {
    // An "interrupt" thread hammers marks while the loop thread re-registers the line with a
    // new token each round. Registration changes only happen on the loop thread, so every
    // event must carry the token registered now, and none may follow a deregistration.
    use std::sync::atomic::{AtomicBool as StdBool, Ordering as O};
    let p = std::sync::Arc::new(IrqPoller::<1, NoIdle>::new(NoIdle));
    let stop = std::sync::Arc::new(StdBool::new(false));
    let isr = {
        let p = p.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(O::Relaxed) {
                p.mark_readable(Line(0));
            }
        })
    };
    for round in 1..2_000u64 {
        let t = Token((round << 32) | 7);
        p.register(&Line(0), t).unwrap();
        for _ in 0..3 {
            p.wait(Some(Duration::ZERO), &mut |e| {
                assert_eq!(e.token, t, "an event carried another registration's token");
            })
            .unwrap();
        }
        p.deregister(&Line(0), t).unwrap();
        p.wait(Some(Duration::ZERO), &mut |e| {
            panic!("event {e:?} delivered after deregistration");
        })
        .unwrap();
    }
    stop.store(true, O::Relaxed);
    isr.join().unwrap();
}
