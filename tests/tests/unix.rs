//! Go's accept, read and write timeout scenarios (`TestAcceptTimeout`,
//! `TestAcceptTimeoutMustNotReturn`, `TestReadTimeout`, `TestReadTimeoutMustNotReturn`,
//! `TestWriteTimeout`, `TestWriteTimeoutMustNotReturn`) over Unix-domain stream sockets.
//!
//! Go's `timeout_test.go` runs them over TCP only; `netpoll-std` gives `UnixListener` and
//! `UnixStream` the same deadline API, so the same behaviour is required of them.
//!
//! Unix only, like the types.
#![cfg(unix)]

#[macro_use]
mod util;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll_std::{Runtime, UnixListener, UnixStream};
use util::block_on;
use util::{
    after, ago, assert_closed_not_timeout, assert_timeout, blocked_until_closed, bounded,
    expect_timeout, Waiter, LIMIT,
};

const FIVE_S: Duration = Duration::from_secs(5);

/// A socket path unique to this process and call, removed when dropped.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new() -> SocketPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("netpoll-tests-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        SocketPath(p)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Blocking or async forms of the operations.
#[derive(Clone, Copy)]
struct Ops {
    waiter: Waiter,
    accept: fn(&UnixListener) -> io::Result<UnixStream>,
    read: fn(&mut UnixStream, &mut [u8]) -> io::Result<usize>,
    write: fn(&mut UnixStream, &[u8]) -> io::Result<usize>,
}

const BLOCKING: Ops = Ops {
    waiter: Waiter::Thread,
    accept: |l| l.accept().map(|(s, _)| s),
    read: |c, b| io::Read::read(c, b),
    write: |c, b| io::Write::write(c, b),
};

const ASYNC: Ops = Ops {
    waiter: Waiter::Task,
    accept: |l| block_on(l.accept_async()).map(|(s, _)| s.into_inner()),
    read: |c, b| block_on(futures_lite::AsyncReadExt::read(&mut c.as_async(), b)),
    write: |c, b| block_on(futures_lite::AsyncWriteExt::write(&mut c.as_async(), b)),
};

/// Run `body` with `ops` on a thread, bounded.
fn run(rt: &Runtime, ops: Ops, body: fn(&Runtime, Ops)) {
    let rt = rt.clone();
    bounded("test body", LIMIT, move || body(&rt, ops));
}

fn accept_timeout_with(rt: &Runtime, ops: Ops) {
    let path = SocketPath::new();
    let l = UnixListener::bind_in(rt, &path.0).expect("bind");
    // A connection is queued (a Unix connect finishes at once), yet a past deadline fails.
    let _queued = std::os::unix::net::UnixStream::connect(&path.0).expect("connect");
    l.set_deadline(Some(ago(FIVE_S))).expect("set_deadline");
    for j in 0..2 {
        expect_timeout(
            (ops.accept)(&l).map(|_| ()),
            &format!("past deadline, accept #{j}"),
        );
    }
    // 50ms away: the queued connection, then a timeout at the deadline, then at once.
    let deadline = after(Duration::from_millis(50));
    l.set_deadline(Some(deadline)).expect("set_deadline");
    (ops.accept)(&l).expect("the queued connection");
    expect_timeout((ops.accept)(&l).map(|_| ()), "accept with nothing queued");
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    expect_timeout((ops.accept)(&l).map(|_| ()), "accept after the timeout");
}

fn accept_timeout(rt: &Runtime) {
    run(rt, BLOCKING, accept_timeout_with);
}

fn accept_timeout_async(rt: &Runtime) {
    run(rt, ASYNC, accept_timeout_with);
}

fn accept_timeout_must_not_return_with(rt: &Runtime, ops: Ops) {
    let path = SocketPath::new();
    let l = Arc::new(UnixListener::bind_in(rt, &path.0).expect("bind"));
    let l2 = l.clone();
    let err = blocked_until_closed(
        "accept",
        rt,
        ops.waiter,
        move || {
            l2.set_deadline(Some(ago(FIVE_S))).expect("set_deadline");
            l2.set_deadline(None).expect("clear");
            (ops.accept)(&l2).map(|_| ())
        },
        || l.close().expect("close"),
    );
    assert_closed_not_timeout(&err, "accept");
}

fn accept_timeout_must_not_return(rt: &Runtime) {
    accept_timeout_must_not_return_with(rt, BLOCKING);
}

fn accept_timeout_must_not_return_async(rt: &Runtime) {
    accept_timeout_must_not_return_with(rt, ASYNC);
}

const MSG: &[u8] = b"READ TIMEOUT TEST";

fn read_timeout_with(rt: &Runtime, ops: Ops) {
    let (mut c, mut peer) = UnixStream::pair_in(rt).expect("pair");
    io::Write::write_all(&mut peer, MSG).expect("write");
    util::wait_for_data(&c);
    c.set_read_deadline(Some(ago(FIVE_S)))
        .expect("set_read_deadline");
    let mut b = [0u8; 1];
    for j in 0..2 {
        expect_timeout(
            (ops.read)(&mut c, &mut b),
            &format!("past deadline, read #{j}"),
        );
    }
    let deadline = after(Duration::from_millis(50));
    c.set_read_deadline(Some(deadline))
        .expect("set_read_deadline");
    let mut got = Vec::new();
    let err = loop {
        match (ops.read)(&mut c, &mut b) {
            Ok(1) => got.push(b[0]),
            Ok(n) => panic!("read {n} bytes"),
            Err(e) => break e,
        }
    };
    assert_timeout(&err, "read after the message");
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    assert_eq!(got, MSG);
    expect_timeout((ops.read)(&mut c, &mut b), "read after the timeout");
}

fn read_timeout(rt: &Runtime) {
    run(rt, BLOCKING, read_timeout_with);
}

/// Go's own scenario: the deadline passes while data is still queued.
fn read_timeout_data_queued_with(rt: &Runtime, ops: Ops) {
    let (mut c, mut peer) = UnixStream::pair_in(rt).expect("pair");
    io::Write::write_all(&mut peer, MSG).expect("write");
    util::wait_for_data(&c);
    util::read_timeout_with_data_queued(&mut c, MSG, |c, at| c.set_read_deadline(at), ops.read);
}

fn read_timeout_data_queued(rt: &Runtime) {
    run(rt, BLOCKING, read_timeout_data_queued_with);
}

fn read_timeout_data_queued_async(rt: &Runtime) {
    run(rt, ASYNC, read_timeout_data_queued_with);
}

fn read_timeout_async(rt: &Runtime) {
    run(rt, ASYNC, read_timeout_with);
}

fn read_timeout_must_not_return_with(rt: &Runtime, ops: Ops) {
    let (mut c, _peer) = UnixStream::pair_in(rt).expect("pair");
    let closer = c.closer();
    let err = blocked_until_closed(
        "read",
        rt,
        ops.waiter,
        move || {
            c.set_deadline(Some(ago(FIVE_S))).expect("set_deadline");
            c.set_write_deadline(Some(ago(FIVE_S)))
                .expect("set_write_deadline");
            c.set_read_deadline(None).expect("set_read_deadline");
            (ops.read)(&mut c, &mut [0u8; 1])
        },
        || closer.close().expect("close"),
    );
    assert_closed_not_timeout(&err, "read");
}

fn read_timeout_must_not_return(rt: &Runtime) {
    read_timeout_must_not_return_with(rt, BLOCKING);
}

fn read_timeout_must_not_return_async(rt: &Runtime) {
    read_timeout_must_not_return_with(rt, ASYNC);
}

fn write_timeout_with(rt: &Runtime, ops: Ops) {
    let (mut c, _peer) = UnixStream::pair_in(rt).expect("pair");
    c.set_write_deadline(Some(ago(FIVE_S)))
        .expect("set_write_deadline");
    for j in 0..2 {
        expect_timeout(
            (ops.write)(&mut c, MSG),
            &format!("past deadline, write #{j}"),
        );
    }
    let (mut c, _peer) = UnixStream::pair_in(rt).expect("pair");
    let deadline = after(Duration::from_millis(10));
    c.set_write_deadline(Some(deadline))
        .expect("set_write_deadline");
    let err = loop {
        if let Err(e) = (ops.write)(&mut c, MSG) {
            break e;
        }
    };
    assert_timeout(&err, "write at the deadline");
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    expect_timeout((ops.write)(&mut c, MSG), "write after the timeout");
}

fn write_timeout(rt: &Runtime) {
    run(rt, BLOCKING, write_timeout_with);
}

fn write_timeout_async(rt: &Runtime) {
    run(rt, ASYNC, write_timeout_with);
}

fn write_timeout_must_not_return_with(rt: &Runtime, ops: Ops) {
    let (mut c, _peer) = UnixStream::pair_in(rt).expect("pair");
    let closer = c.closer();
    let err = blocked_until_closed(
        "write",
        rt,
        ops.waiter,
        move || -> io::Result<()> {
            c.set_deadline(Some(ago(FIVE_S))).expect("set_deadline");
            c.set_read_deadline(Some(ago(FIVE_S)))
                .expect("set_read_deadline");
            c.set_write_deadline(None).expect("set_write_deadline");
            let chunk = vec![0u8; 64 * 1024];
            loop {
                (ops.write)(&mut c, &chunk)?;
            }
        },
        || closer.close().expect("close"),
    );
    assert_closed_not_timeout(&err, "write");
}

fn write_timeout_must_not_return(rt: &Runtime) {
    write_timeout_must_not_return_with(rt, BLOCKING);
}

fn write_timeout_must_not_return_async(rt: &Runtime) {
    write_timeout_must_not_return_with(rt, ASYNC);
}

green_mode!(
    accept_timeout,
    accept_timeout_must_not_return,
    read_timeout,
    read_timeout_data_queued,
    read_timeout_must_not_return,
    write_timeout,
    write_timeout_must_not_return,
);

per_runtime!(
    accept_timeout,
    accept_timeout_async,
    accept_timeout_must_not_return,
    accept_timeout_must_not_return_async,
    read_timeout,
    read_timeout_async,
    read_timeout_data_queued,
    read_timeout_data_queued_async,
    read_timeout_must_not_return,
    read_timeout_must_not_return_async,
    write_timeout,
    write_timeout_async,
    write_timeout_must_not_return,
    write_timeout_must_not_return_async,
);
