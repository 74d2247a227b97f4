//! Drive the core state machine with a scripted backend and a manual clock, printing each step.
//!
//! `cargo run -p netpoll-core --example demo`

use core::task::{Context, Poll};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use netpoll_core::testing::{ManualClock, ScriptedPoller};
use netpoll_core::{Clock, Mode, Netpoll, PollDesc, Readiness};

/// A waker that counts how often it was woken.
struct Counter(AtomicUsize);
impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn main() {
    let slots = PollDesc::array::<4>();
    let np = Netpoll::new(ScriptedPoller::<16>::new(), ManualClock::new(), &slots)
        .expect("fresh storage");
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let ms = Duration::from_millis;
    let t = |np: &Netpoll<_, ManualClock, _>| np.clock().now().as_nanos() / 1_000_000;

    let a = np.open(&1).expect("slot");
    let b = np.open(&2).expect("slot");
    println!(
        "[t={}ms] opened a={a:?} b={b:?} (capacity {})",
        t(&np),
        np.capacity()
    );

    // 1. A readiness edge with nobody waiting is remembered.
    np.poller().push(a.token(), Readiness::READABLE).unwrap();
    np.poll(Some(Duration::ZERO)).unwrap();
    println!(
        "[t={}ms] edge on a before anyone waits -> stored as ready",
        t(&np)
    );
    let r = np.poll_wait(a, Mode::Read, &mut cx);
    println!("[t={}ms] wait on a returns at once: {r:?}", t(&np));

    // 2. A waiter parks, an edge wakes it.
    np.prepare(a, Mode::Read).unwrap();
    let r = np.poll_wait(a, Mode::Read, &mut cx);
    println!("[t={}ms] wait on a after EAGAIN: {r:?} (parked)", t(&np));
    np.poller().push(a.token(), Readiness::READABLE).unwrap();
    let woken = np.poll(None).unwrap();
    println!(
        "[t={}ms] backend reports a readable -> loop woke {woken}, waker count {}",
        t(&np),
        counter.0.load(Ordering::SeqCst)
    );
    println!(
        "[t={}ms] re-poll: {:?}",
        t(&np),
        np.poll_wait(a, Mode::Read, &mut cx)
    );

    // 3. A read deadline bounds the loop's wait and expires the parked read.
    np.set_read_deadline(b, Some(np.clock().now().saturating_add(ms(30))))
        .unwrap();
    let _ = np.poll_wait(b, Mode::Read, &mut cx);
    np.poll(None).unwrap();
    println!(
        "[t={}ms] b waits with a 30ms read deadline; loop asked backend for timeout {:?}",
        t(&np),
        np.poller().last_timeout().flatten()
    );
    // Per-read reset: push the deadline later; the timer queue is not touched.
    np.clock().advance(ms(20));
    np.set_read_deadline(b, Some(np.clock().now().saturating_add(ms(30))))
        .unwrap();
    np.poll(None).unwrap();
    println!(
        "[t={}ms] deadline pushed to t=50ms; the old entry (t=30ms) is re-armed lazily; backend timeout {:?}",
        t(&np),
        np.poller().last_timeout().flatten()
    );
    np.clock().advance(ms(30));
    let woken = np.poll(Some(Duration::ZERO)).unwrap();
    println!(
        "[t={}ms] deadline passes -> loop woke {woken}; wait on b: {:?}",
        t(&np),
        np.poll_wait(b, Mode::Read, &mut cx)
    );
    // Clearing an expired deadline makes the next wait block again.
    np.set_read_deadline(b, None).unwrap();
    println!(
        "[t={}ms] deadline cleared -> wait on b: {:?}",
        t(&np),
        np.poll_wait(b, Mode::Read, &mut cx)
    );

    // 4. Close wakes the waiter with Closing; the handle goes stale once the slot is reused.
    np.close(b, &2).unwrap();
    println!(
        "[t={}ms] close b -> wait on b: {:?}",
        t(&np),
        np.poll_wait(b, Mode::Read, &mut cx)
    );
    let c = np.open(&3).unwrap();
    println!(
        "[t={}ms] reopened slot {} as c={c:?}; old b: {:?}; event with b's token dropped",
        t(&np),
        c.index(),
        np.prepare(b, Mode::Read)
    );
    np.poller().push(b.token(), Readiness::READABLE).unwrap();
    np.poll(Some(Duration::ZERO)).unwrap();
    println!("[t={}ms] stats: {:?}", t(&np), np.stats());
    assert!(matches!(
        np.poll_wait(c, Mode::Read, &mut cx),
        Poll::Pending
    ));
}
