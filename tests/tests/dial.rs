//! Go's `TestDialTimeout` and `TestDialTimeoutMaxDuration`: connect deadlines in the past, near,
//! and too far away to count in nanoseconds.

#[macro_use]
mod util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use netpoll_std::{Async, Runtime, TcpListener, TcpStream};
use util::{
    after, ago, bounded, eventually, expect_timeout, far_future, far_past, join, Waiter, LIMIT,
};

/// A loopback address where a connect never completes.
///
/// Go makes its dials hang with a socket filter that swallows `connect`. We have no such hook
/// and no network, so we use the kernel instead: a listener with a backlog of 0 that never
/// accepts holds at most one finished connection; once its accept queue is full, Linux drops
/// further SYNs, and a connect stays in SYN-SENT until its deadline (the first SYN retransmit
/// is a second away, longer than any deadline used here).
struct BlackHole {
    addr: SocketAddr,
    _listener: TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl BlackHole {
    fn new(rt: &Runtime) -> BlackHole {
        let listener = TcpListener::builder()
            .backlog(0)
            .runtime(rt)
            .bind("127.0.0.1:0")
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut queued = Vec::new();
        // Fill the queue with plain std connects (independent of the code under test) until
        // one of them cannot finish: a loopback handshake takes microseconds, so 100ms
        // without one means the SYN was dropped.
        for _ in 0..64 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(s) => queued.push(s),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return BlackHole {
                        addr,
                        _listener: listener,
                        _queued: queued,
                    }
                }
                Err(e) => panic!("filling the backlog: {e}"),
            }
        }
        panic!("the listener's backlog never filled");
    }
}

/// When a dial gives up, relative to the moment it starts.
#[derive(Clone, Copy, Debug)]
enum At {
    /// Not set.
    Unset,
    /// This long ago.
    Ago(Duration),
    /// As long ago as an `Instant` can say (Go: `-1 << 63` nanoseconds).
    FarPast,
    /// This long from now.
    In(Duration),
}

impl At {
    fn instant(self) -> Option<Instant> {
        match self {
            At::Unset => None,
            At::Ago(d) => Some(ago(d)),
            At::FarPast => Some(far_past()),
            At::In(d) => Some(after(d)),
        }
    }
}

/// Go's `dialTimeoutTests` row: a `Dialer` with a relative `Timeout` and an absolute
/// `Deadline`, where the earlier one wins. `netpoll-std` connects take one deadline, so the
/// test combines the two the way Go's `Dialer` does.
struct Case {
    timeout: At,
    deadline: At,
    /// The dial must not fail before this much time has passed.
    min: Duration,
    /// ... and must have failed within this (Go: 100ms and 1s; generous here, the machine
    /// is shared and the build unoptimised).
    max: Duration,
}

impl Case {
    fn deadline(&self) -> Instant {
        match (self.timeout.instant(), self.deadline.instant()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => unreachable!("every case sets a limit"),
        }
    }
}

const FIVE_S: Duration = Duration::from_secs(5);
const FIFTY_MS: Duration = Duration::from_millis(50);
const SOON: Duration = Duration::from_secs(1);
const LATER: Duration = Duration::from_secs(3);

fn cases() -> [Case; 8] {
    let past = |timeout, deadline| Case {
        timeout,
        deadline,
        min: Duration::ZERO,
        max: SOON,
    };
    let near = |timeout, deadline| Case {
        timeout,
        deadline,
        min: FIFTY_MS,
        max: LATER,
    };
    [
        // Deadlines in the past fail at once.
        past(At::Ago(FIVE_S), At::Unset),
        past(At::Unset, At::Ago(FIVE_S)),
        past(At::Ago(FIVE_S), At::In(FIVE_S)), // the timeout is earlier than the deadline
        past(At::FarPast, At::Unset),
        past(At::Unset, At::FarPast),
        // A near deadline ends a connect that cannot finish.
        near(At::In(FIFTY_MS), At::Unset),
        near(At::Unset, At::In(FIFTY_MS)),
        near(At::In(FIFTY_MS), At::In(FIVE_S)), // the timeout is earlier than the deadline
    ]
}

fn check(i: usize, case: &Case, r: std::io::Result<TcpStream>, took: Duration) {
    let what = format!(
        "case #{i} ({:?}, {:?}) after {took:?}",
        case.timeout, case.deadline
    );
    expect_timeout(r.map(|s| s.local_addr()), &what);
    assert!(took >= case.min, "{what}: gave up before its deadline");
    assert!(
        took <= case.max,
        "{what}: did not give up within {:?}",
        case.max
    );
}

fn dial_timeout(rt: &Runtime) {
    let hole = BlackHole::new(rt);
    let open_before = rt.stats().open;
    for (i, case) in cases().iter().enumerate() {
        let (rt2, addr, deadline) = (rt.clone(), hole.addr, case.deadline());
        let start = Instant::now();
        let r = bounded("dial", LIMIT, move || {
            TcpStream::connect_deadline_in(&rt2, &addr, Some(deadline))
        });
        check(i, case, r, start.elapsed());
    }
    assert_eq!(
        rt.stats().open,
        open_before,
        "failed dials left descriptors open"
    );
}

fn dial_timeout_async(rt: &Runtime) {
    let hole = BlackHole::new(rt);
    let open_before = rt.stats().open;
    for (i, case) in cases().iter().enumerate() {
        let (rt2, addr, deadline) = (rt.clone(), hole.addr, case.deadline());
        let start = Instant::now();
        let r = bounded("dial", LIMIT, move || {
            block_on(TcpStream::connect_async_in(&rt2, addr, Some(deadline)))
        });
        check(i, case, r.map(Async::into_inner), start.elapsed());
    }
    assert_eq!(
        rt.stats().open,
        open_before,
        "failed dials left descriptors open"
    );
}

/// Go's `TestDialTimeoutMaxDuration` deadlines, which must all saturate into "never", not
/// wrap into the past:
/// * 2^63-1 nanoseconds from now (292 years: Go's case, which overflows Go's `int64` Unix
///   nanoseconds);
/// * exactly 2^64 nanoseconds after the runtime clock's epoch: the first instant the core's
///   `u64` nanoseconds cannot count, which a wrapping conversion would turn into the epoch
///   itself, long past;
/// * the latest `Instant` we can make.
fn max_deadlines(rt: &Runtime) -> [Instant; 3] {
    let epoch = rt.clock().epoch();
    let beyond_u64 = epoch + Duration::from_nanos(u64::MAX) + Duration::from_nanos(1);
    [
        after(Duration::from_nanos(i64::MAX as u64)),
        beyond_u64,
        far_future(),
    ]
}

/// A dial with that deadline works, and so does the connection.
fn check_connected(l: &TcpListener, c: TcpStream) {
    use std::io::{Read, Write};
    let (mut s, peer) = l.accept().expect("accept");
    assert_eq!(peer, c.local_addr().expect("local addr"));
    (&c).write_all(b"x").expect("write");
    let mut b = [0u8; 1];
    s.read_exact(&mut b).expect("read");
    c.close().expect("close");
}

/// Beyond Go's test: the same far deadline on a read that has to wait (blocking, or as an
/// async task). It must wait, not fire at once as a deadline that overflowed into the past
/// would, until data arrives.
fn check_far_read_deadline(rt: &Runtime, l: &TcpListener, deadline: Instant, waiter: Waiter) {
    let addr = l.local_addr().expect("addr");
    let mut c = TcpStream::connect_in(rt, addr).expect("connect");
    let (s, _) = l.accept().expect("accept");
    c.set_deadline(Some(deadline)).expect("set_deadline");
    let h = util::go(move || match waiter {
        Waiter::Thread => std::io::Read::read(&mut c, &mut [0u8; 1]),
        Waiter::Task => block_on(futures_lite::AsyncReadExt::read(
            &mut c.as_async(),
            &mut [0u8; 1],
        )),
    });
    eventually("reader waiting", || waiter.waiting(rt, 1));
    std::io::Write::write_all(&mut &s, b"y").expect("write");
    assert_eq!(join("reader", h).expect("read with a far deadline"), 1);
}

fn dial_timeout_max_duration(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    for deadline in max_deadlines(rt) {
        let rt2 = rt.clone();
        let c = bounded("dial", LIMIT, move || {
            TcpStream::connect_deadline_in(&rt2, &addr, Some(deadline))
        })
        .expect("dial with a far deadline");
        check_connected(&l, c);
        check_far_read_deadline(rt, &l, deadline, Waiter::Thread);
    }
}

fn dial_timeout_max_duration_async(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    for deadline in max_deadlines(rt) {
        let rt2 = rt.clone();
        let c = bounded("dial", LIMIT, move || {
            block_on(TcpStream::connect_async_in(&rt2, addr, Some(deadline)))
        })
        .expect("dial with a far deadline");
        check_connected(&l, c.into_inner());
        check_far_read_deadline(rt, &l, deadline, Waiter::Task);
    }
}

green_mode!(dial_timeout, dial_timeout_max_duration);

per_backend!(
    dial_timeout,
    dial_timeout_async,
    dial_timeout_max_duration,
    dial_timeout_max_duration_async,
);

/// `TcpStream::connect_timeout` (the global runtime): Go's `DialTimeout` with a zero and a
/// maximal duration. Zero is a deadline of "now", which has passed by the time the connect
/// waits; `Duration::MAX` means no deadline at all.
#[test]
fn dial_timeout_global_connect_timeout() {
    let rt = netpoll_std::Runtime::global().expect("global runtime");
    let hole = BlackHole::new(rt);
    let addr = hole.addr;
    let start = Instant::now();
    let r = bounded("dial", LIMIT, move || {
        TcpStream::connect_timeout(&addr, Duration::ZERO)
    });
    expect_timeout(r.map(|s| s.local_addr()), "connect_timeout(0)");
    assert!(start.elapsed() <= SOON);

    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let c = bounded("dial", LIMIT, move || {
        TcpStream::connect_timeout(&addr, Duration::MAX)
    })
    .expect("connect_timeout(MAX)");
    check_connected(&l, c);
}
