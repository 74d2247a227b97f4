//! Go's `TestReadTimeout`, `TestReadTimeoutMustNotReturn`, `TestReadFromTimeout`,
//! `TestWriteTimeout`, `TestWriteTimeoutMustNotReturn` and `TestWriteToTimeout`: read and write
//! deadlines on TCP and UDP, even when data (or buffer space) is ready; a cleared deadline
//! waits until the socket is closed.
//!
//! Every scenario runs twice per backend: with the blocking calls (`std::io`, `recv_from`,
//! `send_to`) and with the async ones (`futures-io`, `recv_from_async`, `send_to_async`) driven
//! by `block_on`.

#[macro_use]
mod util;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netpoll_std::{Runtime, TcpStream, UdpSocket};
use util::block_on;
use util::{
    after, ago, assert_closed_not_timeout, assert_timeout, blocked_until_closed, bounded, dial,
    expect_timeout, local_listener, wait_for_data, LocalServer, Waiter, LIMIT,
};

const FIVE_S: Duration = Duration::from_secs(5);

/// `UdpSocket::recv_from` or its async form.
type RecvFromFn = fn(&UdpSocket, &mut [u8]) -> io::Result<(usize, SocketAddr)>;

/// One way of doing each operation: blocking or async.
#[derive(Clone, Copy)]
struct Ops {
    waiter: Waiter,
    read: fn(&mut TcpStream, &mut [u8]) -> io::Result<usize>,
    write: fn(&mut TcpStream, &[u8]) -> io::Result<usize>,
    recv_from: RecvFromFn,
    send_to: fn(&UdpSocket, &[u8], SocketAddr) -> io::Result<usize>,
}

const BLOCKING: Ops = Ops {
    waiter: Waiter::Thread,
    read: |c, b| io::Read::read(c, b),
    write: |c, b| io::Write::write(c, b),
    recv_from: |u, b| u.recv_from(b),
    send_to: |u, b, a| u.send_to(b, a),
};

const ASYNC: Ops = Ops {
    waiter: Waiter::Task,
    read: |c, b| block_on(futures_lite::AsyncReadExt::read(&mut c.as_async(), b)),
    write: |c, b| block_on(futures_lite::AsyncWriteExt::write(&mut c.as_async(), b)),
    recv_from: |u, b| block_on(u.recv_from_async(b)),
    send_to: |u, b, a| block_on(u.send_to_async(b, a)),
};

/// Run `body` on `rt`, bounded by [`LIMIT`].
fn within_limit(rt: &Runtime, body: impl FnOnce(&Runtime) + Send + 'static) {
    let rt = rt.clone();
    bounded("test body", LIMIT, move || body(&rt));
}

/// What a write loop does after a write that went through before the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    /// The next write at once: the deadline passes while the writer is busy (ours).
    Busy,
    /// Go's: sleep a third of the timeout, so the deadline passes between writes.
    Go,
}

impl Pace {
    /// After a write that went through, with a deadline `timeout` away.
    fn pause(self, timeout: Duration) {
        if self == Pace::Go {
            util::sleep(timeout / 3);
        }
    }
}

// ---- TestReadTimeout -------------------------------------------------------------------------

const READ_MSG: &[u8] = b"READ TIMEOUT TEST";

/// A server that sends [`READ_MSG`] at once, then keeps the connection open until the client
/// closes it (so the client's reads block rather than see EOF); and the client, once the
/// message is there to read.
fn message_server(rt: &Runtime) -> (LocalServer, TcpStream) {
    let server = LocalServer::start(rt, |l| {
        let (mut s, _) = l.accept().expect("accept");
        io::Write::write_all(&mut s, READ_MSG).expect("write");
        let _ = io::Read::read(&mut s, &mut [0u8; 1]);
    });
    let c = dial(rt, server.addr());
    wait_for_data(&c);
    (server, c)
}

fn read_timeout_with(rt: &Runtime, ops: Ops) {
    let (server, mut c) = message_server(rt);

    // A deadline in the past: reads fail, twice, although data is ready.
    c.set_read_deadline(Some(ago(FIVE_S)))
        .expect("set_read_deadline");
    let mut b = [0u8; 1];
    for j in 0..2 {
        expect_timeout(
            (ops.read)(&mut c, &mut b),
            &format!("past deadline, read #{j}"),
        );
    }

    // 50ms away: the message is read (a byte at a time, like Go), then the read that has
    // nothing left to read fails at the deadline, and the next one fails at once.
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
    assert_eq!(got, READ_MSG);
    expect_timeout((ops.read)(&mut c, &mut b), "read after the timeout");

    drop(c);
    server.shutdown();
}

fn read_timeout(rt: &Runtime) {
    within_limit(rt, |rt| read_timeout_with(rt, BLOCKING));
}

fn read_timeout_async(rt: &Runtime) {
    within_limit(rt, |rt| read_timeout_with(rt, ASYNC));
}

/// Go's own scenario: the deadline passes while data is still queued (see
/// [`util::read_timeout_with_data_queued`]).
fn read_timeout_data_queued_with(rt: &Runtime, ops: Ops) {
    let (server, mut c) = message_server(rt);
    util::read_timeout_with_data_queued(
        &mut c,
        READ_MSG,
        |c, at| c.set_read_deadline(at),
        ops.read,
    );
    drop(c);
    server.shutdown();
}

fn read_timeout_data_queued(rt: &Runtime) {
    within_limit(rt, |rt| read_timeout_data_queued_with(rt, BLOCKING));
}

fn read_timeout_data_queued_async(rt: &Runtime) {
    within_limit(rt, |rt| read_timeout_data_queued_with(rt, ASYNC));
}

// ---- TestReadTimeoutMustNotReturn ------------------------------------------------------------

fn read_timeout_must_not_return_with(rt: &Runtime, ops: Ops) {
    let l = local_listener(rt);
    let mut c = dial(rt, l.local_addr().expect("addr"));
    let closer = c.closer();
    let err = blocked_until_closed(
        "read",
        rt,
        ops.waiter,
        move || {
            // Both deadlines in the past, then the write one stays and the read one is
            // cleared: the read waits for ever.
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

// ---- TestReadFromTimeout ---------------------------------------------------------------------

const READ_FROM_MSG: &[u8] = b"READFROM TIMEOUT TEST";

fn read_from_timeout_with(rt: &Runtime, ops: Ops) {
    let server = UdpSocket::bind_in(rt, "127.0.0.1:0").expect("bind");
    let c = UdpSocket::bind_in(rt, "127.0.0.1:0").expect("bind");
    server
        .send_to(READ_FROM_MSG, c.local_addr().expect("addr"))
        .expect("send_to");
    wait_for_data(&c);

    c.set_read_deadline(Some(ago(FIVE_S)))
        .expect("set_read_deadline");
    let mut b = [0u8; 64];
    for j in 0..2 {
        expect_timeout(
            (ops.recv_from)(&c, &mut b),
            &format!("past deadline, recv_from #{j}"),
        );
    }

    let timeout = Duration::from_millis(50);
    let deadline = after(timeout);
    c.set_read_deadline(Some(deadline))
        .expect("set_read_deadline");
    let (n, from) = (ops.recv_from)(&c, &mut b).expect("the queued datagram");
    assert_eq!(&b[..n], READ_FROM_MSG);
    assert_eq!(from, server.local_addr().expect("addr"));
    // Go pauses after a read that succeeds; the next one waits out the rest of the deadline.
    Pace::Go.pause(timeout);
    expect_timeout((ops.recv_from)(&c, &mut b), "recv_from with nothing queued");
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    expect_timeout((ops.recv_from)(&c, &mut b), "recv_from after the timeout");
}

fn read_from_timeout(rt: &Runtime) {
    within_limit(rt, |rt| read_from_timeout_with(rt, BLOCKING));
}

fn read_from_timeout_async(rt: &Runtime) {
    within_limit(rt, |rt| read_from_timeout_with(rt, ASYNC));
}

// ---- TestWriteTimeout ------------------------------------------------------------------------

const WRITE_MSG: &[u8] = b"WRITE TIMEOUT TEST";

fn write_timeout_with(rt: &Runtime, ops: Ops, pace: Pace) {
    let l = local_listener(rt);
    let addr = l.local_addr().expect("addr");

    // A deadline in the past: writes fail, twice, although the send buffer is empty.
    let mut c = dial(rt, addr);
    c.set_write_deadline(Some(ago(FIVE_S)))
        .expect("set_write_deadline");
    for j in 0..2 {
        expect_timeout(
            (ops.write)(&mut c, WRITE_MSG),
            &format!("past deadline, write #{j}"),
        );
    }

    // 10ms away, on a fresh connection: writes go through until the deadline passes (the send
    // buffer never fills in 10ms of small writes), then fail, and the next one fails too.
    let mut c = dial(rt, addr);
    let timeout = Duration::from_millis(10);
    let deadline = after(timeout);
    c.set_write_deadline(Some(deadline))
        .expect("set_write_deadline");
    let mut written = 0;
    let err = loop {
        match (ops.write)(&mut c, WRITE_MSG) {
            Ok(n) => {
                written += n;
                pace.pause(timeout);
            }
            Err(e) => break e,
        }
    };
    assert_timeout(&err, "write at the deadline");
    let late = Instant::now().saturating_duration_since(deadline);
    eprintln!("{pace:?}: timed out {late:?} after the deadline, {written} bytes written");
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    assert!(written > 0, "no write went through before the deadline");
    expect_timeout((ops.write)(&mut c, WRITE_MSG), "write after the timeout");
}

fn write_timeout(rt: &Runtime) {
    within_limit(rt, |rt| write_timeout_with(rt, BLOCKING, Pace::Busy));
}

fn write_timeout_async(rt: &Runtime) {
    within_limit(rt, |rt| write_timeout_with(rt, ASYNC, Pace::Busy));
}

/// Go's own scenario: a pause after each write, so the deadline passes with buffer space
/// available.
fn write_timeout_paced(rt: &Runtime) {
    within_limit(rt, |rt| write_timeout_with(rt, BLOCKING, Pace::Go));
}

fn write_timeout_paced_async(rt: &Runtime) {
    within_limit(rt, |rt| write_timeout_with(rt, ASYNC, Pace::Go));
}

// ---- TestWriteTimeoutMustNotReturn -----------------------------------------------------------

fn write_timeout_must_not_return_with(rt: &Runtime, ops: Ops) {
    let l = local_listener(rt);
    let mut c = dial(rt, l.local_addr().expect("addr"));
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
            // Nobody reads: the buffers fill, then the write waits for ever. (Go writes a
            // byte at a time; larger chunks reach the full buffer sooner.)
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

// ---- TestWriteToTimeout ----------------------------------------------------------------------

const WRITE_TO_MSG: &[u8] = b"WRITETO TIMEOUT TEST";

fn write_to_timeout_with(rt: &Runtime, ops: Ops, pace: Pace) {
    let timeout = Duration::from_millis(10);
    let c1 = UdpSocket::bind_in(rt, "127.0.0.1:0").expect("bind");
    let dst = c1.local_addr().expect("addr");
    for past in [true, false] {
        let c2 = UdpSocket::bind_in(rt, "127.0.0.1:0").expect("bind");
        // The deadline counts from here, as in Go, not from before the socket was made (under
        // Wine, making it can take longer than the 10 ms).
        let deadline = if past { ago(FIVE_S) } else { after(timeout) };
        c2.set_write_deadline(Some(deadline))
            .expect("set_write_deadline");
        let mut timeouts = 0;
        let mut sent = 0;
        let mut backoff = Duration::from_millis(1);
        while timeouts < 2 {
            match (ops.send_to)(&c2, WRITE_TO_MSG, dst) {
                // Before the deadline passes, sends go through.
                Ok(_) if !past && timeouts == 0 => {
                    sent += 1;
                    pace.pause(timeout);
                }
                Ok(n) => panic!("sent {n} bytes past the deadline"),
                // Go's issue 49930: a saturated kernel may say ENOBUFS before the deadline
                // error; back off (bounded by the test's outer limit) and retry.
                Err(e) if is_enobufs(&e) => {
                    util::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Err(e) => {
                    assert_timeout(&e, &format!("send_to #{timeouts}"));
                    assert!(Instant::now() >= deadline, "timed out before the deadline");
                    timeouts += 1;
                }
            }
        }
        assert_eq!(sent > 0, !past, "sends before the deadline: {sent}");
    }
}

/// `ENOBUFS` (`WSAENOBUFS` on Windows).
fn is_enobufs(e: &io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::ENOBUFS);
    #[cfg(windows)]
    return e.raw_os_error() == Some(10055);
}

fn write_to_timeout(rt: &Runtime) {
    within_limit(rt, |rt| write_to_timeout_with(rt, BLOCKING, Pace::Busy));
}

fn write_to_timeout_async(rt: &Runtime) {
    within_limit(rt, |rt| write_to_timeout_with(rt, ASYNC, Pace::Busy));
}

/// Go's own scenario: a pause after each send that goes through.
fn write_to_timeout_paced(rt: &Runtime) {
    within_limit(rt, |rt| write_to_timeout_with(rt, BLOCKING, Pace::Go));
}

fn write_to_timeout_paced_async(rt: &Runtime) {
    within_limit(rt, |rt| write_to_timeout_with(rt, ASYNC, Pace::Go));
}

green_mode!(
    read_timeout,
    read_timeout_data_queued,
    read_timeout_must_not_return,
    read_from_timeout,
    write_timeout,
    write_timeout_paced,
    write_timeout_must_not_return,
    write_to_timeout,
    write_to_timeout_paced,
);

per_runtime!(
    read_timeout,
    read_timeout_async,
    read_timeout_data_queued,
    read_timeout_data_queued_async,
    read_timeout_must_not_return,
    read_timeout_must_not_return_async,
    read_from_timeout,
    read_from_timeout_async,
    write_timeout,
    write_timeout_async,
    write_timeout_paced,
    write_timeout_paced_async,
    write_timeout_must_not_return,
    write_timeout_must_not_return_async,
    write_to_timeout,
    write_to_timeout_async,
    write_to_timeout_paced,
    write_to_timeout_paced_async,
);
