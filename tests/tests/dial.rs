//! Go's `TestDialTimeout` and `TestDialTimeoutMaxDuration`: a `Dialer`'s timeout and deadline
//! (the earlier wins) in the past, near, and too far away to count in nanoseconds, with Go's
//! rows and bounds.

#[macro_use]
mod util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netpoll_std::{Async, Dialer, Runtime, TcpListener, TcpStream};
use util::{
    assert_timeout, block_on, bounded, eventually, expect_timeout, far_future, far_past, join,
    Waiter, LIMIT,
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

/// A Go `time.Duration` of `dialTimeoutTests`: signed, as Go's rows need.
#[derive(Clone, Copy, Debug)]
enum GoDuration {
    /// Zero: no timeout, or no deadline.
    Zero,
    /// This much before the dial starts (Go: `-5 * time.Second`).
    Minus(Duration),
    /// As far before as an `Instant` can say (Go: `-1 << 63` nanoseconds).
    MinusMax,
    /// This much after.
    Plus(Duration),
}

impl GoDuration {
    /// The instant that far from `now` (`None` for zero).
    fn from(self, now: Instant) -> Option<Instant> {
        match self {
            GoDuration::Zero => None,
            GoDuration::Minus(d) => Some(now.checked_sub(d).unwrap_or(now)),
            GoDuration::MinusMax => Some(far_past().min(now)),
            GoDuration::Plus(d) => Some(now + d),
        }
    }
}

/// Go's `dialTimeoutTests` row: a `Dialer{Timeout: timeout}`, with `Deadline` set to
/// `time.Now().Add(delta)` unless `delta` is zero.
#[derive(Clone, Copy)]
struct Case {
    timeout: GoDuration,
    delta: GoDuration,
    /// The dial must have failed within this (Go's `max`).
    max: Duration,
    /// Beyond Go: the dial must not fail before this much time has passed.
    min: Duration,
}

impl Case {
    /// The row's `Dialer` on `rt`, at `now`.
    ///
    /// A positive timeout and the deadline are the `Dialer`'s own, so the `Dialer` picks the
    /// earlier. A negative Go timeout cannot be a `Duration`; it means what Go makes of it, a
    /// deadline already past (`now + timeout`), and the `Dialer` holds one deadline, so that
    /// one row (`-5s` timeout, `+5s` deadline) passes the earlier of the two, the past one,
    /// as Go's `Dialer.deadline` picks it.
    fn dialer(&self, rt: &Runtime, now: Instant) -> Dialer {
        let d = Dialer::new().runtime(rt);
        let (d, past) = match self.timeout {
            GoDuration::Plus(t) => (d.timeout(t), None),
            GoDuration::Zero => (d, None),
            negative => (d, negative.from(now)),
        };
        match (past, self.delta.from(now)) {
            (Some(a), Some(b)) => d.deadline(a.min(b)),
            (Some(a), None) | (None, Some(a)) => d.deadline(a),
            (None, None) => d,
        }
    }
}

const FIVE_S: Duration = Duration::from_secs(5);
const FIFTY_MS: Duration = Duration::from_millis(50);
/// Go's bound for a dial whose deadline has passed.
const PAST_MAX: Duration = Duration::from_millis(100);
/// Go's bound for a dial whose deadline is 50ms away.
const NEAR_MAX: Duration = Duration::from_secs(1);

fn cases() -> [Case; 8] {
    use GoDuration::{MinusMax, Plus, Zero};
    let minus_5s = GoDuration::Minus(FIVE_S);
    let past = |timeout, delta| Case {
        timeout,
        delta,
        max: PAST_MAX,
        min: Duration::ZERO,
    };
    let near = |timeout, delta| Case {
        timeout,
        delta,
        max: NEAR_MAX,
        min: FIFTY_MS,
    };
    [
        // Deadlines in the past fail at once.
        past(minus_5s, Zero),
        past(Zero, minus_5s),
        past(minus_5s, Plus(FIVE_S)), // the timeout is earlier than the deadline
        past(MinusMax, Zero),
        past(Zero, MinusMax),
        // A near deadline ends a connect that cannot finish.
        near(Plus(FIFTY_MS), Zero),
        near(Zero, Plus(FIFTY_MS)),
        near(Plus(FIFTY_MS), Plus(FIVE_S)), // the timeout is earlier than the deadline
    ]
}

/// What one dial did: its result and how long it took, from just before the call (Go starts
/// its `max` timer before it starts the dialing goroutine; the thread start is left out here).
fn check(i: usize, case: &Case, r: std::io::Result<TcpStream>, took: Duration) {
    let what = format!(
        "case #{i} (timeout {:?}, delta {:?}) after {took:?}",
        case.timeout, case.delta
    );
    eprintln!("{what}");
    match r {
        Ok(s) => panic!("{what}: connected to {:?}", s.peer_addr()),
        Err(e) => {
            assert_timeout(&e, &what);
            // Go's `parseDialError`: the error names the dial.
            assert!(e.to_string().starts_with("dial tcp "), "{what}: {e}");
        }
    }
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
    for (i, case) in cases().into_iter().enumerate() {
        let (rt2, addr) = (rt.clone(), hole.addr);
        let (r, took) = bounded("dial", LIMIT, move || {
            let start = Instant::now();
            let r = case.dialer(&rt2, start).dial(addr);
            (r, start.elapsed())
        });
        check(i, &case, r, took);
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
    for (i, case) in cases().into_iter().enumerate() {
        let (rt2, addr) = (rt.clone(), hole.addr);
        let (r, took) = bounded("dial", LIMIT, move || {
            let start = Instant::now();
            let r = block_on(case.dialer(&rt2, start).dial_async(addr));
            (r.map(Async::into_inner), start.elapsed())
        });
        check(i, &case, r, took);
    }
    assert_eq!(
        rt.stats().open,
        open_before,
        "failed dials left descriptors open"
    );
}

/// Go's `TestDialTimeoutMaxDuration` rows, and beyond Go more limits that must all saturate
/// into "never", not wrap into the past, each with the far instant it stands for:
/// * Go's rows: a timeout of 2^63-1 nanoseconds (292 years, which overflows Go's `int64` Unix
///   nanoseconds), and a deadline that far from now;
/// * a deadline exactly 2^64 nanoseconds after the runtime clock's epoch: the first instant
///   the core's `u64` nanoseconds cannot count, which a wrapping conversion would turn into
///   the epoch itself, long past;
/// * a deadline at the latest `Instant` we can make, and a timeout of `Duration::MAX`.
fn far_dialers(rt: &Runtime) -> [(&'static str, Dialer, Instant); 5] {
    let go_max = Duration::from_nanos(i64::MAX as u64);
    let beyond_u64 = rt.clock().epoch() + Duration::from_nanos(u64::MAX) + Duration::from_nanos(1);
    let now = Instant::now();
    let d = Dialer::new().runtime(rt);
    [
        ("timeout 2^63-1 ns", d.clone().timeout(go_max), now + go_max),
        (
            "deadline 2^63-1 ns away",
            d.clone().deadline(now + go_max),
            now + go_max,
        ),
        (
            "deadline 2^64 ns after the epoch",
            d.clone().deadline(beyond_u64),
            beyond_u64,
        ),
        (
            "deadline the latest Instant",
            d.clone().deadline(far_future()),
            far_future(),
        ),
        (
            "timeout Duration::MAX",
            d.timeout(Duration::MAX),
            far_future(),
        ),
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
    for (what, dialer, far) in far_dialers(rt) {
        let c = bounded("dial", LIMIT, move || dialer.dial(addr))
            .unwrap_or_else(|e| panic!("dial with a {what}: {e}"));
        check_connected(&l, c);
        check_far_read_deadline(rt, &l, far, Waiter::Thread);
    }
}

fn dial_timeout_max_duration_async(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    for (what, dialer, far) in far_dialers(rt) {
        let c = bounded("dial", LIMIT, move || block_on(dialer.dial_async(addr)))
            .unwrap_or_else(|e| panic!("dial with a {what}: {e}"));
        check_connected(&l, c.into_inner());
        check_far_read_deadline(rt, &l, far, Waiter::Task);
    }
}

green_mode!(dial_timeout, dial_timeout_max_duration);

per_runtime!(
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
    let (r, took) = bounded("dial", LIMIT, move || {
        let start = Instant::now();
        (
            TcpStream::connect_timeout(&addr, Duration::ZERO),
            start.elapsed(),
        )
    });
    expect_timeout(r.map(|s| s.local_addr()), "connect_timeout(0)");
    assert!(took <= PAST_MAX, "connect_timeout(0) took {took:?}");

    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let c = bounded("dial", LIMIT, move || {
        TcpStream::connect_timeout(&addr, Duration::MAX)
    })
    .expect("connect_timeout(MAX)");
    check_connected(&l, c);
}
