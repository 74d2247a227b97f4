//! TCP over every backend: blocking and async I/O, deadlines, close wake-ups, bad input.

mod util;

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use netpoll_std::{is_closed, is_timeout, Runtime, TcpListener, TcpStream};
use util::{bounded, in_ms, tcp_pair, LIMIT};

fn echo_blocking(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    assert!(
        c.nodelay().unwrap() && s.nodelay().unwrap(),
        "TCP_NODELAY by default, like Go"
    );
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    // Vectored both ways.
    let n = s
        .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
        .unwrap();
    assert_eq!(n, 4);
    let (mut a, mut b) = ([0u8; 1], [0u8; 3]);
    let mut got = 0;
    while got < 4 {
        let mut bufs = [
            IoSliceMut::new(&mut a[got.min(1)..]),
            IoSliceMut::new(&mut b[got.saturating_sub(1)..]),
        ];
        got += c.read_vectored(&mut bufs).unwrap();
    }
    assert_eq!((&a, &b), (b"a", b"bcd"));
}

fn large_transfer_blocks_and_resumes(rt: &Runtime) {
    // More than the socket buffers hold: the writer must park on EAGAIN and be woken.
    let (c, mut s) = tcp_pair(rt);
    let data: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let expect = data.clone();
    let writer = std::thread::spawn(move || {
        (&c).write_all(&data).unwrap();
        c
    });
    let got = bounded("read 8 MiB", move || {
        let mut got = vec![0u8; expect.len()];
        s.read_exact(&mut got).unwrap();
        got == expect
    });
    assert!(got);
    writer.join().unwrap();
    assert!(rt.stats().parks > 0 || rt.stats().events > 0);
}

fn read_deadline_times_out(rt: &Runtime) {
    let (c, mut s) = tcp_pair(rt);
    s.set_read_deadline(in_ms(50)).unwrap();
    let start = Instant::now();
    let err = bounded("timed-out read", move || {
        let mut buf = [0u8; 8];
        let e = s.read(&mut buf).unwrap_err();
        (e, s)
    });
    let (err, mut s) = err;
    let took = start.elapsed();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    // Go's message: the operation, the endpoints (local->remote), then the error.
    let want = format!(
        "read tcp {}->{}: i/o timeout",
        s.local_addr().unwrap(),
        c.local_addr().unwrap()
    );
    assert_eq!(err.to_string(), want);
    assert!(is_timeout(&err));
    assert!(took >= Duration::from_millis(45), "fired early: {took:?}");
    // Still expired: fails at once, even with data ready (Go's pollReset).
    (&c).write_all(b"x").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut buf = [0u8; 1];
    assert!(is_timeout(&s.read(&mut buf).unwrap_err()));
    // Cleared: the data is read.
    s.set_read_deadline(None).unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 1);
    assert!(rt.stats().timeouts_seen >= 2);
}

fn relative_deadlines(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    // A read deadline 50 ms from now: never early (the coarse clock rounds up, not down).
    let start = Instant::now();
    s.set_read_deadline_after(Duration::from_millis(50))
        .unwrap();
    let (err, mut s) = bounded("relative read deadline", move || {
        let e = s.read(&mut [0u8; 8]).unwrap_err();
        (e, s)
    });
    assert!(is_timeout(&err), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(50), "fired early");
    // The write side was not touched.
    s.write_all(b"w").unwrap();
    // A long one, reset before every read, lets the reads through.
    c.write_all(b"abc").unwrap();
    let mut buf = [0u8; 1];
    for want in b"abc" {
        s.set_read_deadline_after(Duration::from_secs(30)).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf[0], *want);
    }
    // Zero: a deadline of now, both directions.
    s.set_deadline_after(Duration::ZERO).unwrap();
    assert!(is_timeout(&s.read(&mut buf).unwrap_err()));
    assert!(is_timeout(&s.write(b"x").unwrap_err()));
    // Too far to represent: no deadline.
    s.set_write_deadline_after(Duration::MAX).unwrap();
    s.write_all(b"y").unwrap();
    c.read_exact(&mut [0u8; 2]).unwrap();
}

fn write_deadline_times_out(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    s.set_write_deadline(in_ms(50)).unwrap();
    let err = bounded("timed-out write", move || {
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = (&s).write(&chunk) {
                return e;
            }
        }
    });
    assert!(is_timeout(&err), "{err}");
}

fn deadline_in_the_past_fails_at_once(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    c.write_all(b"data").unwrap();
    let past = Instant::now().checked_sub(Duration::from_secs(3600));
    s.set_deadline(past.or(Some(Instant::now()))).unwrap();
    let mut buf = [0u8; 4];
    assert!(is_timeout(&s.read(&mut buf).unwrap_err()));
    assert!(is_timeout(&s.write(b"x").unwrap_err()));
    // Far future: saturates, never fires, never overflows.
    let far = Instant::now().checked_add(Duration::from_secs(1000 * 365 * 24 * 3600));
    s.set_deadline(far).unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"data");
}

fn new_deadline_wakes_blocked_reader(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    let s = Arc::new(s);
    let reader = s.clone();
    let h = std::thread::spawn(move || (&*reader).read(&mut [0u8; 4]).unwrap_err());
    util::eventually("reader parked", || rt.stats().parked_now == 1);
    s.set_read_deadline(Some(Instant::now())).unwrap();
    let err = bounded("join", move || h.join().unwrap());
    assert!(is_timeout(&err));
}

fn close_wakes_blocked_reader_and_writer(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    let s = Arc::new(s);
    let (r, w) = (s.clone(), s.clone());
    let reader = std::thread::spawn(move || (&*r).read(&mut [0u8; 4]).unwrap_err());
    let writer = std::thread::spawn(move || {
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = (&*w).write(&chunk) {
                return e;
            }
        }
    });
    util::eventually("both parked", || rt.stats().parked_now == 2);
    s.close().unwrap();
    let (re, we) = bounded("join", move || {
        (reader.join().unwrap(), writer.join().unwrap())
    });
    assert!(is_closed(&re), "{re}");
    assert!(
        is_closed(&we) || we.kind() == io::ErrorKind::BrokenPipe,
        "{we}"
    );
    assert_eq!(rt.stats().parked_now, 0);
}

fn read_write_after_close_and_double_close(rt: &Runtime) {
    let (mut c, _s) = tcp_pair(rt);
    c.close().unwrap();
    assert!(is_closed(&c.read(&mut [0u8; 4]).unwrap_err()));
    assert!(is_closed(&c.write(b"x").unwrap_err()));
    assert!(
        is_closed(&c.read(&mut []).unwrap_err()),
        "zero-length reads check for close too"
    );
    assert!(is_closed(&c.set_deadline(None).unwrap_err()));
    assert!(is_closed(&c.close().unwrap_err()));
    assert!(is_closed(&c.closer().close().unwrap_err()));
}

fn zero_length_buffers(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    assert_eq!(c.write(&[]).unwrap(), 0);
    assert_eq!(s.read(&mut []).unwrap(), 0);
    c.write_all(b"z").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"z");
}

fn connect_to_closed_port(rt: &Runtime) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = TcpStream::connect_in(rt, port).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let err = block_on(TcpStream::connect_async_in(rt, port, None)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(
        rt.stats().open,
        0,
        "failed connects leave no descriptor behind"
    );
}

fn accept_deadline(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    l.set_read_deadline(in_ms(30)).unwrap();
    assert!(is_timeout(&l.accept().unwrap_err()));
    l.set_read_deadline(None).unwrap();
    let addr = l.local_addr().unwrap();
    let _c = std::net::TcpStream::connect(addr).unwrap();
    assert!(l.accept().is_ok());
}

fn close_wakes_blocked_accept(rt: &Runtime) {
    let l = Arc::new(TcpListener::bind_in(rt, "127.0.0.1:0").unwrap());
    let l2 = l.clone();
    let h = std::thread::spawn(move || l2.accept().unwrap_err());
    util::eventually("accept parked", || rt.stats().parked_now == 1);
    l.close().unwrap();
    let err = bounded("join", move || h.join().unwrap());
    assert!(is_closed(&err), "{err}");
}

fn pool_exhausted_during_accept(_: &Runtime) {
    // A pool of 2: the listener and one connection. The second accept finds the pool full.
    let rt = Runtime::builder().capacity(2).build().unwrap();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let _c1 = std::net::TcpStream::connect(addr).unwrap();
    let _c2 = std::net::TcpStream::connect(addr).unwrap();
    let (first, _) = l.accept().unwrap();
    let err = l.accept().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("accept tcp {addr}: descriptor pool exhausted")
    );
    // The refused connection was closed, not leaked: its peer reads EOF.
    let mut c2 = _c2;
    c2.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(c2.read(&mut [0u8; 1]).unwrap(), 0);
    // Room again: the listener keeps serving.
    drop(first);
    let _c3 = std::net::TcpStream::connect(addr).unwrap();
    assert!(l.accept().is_ok());
}

fn peer_reset(rt: &Runtime) {
    let (c, mut s) = tcp_pair(rt);
    // SO_LINGER with a zero timeout: close sends RST.
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    let err = bounded("read after reset", move || {
        s.read(&mut [0u8; 4]).unwrap_err()
    });
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}

fn half_close(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    c.write_all(b"last words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");
    // The other direction still works.
    s.write_all(b"reply").unwrap();
    let mut r = [0u8; 5];
    c.read_exact(&mut r).unwrap();
    assert_eq!(&r, b"reply");
}

#[cfg(unix)]
fn sendfile_honours_deadline(rt: &Runtime) {
    let path = std::env::temp_dir().join(format!(
        "netpoll-sendfile-{}-{}",
        std::process::id(),
        rt.backend()
    ));
    let data: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let (c, mut s) = tcp_pair(rt);
    let mut f = std::fs::File::open(&path).unwrap();
    let expect = data.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got == expect
    });
    let sent = bounded("send_file", move || {
        let n = c.send_file_to_end(&mut f).unwrap();
        // An expired write deadline stops the next send_file at once.
        c.set_write_deadline(Some(Instant::now())).unwrap();
        let e = c.send_file(&f, 0, 10).unwrap_err();
        assert!(is_timeout(&e));
        n
    });
    assert_eq!(sent, data.len() as u64);
    assert!(bounded("reader", move || reader.join().unwrap()));
    let _ = std::fs::remove_file(&path);
}

fn std_conversions(rt: &Runtime) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let l = TcpListener::from_std_in(l, rt).unwrap();
    let c = TcpStream::from_std_in(std::net::TcpStream::connect(addr).unwrap(), rt).unwrap();
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    let mut std_s = s.into_std().unwrap();
    (&c).write_all(b"q").unwrap();
    let mut b = [0u8; 1];
    std_s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"q");
    assert!(
        !c.nodelay().unwrap(),
        "from_std leaves socket options alone"
    );
}

fn stats_count(rt: &Runtime) {
    let before = rt.stats();
    let (mut c, mut s) = tcp_pair(rt);
    assert_eq!(
        rt.stats().open,
        before.open + 2,
        "the listener of tcp_pair is gone"
    );
    let h = std::thread::spawn(move || {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        s
    });
    util::eventually("parked", || rt.stats().parked_now == 1);
    c.write_all(b"!").unwrap();
    drop(bounded("join", move || h.join().unwrap()));
    let after = rt.stats();
    assert!(after.events > before.events);
    assert!(after.wakeups > before.wakeups);
    assert!(after.parks > before.parks);
}

/// Windows has no `SO_REUSEPORT`: asking for it is an error, not a silent no-op.
#[cfg(windows)]
fn reuse_port_is_unsupported(rt: &Runtime) {
    let err = TcpListener::builder()
        .reuse_port(true)
        .runtime(rt)
        .bind("127.0.0.1:0")
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
}

#[cfg(unix)]
fn reuse_port_lets_listeners_share_a_port(rt: &Runtime) {
    let a = TcpListener::builder()
        .reuse_port(true)
        .runtime(rt)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = a.local_addr().unwrap();
    let b = TcpListener::builder()
        .reuse_port(true)
        .runtime(rt)
        .bind(addr)
        .unwrap();
    assert_eq!(b.local_addr().unwrap(), addr);
    let err = TcpListener::bind_in(rt, addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    // Connections reach one of the two.
    let _c = TcpStream::connect_in(rt, addr).unwrap();
    a.set_read_deadline(in_ms(20)).unwrap();
    let ra = a.accept();
    // Set only now: a deadline that passed while `a` waited would fail `b` at once.
    b.set_read_deadline(in_ms(20)).unwrap();
    let rb = b.accept();
    assert!(ra.is_ok() || rb.is_ok(), "{ra:?} {rb:?}");
}

per_backend!(
    #[cfg(unix)]
    reuse_port_lets_listeners_share_a_port,
    #[cfg(windows)]
    reuse_port_is_unsupported,
    echo_blocking,
    large_transfer_blocks_and_resumes,
    read_deadline_times_out,
    relative_deadlines,
    write_deadline_times_out,
    deadline_in_the_past_fails_at_once,
    new_deadline_wakes_blocked_reader,
    close_wakes_blocked_reader_and_writer,
    read_write_after_close_and_double_close,
    zero_length_buffers,
    connect_to_closed_port,
    accept_deadline,
    close_wakes_blocked_accept,
    pool_exhausted_during_accept,
    #[cfg_attr(
        wine,
        ignore = "Wine 8.0 shuts a socket down (FIN) before closing it (server/sock.c, \
                  sock_destroy: https://gitlab.winehq.org/wine/wine/-/blob/wine-8.0/server/sock.c), \
                  so an abortive close (SO_LINGER 0) reaches the peer as EOF, not as the reset \
                  Windows sends"
    )]
    peer_reset,
    half_close,
    #[cfg(unix)]
    sendfile_honours_deadline,
    std_conversions,
    stats_count,
);
