//! Readiness waits (`readable`, `writable`, `wait_readable`, `wait_writable`) and the
//! non-blocking `try_*` calls, on every backend: a wait after "would block" waits for an
//! edge, a close wakes it with "closed", a deadline fails it with "i/o timeout".

mod util;

use std::future::Future;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::future::block_on;
use netpoll_std::{is_closed, is_timeout, Runtime, UdpSocket};
use util::{bounded, eventually, tcp_pair};

fn would_block<T: std::fmt::Debug>(r: io::Result<T>) -> bool {
    matches!(r, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Poll `f` once with a waker that does nothing.
fn poll_once<T>(f: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    let waker = std::task::Waker::noop();
    f(&mut Context::from_waker(waker))
}

fn readable_waits_for_data_after_would_block(rt: &Runtime) {
    let (mut c, s) = tcp_pair(rt);
    let mut buf = [0u8; 16];
    // Nothing queued: the attempt says so, and the next wait waits for an edge.
    assert!(would_block(s.try_read(&mut buf)));
    assert!(poll_once(|cx| s.poll_readable(cx)).is_pending());
    c.write_all(b"hello").unwrap();
    let s = bounded("readable", move || {
        block_on(s.readable()).unwrap();
        s
    });
    assert_eq!(s.try_read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    // A short read: the queue is empty, so the next wait waits for an edge again (the
    // level-triggered backends may report a stale edge from before the read: then the wait
    // returns, and the next attempt says "would block").
    if poll_once(|cx| s.poll_readable(cx)).is_ready() {
        assert!(would_block(s.try_read(&mut buf)));
    }
    // End-of-file counts as readable, and reads as 0.
    drop(c);
    let s = bounded("readable at EOF", move || {
        block_on(s.readable()).unwrap();
        s
    });
    assert_eq!(s.try_read(&mut buf).unwrap(), 0);
}

fn readable_does_not_wait_while_readiness_is_unknown(rt: &Runtime) {
    let (mut c, s) = tcp_pair(rt);
    c.write_all(b"abc").unwrap();
    // Never tried: the wait returns at once (data may be there, and here it is).
    assert!(matches!(
        poll_once(|cx| s.poll_readable(cx)),
        Poll::Ready(Ok(()))
    ));
    // A read that fills the buffer proves nothing: the wait returns at once again.
    let mut one = [0u8; 1];
    let s = bounded("read", move || {
        block_on(s.readable()).unwrap();
        let mut n = 0;
        while n == 0 {
            match s.try_read(&mut one) {
                Ok(k) => n = k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => block_on(s.readable()).unwrap(),
                Err(e) => panic!("{e}"),
            }
        }
        s
    });
    assert!(matches!(
        poll_once(|cx| s.poll_readable(cx)),
        Poll::Ready(Ok(()))
    ));
    let mut rest = [0u8; 2];
    (&s).read_exact(&mut rest).unwrap();
    assert_eq!(&rest, b"bc");
}

fn writable_waits_for_room(rt: &Runtime) {
    let (c, s) = tcp_pair(rt);
    assert!(matches!(
        poll_once(|cx| s.poll_writable(cx)),
        Poll::Ready(Ok(()))
    ));
    s.wait_writable().unwrap();
    // Fill the send path until it says "would block" (bounded: a few MiB at most).
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    let mut full = false;
    for _ in 0..10_000 {
        match s.try_write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(full, "never full after {sent} bytes");
    assert!(poll_once(|cx| s.poll_writable(cx)).is_pending());
    let reader = std::thread::spawn(move || {
        let mut c = c;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < sent {
            got += c.read(&mut buf).unwrap();
        }
        c
    });
    let s = bounded("writable", move || {
        block_on(s.writable()).unwrap();
        s
    });
    s.try_write(b"x").unwrap();
    bounded("reader", move || reader.join().unwrap());
}

fn close_wakes_readiness_waits(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    assert!(would_block(s.try_read(&mut [0u8; 4])));
    let s = Arc::new(s);
    let (a, b) = (s.clone(), s.clone());
    let waiter_async = std::thread::spawn(move || block_on(a.readable()).unwrap_err());
    let waiter_blocking = std::thread::spawn(move || b.wait_readable().unwrap_err());
    eventually("both parked or queued", || {
        rt.stats().parked_now + rt.stats().async_pending_now >= 1
    });
    s.close().unwrap();
    let e1 = bounded("async waiter", move || waiter_async.join().unwrap());
    let e2 = bounded("blocking waiter", move || waiter_blocking.join().unwrap());
    assert!(is_closed(&e1), "{e1}");
    assert!(is_closed(&e2), "{e2}");
    // After the close everything fails at once.
    assert!(is_closed(&block_on(s.readable()).unwrap_err()));
    assert!(is_closed(&s.wait_writable().unwrap_err()));
    assert!(is_closed(&s.try_read(&mut [0u8; 4]).unwrap_err()));
    assert!(is_closed(&s.try_write(b"x").unwrap_err()));
}

fn deadline_fails_readiness_waits(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    assert!(would_block(s.try_read(&mut [0u8; 4])));
    s.set_read_deadline_after(Duration::from_millis(30))
        .unwrap();
    let s = bounded("async wait with a deadline", move || {
        let e = block_on(s.readable()).unwrap_err();
        assert!(is_timeout(&e), "{e}");
        s
    });
    // Expired: fails at once, whether readiness is known or not, and so does try_read.
    assert!(is_timeout(&s.wait_readable().unwrap_err()));
    assert!(is_timeout(&s.try_read(&mut [0u8; 4]).unwrap_err()));
    // The write side has its own deadline.
    s.wait_writable().unwrap();
    // The blocking wait honours a deadline set while it waits.
    s.set_read_deadline(None).unwrap();
    assert!(would_block(s.try_read(&mut [0u8; 4])));
    let s = Arc::new(s);
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_readable().unwrap_err())
    };
    eventually("waiter parked", || rt.stats().parked_now >= 1);
    s.set_read_deadline_after(Duration::from_millis(10))
        .unwrap();
    let e = bounded("blocking wait", move || waiter.join().unwrap());
    assert!(is_timeout(&e), "{e}");
}

fn dropped_wait_loses_no_edge(rt: &Runtime) {
    let (mut c, s) = tcp_pair(rt);
    assert!(would_block(s.try_read(&mut [0u8; 4])));
    {
        let mut f = Box::pin(s.readable());
        assert!(poll_once(|cx| f.as_mut().poll(cx)).is_pending());
    }
    c.write_all(b"z").unwrap();
    let s = bounded("readable after a dropped wait", move || {
        block_on(s.readable()).unwrap();
        s
    });
    let mut b = [0u8; 1];
    assert_eq!(s.try_read(&mut b).unwrap(), 1);
    assert_eq!(&b, b"z");
}

fn udp_readable_and_try_recv(rt: &Runtime) {
    let a = UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap();
    let b = UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap();
    let mut buf = [0u8; 8];
    assert!(would_block(a.try_recv_from(&mut buf)));
    assert!(poll_once(|cx| a.poll_readable(cx)).is_pending());
    block_on(b.writable()).unwrap();
    assert_eq!(b.try_send_to(b"dgram", a.local_addr().unwrap()).unwrap(), 5);
    let a = bounded("udp readable", move || {
        block_on(a.readable()).unwrap();
        a
    });
    let (n, from) = a.try_recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"dgram"[..], b.local_addr().unwrap()));
    assert!(would_block(a.try_recv_from(&mut buf)));
    a.set_read_deadline_after(Duration::from_millis(20))
        .unwrap();
    let a = bounded("udp wait with a deadline", move || {
        // A stale edge may end a wait early (level-triggered backends): wait again.
        for _ in 0..100 {
            match a.wait_readable() {
                Err(e) => return e,
                Ok(()) => assert!(would_block(a.try_recv_from(&mut buf))),
            }
        }
        panic!("the deadline never fired")
    });
    assert!(is_timeout(&a), "{a}");
}

per_backend!(
    readable_waits_for_data_after_would_block,
    readable_does_not_wait_while_readiness_is_unknown,
    writable_waits_for_room,
    close_wakes_readiness_waits,
    deadline_fails_readiness_waits,
    dropped_wait_loses_no_edge,
    udp_readable_and_try_recv,
);
