//! Close races across the std adapter, by bounded repetition (the core's side of the same
//! races is model-checked with loom in `core/tests/loom.rs`): close while a reader and a
//! writer are blocked, close racing a readiness event, close racing a deadline, and a new
//! socket on the same descriptor number (and pool slot) right after a close.
//!
//! Each test runs `NETPOLL_RACE_ITERS` iterations (default 2,000) per backend, each bounded
//! by a generous limit, and counts which way every race went; both ways must have been seen
//! where the timing allows it, and the pool must be empty at the end.
//!
//! `mod green` runs every race with the blocked operations on green coroutines: a one-worker
//! scheduler per backend whose runtime holds the sockets, while this thread closes, sends
//! and sets deadlines from outside, racing the worker's loop.

mod reliability;
mod util;

use std::io::{self, Read, Write};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(unix)]
use netpoll_std::green::Scheduler;
use netpoll_std::{is_closed, is_timeout, BackendKind, Runtime, TcpListener, TcpStream};
use reliability::{fill, raw_number, small_buffers, Rng, LIMIT};
use util::{join, Handle};

fn iterations() -> usize {
    std::env::var("NETPOLL_RACE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn runtime(kind: BackendKind) -> Runtime {
    Runtime::builder()
        .backend(kind)
        .capacity(64)
        .build()
        .expect("runtime")
}

/// Where the blocked operations run: threads (sockets in a runtime with a poller thread), or
/// coroutines on a one-worker green scheduler (sockets in the worker's runtime).
enum Waiters {
    Threads(Runtime),
    #[cfg(unix)]
    Green(Scheduler, Runtime),
}

impl Waiters {
    fn new(kind: BackendKind, green: bool) -> Waiters {
        #[cfg(unix)]
        if green {
            let sched = Scheduler::builder()
                .workers(1)
                .backend(kind)
                .capacity(64)
                .build()
                .expect("scheduler");
            let rt = sched.runtime(0).clone();
            return Waiters::Green(sched, rt);
        }
        assert!(!green, "green mode is Unix-only");
        Waiters::Threads(runtime(kind))
    }

    fn rt(&self) -> &Runtime {
        match self {
            Waiters::Threads(rt) => rt,
            #[cfg(unix)]
            Waiters::Green(_, rt) => rt,
        }
    }

    /// Run a blocking operation on a thread or a coroutine.
    fn go<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Handle<T> {
        match self {
            Waiters::Threads(_) => Handle::Thread(thread::spawn(f)),
            #[cfg(unix)]
            Waiters::Green(s, _) => Handle::Green(s.spawn(f).expect("spawn")),
        }
    }
}

/// Run `body` for every backend, with the operations on threads or on coroutines.
fn each_backend(green: bool, body: fn(BackendKind, &Waiters)) {
    for kind in BackendKind::all() {
        body(kind, &Waiters::new(kind, green));
    }
}

/// Connect to `l` and accept: (client, server side).
fn pair(rt: &Runtime, l: &TcpListener) -> (TcpStream, TcpStream) {
    let c = TcpStream::connect_in(rt, l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

/// Wait, spinning, until `n` threads are parked in `rt` (bounded).
fn parked(rt: &Runtime, n: usize) {
    let start = Instant::now();
    while rt.stats().parked_now != n {
        assert!(start.elapsed() < LIMIT, "{n} waiters never parked");
        thread::yield_now();
    }
}

/// Receive a waiter's result within [`LIMIT`].
fn outcome<T>(what: &str, rx: &mpsc::Receiver<T>) -> T {
    match rx.recv_timeout(LIMIT) {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {LIMIT:?} (lost wake-up?)"),
    }
}

/// A write on a socket whose sending side was shut down: `EPIPE` on Unix, `WSAESHUTDOWN` on
/// Windows (which `std` leaves uncategorised).
fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || (cfg!(windows) && e.raw_os_error() == Some(10058))
}

fn check_pool_empty(rt: &Runtime, kind: BackendKind) {
    let s = rt.stats();
    assert_eq!(s.open, 0, "{kind}: descriptors leaked: {s:?}");
    assert_eq!(s.parked_now, 0, "{kind}: a waiter left parked: {s:?}");
}

#[test]
fn close_while_a_reader_and_a_writer_are_blocked() {
    each_backend(false, close_while_a_reader_and_a_writer_are_blocked_with);
}

fn close_while_a_reader_and_a_writer_are_blocked_with(kind: BackendKind, w: &Waiters) {
    let mut rng = Rng::new(reliability::seed("close_while_blocked"));
    let rt = w.rt().clone();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").expect("bind");
    // [closed error, EOF or EPIPE from inside the syscall]
    let mut seen = [0usize; 2];
    for i in 0..iterations() {
        let (c, s) = pair(&rt, &l);
        small_buffers(&c);
        small_buffers(&s);
        fill(&c);
        let c = Arc::new(c);
        let (tx, rx) = mpsc::channel();
        let reader = {
            let (c, tx) = (c.clone(), tx.clone());
            w.go(move || {
                let r = (&*c).read(&mut [0u8; 64]);
                let _ = tx.send(("read", r.map(|n| n == 0)));
            })
        };
        let writer = {
            let c = c.clone();
            w.go(move || {
                let r = (&*c).write_all(&[3u8; 64 * 1024]);
                let _ = tx.send(("write", r.map(|()| false)));
            })
        };
        // Close after both parked (strict outcome), or at a random moment while they start.
        let strict = i % 2 == 0;
        if strict {
            parked(&rt, 2);
        } else {
            for _ in 0..rng.range(0, 2000) {
                std::hint::spin_loop();
            }
        }
        c.close().expect("close");
        for _ in 0..2 {
            let (op, r) = outcome(&format!("{kind} iteration {i}"), &rx);
            match r {
                Err(e) if is_closed(&e) => seen[0] += 1,
                // Inside the syscall when the close's shutdown landed.
                Ok(true) if !strict && op == "read" => seen[1] += 1,
                Err(e) if !strict && op == "write" && is_broken_pipe(&e) => seen[1] += 1,
                other => panic!("{kind} iteration {i}: {op} after close: {other:?}"),
            }
        }
        join("reader", reader);
        join("writer", writer);
        drop((c, s));
    }
    eprintln!("{kind}: closed error {}, EOF/EPIPE {}", seen[0], seen[1]);
    drop(l);
    check_pool_empty(&rt, kind);
}

#[test]
fn close_racing_a_readiness_event() {
    each_backend(false, close_racing_a_readiness_event_with);
}

fn close_racing_a_readiness_event_with(kind: BackendKind, w: &Waiters) {
    let rt = w.rt().clone();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").expect("bind");
    // [got the data, closed error, EOF]
    let mut seen = [0usize; 3];
    for i in 0..iterations() {
        let (c, s) = pair(&rt, &l);
        let s = Arc::new(s);
        let (tx, rx) = mpsc::channel();
        let reader = {
            let s = s.clone();
            w.go(move || {
                let mut b = [0u8; 1];
                let _ = tx.send((&*s).read(&mut b).map(|n| (n, b[0])));
            })
        };
        parked(&rt, 1);
        let go = Arc::new(Barrier::new(2));
        let sender = {
            let go = go.clone();
            w.go(move || {
                go.wait();
                (&c).write_all(b"x").expect("write");
                c
            })
        };
        go.wait();
        s.close().expect("close");
        match outcome(&format!("{kind} iteration {i}"), &rx) {
            Ok((1, b'x')) => seen[0] += 1,
            Err(e) if is_closed(&e) => seen[1] += 1,
            Ok((0, _)) => seen[2] += 1,
            other => panic!("{kind} iteration {i}: read: {other:?}"),
        }
        let c = join("sender", sender);
        join("reader", reader);
        drop((c, s));
    }
    eprintln!(
        "{kind}: data {}, closed error {}, EOF {}",
        seen[0], seen[1], seen[2]
    );
    assert!(seen[1] > 0, "{kind}: the close never won the race");
    drop(l);
    check_pool_empty(&rt, kind);
}

/// One close-versus-deadline race: a reader parks, a read deadline `deadline_in` from now is
/// set, and the socket is closed `close_after` after that deadline (or `close_before` it).
/// Returns true if the reader saw the timeout, false if it saw the closed error.
fn deadline_race(
    w: &Waiters,
    l: &TcpListener,
    what: &str,
    deadline_in: Duration,
    close_at: impl Fn(Instant) -> Instant,
) -> bool {
    let rt = w.rt();
    let (c, s) = pair(rt, l);
    let s = Arc::new(s);
    let (tx, rx) = mpsc::channel();
    let reader = {
        let s = s.clone();
        w.go(move || {
            let _ = tx.send((&*s).read(&mut [0u8; 1]));
        })
    };
    // Parked first, so the deadline's timer and the close race for the waiter.
    parked(rt, 1);
    let deadline = Instant::now() + deadline_in;
    s.set_read_deadline(Some(deadline)).expect("deadline");
    let close_at = close_at(deadline);
    while Instant::now() < close_at {
        std::hint::spin_loop();
    }
    s.close().expect("close");
    let timed_out = match outcome(what, &rx) {
        Err(e) if is_timeout(&e) => true,
        Err(e) if is_closed(&e) => false,
        other => panic!("{what}: read: {other:?}"),
    };
    join("reader", reader);
    drop((c, s));
    timed_out
}

#[test]
fn close_racing_a_deadline() {
    each_backend(false, close_racing_a_deadline_with);
}

fn close_racing_a_deadline_with(kind: BackendKind, w: &Waiters) {
    let mut rng = Rng::new(reliability::seed("close_racing_a_deadline"));
    let rt = w.rt().clone();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").expect("bind");
    let (c, s) = pair(&rt, &l);
    drop(c);
    drop(s);
    // [timeout, closed error]
    let mut seen = [0usize; 2];
    for i in 0..iterations() {
        // The deadline is 0-400 us away and the close comes 0-3 ms after it: the poller
        // rounds a sub-millisecond wait up to 1 ms, so the timer fires somewhere in that
        // window and either side can win, depending on this machine's scheduling.
        let deadline_in = Duration::from_micros(rng.range(0, 400));
        let after = Duration::from_micros(rng.range(0, 3000));
        let won = deadline_race(w, &l, &format!("{kind} iteration {i}"), deadline_in, |d| {
            d + after
        });
        seen[usize::from(!won)] += 1;
    }
    eprintln!(
        "{kind}: racing: timeout {}, closed error {}",
        seen[0], seen[1]
    );
    // Where the scheduling never let one side win, make sure that side's path works at
    // all by giving it more and more of a head start (bounded): the timer with the close
    // up to 64 ms after the deadline, the close up to 64 ms before it.
    for (side, wants_timeout) in [(0, true), (1, false)] {
        let mut margin = Duration::from_millis(1);
        while seen[side] == 0 {
            assert!(
                margin <= Duration::from_millis(64),
                "{kind}: the {} never won, even with a 64 ms head start: {seen:?}",
                if wants_timeout { "deadline" } else { "close" }
            );
            let what = format!("{kind} head start {margin:?}");
            let won = if wants_timeout {
                deadline_race(w, &l, &what, Duration::ZERO, |d| d + margin)
            } else {
                deadline_race(w, &l, &what, margin, |d| d - margin)
            };
            seen[usize::from(!won)] += 1;
            eprintln!("{kind}: head start {margin:?}: timeout won: {won}");
            margin *= 2;
        }
    }
    drop(l);
    check_pool_empty(&rt, kind);
}

#[test]
fn a_new_socket_on_the_same_descriptor_number_right_after_close() {
    each_backend(
        false,
        a_new_socket_on_the_same_descriptor_number_right_after_close_with,
    );
}

#[cfg(unix)]
mod green {
    use super::*;

    #[test]
    fn close_while_a_reader_and_a_writer_are_blocked() {
        each_backend(true, close_while_a_reader_and_a_writer_are_blocked_with);
    }

    #[test]
    fn close_racing_a_readiness_event() {
        each_backend(true, close_racing_a_readiness_event_with);
    }

    #[test]
    fn close_racing_a_deadline() {
        each_backend(true, close_racing_a_deadline_with);
    }

    #[test]
    fn a_new_socket_on_the_same_descriptor_number_right_after_close() {
        each_backend(
            true,
            a_new_socket_on_the_same_descriptor_number_right_after_close_with,
        );
    }
}

fn a_new_socket_on_the_same_descriptor_number_right_after_close_with(
    kind: BackendKind,
    w: &Waiters,
) {
    let rt = w.rt().clone();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").expect("bind");
    let (mut c, mut s) = pair(&rt, &l);
    let mut same_fd = 0;
    for i in 0..iterations() {
        // An event is in flight for the old socket (data from its peer), and a reader is
        // parked on it when it is closed.
        let old_fd = raw_number(&s);
        let old_closer = s.closer();
        let s_old = Arc::new(s);
        let reader = {
            let s = s_old.clone();
            // On the heap: a coroutine's default stack is 256 KiB.
            w.go(move || (&*s).read_exact(&mut vec![0u8; 1 << 20]))
        };
        (&c).write_all(b"late").expect("write");
        s_old.close().expect("close");
        let e = join("reader", reader).expect_err("read after close");
        assert!(
            is_closed(&e) || e.kind() == io::ErrorKind::UnexpectedEof,
            "{kind}: {e:?}"
        );
        drop(s_old);
        drop(c);

        // The next socket very likely gets the same descriptor number and pool slot.
        let (c2, s2) = pair(&rt, &l);
        if raw_number(&s2) == old_fd || raw_number(&c2) == old_fd {
            same_fd += 1;
        }
        // The old socket's closer must not reach the new one.
        let e = old_closer.close().expect_err("second close");
        assert!(is_closed(&e), "{kind}: {e:?}");
        // No readiness or data of the old socket shows on the new one.
        if i % 16 == 0 {
            s2.set_read_deadline(Some(Instant::now() + Duration::from_millis(1)))
                .expect("deadline");
            let r = (&s2).read(&mut [0u8; 8]);
            assert!(
                matches!(&r, Err(e) if is_timeout(e)),
                "{kind} iteration {i}: new socket: {r:?}"
            );
            s2.set_read_deadline(None).expect("deadline");
        }
        (&c2).write_all(b"new").expect("write");
        let mut got = [0u8; 3];
        s2.set_read_deadline(Some(Instant::now() + LIMIT))
            .expect("deadline");
        (&s2).read_exact(&mut got).expect("read new");
        assert_eq!(&got, b"new", "{kind} iteration {i}");
        s2.set_read_deadline(None).expect("deadline");
        (c, s) = (c2, s2);
    }
    eprintln!(
        "{kind}: same descriptor number {same_fd} of {}",
        iterations()
    );
    assert!(same_fd > 0, "{kind}: descriptor numbers never reused");
    drop((c, s, l));
    check_pool_empty(&rt, kind);
}
