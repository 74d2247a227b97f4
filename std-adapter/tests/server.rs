//! The server in both modes over every backend: echo, a panicking handler, graceful shutdown,
//! a full descriptor pool.

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use netpoll_std::{Async, Runtime, Server, ServerHandle, TcpListener, TcpStream};
use util::{bounded, LIMIT};

fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                assert!(buf[0] != b'!', "handler asked to panic");
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Both `std::io::{Read, Write}` (top of the file) and the async extension traits are in
/// scope: `s.read(..)` still resolves, as `s` is an `Async<TcpStream>`.
async fn echo_async(mut s: Async<TcpStream>) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                assert!(buf[0] != b'!', "handler asked to panic");
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn start(rt: &Runtime, blocking: bool) -> ServerHandle {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    if blocking {
        Server::new().blocking(l, echo).unwrap()
    } else if cfg!(unix) && GREEN.with(std::cell::Cell::get) {
        green_server(Server::new().workers(2), l)
    } else {
        Server::new().workers(2).spawn_async(l, echo_async).unwrap()
    }
}

thread_local! {
    /// The "async" tests of this thread run the green server instead (same handler as the
    /// blocking one, on coroutines over the async workers).
    static GREEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(unix)]
fn green_server(s: Server, l: TcpListener) -> ServerHandle {
    s.green(l, echo).unwrap()
}

#[cfg(not(unix))]
fn green_server(_: Server, _: TcpListener) -> ServerHandle {
    unreachable!("green mode is Unix-only")
}

/// Run `f` (an async-mode test body) against the green server.
#[cfg(unix)]
fn green(rt: &Runtime, f: fn(&Runtime, bool)) {
    GREEN.with(|g| g.set(true));
    f(rt, false);
}

fn client(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    c
}

fn round_trip(c: &mut std::net::TcpStream, msg: &[u8]) {
    c.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

fn serves_and_shuts_down(rt: &Runtime, blocking: bool) {
    let srv = start(rt, blocking);
    let mut cs: Vec<_> = (0..4).map(|_| client(srv.local_addr())).collect();
    for (i, c) in cs.iter_mut().enumerate() {
        round_trip(c, format!("hello {i}").as_bytes());
    }
    drop(cs);
    let report = bounded("shutdown", move || srv.shutdown(LIMIT));
    assert_eq!(report.closed_forcibly, 0);
    assert_eq!(report.abandoned, 0);
}

fn panicking_handler_closes_only_its_connection(rt: &Runtime, blocking: bool) {
    let srv = start(rt, blocking);
    let mut good = client(srv.local_addr());
    round_trip(&mut good, b"before");
    let mut bad = client(srv.local_addr());
    bad.write_all(b"!boom").unwrap();
    let mut b = [0u8; 1];
    assert_eq!(
        bad.read(&mut b).unwrap_or(0),
        0,
        "the panicking handler's connection closes"
    );
    round_trip(&mut good, b"after");
    let mut fresh = client(srv.local_addr());
    round_trip(&mut fresh, b"new");
    util::eventually("panic counted", || srv.stats().panics == 1);
    drop((good, fresh));
    bounded("shutdown", move || srv.shutdown(LIMIT));
}

fn shutdown_closes_idle_connections_after_grace(rt: &Runtime, blocking: bool) {
    let srv = start(rt, blocking);
    let mut idle = client(srv.local_addr());
    round_trip(&mut idle, b"x");
    let report = bounded("shutdown", move || srv.shutdown(Duration::from_millis(50)));
    assert_eq!(report.closed_forcibly, 1);
    assert_eq!(report.abandoned, 0);
    let mut b = [0u8; 1];
    assert_eq!(
        idle.read(&mut b).unwrap_or(0),
        0,
        "the idle client sees the close"
    );
    // Not accepting any more.
    let refused = std::net::TcpStream::connect(report_addr_hint(&idle));
    assert!(refused.is_err());
}

fn report_addr_hint(c: &std::net::TcpStream) -> std::net::SocketAddr {
    c.peer_addr()
        .unwrap_or_else(|_| "127.0.0.1:1".parse().unwrap())
}

fn full_pool_keeps_serving(_: &Runtime, blocking: bool) {
    // Room for the listener and one connection only: in the listener's runtime for the
    // blocking server, in the only worker's runtime for the async one (async connections are
    // registered with their worker's runtime).
    let rt = Runtime::builder().capacity(2).build().unwrap();
    let srv = if blocking {
        start(&rt, true)
    } else {
        let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
        let s = Server::new().workers(1).worker_capacity(1);
        if cfg!(unix) && GREEN.with(std::cell::Cell::get) {
            green_server(s, l)
        } else {
            s.spawn_async(l, echo_async).unwrap()
        }
    };
    let mut first = client(srv.local_addr());
    round_trip(&mut first, b"1");
    let mut second = client(srv.local_addr());
    let mut b = [0u8; 1];
    assert_eq!(
        second.read(&mut b).unwrap_or(0),
        0,
        "no room: the connection is closed"
    );
    util::eventually("error counted", || srv.stats().accept_errors >= 1);
    drop(first);
    if blocking {
        util::eventually("slot free", || rt.stats().open == 1);
    } else {
        // The handler's guard is dropped after its stream, so its slot is free by then.
        util::eventually("slot free", || srv.stats().active == 0);
    }
    let mut third = client(srv.local_addr());
    round_trip(&mut third, b"3");
    drop(third);
    bounded("shutdown", move || srv.shutdown(LIMIT));
}

/// A handler whose synchronous part (before the future) panics on every second connection:
/// the acceptor survives and later connections are served.
fn async_handler_prologue_panic(rt: &Runtime) {
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    let srv = Server::new()
        .workers(1)
        .spawn_async(l, move |s| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert!(i.is_multiple_of(2), "prologue panic");
            echo_async(s)
        })
        .unwrap();
    let mut a = client(srv.local_addr());
    round_trip(&mut a, b"a");
    let mut b = client(srv.local_addr());
    assert_eq!(b.read(&mut [0u8; 1]).unwrap_or(0), 0);
    let mut c = client(srv.local_addr());
    round_trip(&mut c, b"c");
    assert_eq!(srv.stats().panics, 1);
    drop((a, c));
    bounded("shutdown", move || srv.shutdown(LIMIT));
}

fn blocking_serves(rt: &Runtime) {
    serves_and_shuts_down(rt, true)
}
fn async_serves(rt: &Runtime) {
    serves_and_shuts_down(rt, false)
}
fn blocking_panic(rt: &Runtime) {
    panicking_handler_closes_only_its_connection(rt, true)
}
fn async_panic(rt: &Runtime) {
    panicking_handler_closes_only_its_connection(rt, false)
}
fn blocking_grace(rt: &Runtime) {
    shutdown_closes_idle_connections_after_grace(rt, true)
}
fn async_grace(rt: &Runtime) {
    shutdown_closes_idle_connections_after_grace(rt, false)
}
fn blocking_full_pool(rt: &Runtime) {
    full_pool_keeps_serving(rt, true)
}
fn async_full_pool(rt: &Runtime) {
    full_pool_keeps_serving(rt, false)
}

/// Green mode (Unix): the blocking handler on coroutines over 2 workers.
#[cfg(unix)]
mod green {
    use super::*;

    fn green_serves(rt: &Runtime) {
        green(rt, serves_and_shuts_down)
    }
    fn green_panic(rt: &Runtime) {
        green(rt, panicking_handler_closes_only_its_connection)
    }
    fn green_grace(rt: &Runtime) {
        green(rt, shutdown_closes_idle_connections_after_grace)
    }
    fn green_full_pool(rt: &Runtime) {
        green(rt, full_pool_keeps_serving)
    }

    /// Connections are dealt to the green workers in turn: with 2 workers and 4 connections,
    /// both workers' runtimes hold connections.
    fn green_spreads_connections(rt: &Runtime) {
        let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
        let srv = Server::new().workers(2).green(l, echo).unwrap();
        let mut cs: Vec<_> = (0..4).map(|_| client(srv.local_addr())).collect();
        for c in &mut cs {
            round_trip(c, b"spread");
        }
        let opens: Vec<u32> = srv
            .worker_runtimes()
            .iter()
            .map(|rt| rt.stats().open)
            .collect();
        assert_eq!(opens, [2, 2], "connections per worker");
        drop(cs);
        bounded("shutdown", move || srv.shutdown(LIMIT));
    }

    per_backend!(
        green_serves,
        green_panic,
        green_grace,
        green_full_pool,
        green_spreads_connections,
    );
}

per_backend!(
    async_handler_prologue_panic,
    blocking_serves,
    async_serves,
    blocking_panic,
    async_panic,
    blocking_grace,
    async_grace,
    blocking_full_pool,
    async_full_pool,
);
