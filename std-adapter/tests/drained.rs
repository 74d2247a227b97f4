//! After a short stream read the next read waits for a readiness edge before its syscall
//! (the socket is assumed drained). These tests check that no data, close or deadline is
//! missed that way, on every backend.

mod util;

use std::io::{Read, Write};

use futures_lite::future::block_on;
use futures_lite::AsyncReadExt;
use netpoll_std::{is_closed, is_timeout, BackendKind, Runtime};
use util::{bounded, eventually, in_ms, tcp_pair};

/// Data (and so an edge) that arrives after the short read but before the next read starts
/// waiting must be read, not waited for: the wait consumes the stored edge.
fn edge_between_short_read_and_wait_async(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    c.write_all(b"abc").unwrap();
    let rt2 = rt.clone();
    bounded("async reads", move || {
        let mut buf = [0u8; 8];
        let n = block_on(AsyncReadExt::read(&mut s, &mut buf)).unwrap();
        assert_eq!(&buf[..n], b"abc", "a short read");
        let before = rt2.stats().events;
        c.write_all(b"defg").unwrap();
        if rt2.backend() == BackendKind::Epoll {
            // Edge-triggered and always armed: the edge is applied (stored, nobody waits)
            // before the next read looks.
            eventually("edge applied", || rt2.stats().events > before);
        }
        let n = block_on(AsyncReadExt::read(&mut s, &mut buf)).unwrap();
        assert_eq!(&buf[..n], b"defg");
        // And once more with the data written while the read already waits.
        let waiter = std::thread::spawn(move || {
            let n = block_on(AsyncReadExt::read(&mut s, &mut buf)).unwrap();
            buf[..n].to_vec()
        });
        eventually("reader waits", || rt2.stats().async_pending_now == 1);
        c.write_all(b"hij").unwrap();
        assert_eq!(waiter.join().unwrap(), b"hij");
    });
}

fn edge_between_short_read_and_wait_blocking(rt: &Runtime) {
    let (mut c, s) = tcp_pair(rt);
    c.write_all(b"abc").unwrap();
    let rt2 = rt.clone();
    bounded("blocking reads", move || {
        let mut buf = [0u8; 8];
        let n = Read::read(&mut &s, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"abc", "a short read");
        let before = rt2.stats().events;
        c.write_all(b"defg").unwrap();
        if rt2.backend() == BackendKind::Epoll {
            eventually("edge applied", || rt2.stats().events > before);
        }
        let n = Read::read(&mut &s, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"defg");
    });
}

/// A full read does not mark the socket drained; a later full-buffer read takes what is
/// left without waiting for a new edge (none will come).
fn full_read_then_rest(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    c.write_all(b"0123456789").unwrap();
    bounded("reads", move || {
        let mut got = Vec::new();
        let mut small = [0u8; 4];
        // Short async read first (if the data came in pieces), then full blocking reads.
        while got.len() < 10 {
            let n = Read::read(&mut &s, &mut small).unwrap();
            got.extend_from_slice(&small[..n]);
            if got.len() < 10 {
                let n = block_on(AsyncReadExt::read(&mut s, &mut small)).unwrap();
                got.extend_from_slice(&small[..n]);
            }
        }
        assert_eq!(got, b"0123456789");
    });
}

/// A close wakes a read that waits on a drained socket.
fn close_wakes_drained_reader(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    c.write_all(b"x").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(block_on(AsyncReadExt::read(&mut s, &mut buf)).unwrap(), 1);
    let closer = s.closer();
    let reader = std::thread::spawn(move || block_on(AsyncReadExt::read(&mut s, &mut buf)));
    eventually("reader waits", || rt.stats().async_pending_now == 1);
    closer.close().unwrap();
    let e = bounded("reader wakes", move || reader.join().unwrap()).unwrap_err();
    assert!(is_closed(&e), "{e}");
    drop(c);
}

/// A read deadline ends a wait on a drained socket.
fn deadline_ends_drained_wait(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    c.write_all(b"x").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(block_on(AsyncReadExt::read(&mut s, &mut buf)).unwrap(), 1);
    s.set_read_deadline(in_ms(30)).unwrap();
    let e = bounded("deadline", move || {
        block_on(AsyncReadExt::read(&mut s, &mut buf))
    })
    .unwrap_err();
    assert!(is_timeout(&e), "{e}");
    drop(c);
}

/// Regression (seen as a hang in CI's `async_unix_stream`): the peer writes and half-closes
/// before the first read, so one edge carries both. The first read is short; the end-of-file
/// only shows on the next read, which waits for an edge first. That edge must still be stored:
/// a `prepare` before the first read would have forgotten it, and the second read would wait
/// forever.
fn half_close_with_the_data_before_a_short_read(rt: &Runtime) {
    let (mut c, mut s) = tcp_pair(rt);
    let rt2 = rt.clone();
    bounded("read to end", move || {
        let before = rt2.stats().events;
        c.write_all(b"last words").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        if rt2.backend() == BackendKind::Epoll {
            // Let the poller apply the edges before the first read looks.
            eventually("edges applied", || rt2.stats().events > before);
        }
        let mut got = Vec::new();
        block_on(AsyncReadExt::read_to_end(&mut s, &mut got)).unwrap();
        assert_eq!(got, b"last words");
        // And the blocking form on a second pair.
        let (mut c, s) = tcp_pair(&rt2);
        let before = rt2.stats().events;
        c.write_all(b"bye").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        if rt2.backend() == BackendKind::Epoll {
            eventually("edges applied", || rt2.stats().events > before);
        }
        let mut got = Vec::new();
        Read::read_to_end(&mut &s, &mut got).unwrap();
        assert_eq!(got, b"bye");
    });
}

per_backend!(
    half_close_with_the_data_before_a_short_read,
    edge_between_short_read_and_wait_async,
    edge_between_short_read_and_wait_blocking,
    full_read_then_rest,
    close_wakes_drained_reader,
    deadline_ends_drained_wait,
);
