//! Go's `TestAcceptTimeout`, `TestAcceptTimeoutMustReturn` and `TestAcceptTimeoutMustNotReturn`:
//! the listener's deadline bounds `accept`, even with a connection waiting; a cleared deadline
//! lets `accept` wait until the listener is closed.

#[macro_use]
mod util;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll_std::{Runtime, TcpListener, TcpStream};
use util::block_on;
use util::{
    after, ago, assert_closed_not_timeout, assert_timeout, blocked_until_closed, bounded,
    expect_timeout, local_listener, Waiter, LIMIT,
};

const FIFTY_MS: Duration = Duration::from_millis(50);

/// Go's `acceptTimeoutTests`, with what each accept in turn must do.
enum Expect {
    /// Fail with a timeout.
    Timeout,
    /// Accept what is queued, then fail with a timeout.
    AcceptThenTimeout,
}

/// Run one row: `accept` is the blocking or async accept.
fn accept_row(
    l: &TcpListener,
    deadline: Instant,
    expects: [Expect; 2],
    accept: &dyn Fn(&TcpListener) -> io::Result<(TcpStream, SocketAddr)>,
) -> usize {
    l.set_deadline(Some(deadline)).expect("set_deadline");
    let mut accepted = 0;
    for (j, expect) in expects.iter().enumerate() {
        loop {
            match (accept(l), expect) {
                (Ok(c), Expect::AcceptThenTimeout) => {
                    accepted += 1;
                    // Go closes the connection and sleeps 10ms before the next accept.
                    drop(c);
                    util::sleep(Duration::from_millis(10));
                }
                (Ok(_), Expect::Timeout) => panic!("#{j}: accepted past the deadline"),
                (Err(e), _) => {
                    assert_timeout(&e, &format!("#{j}"));
                    if matches!(expect, Expect::AcceptThenTimeout) {
                        assert!(Instant::now() >= deadline, "#{j}: timed out early");
                    }
                    break;
                }
            }
        }
    }
    accepted
}

fn accept_timeout_with(
    rt: &Runtime,
    accept: &dyn Fn(&TcpListener) -> io::Result<(TcpStream, SocketAddr)>,
) {
    let l = local_listener(rt);
    // A connection is queued (a std connect returns once the handshake is done), yet an
    // accept with a deadline in the past fails, twice.
    let _queued = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let n = accept_row(
        &l,
        ago(Duration::from_secs(5)),
        [Expect::Timeout, Expect::Timeout],
        accept,
    );
    assert_eq!(n, 0);
    // With a deadline 50ms away, the queued connection is accepted, then the deadline ends
    // the next accept, and the one after fails at once.
    let n = accept_row(
        &l,
        after(FIFTY_MS),
        [Expect::AcceptThenTimeout, Expect::Timeout],
        accept,
    );
    assert_eq!(n, 1, "the queued connection is accepted exactly once");
}

fn accept_timeout(rt: &Runtime) {
    let rt = rt.clone();
    bounded("accept_timeout", LIMIT, move || {
        accept_timeout_with(&rt, &|l| l.accept())
    });
}

fn accept_timeout_async(rt: &Runtime) {
    let rt = rt.clone();
    bounded("accept_timeout_async", LIMIT, move || {
        accept_timeout_with(&rt, &|l| {
            block_on(l.accept_async()).map(|(s, a)| (s.into_inner(), a))
        })
    });
}

/// Go's bound for an accept whose deadline is 10ms away, timed (as Go times it) from just
/// before the deadline is set.
const MUST_RETURN_WITHIN: Duration = Duration::from_secs(1);

fn accept_timeout_must_return_with(
    rt: &Runtime,
    accept: impl FnOnce(&TcpListener) -> io::Result<(TcpStream, SocketAddr)> + Send + 'static,
) {
    let l = local_listener(rt);
    let (r, took) = bounded("accept", LIMIT, move || {
        let start = Instant::now();
        l.set_deadline(None).expect("clear");
        l.set_deadline(Some(after(Duration::from_millis(10))))
            .expect("set_deadline");
        let r = accept(&l);
        (r, start.elapsed())
    });
    eprintln!("accept returned after {took:?}");
    expect_timeout(r.map(|(_, a)| a), "accept");
    assert!(
        took >= Duration::from_millis(10),
        "timed out early: {took:?}"
    );
    assert!(took <= MUST_RETURN_WITHIN, "accept took {took:?}");
}

fn accept_timeout_must_return(rt: &Runtime) {
    accept_timeout_must_return_with(rt, |l| l.accept());
}

fn accept_timeout_must_return_async(rt: &Runtime) {
    accept_timeout_must_return_with(rt, |l| {
        block_on(l.accept_async()).map(|(s, a)| (s.into_inner(), a))
    });
}

fn accept_timeout_must_not_return_with(
    rt: &Runtime,
    waiter: Waiter,
    accept: impl FnOnce(&TcpListener) -> io::Result<(TcpStream, SocketAddr)> + Send + 'static,
) {
    let l = Arc::new(local_listener(rt));
    let l2 = l.clone();
    let err = blocked_until_closed(
        "accept",
        rt,
        waiter,
        move || {
            // A deadline in the past, then cleared: the accept waits for ever.
            l2.set_deadline(Some(ago(Duration::from_secs(5))))
                .expect("set_deadline");
            l2.set_deadline(None).expect("clear");
            accept(&l2).map(|(_, a)| a)
        },
        || l.close().expect("close"),
    );
    assert_closed_not_timeout(&err, "accept");
}

fn accept_timeout_must_not_return(rt: &Runtime) {
    accept_timeout_must_not_return_with(rt, Waiter::Thread, |l| l.accept());
}

fn accept_timeout_must_not_return_async(rt: &Runtime) {
    accept_timeout_must_not_return_with(rt, Waiter::Task, |l| {
        block_on(l.accept_async()).map(|(s, a)| (s.into_inner(), a))
    });
}

green_mode!(
    accept_timeout,
    accept_timeout_must_return,
    accept_timeout_must_not_return,
);

per_runtime!(
    accept_timeout,
    accept_timeout_async,
    accept_timeout_must_return,
    accept_timeout_must_return_async,
    accept_timeout_must_not_return,
    accept_timeout_must_not_return_async,
);
