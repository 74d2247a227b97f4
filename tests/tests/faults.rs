//! Fault injection over the std adapter, on every backend: a signal (`EINTR`) in the wait,
//! spurious wake-ups, storms of readiness that turn out to be `EAGAIN`, events for descriptors
//! that were closed and whose slot was reused, `EMFILE`/`ENFILE`/`ENOMEM` on accept, and a
//! connection reset under a blocked writer.
//!
//! Every test checks the same four things: no lost wake-up (a reader and a writer blocked
//! while the fault hits still complete, and a deadline still fires on time), the right error
//! to the caller, the other connections unaffected (an echo connection keeps echoing), and no
//! leaked descriptor (the runtime's pool is empty at the end).
//!
//! The faults come from `netpoll_std::fault` (feature `fault-injection`, enabled for this
//! crate's tests only); the reset and the signals are real.

mod reliability;

use std::io::{self, Read, Write};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use netpoll_std::fault::{FaultPlan, Injected};
use netpoll_std::{is_closed, is_timeout, BackendKind, Runtime, Server, TcpListener, TcpStream};
use reliability::{check_echo, eventually, fill, join, linger_zero, tcp_pair, EchoServer, LIMIT};

/// How late a deadline may fire under a fault (on a loaded two-core machine).
const LATE: Duration = Duration::from_secs(1);

/// A runtime on `kind` whose backend is wrapped by a fresh plan.
fn faulty_runtime(kind: BackendKind) -> (Runtime, FaultPlan) {
    let plan = FaultPlan::new();
    let rt = {
        let _installed = plan.install();
        Runtime::builder()
            .backend(kind)
            .capacity(256)
            .build()
            .expect("runtime")
    };
    (rt, plan)
}

/// A read with a 50 ms deadline and no data must time out, neither early nor later than
/// [`LATE`] after the deadline.
fn deadline_fires(rt: &Runtime, addr: std::net::SocketAddr) {
    let d = TcpStream::connect_in(rt, addr).expect("connect");
    let start = Instant::now();
    d.set_read_deadline(Some(start + Duration::from_millis(50)))
        .expect("deadline");
    let r = (&d).read(&mut [0u8; 16]);
    let took = start.elapsed();
    match r {
        Err(e) => assert!(is_timeout(&e), "want a timeout, got {e:?}"),
        Ok(n) => panic!("read {n} bytes from a silent peer"),
    }
    assert!(
        took >= Duration::from_millis(50),
        "deadline fired early: {took:?}"
    );
    assert!(
        took <= Duration::from_millis(50) + LATE,
        "deadline fired late: {took:?}"
    );
}

/// Run the common scenario on `kind`: set up a blocked reader, a blocked writer and an echo
/// connection, call `on` to start the fault, wait until `enough` says the fault was injected,
/// check that the waiters stay blocked (a fault is no reason to return), that the echo
/// connection works and a deadline fires, then unblock the waiters, stop the fault with `off`
/// and check that nothing leaked. `before` runs first (to make stale tokens, say).
fn scenario(
    kind: BackendKind,
    before: impl Fn(&Runtime),
    on: impl Fn(&FaultPlan),
    enough: impl Fn(&Injected) -> bool,
    off: impl Fn(&FaultPlan),
) -> (Runtime, FaultPlan) {
    let (rt, plan) = faulty_runtime(kind);
    before(&rt);
    let echo = EchoServer::start(&rt);
    let by = TcpStream::connect_in(&rt, echo.addr()).expect("connect");
    check_echo(&by, b"before the fault");
    // Parked now: the echo acceptor and the echo handler of `by`.
    eventually("echo server idle", || rt.stats().parked_now == 2);

    // A reader with nothing to read, and a writer whose buffers are full.
    let (c1, s1) = tcp_pair(&rt);
    let (c2, s2) = tcp_pair(&rt);
    let s1 = Arc::new(s1);
    let c2 = Arc::new(c2);
    let filled = fill(&c2);
    let (rtx, rrx) = mpsc::channel();
    let reader = {
        let s1 = s1.clone();
        thread::spawn(move || {
            let mut got = [0u8; 5];
            let _ = rtx.send((&*s1).read_exact(&mut got).map(|()| got));
        })
    };
    let (wtx, wrx) = mpsc::channel();
    // More than loopback's largest socket buffers (tcp_wmem + tcp_rmem maxima): the writer
    // cannot finish before the peer reads.
    let block = vec![7u8; 16 << 20];
    let writer = {
        let c2 = c2.clone();
        let block = block.clone();
        thread::spawn(move || {
            let _ = wtx.send((&*c2).write_all(&block));
        })
    };
    eventually("reader and writer parked", || rt.stats().parked_now == 4);

    let parks = rt.stats().parks;
    on(&plan);
    // A fault acts on the next waits of the poll loop: keep the echo connection busy (which
    // also checks that it keeps working) until enough was injected.
    let start = Instant::now();
    let mut i = 0u8;
    while !enough(&plan.injected()) {
        assert!(
            start.elapsed() < LIMIT,
            "{kind}: fault not injected: {:?}",
            plan.injected()
        );
        check_echo(&by, &[i; 100]);
        i = i.wrapping_add(1);
    }
    deadline_fires(&rt, echo.addr());
    if let Ok(r) = rrx.try_recv() {
        panic!("{kind}: the reader returned under the fault: {r:?}");
    }
    if let Ok(r) = wrx.try_recv() {
        panic!("{kind}: the writer returned under the fault: {r:?}");
    }

    // Unblock both while the fault is still on.
    (&c1).write_all(b"hello").expect("write");
    match rrx.recv_timeout(LIMIT) {
        Ok(Ok(got)) => assert_eq!(&got, b"hello"),
        other => panic!("{kind}: blocked reader: {other:?}"),
    }
    s2.set_read_deadline(Some(Instant::now() + LIMIT))
        .expect("deadline");
    let mut drained = vec![0u8; filled + block.len()];
    (&s2).read_exact(&mut drained).expect("drain");
    assert_eq!(&drained[filled..], &block[..], "{kind}: writer's bytes");
    match wrx.recv_timeout(LIMIT) {
        Ok(Ok(())) => {}
        other => panic!("{kind}: blocked writer: {other:?}"),
    }
    join("reader", reader);
    join("writer", writer);
    off(&plan);
    check_echo(&by, b"after the fault");
    eprintln!(
        "{kind}: injected {:?}; parks during the fault: {}",
        plan.injected(),
        rt.stats().parks - parks
    );

    drop((c1, s1, c2, s2, by));
    echo.stop();
    assert_eq!(rt.stats().open, 0, "{kind}: descriptors leaked");
    assert_eq!(rt.stats().parked_now, 0, "{kind}: a waiter left parked");
    (rt, plan)
}

#[test]
fn spurious_wakeups_lose_nothing() {
    for kind in BackendKind::all() {
        let (rt, plan) = scenario(
            kind,
            |_| {},
            |p| p.set_spurious(true),
            |i| i.spurious_returns >= 100,
            |p| p.set_spurious(false),
        );
        assert!(plan.injected().spurious_returns >= 100);
        drop(rt);
    }
}

#[test]
fn readiness_storm_with_eagain_loses_nothing() {
    for kind in BackendKind::all() {
        let (rt, plan) = scenario(
            kind,
            |_| {},
            |p| p.set_storm(true),
            |i| i.storm_events >= 500,
            |p| p.set_storm(false),
        );
        // The storm reached the parked waiters: each fake edge woke them, their syscall said
        // EAGAIN, and they parked again.
        assert!(
            rt.stats().parks >= 20,
            "{kind}: the storm never woke a waiter: {:?}",
            rt.stats()
        );
        assert!(plan.injected().storm_events >= 500);
    }
}

#[test]
fn events_for_closed_and_reused_descriptors_are_dropped() {
    for kind in BackendKind::all() {
        let stale_before = std::sync::Mutex::new(0u64);
        let (rt, plan) = scenario(
            kind,
            // Open and close a few connections, so that the slots the scenario's sockets
            // get were used before, under older generations.
            |rt| {
                for _ in 0..4 {
                    let (c, s) = tcp_pair(rt);
                    drop((c, s));
                }
                *stale_before.lock().unwrap() = rt.stats().stale_events;
            },
            |p| p.set_stale(true),
            |i| i.stale_events >= 500,
            |p| p.set_stale(false),
        );
        // Every injected event for a reused slot was recognised as stale.
        let injected = plan.injected().stale_on_reused;
        assert!(injected >= 100, "{kind}: {:?}", plan.injected());
        let before = *stale_before.lock().unwrap();
        eventually("stale events counted", || {
            rt.stats().stale_events - before >= injected
        });
        assert_eq!(rt.stats().open, 0);
    }
}

/// Accept errors to inject: running out of descriptors (per process, system-wide) and of
/// memory, as the OS numbers them.
#[cfg(unix)]
const ACCEPT_ERRORS: [i32; 3] = [libc::EMFILE, libc::ENFILE, libc::ENOMEM];
/// `WSAEMFILE`, `WSAENOBUFS`, `ERROR_NOT_ENOUGH_MEMORY`: what Windows' `accept` says instead.
#[cfg(windows)]
const ACCEPT_ERRORS: [i32; 3] = [10024, 10055, 8];

/// Unix only: Windows has no signals that interrupt a thread's wait.
#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::*;

    static SIGNALS: AtomicU64 = AtomicU64::new(0);

    extern "C" fn count_signal(_: libc::c_int) {
        SIGNALS.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn signals_interrupting_the_wait_lose_nothing() {
        // SAFETY: zeroed is a valid sigaction (empty mask, no flags: no SA_RESTART, so a blocked
        // epoll_wait fails with EINTR); the handler only bumps an atomic, which is signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
        for kind in BackendKind::all() {
            let stop = Arc::new(AtomicBool::new(false));
            let start = SIGNALS.load(Ordering::Relaxed);
            let killer: std::sync::Mutex<Option<thread::JoinHandle<()>>> = Default::default();
            let (rt, _plan) = scenario(
                kind,
                |_| {},
                |p| {
                    let (p, stop) = (p.clone(), stop.clone());
                    *killer.lock().unwrap() = Some(thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            for t in p.waiting_threads() {
                                // SAFETY: `t` is blocked in the runtime's wait, so it is alive;
                                // the runtime outlives this thread (joined before it is dropped).
                                unsafe { libc::pthread_kill(t, libc::SIGUSR1) };
                            }
                            thread::sleep(Duration::from_micros(200));
                        }
                    }));
                },
                |_| SIGNALS.load(Ordering::Relaxed) - start >= 100,
                |_| {
                    stop.store(true, Ordering::Relaxed);
                    if let Some(k) = killer.lock().unwrap().take() {
                        join("signal thread", k);
                    }
                },
            );
            eprintln!(
                "{kind}: {} signals delivered",
                SIGNALS.load(Ordering::Relaxed) - start
            );
            drop(rt);
        }
    }
}

#[test]
fn accept_errors_reach_the_caller_and_the_listener_survives() {
    for kind in BackendKind::all() {
        let (rt, plan) = faulty_runtime(kind);
        let echo = EchoServer::start(&rt);
        let by = TcpStream::connect_in(&rt, echo.addr()).expect("connect");
        check_echo(&by, b"before");
        // Parked now: the echo acceptor and the echo handler of `by`.
        eventually("echo server idle", || rt.stats().parked_now == 2);
        // The echo server's acceptor is parked with nothing to accept: only `l` accepts now.
        let l = Arc::new(TcpListener::bind_in(&rt, "127.0.0.1:0").expect("bind"));
        let addr = l.local_addr().expect("addr");
        l.set_read_deadline(Some(Instant::now() + LIMIT))
            .expect("deadline");

        // Blocking accept with the connection already queued.
        let errnos = ACCEPT_ERRORS;
        let [emfile, enfile, _] = errnos;
        plan.fail_accepts(&errnos);
        let c = TcpStream::connect_in(&rt, addr).expect("connect");
        for errno in errnos {
            let e = l.accept().expect_err("injected accept error");
            assert_eq!(e.raw_os_error(), Some(errno), "{kind}: {e:?}");
        }
        let (s, _) = l.accept().expect("accept after the errors");
        (&c).write_all(b"ping").expect("write");
        let mut got = [0u8; 4];
        (&s).read_exact(&mut got).expect("read");
        assert_eq!(&got, b"ping");
        drop((c, s));

        // A blocked acceptor: woken by the connection, fails with the error, and finds the
        // connection (still in the backlog) on its next call.
        plan.fail_accepts(&[emfile]);
        let acceptor = {
            let l = l.clone();
            thread::spawn(move || {
                let first = l.accept().map(|_| ());
                (first, l.accept().map(|(s, _)| s))
            })
        };
        eventually("acceptor parked", || rt.stats().parked_now == 3);
        let c = TcpStream::connect_in(&rt, addr).expect("connect");
        let (first, second) = join("acceptor", acceptor);
        let e = first.expect_err("injected EMFILE");
        assert_eq!(e.raw_os_error(), Some(emfile), "{kind}: {e:?}");
        let s = second.expect("accept after EMFILE");
        drop((c, s));

        // The async accept gets the same error, then the connection.
        plan.fail_accepts(&[enfile]);
        let c = TcpStream::connect_in(&rt, addr).expect("connect");
        let e = futures_lite::future::block_on(l.accept_async()).expect_err("ENFILE");
        assert_eq!(e.raw_os_error(), Some(enfile), "{kind}: {e:?}");
        let (s, _) = futures_lite::future::block_on(l.accept_async()).expect("accept");
        drop((c, s));
        drop(l);

        // A server counts the errors and keeps serving.
        let sl = TcpListener::bind_in(&rt, "127.0.0.1:0").expect("bind");
        let saddr = sl.local_addr().expect("addr");
        plan.fail_accepts(&ACCEPT_ERRORS);
        let server = Server::new()
            .blocking(sl, |s: TcpStream| {
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = (&s).read(&mut buf) {
                    if (&s).write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            })
            .expect("server");
        let c = TcpStream::connect_in(&rt, saddr).expect("connect");
        check_echo(&c, b"served despite EMFILE");
        assert_eq!(server.stats().accept_errors, 3, "{kind}");
        drop(c);
        let report = server.shutdown(Duration::from_secs(5));
        assert_eq!(report.abandoned, 0);

        assert_eq!(plan.injected().accept_failures, 8);
        check_echo(&by, b"after");
        drop(by);
        echo.stop();
        assert_eq!(rt.stats().open, 0, "{kind}: descriptors leaked");
    }
}

#[test]
fn connection_reset_under_a_blocked_writer() {
    for kind in BackendKind::all() {
        let (rt, _plan) = faulty_runtime(kind);
        let echo = EchoServer::start(&rt);
        let by = TcpStream::connect_in(&rt, echo.addr()).expect("connect");
        check_echo(&by, b"before");
        // Parked now: the echo acceptor and the echo handler of `by`.
        eventually("echo server idle", || rt.stats().parked_now == 2);

        // The peer is a plain std socket that never reads, then resets.
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = Arc::new(
            TcpStream::connect_in(&rt, std_l.local_addr().expect("addr")).expect("connect"),
        );
        let (peer, _) = std_l.accept().expect("accept");
        fill(&c);
        let writer = {
            let c = c.clone();
            thread::spawn(move || (&*c).write_all(&[1u8; 256 * 1024]))
        };
        let reader = {
            let c = c.clone();
            thread::spawn(move || (&*c).read(&mut [0u8; 16]))
        };
        eventually("writer and reader parked", || rt.stats().parked_now == 4);
        linger_zero(&peer);
        drop(peer);

        let w = join("writer", writer).expect_err("write to a reset connection");
        assert!(
            matches!(
                w.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{kind}: writer: {w:?}"
        );
        assert!(!is_timeout(&w) && !is_closed(&w), "{kind}: writer: {w:?}");
        match join("reader", reader) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("{kind}: reader: {other:?}"),
        }
        check_echo(&by, b"after the reset");
        drop((c, by));
        echo.stop();
        assert_eq!(rt.stats().open, 0, "{kind}: descriptors leaked");
    }
}
