//! Go's `TestVariousDeadlines`, `TestVariousDeadlines1Proc` and `TestVariousDeadlines4Proc`: a
//! client reads from a server that never writes, with a deadline from 1ns to 1s away, and
//! must end with a timeout, never before the deadline.
//!
//! Go runs the same sequential client under `GOMAXPROCS` 1 and 4, which changes how many
//! threads run goroutines (and fire timers). Our counterparts:
//! * `various_deadlines`: one client thread (blocking) or one client task (async), the server
//!   on its own thread;
//! * `various_deadlines_1_proc`: server and client as two tasks on ONE thread (async only: a
//!   blocking server and client cannot share a thread);
//! * `various_deadlines_4_proc`: four clients at once on four threads (blocking, or one task
//!   per thread), against one server, so deadlines of several sockets fire together.
//!
//! Go's whole list, 1ns to 1s, three runs each: about 5.6 s per test, almost all of it waiting
//! for deadlines (the tests sleep, they do not load the machine).

#[macro_use]
mod util;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll_std::{Runtime, TcpListener, TcpStream};
use util::block_on;
use util::{assert_timeout, bounded, join_within, LocalServer};

/// Go's list.
const TIMEOUTS: [Duration; 19] = [
    Duration::from_nanos(1),
    Duration::from_nanos(2),
    Duration::from_nanos(5),
    Duration::from_nanos(50),
    Duration::from_nanos(100),
    Duration::from_nanos(200),
    Duration::from_nanos(500),
    Duration::from_nanos(750),
    Duration::from_micros(1),
    Duration::from_micros(5),
    Duration::from_micros(25),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// Runs of each timeout (as in Go).
const RUNS: usize = 3;

/// What one run saw.
fn check(timeout: Duration, run: usize, r: io::Result<u64>, took: Duration) {
    let what = format!("{timeout:?} {run}/{RUNS}: copy ended after {took:?}");
    match r {
        Ok(n) => panic!("{what} with Ok({n}); want a timeout"),
        Err(e) => assert_timeout(&e, &what),
    }
    assert!(took >= timeout, "{what}: before its deadline");
}

/// The server: accept connections one at a time; wait for each client to close (the read
/// returns), then close it. Ends when the listener is closed.
fn serve_blocking(l: Arc<TcpListener>) {
    while let Ok((mut s, _)) = l.accept() {
        let _ = io::Read::read(&mut s, &mut [0u8; 1]);
    }
}

/// The async server, for the one-thread variant.
async fn serve_async(l: &TcpListener) {
    while let Ok((mut s, _)) = l.accept_async().await {
        let _ = futures_lite::AsyncReadExt::read(&mut s, &mut [0u8; 1]).await;
    }
}

/// Go's client loop, blocking: read everything until the deadline (Go's
/// `io.Copy(io.Discard, c)`), for every timeout and run.
fn client_blocking(rt: &Runtime, addr: SocketAddr) {
    for timeout in TIMEOUTS {
        for run in 0..RUNS {
            let mut c = TcpStream::connect_in(rt, addr).expect("connect");
            let t0 = Instant::now();
            c.set_deadline(Some(t0 + timeout)).expect("set_deadline");
            let r = io::copy(&mut c, &mut io::sink());
            let took = t0.elapsed();
            drop(c);
            check(timeout, run, r, took);
        }
    }
}

/// The same client, async.
async fn client_async(rt: &Runtime, addr: SocketAddr) {
    for timeout in TIMEOUTS {
        for run in 0..RUNS {
            let mut c = TcpStream::connect_async_in(rt, addr, None)
                .await
                .expect("connect");
            let t0 = Instant::now();
            c.set_deadline(Some(t0 + timeout)).expect("set_deadline");
            let r = futures_lite::io::copy(&mut c, &mut futures_lite::io::sink()).await;
            let took = t0.elapsed();
            drop(c);
            check(timeout, run, r, took);
        }
    }
}

/// The whole test may take at most this long.
const TEST_LIMIT: Duration = Duration::from_secs(20);

fn various_deadlines(rt: &Runtime) {
    let server = LocalServer::start(rt, serve_blocking);
    let (rt2, addr) = (rt.clone(), server.addr());
    bounded("client", TEST_LIMIT, move || client_blocking(&rt2, addr));
    server.shutdown();
}

fn various_deadlines_async(rt: &Runtime) {
    let server = LocalServer::start(rt, serve_blocking);
    let (rt2, addr) = (rt.clone(), server.addr());
    bounded("client", TEST_LIMIT, move || {
        block_on(client_async(&rt2, addr))
    });
    server.shutdown();
}

fn various_deadlines_1_proc(rt: &Runtime) {
    let rt = rt.clone();
    bounded("server and client on one thread", TEST_LIMIT, move || {
        let l = util::local_listener(&rt);
        let addr = l.local_addr().expect("addr");
        let client = async {
            client_async(&rt, addr).await;
            // Done: closing the listener ends the server task's accept.
            l.close().expect("close");
        };
        block_on(futures_lite::future::zip(serve_async(&l), client));
    });
}

/// Clients at once in the 4-proc variant.
const PROCS: usize = 4;

fn various_deadlines_4_proc(rt: &Runtime) {
    let server = LocalServer::start(rt, serve_blocking);
    let clients: Vec<_> = (0..PROCS)
        .map(|_| {
            let (rt, addr) = (rt.clone(), server.addr());
            util::go(move || client_blocking(&rt, addr))
        })
        .collect();
    for c in clients {
        join_within("client", TEST_LIMIT, c);
    }
    server.shutdown();
}

fn various_deadlines_4_proc_async(rt: &Runtime) {
    let server = LocalServer::start(rt, serve_blocking);
    let clients: Vec<_> = (0..PROCS)
        .map(|_| {
            let (rt, addr) = (rt.clone(), server.addr());
            util::go(move || block_on(client_async(&rt, addr)))
        })
        .collect();
    for c in clients {
        join_within("client", TEST_LIMIT, c);
    }
    server.shutdown();
}

// Green mode: `various_deadlines` runs the server and the client as two coroutines on one
// worker thread, so it is also the blocking counterpart of `various_deadlines_1_proc` (which
// blocking threads cannot express); `various_deadlines_4_proc` runs four client coroutines.
green_mode!(various_deadlines, various_deadlines_4_proc);

per_runtime!(
    various_deadlines,
    various_deadlines_async,
    various_deadlines_1_proc,
    various_deadlines_4_proc,
    various_deadlines_4_proc_async,
);
