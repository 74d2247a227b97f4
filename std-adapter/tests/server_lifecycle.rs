//! The server's lifecycle from `main`'s side: `join`/`wait` until a shutdown from another
//! thread (or a listener closed elsewhere), a second shutdown waiting for the first, and Unix
//! listeners served like TCP ones, blocking and async.

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netpoll_std::{Async, Runtime, Server, ServerHandle, TcpListener};
use util::{bounded, LIMIT};

fn echo<S>(mut s: S)
where
    S: Read + Write,
{
    let mut buf = [0u8; 256];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

async fn echo_async<S>(mut s: Async<S>)
where
    Async<S>: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let mut buf = [0u8; 256];
    while let Ok(n @ 1..) = s.read(&mut buf).await {
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn tcp_server(rt: &Runtime, blocking: bool) -> ServerHandle {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    if blocking {
        Server::new().blocking(l, echo).unwrap()
    } else {
        Server::new().workers(1).spawn_async(l, echo_async).unwrap()
    }
}

fn round_trip(c: &mut (impl Read + Write), msg: &[u8]) {
    c.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

/// `main` joins; another thread (a signal handler's) shuts down through a clone: `join`
/// returns that shutdown's report, and a second shutdown returns the same.
fn join_returns_after_a_shutdown_elsewhere(rt: &Runtime) {
    for blocking in [true, false] {
        let server = tcp_server(rt, blocking);
        let mut idle = std::net::TcpStream::connect(server.local_addr()).unwrap();
        idle.set_read_timeout(Some(LIMIT)).unwrap();
        round_trip(&mut idle, b"hello");
        let stopper = server.clone();
        let watcher = server.clone();
        let joined = std::thread::spawn(move || server.join());
        let waited = std::thread::spawn(move || watcher.wait());
        let report = bounded("shutdown", move || {
            let first = stopper.shutdown(Duration::from_millis(20));
            let again = stopper.shutdown(Duration::from_millis(20));
            assert_eq!(first, again, "a second shutdown reports the first");
            first
        });
        assert_eq!(report.closed_forcibly, 1, "the idle connection was closed");
        assert_eq!(report.abandoned, 0);
        assert_eq!(bounded("join", move || joined.join().unwrap()), report);
        assert_eq!(bounded("wait", move || waited.join().unwrap()), report);
        assert_eq!(idle.read(&mut [0u8; 1]).unwrap_or(0), 0);
    }
}

/// The listener, closed through a `Closer` taken before it was handed to the server: `wait`
/// returns once the last handler has returned.
fn wait_returns_when_the_listener_is_closed_elsewhere(rt: &Runtime) {
    for blocking in [true, false] {
        let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
        let closer = l.closer();
        let server = if blocking {
            Server::new().blocking(l, echo).unwrap()
        } else {
            Server::new().workers(1).spawn_async(l, echo_async).unwrap()
        };
        let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        round_trip(&mut c, b"x");
        let watcher = server.clone();
        let waited = std::thread::spawn(move || watcher.wait());
        closer.close().unwrap();
        // Still serving its connection: wait goes on until the handler returns.
        round_trip(&mut c, b"still here");
        assert!(!waited.is_finished());
        drop(c);
        let report = bounded("wait", move || waited.join().unwrap());
        assert_eq!(report, Default::default());
        assert_eq!(bounded("join", move || server.join()), report);
    }
}

/// Unix-domain listeners: Unix only (Windows has no `std` Unix sockets).
#[cfg(unix)]
mod unix {
    use super::*;
    use netpoll_std::{UnixListener, UnixStream};
    use std::path::PathBuf;
    use util::eventually;

    fn socket_path(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "netpoll-serve-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// A Unix listener served both ways: echo round trips, then shutdown and join.
    pub fn unix_listeners_are_servable(rt: &Runtime) {
        for blocking in [true, false] {
            let path = socket_path(if blocking { "blocking" } else { "async" });
            let l = UnixListener::bind_in(rt, &path).unwrap();
            let server: ServerHandle<std::os::unix::net::SocketAddr> = if blocking {
                Server::new().blocking(l, echo).unwrap()
            } else {
                Server::new().workers(1).spawn_async(l, echo_async).unwrap()
            };
            assert_eq!(server.local_addr().as_pathname(), Some(path.as_path()));
            let mut c = UnixStream::connect_in(rt, &path).unwrap();
            c.set_deadline(Some(std::time::Instant::now() + LIMIT))
                .unwrap();
            round_trip(&mut c, b"over unix");
            eventually("one connection", || server.stats().active == 1);
            drop(c);
            let stopper = server.clone();
            let report = bounded("shutdown", move || stopper.shutdown(LIMIT));
            assert_eq!(report.closed_forcibly, 0);
            assert_eq!(bounded("join", move || server.join()), report);
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(unix)]
use unix::unix_listeners_are_servable;

per_backend!(
    join_returns_after_a_shutdown_elsewhere,
    wait_returns_when_the_listener_is_closed_elsewhere,
    #[cfg(unix)]
    unix_listeners_are_servable,
);
