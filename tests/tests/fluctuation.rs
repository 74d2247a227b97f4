//! Go's `TestReadTimeoutFluctuation`, `TestReadFromTimeoutFluctuation` and
//! `TestWriteTimeoutFluctuation`: an operation with a deadline `d` away fails with a timeout
//! no earlier than the deadline and not much later (within 10%).
//!
//! As in Go, a machine too busy to wake a waiter within 10% of a short `d` is given a longer
//! `d` (a quarter more than the time the last attempt took), up to 4s; only failing that is an
//! error. A timeout before the deadline is an error at once.

#[macro_use]
mod util;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netpoll_std::{Runtime, TcpStream, UdpSocket};
use util::block_on;
use util::{assert_timeout, bounded, dial, local_listener};

/// The first timeout tried.
const MIN_DYNAMIC_TIMEOUT: Duration = Duration::from_millis(1);
/// The longest timeout tried; needing more fails the test.
const MAX_DYNAMIC_TIMEOUT: Duration = Duration::from_secs(4);
/// Outer bound of a whole test: the attempts (whose timeouts grow geometrically up to
/// [`MAX_DYNAMIC_TIMEOUT`]) and the slack around them.
const TEST_LIMIT: Duration = Duration::from_secs(30);

/// How late a timeout of `d` may return.
fn timeout_upper_bound(d: Duration) -> Duration {
    d * 11 / 10
}

/// The next timeout to try after an attempt took `actual`: it cannot expect to beat that, so
/// a quarter more; `None` once `actual` reached the maximum.
fn next_timeout(actual: Duration) -> Option<Duration> {
    if actual >= MAX_DYNAMIC_TIMEOUT {
        return None;
    }
    Some((actual * 5 / 4).min(MAX_DYNAMIC_TIMEOUT))
}

/// One attempt: the time it started, the error it ended with, and the bytes it moved first.
struct Attempt {
    t0: Instant,
    err: io::Result<usize>,
    moved: usize,
}

/// Go's retry loop. `attempt(d)` sets a deadline `d` after its own start and runs the
/// operation until it fails. `grow_on_progress`: for writes, an attempt that moved bytes was
/// still filling the send buffer, so the next one gets twice the time (Go's rule).
fn fluctuation(what: &str, grow_on_progress: bool, mut attempt: impl FnMut(Duration) -> Attempt) {
    let mut d = MIN_DYNAMIC_TIMEOUT;
    loop {
        let Attempt { t0, err, moved } = attempt(d);
        let t1 = Instant::now();
        let deadline = t0 + d;
        match err {
            Ok(n) => panic!("{what}: want a timeout, got Ok({n})"),
            Err(e) => assert_timeout(&e, what),
        }
        if !grow_on_progress {
            assert_eq!(moved, 0, "{what}: moved bytes nobody sent");
        }
        let actual = t1 - t0;
        assert!(
            t1 >= deadline,
            "{what}: took {actual:?}; expected at least {d:?}"
        );
        let want = timeout_upper_bound(d);
        eprintln!("{what}: deadline +{d:?}: took {actual:?} ({moved} bytes moved)");
        if actual <= want {
            return;
        }
        if grow_on_progress && moved > 0 {
            if d <= MAX_DYNAMIC_TIMEOUT / 2 {
                d *= 2;
            }
        } else {
            match next_timeout(actual) {
                Some(next) => d = next,
                None => panic!("{what}: took {actual:?}; expected at most {want:?}"),
            }
        }
    }
}

type ReadFn = fn(&mut TcpStream, &mut [u8]) -> io::Result<usize>;
type WriteFn = fn(&mut TcpStream, &[u8]) -> io::Result<usize>;
type RecvFromFn = fn(&UdpSocket, &mut [u8]) -> io::Result<(usize, SocketAddr)>;

const READ: ReadFn = |c, b| io::Read::read(c, b);
const READ_ASYNC: ReadFn = |c, b| block_on(futures_lite::AsyncReadExt::read(&mut c.as_async(), b));
const WRITE: WriteFn = |c, b| io::Write::write(c, b);
const WRITE_ASYNC: WriteFn =
    |c, b| block_on(futures_lite::AsyncWriteExt::write(&mut c.as_async(), b));
const RECV_FROM: RecvFromFn = |u, b| u.recv_from(b);
const RECV_FROM_ASYNC: RecvFromFn = |u, b| block_on(u.recv_from_async(b));

// ---- TestReadTimeoutFluctuation --------------------------------------------------------------

fn read_timeout_fluctuation_with(rt: &Runtime, read: ReadFn) {
    let l = local_listener(rt);
    let mut c = dial(rt, l.local_addr().expect("addr"));
    let mut b = [0u8; 256];
    fluctuation("read", false, |d| {
        let t0 = Instant::now();
        c.set_read_deadline(Some(t0 + d))
            .expect("set_read_deadline");
        let err = read(&mut c, &mut b);
        Attempt { t0, err, moved: 0 }
    });
}

fn read_timeout_fluctuation(rt: &Runtime) {
    let rt = rt.clone();
    bounded("read_timeout_fluctuation", TEST_LIMIT, move || {
        read_timeout_fluctuation_with(&rt, READ)
    });
}

fn read_timeout_fluctuation_async(rt: &Runtime) {
    let rt = rt.clone();
    bounded("read_timeout_fluctuation", TEST_LIMIT, move || {
        read_timeout_fluctuation_with(&rt, READ_ASYNC)
    });
}

// ---- TestReadFromTimeoutFluctuation ----------------------------------------------------------

fn read_from_timeout_fluctuation_with(rt: &Runtime, recv_from: RecvFromFn) {
    let c1 = UdpSocket::bind_in(rt, "127.0.0.1:0").expect("bind");
    let c2 = UdpSocket::bind_in(rt, "127.0.0.1:0").expect("bind");
    c2.connect(c1.local_addr().expect("addr")).expect("connect");
    let mut b = [0u8; 256];
    fluctuation("recv_from", false, |d| {
        let t0 = Instant::now();
        c2.set_read_deadline(Some(t0 + d))
            .expect("set_read_deadline");
        let err = recv_from(&c2, &mut b).map(|(n, _)| n);
        Attempt { t0, err, moved: 0 }
    });
}

fn read_from_timeout_fluctuation(rt: &Runtime) {
    let rt = rt.clone();
    bounded("read_from_timeout_fluctuation", TEST_LIMIT, move || {
        read_from_timeout_fluctuation_with(&rt, RECV_FROM)
    });
}

fn read_from_timeout_fluctuation_async(rt: &Runtime) {
    let rt = rt.clone();
    bounded("read_from_timeout_fluctuation", TEST_LIMIT, move || {
        read_from_timeout_fluctuation_with(&rt, RECV_FROM_ASYNC)
    });
}

// ---- TestWriteTimeoutFluctuation -------------------------------------------------------------

fn write_timeout_fluctuation_with(rt: &Runtime, write: WriteFn) {
    // The peer stays in the listener's backlog and never reads: writes go through until the
    // deadline passes or the buffers fill, whichever is first.
    let l = local_listener(rt);
    let mut c = dial(rt, l.local_addr().expect("addr"));
    fluctuation("write", true, |d| {
        let t0 = Instant::now();
        c.set_write_deadline(Some(t0 + d))
            .expect("set_write_deadline");
        let mut moved = 0;
        let err = loop {
            match write(&mut c, b"TIMEOUT TRANSMITTER") {
                Ok(n) => moved += n,
                Err(e) => break Err(e),
            }
        };
        Attempt { t0, err, moved }
    });
}

fn write_timeout_fluctuation(rt: &Runtime) {
    let rt = rt.clone();
    bounded("write_timeout_fluctuation", TEST_LIMIT, move || {
        write_timeout_fluctuation_with(&rt, WRITE)
    });
}

fn write_timeout_fluctuation_async(rt: &Runtime) {
    let rt = rt.clone();
    bounded("write_timeout_fluctuation", TEST_LIMIT, move || {
        write_timeout_fluctuation_with(&rt, WRITE_ASYNC)
    });
}

green_mode!(
    read_timeout_fluctuation,
    read_from_timeout_fluctuation,
    write_timeout_fluctuation,
);

per_runtime!(
    read_timeout_fluctuation,
    read_timeout_fluctuation_async,
    read_from_timeout_fluctuation,
    read_from_timeout_fluctuation_async,
    write_timeout_fluctuation,
    write_timeout_fluctuation_async,
);
