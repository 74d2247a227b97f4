//! Loom models of the races the core must win: a wait parking while a readiness edge, a
//! deadline or a close arrives; a re-poll or a cancelled wait meeting an unblock; a deadline
//! moved while the loop fires it; a deadline lowered while the loop goes to sleep; a stale
//! event meeting the reuse of its slot; several waiters on one direction (the direction lock
//! and its queue) meeting an edge or a close; and stale re-polls, cancels and timers meeting
//! the close and reopening of their slot.
//!
//! Built only under `--cfg loom`, where the core's atomics and cells come from loom:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!   cargo test -p netpoll-core --release --target-dir target/loom --test loom
//! ```
//!
//! Every model runs two or three actors over a one- or two-slot pool, a [`ScriptedPoller`] (or
//! the [`SleepingPoller`] below) and a [`ManualClock`]. Each model is explored once per
//! placement of its actors, each actor taking a turn on the model's main thread: which
//! schedules loom reaches depends on which thread runs what (while these models were written,
//! the self-wake path of a re-poll was reached from one placement and never from another,
//! even with no preemption bound). Wakers count their wake-ups in a loom atomic, so a model
//! can require "woken exactly once" rather than "woken". With `--nocapture` every model prints
//! how many interleavings it explored.
#![cfg(loom)]

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use netpoll_core::testing::{ManualClock, ScriptedPoller};
use netpoll_core::{
    Clock, Event, Handle, Instant, Mode, Netpoll, PollDesc, PollError, Poller, Readiness, Token,
};

/// Preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
const DEFAULT_PREEMPTIONS: usize = 2;

/// The source id every model opens first.
const SOURCE: u32 = 1;

type Pool<P> = Netpoll<P, ManualClock, Vec<PollDesc>>;
type Np = Pool<ScriptedPoller<4>>;
type WaitResult = Poll<Result<(), PollError>>;

// ------------------------------------------------------------------------------ harness

/// Explore `body(placement)` for each `placement` in `0..placements` under a bounded number
/// of preemptions, and print how many interleavings each took.
fn model<F>(name: &str, placements: usize, body: F)
where
    F: Fn(usize) + Sync + Send + 'static,
{
    let body = StdArc::new(body);
    for placement in 0..placements {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
        }
        let runs = StdArc::new(StdAtomicUsize::new(0));
        let (counter, body) = (runs.clone(), body.clone());
        let start = std::time::Instant::now();
        builder.check(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            body(placement);
        });
        eprintln!(
            "loom model {name}, placement {placement}: {} interleavings in {:.2?}",
            runs.load(std::sync::atomic::Ordering::Relaxed),
            start.elapsed()
        );
    }
}

/// Run `a` and `b` concurrently: `a` on the calling (main) thread for placement 0, `b` for
/// placement 1; the other one on a spawned thread.
fn race<A, B, RA, RB>(placement: usize, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send + 'static,
    B: FnOnce() -> RB + Send + 'static,
    RA: Send + 'static,
    RB: Send + 'static,
{
    if placement == 0 {
        let tb = thread::spawn(b);
        let ra = a();
        (ra, tb.join().expect("spawned actor"))
    } else {
        let ta = thread::spawn(a);
        let rb = b();
        (ta.join().expect("spawned actor"), rb)
    }
}

/// Run three actors concurrently; actor number `placement` runs on the calling thread.
fn race3<A, B, C, RA, RB, RC>(placement: usize, a: A, b: B, c: C) -> (RA, RB, RC)
where
    A: FnOnce() -> RA + Send + 'static,
    B: FnOnce() -> RB + Send + 'static,
    C: FnOnce() -> RC + Send + 'static,
    RA: Send + 'static,
    RB: Send + 'static,
    RC: Send + 'static,
{
    match placement {
        0 => {
            let (tb, tc) = (thread::spawn(b), thread::spawn(c));
            let ra = a();
            (ra, tb.join().expect("actor b"), tc.join().expect("actor c"))
        }
        1 => {
            let (ta, tc) = (thread::spawn(a), thread::spawn(c));
            let rb = b();
            (ta.join().expect("actor a"), rb, tc.join().expect("actor c"))
        }
        _ => {
            let (ta, tb) = (thread::spawn(a), thread::spawn(b));
            let rc = c();
            (ta.join().expect("actor a"), tb.join().expect("actor b"), rc)
        }
    }
}

/// A one-slot pool with `SOURCE` open on it.
fn open_one() -> (Arc<Np>, Handle) {
    let slots: Vec<PollDesc> = vec![PollDesc::with_lock()];
    let np = Netpoll::new(ScriptedPoller::new(), ManualClock::new(), slots)
        .expect("fresh storage is not claimed");
    let h = np.open(&SOURCE).expect("the pool has a free slot");
    (Arc::new(np), h)
}

/// What a backend does when the socket becomes readable: queue an event, and the loop
/// (polling, never blocking) applies it. Returns how many waiters the loop woke.
fn deliver(np: &Np, token: Token, readiness: Readiness) -> usize {
    np.poller()
        .push(token, readiness)
        .expect("the event queue has room");
    np.poll(Some(Duration::ZERO))
        .expect("the scripted backend does not fail")
}

fn deliver_edge(np: &Np, h: Handle) -> usize {
    deliver(np, h.token(), Readiness::READABLE)
}

fn at(nanos: u64) -> Instant {
    Instant::from_nanos(nanos)
}

/// The wake-up count behind a [`CountingWaker`]; a loom atomic, so the model sees it.
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A task's waker that counts its wake-ups. (`std::task::Wake` needs `std`'s `Arc`; the count
/// inside it is loom's.)
struct CountingWaker {
    count: StdArc<WakeCount>,
    waker: Waker,
}

impl CountingWaker {
    fn new() -> Self {
        let count = StdArc::new(WakeCount(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        CountingWaker { count, waker }
    }

    /// `poll_wait` as the task owning this waker calls it.
    fn poll_wait<P: Poller>(&self, np: &Pool<P>, h: Handle, mode: Mode) -> WaitResult {
        np.poll_wait(h, mode, &mut Context::from_waker(&self.waker))
    }

    fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    /// Clones of the waker held elsewhere (by a waiter slot).
    fn held(&self) -> usize {
        StdArc::strong_count(&self.count) - 2
    }
}

/// Park a fresh waker on `mode` (the task's first poll, before any race).
fn park(np: &Np, h: Handle, mode: Mode) -> CountingWaker {
    let w = CountingWaker::new();
    assert_eq!(
        w.poll_wait(np, h, mode),
        Poll::Pending,
        "set-up: the first wait parks"
    );
    w
}

/// A wait that raced one unblocker, checked once both are done: it either returned `expected`
/// without being woken, or parked and was woken exactly once, after which a re-poll returns
/// `expected`. Either way the slot keeps no clone of the waker.
fn assert_settled(
    np: &Np,
    h: Handle,
    mode: Mode,
    first: WaitResult,
    waiter: &CountingWaker,
    expected: Result<(), PollError>,
) {
    match first {
        Poll::Ready(r) => {
            assert_eq!(r, expected, "{mode:?} wait returned the wrong result");
            assert_eq!(
                waiter.wakes(),
                0,
                "{mode:?} wait returned Ready and was also woken"
            );
        }
        Poll::Pending => {
            assert_eq!(
                waiter.wakes(),
                1,
                "{mode:?} wait parked: woken {} times",
                waiter.wakes()
            );
            assert_eq!(
                waiter.poll_wait(np, h, mode),
                Poll::Ready(expected),
                "{mode:?} re-poll after the wake-up"
            );
        }
    }
    assert_eq!(waiter.held(), 0, "{mode:?} slot kept a clone of the waker");
}

/// An actor: a task's first wait on `mode`, with a fresh waker.
fn first_wait(np: &Arc<Np>, h: Handle, mode: Mode) -> impl FnOnce() -> (WaitResult, CountingWaker) {
    let np = np.clone();
    move || {
        let w = CountingWaker::new();
        let r = w.poll_wait(&np, h, mode);
        (r, w)
    }
}

// ------------------------------------------------------------------------------ park races

/// Model 1: a readiness edge delivered by the loop while a task parks. The edge is neither
/// lost nor delivered twice.
#[test]
fn edge_racing_park_is_consumed_or_wakes_once() {
    model(
        "edge_racing_park_is_consumed_or_wakes_once",
        2,
        |placement| {
            let (np, h) = open_one();
            let np2 = np.clone();
            let ((first, w), woken_by_loop) =
                race(placement, first_wait(&np, h, Mode::Read), move || {
                    deliver_edge(&np2, h)
                });
            assert_eq!(
                woken_by_loop,
                w.wakes(),
                "the loop's count disagrees with the waker's"
            );
            assert_settled(&np, h, Mode::Read, first, &w, Ok(()));
            // The edge was consumed exactly once: nothing is left for the next wait.
            assert_eq!(
                w.poll_wait(&np, h, Mode::Read),
                Poll::Pending,
                "the edge was kept twice"
            );
        },
    );
}

/// Model 2a: a read deadline set in the past (expired at once, in the setter's thread) while
/// a task parks on Read.
#[test]
fn past_deadline_racing_park_times_out_once() {
    model("past_deadline_racing_park_times_out_once", 2, |placement| {
        let (np, h) = open_one();
        let np2 = np.clone();
        let ((first, w), set) = race(placement, first_wait(&np, h, Mode::Read), move || {
            let now = np2.clock().now();
            np2.set_read_deadline(h, Some(now))
        });
        set.expect("the handle is open");
        assert_settled(&np, h, Mode::Read, first, &w, Err(PollError::Timeout));
        // A read deadline leaves the write direction alone.
        assert_eq!(
            CountingWaker::new().poll_wait(&np, h, Mode::Write),
            Poll::Pending
        );
    });
}

/// Model 2b: a read deadline that comes due as the clock moves and the loop fires it, while
/// a task parks on Read.
#[test]
fn deadline_fired_by_loop_racing_park_times_out_once() {
    model(
        "deadline_fired_by_loop_racing_park_times_out_once",
        2,
        |placement| {
            let (np, h) = open_one();
            np.set_read_deadline(h, Some(at(10)))
                .expect("the handle is open");
            let np2 = np.clone();
            let ((first, w), woken_by_loop) =
                race(placement, first_wait(&np, h, Mode::Read), move || {
                    np2.clock().advance(Duration::from_nanos(10));
                    np2.poll(Some(Duration::ZERO)).expect("scripted poll")
                });
            assert_eq!(np.stats().timeouts, 1, "the deadline fired once");
            assert_eq!(
                woken_by_loop,
                w.wakes(),
                "the loop's count disagrees with the waker's"
            );
            assert_settled(&np, h, Mode::Read, first, &w, Err(PollError::Timeout));
        },
    );
}

/// Model 3a: close while a task parks on Read.
#[test]
fn close_racing_park_reports_closing() {
    model("close_racing_park_reports_closing", 2, |placement| {
        let (np, h) = open_one();
        let np2 = np.clone();
        let ((first, w), closed) = race(placement, first_wait(&np, h, Mode::Read), move || {
            np2.close(h, &SOURCE)
        });
        closed.expect("the first close succeeds");
        assert_settled(&np, h, Mode::Read, first, &w, Err(PollError::Closing));
        assert_eq!(np.stats().open, 0);
    });
}

/// Model 3b: close while one task parks on Read and then on Write: both directions learn of
/// the close.
#[test]
fn close_racing_parks_on_both_directions_reports_closing() {
    model(
        "close_racing_parks_on_both_directions_reports_closing",
        2,
        |placement| {
            let (np, h) = open_one();
            let (read, write) = (
                first_wait(&np, h, Mode::Read),
                first_wait(&np, h, Mode::Write),
            );
            let np2 = np.clone();
            let ((read, write), closed) = race(
                placement,
                move || (read(), write()),
                move || np2.close(h, &SOURCE),
            );
            closed.expect("the first close succeeds");
            assert_settled(&np, h, Mode::Read, read.0, &read.1, Err(PollError::Closing));
            assert_settled(
                &np,
                h,
                Mode::Write,
                write.0,
                &write.1,
                Err(PollError::Closing),
            );
        },
    );
}

/// Model 3c: close while the loop fires the parked task's due deadline: two unblockers, one
/// waker, woken exactly once; the close is what the task then sees.
#[test]
fn close_racing_deadline_expiry_wakes_once() {
    model("close_racing_deadline_expiry_wakes_once", 2, |placement| {
        let (np, h) = open_one();
        np.set_read_deadline(h, Some(at(10)))
            .expect("the handle is open");
        np.poll(Some(Duration::ZERO)).expect("scripted poll");
        let w = park(&np, h, Mode::Read);
        np.clock().set(at(10));
        let (np1, np2) = (np.clone(), np.clone());
        let (closed, _) = race(
            placement,
            move || np1.close(h, &SOURCE),
            move || np2.poll(Some(Duration::ZERO)).expect("scripted poll"),
        );
        closed.expect("the first close succeeds");
        assert!(np.stats().timeouts <= 1);
        assert_settled(
            &np,
            h,
            Mode::Read,
            Poll::Pending,
            &w,
            Err(PollError::Closing),
        );
    });
}

// ------------------------------------------------------------------------------ deadline vs timer

/// Model 4, shared by its two variants: a task is parked on Read with a deadline at 10 that
/// the loop has queued; at time 10 one thread moves the deadline to `new` while the loop
/// runs.
///
/// Whatever the order, the wait then blocks (the new deadline is in the future or gone); it
/// was woken only if the loop fired the old deadline first; and the new deadline, if any,
/// fires when it comes due.
fn deadline_move_racing_expiry(placement: usize, new: Option<Instant>) {
    let (np, h) = open_one();
    np.set_read_deadline(h, Some(at(10)))
        .expect("the handle is open");
    np.poll(Some(Duration::ZERO)).expect("scripted poll");
    assert_eq!(np.timer_entries(), 1, "the loop queued the deadline");
    let w = park(&np, h, Mode::Read);
    np.clock().set(at(10));

    let (np1, np2) = (np.clone(), np.clone());
    let (set, woken_by_loop) = race(
        placement,
        move || np1.set_read_deadline(h, new),
        move || np2.poll(Some(Duration::ZERO)).expect("scripted poll"),
    );
    set.expect("the handle is open");

    let fired = np.stats().timeouts;
    assert!(fired <= 1, "the old deadline fired {fired} times");
    assert_eq!(
        w.wakes() as u64,
        fired,
        "woken iff the loop fired the old deadline"
    );
    assert_eq!(woken_by_loop, w.wakes());
    // Fired or not, the deadline is no longer expired: the next attempt may go ahead, and a
    // woken waiter's next wait blocks again (one not woken is still parked).
    assert_eq!(
        np.prepare(h, Mode::Read),
        Ok(()),
        "the moved deadline expired"
    );
    if fired == 1 {
        assert_eq!(
            w.poll_wait(&np, h, Mode::Read),
            Poll::Pending,
            "the moved deadline expired"
        );
    }
    let wakes = w.wakes();

    match new {
        Some(t) => {
            // The moved deadline is queued (timer heap or dirty list) and fires when due.
            np.clock().set(t);
            assert_eq!(
                np.poll(Some(Duration::ZERO)).expect("scripted poll"),
                1,
                "lost timeout"
            );
            assert_eq!(w.wakes(), wakes + 1);
            assert_eq!(
                w.poll_wait(&np, h, Mode::Read),
                Poll::Ready(Err(PollError::Timeout))
            );
        }
        None => {
            assert_eq!(
                np.timer_entries(),
                0,
                "a cleared deadline left a timer entry"
            );
            np.clock().set(at(1_000));
            assert_eq!(np.poll(Some(Duration::ZERO)).expect("scripted poll"), 0);
            assert_eq!(w.wakes(), wakes, "a cleared deadline woke the waiter");
            assert_eq!(w.poll_wait(&np, h, Mode::Read), Poll::Pending);
        }
    }
}

/// Model 4a: the deadline is pushed later while the loop fires it.
#[test]
fn deadline_pushed_later_racing_expiry_is_never_lost() {
    model(
        "deadline_pushed_later_racing_expiry_is_never_lost",
        2,
        |placement| {
            deadline_move_racing_expiry(placement, Some(at(20)));
        },
    );
}

/// Model 4b: the deadline is cleared while the loop fires it.
#[test]
fn deadline_cleared_racing_expiry_leaves_wait_blocked() {
    model(
        "deadline_cleared_racing_expiry_leaves_wait_blocked",
        2,
        |placement| {
            deadline_move_racing_expiry(placement, None);
        },
    );
}

// ------------------------------------------------------------------------------ second waits

/// Re-poll every waiter that was woken since its last poll (as an executor would), until no
/// wake-up is left unanswered; returns the final results.
fn settle_all(np: &Np, h: Handle, mode: Mode, ws: &mut [(WaitResult, &CountingWaker, usize)]) {
    for _ in 0..8 {
        let mut again = false;
        for (r, w, seen) in ws.iter_mut() {
            if r.is_pending() && w.wakes() > *seen {
                *seen = w.wakes();
                *r = w.poll_wait(np, h, mode);
                again = true;
            }
        }
        if !again {
            return;
        }
    }
    panic!("waiters kept waking each other");
}

/// Model 5: two tasks wait on Read at once while the loop delivers one edge. They take turns
/// on the direction's lock (the first parks with it, the second queues behind), so no waker
/// is ever replaced: the edge reaches exactly one of them, and the other is still reachable:
/// a close then wakes it with `Closing`.
#[test]
fn second_waiter_racing_edge_keeps_the_edge() {
    model("second_waiter_racing_edge_keeps_the_edge", 3, |placement| {
        let (np, h) = open_one();
        let np2 = np.clone();
        let ((r1, w1), (r2, w2), _) = race3(
            placement,
            first_wait(&np, h, Mode::Read),
            first_wait(&np, h, Mode::Read),
            move || deliver_edge(&np2, h),
        );
        let mut ws = [(r1, &w1, 0), (r2, &w2, 0)];
        settle_all(&np, h, Mode::Read, &mut ws);
        let got_edge = ws
            .iter()
            .filter(|(r, ..)| *r == Poll::Ready(Ok(())))
            .count();
        assert_eq!(got_edge, 1, "the edge reached {got_edge} waiters");
        np.close(h, &SOURCE).expect("the first close succeeds");
        settle_all(&np, h, Mode::Read, &mut ws);
        for (r, w, _) in &ws {
            assert!(
                r.is_ready(),
                "a waiter was never woken (woken {} times)",
                w.wakes()
            );
        }
        assert_eq!(w1.held() + w2.held(), 0, "a waker was kept");
        assert_eq!(np.stats().open, 0, "the slot was not freed");
    });
}

/// Model 10: two tasks parked on Read (one in the slot with the lock, one queued for it) while
/// the descriptor is closed: both are woken and fail with `Closing`, nothing is kept, and the
/// slot goes back to the pool once the last of them has let go.
#[test]
fn close_racing_two_waiters_wakes_both() {
    model("close_racing_two_waiters_wakes_both", 3, |placement| {
        let (np, h) = open_one();
        let np2 = np.clone();
        let ((r1, w1), (r2, w2), closed) = race3(
            placement,
            first_wait(&np, h, Mode::Read),
            first_wait(&np, h, Mode::Read),
            move || np2.close(h, &SOURCE),
        );
        closed.expect("the first close succeeds");
        let mut ws = [(r1, &w1, 0), (r2, &w2, 0)];
        settle_all(&np, h, Mode::Read, &mut ws);
        for (r, w, _) in &ws {
            assert_eq!(
                *r,
                Poll::Ready(Err(PollError::Closing)),
                "woken {} times",
                w.wakes()
            );
            assert!(w.wakes() <= 1, "woken {} times", w.wakes());
        }
        assert_eq!(w1.held() + w2.held(), 0, "a waker was kept");
        assert_eq!(np.stats().open, 0, "the slot was not freed");
    });
}

/// A task re-polls its parked Read wait with a new waker while `unblock` runs. The parked
/// wait holds the direction's lock, so the re-poll queues behind it (or, once the unblock has
/// released it, takes it): it returns `expected`, or it is Pending and the new waker is woken
/// exactly once, after which a re-poll returns `expected`. Nothing is kept.
fn repoll_with_new_waker_racing(
    placement: usize,
    unblock: fn(&Np, Handle),
    expected: Result<(), PollError>,
) {
    let (np, h) = open_one();
    let old = park(&np, h, Mode::Read);
    let np2 = np.clone();
    let ((r, new), ()) = race(placement, first_wait(&np, h, Mode::Read), move || {
        unblock(&np2, h)
    });
    assert_eq!(
        old.wakes(),
        1,
        "the old waker was woken {} times",
        old.wakes()
    );
    match r {
        Poll::Ready(res) => {
            assert_eq!(res, expected);
            // A close wakes the queue whatever its bit says: a queuing that lost the race to
            // it may have been woken before it noticed.
            assert!(
                new.wakes() <= 1,
                "returned Ready and was woken {} times",
                new.wakes()
            );
        }
        Poll::Pending => {
            assert_eq!(
                new.wakes(),
                1,
                "queued with the new waker, woken {} times",
                new.wakes()
            );
            assert_eq!(new.poll_wait(&np, h, Mode::Read), Poll::Ready(expected));
        }
    }
    assert_eq!(old.held() + new.held(), 0, "the slot kept a waker");
}

/// Model 6a: re-poll with a new waker racing a readiness edge.
#[test]
fn repoll_with_new_waker_racing_edge_wakes_both() {
    model(
        "repoll_with_new_waker_racing_edge_wakes_both",
        2,
        |placement| {
            repoll_with_new_waker_racing(
                placement,
                |np, h| {
                    deliver_edge(np, h);
                },
                Ok(()),
            );
        },
    );
}

/// Model 6b: re-poll with a new waker racing a close, which wakes without leaving an edge.
#[test]
fn repoll_with_new_waker_racing_close_wakes_both() {
    model(
        "repoll_with_new_waker_racing_close_wakes_both",
        2,
        |placement| {
            repoll_with_new_waker_racing(
                placement,
                |np, h| np.close(h, &SOURCE).expect("the first close succeeds"),
                Err(PollError::Closing),
            );
        },
    );
}

/// Model 6c: a task re-polls its parked Read wait with a new waker (a spurious poll) while the
/// loop fires its read deadline and another thread pushes the deadline later. The re-poll
/// queues behind the parked wait or takes the lock the loop's wake-up released. Whatever it
/// returns, the task is never stranded: a timeout, or Pending and woken exactly once by the
/// time the next readiness edge has been delivered.
#[test]
fn repoll_racing_expiry_and_extension_is_never_stranded() {
    model(
        "repoll_racing_expiry_and_extension_is_never_stranded",
        3,
        |placement| {
            let (np, h) = open_one();
            np.set_read_deadline(h, Some(at(10)))
                .expect("the handle is open");
            np.poll(Some(Duration::ZERO)).expect("scripted poll");
            let old = park(&np, h, Mode::Read);
            np.clock().set(at(10));

            let (np1, np2) = (np.clone(), np.clone());
            let ((r, new), set, _) = race3(
                placement,
                first_wait(&np, h, Mode::Read),
                move || np1.set_read_deadline(h, Some(at(20))),
                move || np2.poll(Some(Duration::ZERO)).expect("scripted poll"),
            );
            set.expect("the handle is open");

            assert!(
                old.wakes() <= 1,
                "the old waker was woken {} times",
                old.wakes()
            );
            deliver_edge(&np, h);
            match r {
                Poll::Ready(res) => {
                    assert_eq!(res, Err(PollError::Timeout));
                    assert_eq!(new.wakes(), 0, "returned Ready and was also woken");
                }
                Poll::Pending => {
                    assert_eq!(
                        new.wakes(),
                        1,
                        "a Pending re-poll was woken {} times",
                        new.wakes()
                    );
                }
            }
            assert_eq!(old.held() + new.held(), 0, "the slot kept a waker");
        },
    );
}

/// Model 7: a parked wait is cancelled (its future dropped) while the loop delivers an edge:
/// the edge stays for the next wait, and the waker is woken at most once and not kept.
#[test]
fn cancelled_wait_racing_edge_keeps_the_edge() {
    model(
        "cancelled_wait_racing_edge_keeps_the_edge",
        2,
        |placement| {
            let (np, h) = open_one();
            let w = park(&np, h, Mode::Read);
            let own = w.waker.clone();
            let (np1, np2) = (np.clone(), np.clone());
            let ((), woken_by_loop) = race(
                placement,
                move || np1.cancel_wait(h, Mode::Read, &own),
                move || deliver_edge(&np2, h),
            );
            assert_eq!(woken_by_loop, w.wakes());
            assert!(w.wakes() <= 1);
            assert_eq!(w.held(), 0, "the cancelled wait's waker was kept");
            let next = CountingWaker::new();
            assert_eq!(
                next.poll_wait(&np, h, Mode::Read),
                Poll::Ready(Ok(())),
                "the edge was lost"
            );
        },
    );
}

// ------------------------------------------------------------------------------ slot reuse

/// Model 8: a readiness event for a descriptor races its close and the reopening of its slot
/// (same source, new generation). The event may count as stale or not, but it never reaches
/// the new descriptor: if the slot was reopened between the loop's generation check and its
/// unblock, the loop sees the new generation afterwards and takes the edge back. The new handle
/// is current, fails with no error, has no hang-up mark (the event carries one), and the old
/// handle is stale.
///
/// The event carries no error condition: the loop records one with a read-modify-write of the
/// info word while `close` and `open` write it with plain stores, and loom 0.7 lets a plain
/// store slip between the read and the write of a concurrent read-modify-write
/// (tokio-rs/loom#254, #389), which reports a generation mix-up the memory model forbids.
#[test]
fn stale_event_racing_reopen_never_reaches_the_new_descriptor() {
    model(
        "stale_event_racing_reopen_never_reaches_the_new_descriptor",
        2,
        |placement| {
            let (np, h) = open_one();
            let (np1, np2) = (np.clone(), np.clone());
            let (reopened, _) = race(
                placement,
                move || {
                    np1.close(h, &SOURCE).expect("the first close succeeds");
                    np1.open(&SOURCE).expect("the slot is free again")
                },
                move || {
                    let hup = Readiness {
                        read_closed: true,
                        ..Readiness::BOTH
                    };
                    deliver(&np2, h.token(), hup)
                },
            );
            assert_ne!(reopened.generation(), h.generation());
            assert_eq!(
                np.read_closed(reopened),
                Ok(false),
                "the old descriptor's hang-up mark leaks into the new one"
            );
            let stats = np.stats();
            assert_eq!(
                stats.events + stats.stale_events,
                1,
                "the event was counted once"
            );
            for mode in [Mode::Read, Mode::Write] {
                let r = CountingWaker::new().poll_wait(&np, reopened, mode);
                assert_eq!(
                    r,
                    Poll::Pending,
                    "{mode:?}: no edge leaks into the new descriptor"
                );
                assert_eq!(np.prepare(reopened, mode), Ok(()));
                let old = np.poll_wait(h, mode, &mut Context::from_waker(Waker::noop()));
                assert_eq!(old, Poll::Ready(Err(PollError::StaleHandle)));
            }
        },
    );
}

/// Open `SOURCE` in the one-slot pool if the slot is free. After a close, it returns to the
/// pool only when the last operation holding a reference lets go (which is what keeps those
/// operations off the next descriptor): racing such an operation, the reopening may have to
/// wait until it is done (`None`). Not a spin loop: loom cannot explore one.
fn try_reopen(np: &Np) -> Option<Handle> {
    match np.open(&SOURCE) {
        Ok(h) => Some(h),
        Err(netpoll_core::Error::Poll(PollError::PoolExhausted)) => None,
        Err(e) => panic!("reopen: {e:?}"),
    }
}

/// After the race: the reopening, done now if the race deferred it (everyone has let go, so
/// the slot must be free).
fn reopened_after(np: &Np, during: Option<Handle>) -> Handle {
    during
        .unwrap_or_else(|| try_reopen(np).expect("the slot was not freed after its last operation"))
}

/// Park a new waiter on the new descriptor's Read direction.
fn park_new(np: &Np, reopened: Handle) -> CountingWaker {
    let w = CountingWaker::new();
    let first = w.poll_wait(np, reopened, Mode::Read);
    assert!(
        first.is_pending(),
        "set-up: the new descriptor's first wait parks"
    );
    w
}

/// Close the descriptor `h`, reopen its slot if it is free, and park a new waiter on the new
/// descriptor: the "other side" of the reuse races below.
fn close_reopen_and_park(np: &Np, h: Handle) -> Option<(Handle, CountingWaker)> {
    np.close(h, &SOURCE).expect("the first close succeeds");
    let reopened = try_reopen(np)?;
    Some((reopened, park_new(np, reopened)))
}

/// The reopening and new waiter of a race, made after it if the race deferred them.
fn new_side(np: &Np, during: Option<(Handle, CountingWaker)>) -> (Handle, CountingWaker) {
    during.unwrap_or_else(|| {
        let h = reopened_after(np, None);
        (h, park_new(np, h))
    })
}

/// The new descriptor's waiter after a reuse race is intact: polled whenever it is woken (as
/// an executor would), it gets the next edge for the new descriptor; the old handle is stale.
fn assert_new_waiter_intact(np: &Np, old: Handle, reopened: Handle, w: &CountingWaker) {
    assert_ne!(reopened.generation(), old.generation());
    let mut seen = 0;
    let mut r = Poll::Pending;
    for _ in 0..3 {
        if w.wakes() > seen {
            // Woken (perhaps spuriously, by a stale lock holder's unlock): poll again.
            seen = w.wakes();
            r = w.poll_wait(np, reopened, Mode::Read);
        }
        if r.is_ready() {
            break;
        }
        deliver_edge(np, reopened);
        assert!(
            w.wakes() > seen,
            "the new descriptor's waiter was lost (woken {} times)",
            w.wakes()
        );
    }
    assert_eq!(
        r,
        Poll::Ready(Ok(())),
        "the edge never reached the new waiter"
    );
    let stale = np.poll_wait(old, Mode::Read, &mut Context::from_waker(Waker::noop()));
    assert_eq!(stale, Poll::Ready(Err(PollError::StaleHandle)));
}

/// Model 11: a task re-polls its wait on the old handle while another thread closes the
/// descriptor, reopens the slot and parks a new waiter on it. The re-poll can never touch the
/// new descriptor's slot word or lock (it needs a reference of the old incarnation first): it
/// fails with `Closing` or `StaleHandle`, or it is Pending and the close wakes it; the new
/// waiter is never robbed of its waker.
#[test]
fn stale_repoll_racing_close_and_reopen_never_touches_the_new_descriptor() {
    model(
        "stale_repoll_racing_close_and_reopen_never_touches_the_new_descriptor",
        2,
        |placement| {
            let (np, h) = open_one();
            let old = park(&np, h, Mode::Read);
            let np1 = np.clone();
            let ((r, again), during) = race(placement, first_wait(&np, h, Mode::Read), move || {
                close_reopen_and_park(&np1, h)
            });
            let (reopened, new) = new_side(&np, during);
            assert_eq!(old.wakes(), 1, "the close woke the old waiter");
            match r {
                Poll::Ready(res) => assert!(
                    matches!(res, Err(PollError::Closing | PollError::StaleHandle)),
                    "{res:?}"
                ),
                Poll::Pending => assert!(again.wakes() >= 1, "the close did not wake it"),
            }
            assert_new_waiter_intact(&np, h, reopened, &new);
            assert_eq!(old.held() + again.held(), 0, "an old waker was kept");
        },
    );
}

/// Model 12: the old descriptor's wait is cancelled (its future dropped) while another thread
/// closes the descriptor, reopens the slot and parks a new waiter on it. The cancel takes a
/// reference of the old incarnation first, so it never takes the new waiter's waker or lock.
#[test]
fn stale_cancel_racing_close_and_reopen_never_touches_the_new_descriptor() {
    model(
        "stale_cancel_racing_close_and_reopen_never_touches_the_new_descriptor",
        2,
        |placement| {
            let (np, h) = open_one();
            let old = park(&np, h, Mode::Read);
            let own = old.waker.clone();
            let (np1, np2) = (np.clone(), np.clone());
            let ((), during) = race(
                placement,
                move || np1.cancel_wait(h, Mode::Read, &own),
                move || close_reopen_and_park(&np2, h),
            );
            let (reopened, new) = new_side(&np, during);
            assert!(old.wakes() <= 1);
            assert_eq!(new.wakes(), 0, "the stale cancel woke the new waiter");
            assert_new_waiter_intact(&np, h, reopened, &new);
            assert_eq!(old.held(), 0, "the old waker was kept");
        },
    );
}

/// Model 13: a parked waiter's read deadline comes due and the loop fires it while another
/// thread closes the descriptor and reopens its slot. The timer of the old incarnation never
/// expires the new one's direction, the old waiter is woken exactly once, and the slot's
/// lock and deadlines start clean for the new descriptor.
#[test]
fn close_racing_deadline_racing_reopen_starts_the_new_descriptor_clean() {
    model(
        "close_racing_deadline_racing_reopen_starts_the_new_descriptor_clean",
        2,
        |placement| {
            let (np, h) = open_one();
            np.set_read_deadline(h, Some(at(10)))
                .expect("the handle is open");
            np.poll(Some(Duration::ZERO)).expect("scripted poll");
            let old = park(&np, h, Mode::Read);
            np.clock().set(at(10));
            let (np1, np2) = (np.clone(), np.clone());
            let (during, _) = race(
                placement,
                move || {
                    np1.close(h, &SOURCE).expect("the first close succeeds");
                    try_reopen(&np1)
                },
                move || np2.poll(Some(Duration::ZERO)).expect("scripted poll"),
            );
            let reopened = reopened_after(&np, during);
            assert_eq!(
                old.wakes(),
                1,
                "the old waiter was woken {} times",
                old.wakes()
            );
            assert_eq!(old.held(), 0);
            // The new descriptor: no expired deadline, a free lock, a wait that parks.
            assert_eq!(np.prepare(reopened, Mode::Read), Ok(()));
            let w = CountingWaker::new();
            assert_eq!(w.poll_wait(&np, reopened, Mode::Read), Poll::Pending);
            np.clock().set(at(1_000));
            assert_eq!(np.poll(Some(Duration::ZERO)).expect("scripted poll"), 0);
            assert_eq!(w.wakes(), 0, "the old timer fired on the new descriptor");
        },
    );
}

// ------------------------------------------------------------------------------ dirty list

/// A backend for the dirty-list models whose `wait` really sleeps: with a timeout no longer
/// than `deadline` it returns at once (a real backend would return in time), and otherwise it
/// blocks until [`Poller::wake`] is called or the racing setter has finished. If the setter
/// finishes while the loop sleeps past the deadline and nobody woke it, the deadline is lost
/// for as long as the loop sleeps, and `wait` counts that in `lost`.
struct SleepingPoller {
    /// The deadline the setter installs, in nanoseconds from the epoch (the clock stays at 0).
    deadline: Duration,
    /// A wake not yet consumed by a `wait` (an eventfd's counter).
    woken: AtomicBool,
    /// The setter's `set_read_deadline` has returned.
    setter_done: AtomicBool,
    /// `wait`s that slept past the deadline unwoken.
    lost: AtomicUsize,
}

impl SleepingPoller {
    fn new(deadline: Duration) -> Self {
        SleepingPoller {
            deadline,
            woken: AtomicBool::new(false),
            setter_done: AtomicBool::new(false),
            lost: AtomicUsize::new(0),
        }
    }
}

impl Poller for SleepingPoller {
    type Source = u32;
    type Error = core::convert::Infallible;

    fn register(&self, _: &u32, _: Token) -> Result<(), Self::Error> {
        Ok(())
    }

    fn deregister(&self, _: &u32, _: Token) -> Result<(), Self::Error> {
        Ok(())
    }

    fn wait(&self, timeout: Option<Duration>, _: &mut dyn FnMut(Event)) -> Result<(), Self::Error> {
        if timeout.is_some_and(|t| t <= self.deadline) {
            return Ok(());
        }
        loop {
            if self.woken.swap(false, Ordering::SeqCst) {
                return Ok(());
            }
            if self.setter_done.load(Ordering::SeqCst) {
                // The setter's wake, if it made one, was published before `setter_done`.
                if !self.woken.swap(false, Ordering::SeqCst) {
                    self.lost.fetch_add(1, Ordering::SeqCst);
                }
                return Ok(());
            }
            thread::yield_now();
        }
    }

    fn wake(&self) -> Result<(), Self::Error> {
        // A swap, not a store: loom 0.7 lets a plain store slip between the read and the write
        // of a concurrent swap on the same atomic (tokio-rs/loom#254), which here would report
        // a wake-up lost inside this test double rather than in the core.
        self.woken.swap(true, Ordering::SeqCst);
        Ok(())
    }
}

/// What the loop knows of the descriptor's read deadline before the race.
#[derive(Clone, Copy)]
enum Known {
    /// No deadline.
    Nothing,
    /// A deadline at this time, set but still on the dirty list (the loop has not run since).
    Queued(Instant),
    /// A deadline at this time, in the loop's timer queue.
    Armed(Instant),
}

/// Model 9, shared by its variants: a task is parked on Read; one thread lowers the read
/// deadline to 10 while the loop drains the dirty list, computes its timeout and goes to
/// sleep with no delay bound. The loop never sleeps past the new deadline unless the setter
/// wakes it, and the deadline fires when it comes due.
///
/// A second descriptor keeps a deadline at 500 at the top of the timer queue, so the loop does
/// not re-read this descriptor's deadlines while it computes its timeout (it re-validates only
/// the top entry): what it learns of the new deadline comes through the dirty list and
/// `wake_at` alone.
fn lowered_deadline_racing_sleep(placement: usize, known: Known) {
    const NEW: u64 = 10;
    let slots: Vec<PollDesc> = vec![PollDesc::with_lock(), PollDesc::with_lock()];
    let poller = SleepingPoller::new(Duration::from_nanos(NEW));
    let np = Netpoll::new(poller, ManualClock::new(), slots).expect("fresh storage");
    let h = np.open(&SOURCE).expect("the pool has a free slot");
    let other = np.open(&(SOURCE + 1)).expect("the pool has a second slot");
    let np = Arc::new(np);
    let loop_once = |np: &Pool<SleepingPoller>| np.poll(Some(Duration::ZERO)).map(drop);
    np.set_read_deadline(other, Some(at(500)))
        .expect("the handle is open");
    match known {
        Known::Nothing => loop_once(&np).expect("infallible backend"),
        Known::Queued(t) => {
            loop_once(&np).expect("infallible backend");
            np.set_read_deadline(h, Some(t))
                .expect("the handle is open");
        }
        Known::Armed(t) => {
            np.set_read_deadline(h, Some(t))
                .expect("the handle is open");
            loop_once(&np).expect("infallible backend");
        }
    }
    let w = CountingWaker::new();
    assert_eq!(w.poll_wait(&np, h, Mode::Read), Poll::Pending);

    let (np1, np2) = (np.clone(), np.clone());
    let (set, _) = race(
        placement,
        move || {
            let r = np1.set_read_deadline(h, Some(at(NEW)));
            np1.poller().setter_done.store(true, Ordering::SeqCst);
            r
        },
        move || np2.poll(None).expect("infallible backend"),
    );
    set.expect("the handle is open");

    let lost = np.poller().lost.load(Ordering::SeqCst);
    assert_eq!(
        lost, 0,
        "the loop slept past the new deadline and nobody woke it"
    );
    assert_eq!(w.wakes(), 0, "nothing is due yet");

    np.clock().set(at(NEW));
    assert_eq!(
        np.poll(Some(Duration::ZERO)).expect("infallible backend"),
        1,
        "lost timeout"
    );
    assert_eq!(w.wakes(), 1);
    assert_eq!(
        w.poll_wait(&np, h, Mode::Read),
        Poll::Ready(Err(PollError::Timeout))
    );
}

/// Model 9a: a first deadline set while the loop goes to sleep.
#[test]
fn new_deadline_racing_loop_sleep_bounds_or_wakes_it() {
    model(
        "new_deadline_racing_loop_sleep_bounds_or_wakes_it",
        2,
        |placement| {
            lowered_deadline_racing_sleep(placement, Known::Nothing);
        },
    );
}

/// Model 9b: a deadline lowered again while the loop drains the notice of the first one.
#[test]
fn deadline_lowered_while_loop_drains_it_bounds_or_wakes_it() {
    model(
        "deadline_lowered_while_loop_drains_it_bounds_or_wakes_it",
        2,
        |placement| {
            lowered_deadline_racing_sleep(placement, Known::Queued(at(1_000)));
        },
    );
}

/// Model 9c: a deadline moved earlier than the one the loop has queued, while it goes to
/// sleep.
#[test]
fn earlier_deadline_racing_loop_sleep_bounds_or_wakes_it() {
    model(
        "earlier_deadline_racing_loop_sleep_bounds_or_wakes_it",
        2,
        |placement| {
            lowered_deadline_racing_sleep(placement, Known::Armed(at(1_000)));
        },
    );
}

// ------------------------------------------------------------------------------ statistics

/// Model 10: `stats()` reads the loop's counters while the loop publishes two turns, each of
/// which applied one event. With the 32-bit scheme every target without 64-bit atomics uses
/// (`NETPOLL_FORCE_NARROW=1` selects it on a host) each snapshot is consistent:
/// a turn's event and its poll are seen together or not at all, even while the second turn
/// rewrites the copy the first snapshot came from.
#[test]
#[cfg_attr(
    netpoll_wide_atomics,
    ignore = "checks the 32-bit scheme (NETPOLL_FORCE_NARROW=1); 64-bit counters are separate atomics"
)]
fn stats_read_racing_the_loop_sees_whole_turns() {
    model(
        "stats_read_racing_the_loop_sees_whole_turns",
        2,
        |placement| {
            let (np, h) = open_one();
            let (np1, np2) = (np.clone(), np.clone());
            let (seen, _) = race(
                placement,
                move || [np1.stats(), np1.stats()],
                move || {
                    deliver_edge(&np2, h);
                    deliver_edge(&np2, h);
                },
            );
            for s in &seen {
                assert!(s.events <= 2 && s.polls <= 2, "{s:?}");
                if !cfg!(netpoll_wide_atomics) {
                    assert_eq!(s.events, s.polls, "torn snapshot {s:?}");
                }
            }
            assert!(seen[1].events >= seen[0].events && seen[1].polls >= seen[0].polls);
            let s = np.stats();
            assert_eq!((s.events, s.polls), (2, 2));
        },
    );
}
