//! Shared helpers for the integration tests: a runtime per backend, bounded waits.
#![allow(dead_code)]

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use netpoll_std::{BackendKind, Runtime};

/// A generous bound for things that should take milliseconds.
pub const LIMIT: Duration = Duration::from_secs(10);

/// A fresh runtime on `kind` with a small pool.
pub fn rt(kind: BackendKind) -> Runtime {
    Runtime::builder()
        .backend(kind)
        .capacity(256)
        .build()
        .expect("runtime")
}

/// Run `f` on a thread and return its result, failing the test if it takes longer than
/// [`LIMIT`] (a hang becomes a failure, not a stuck test run).
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(v) => v,
        Err(_) => panic!("{what}: not done within {LIMIT:?}"),
    }
}

/// Wait (bounded) until `cond` holds, polling every millisecond.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "{what}: not true within {LIMIT:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Run the listed test bodies (`fn(&Runtime)`) once per backend the OS has: `mod epoll`
/// (Linux), `mod polling`, `mod polling_oneshot`. A body may carry attributes (`#[cfg(unix)]`,
/// `#[cfg_attr(wine, ignore = "why")]`), which each of its tests gets.
#[macro_export]
macro_rules! per_backend {
    ($($(#[$meta:meta])* $test:ident),* $(,)?) => {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        mod epoll {
            $( $(#[$meta])* #[test] fn $test() {
                super::$test(&$crate::util::rt(netpoll_std::BackendKind::Epoll))
            } )*
        }
        mod polling {
            $( $(#[$meta])* #[test] fn $test() {
                super::$test(&$crate::util::rt(netpoll_std::BackendKind::Polling))
            } )*
        }
        mod polling_oneshot {
            $( $(#[$meta])* #[test] fn $test() {
                super::$test(&$crate::util::rt(netpoll_std::BackendKind::PollingOneshot))
            } )*
        }
    };
}

/// A connected pair over loopback: (client, server side).
pub fn tcp_pair(rt: &Runtime) -> (netpoll_std::TcpStream, netpoll_std::TcpStream) {
    let l = netpoll_std::TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind");
    let c = netpoll_std::TcpStream::connect_in(rt, l.local_addr().unwrap()).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

/// Now plus `ms` milliseconds.
pub fn in_ms(ms: u64) -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(ms))
}
