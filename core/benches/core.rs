//! Micro-benchmarks of the core operations (see docs/benchmarks.md for results).
//!
//! `cargo bench -p netpoll-core --bench core`
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use netpoll_core::testing::ManualClock;
use netpoll_core::{Clock, Event, Instant, Mode, Netpoll, PollDesc, Poller, Readiness, Token};

/// A backend with the least possible overhead: `wait` delivers one event if armed.
#[derive(Default)]
struct OneShot {
    token: AtomicU64,
}

impl Poller for OneShot {
    type Source = u32;
    type Error = core::convert::Infallible;
    fn register(&self, _: &u32, _: Token) -> Result<(), Self::Error> {
        Ok(())
    }
    fn deregister(&self, _: &u32, _: Token) -> Result<(), Self::Error> {
        Ok(())
    }
    fn wait(
        &self,
        _: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), Self::Error> {
        let t = self.token.swap(u64::MAX, Ordering::Relaxed);
        if t != u64::MAX {
            on_event(Event {
                token: Token(t),
                readiness: Readiness::READABLE,
            });
        }
        Ok(())
    }
    fn wake(&self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn benches(c: &mut Criterion) {
    println!(
        "size_of::<PollDesc>() = {} bytes",
        core::mem::size_of::<PollDesc>()
    );
    let slots: Box<[PollDesc]> = (0..1024).map(|_| PollDesc::new()).collect();
    let np = Netpoll::new(OneShot::default(), ManualClock::new(), &*slots).unwrap();
    let h = np.open(&1).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let far = Duration::from_secs(30);

    c.bench_function("ready_edge_to_wait_round_trip", |b| {
        b.iter(|| {
            np.prepare(h, Mode::Read).unwrap();
            assert!(np.poll_wait(h, Mode::Read, &mut cx).is_pending());
            np.poller().token.store(h.token().0, Ordering::Relaxed);
            np.poll(Some(Duration::ZERO)).unwrap();
            assert_eq!(np.poll_wait(h, Mode::Read, &mut cx), Poll::Ready(Ok(())));
        })
    });

    // Arm a deadline and let the loop queue it, then push it later on every iteration.
    np.set_read_deadline(h, Some(np.clock().now().saturating_add(far)))
        .unwrap();
    np.poll(Some(Duration::ZERO)).unwrap();
    let mut t = np.clock().now().saturating_add(far).as_nanos();
    c.bench_function("set_read_deadline_push_later", |b| {
        b.iter(|| {
            t += 1;
            np.set_read_deadline(black_box(h), Some(Instant::from_nanos(t)))
                .unwrap();
        })
    });
    assert_eq!(np.timer_entries(), 1);

    // The per-read idle-timeout reset as a server does it: read the clock, add, set.
    c.bench_function("set_read_deadline_now_plus_timeout", |b| {
        b.iter(|| {
            let at = np.clock().now().saturating_add(far);
            np.clock().advance(Duration::from_nanos(1));
            np.set_read_deadline(black_box(h), Some(at)).unwrap();
        })
    });

    c.bench_function("set_then_clear_read_deadline", |b| {
        b.iter(|| {
            t += 1;
            np.set_read_deadline(h, Some(Instant::from_nanos(t)))
                .unwrap();
            np.set_read_deadline(h, None).unwrap();
        })
    });

    c.bench_function("pool_alloc_free", |b| {
        b.iter(|| np.bench_pool_cycle().unwrap())
    });

    c.bench_function("open_close", |b| {
        b.iter(|| {
            let x = np.open(black_box(&2)).unwrap();
            np.close(x, &2).unwrap();
        })
    });
}

criterion_group! {
    name = core;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(core);
