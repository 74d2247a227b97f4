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
    let (mut c, s) = tcp_pair(rt);
    let mut s = s.into_async();
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
    let (mut c, s) = tcp_pair(rt);
    let mut s = s.into_async();
    c.write_all(b"0123456789").unwrap();
    bounded("reads", move || {
        let mut got = Vec::new();
        let mut small = [0u8; 4];
        // Short async read first (if the data came in pieces), then full blocking reads.
        while got.len() < 10 {
            let n = Read::read(&mut s.get_ref(), &mut small).unwrap();
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
    let (mut c, s) = tcp_pair(rt);
    let mut s = s.into_async();
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
    let (mut c, s) = tcp_pair(rt);
    let mut s = s.into_async();
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
/// only shows on the next read, which would wait for an edge first. The first read's
/// `prepare` forgets that edge, so the second read must see the core's read-closed mark and
/// read at once; without the mark it would wait forever.
fn half_close_with_the_data_before_a_short_read(rt: &Runtime) {
    let (mut c, s) = tcp_pair(rt);
    let mut s = s.into_async();
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

/// A vectored read over more buffers than `readv` takes (IOV_MAX, 1,024) that fills all it
/// can is full, not short: the rest of the data must be read at once, not waited for (no new
/// edge will come for data that is already there).
///
/// Unix only: the cap is `readv`'s. Windows' `WSARecv` takes every buffer (and Wine, which
/// passes them to the host's `recvmsg`, fails with `WSAEMSGSIZE` beyond 1,024).
#[cfg(unix)]
fn vectored_read_over_iov_max_is_not_short(rt: &Runtime) {
    let (mut c, s) = tcp_pair(rt);
    let mut s = s.into_async();
    let rt2 = rt.clone();
    bounded("vectored reads", move || {
        let before = rt2.stats().events;
        c.write_all(&[7u8; 2000]).unwrap();
        if rt2.backend() == BackendKind::Epoll {
            eventually("edge applied", || rt2.stats().events > before);
        }
        let mut bytes = vec![0u8; 1100];
        let mut got = 0;
        while got < 2000 {
            let mut bufs: Vec<std::io::IoSliceMut<'_>> =
                bytes.chunks_mut(1).map(std::io::IoSliceMut::new).collect();
            let n = block_on(futures_lite::AsyncReadExt::read_vectored(&mut s, &mut bufs)).unwrap();
            assert!(n > 0 && n <= 1024, "{n}");
            got += n;
        }
        assert_eq!(got, 2000);
    });
}

per_backend!(
    #[cfg(unix)]
    vectored_read_over_iov_max_is_not_short,
    half_close_with_the_data_before_a_short_read,
    edge_between_short_read_and_wait_async,
    edge_between_short_read_and_wait_blocking,
    full_read_then_rest,
    close_wakes_drained_reader,
    deadline_ends_drained_wait,
);

/// Poll `fut` on this thread, driving the inline runtime `rt` between polls (at most
/// `turns` times, each waiting up to 10 ms): `Some` output, or `None` if it never finished.
fn drive<T>(rt: &Runtime, fut: impl std::future::Future<Output = T>, turns: usize) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    for _ in 0..turns {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        rt.poll(Some(std::time::Duration::from_millis(10))).unwrap();
    }
    None
}

/// A reader already waiting on a drained socket when the peer writes and half-closes, with
/// both harvested as one edge (an inline runtime, polled only after both): the woken read
/// returns the data (a short read) and the next one must still see the end-of-file, though
/// no further edge will ever come.
fn half_close_with_the_data_while_waiting(kind: BackendKind) {
    let rt = Runtime::builder()
        .backend(kind)
        .drive_inline()
        .build()
        .unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let mut s = netpoll_std::TcpStream::from_std_in(l.accept().unwrap().0, &rt)
        .unwrap()
        .into_async();
    let mut buf = [0u8; 64];
    c.write_all(b"first").unwrap();
    let n = drive(&rt, AsyncReadExt::read(&mut s, &mut buf), 100)
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"first", "a short read");
    // The next read waits (nothing has come), then data and FIN arrive before the harvest.
    let mut read = AsyncReadExt::read(&mut s, &mut buf);
    assert!(drive(&rt, &mut read, 1).is_none(), "nothing to read yet");
    c.write_all(b"last").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let n = drive(&rt, &mut read, 100).unwrap().unwrap();
    assert_eq!(&buf[..n], b"last");
    let eof = drive(&rt, AsyncReadExt::read(&mut s, &mut buf), 100);
    assert!(matches!(eof, Some(Ok(0))), "end-of-file lost: {eof:?}");
}

#[test]
#[cfg(any(target_os = "linux", target_os = "android"))]
fn half_close_with_the_data_while_waiting_epoll() {
    half_close_with_the_data_while_waiting(BackendKind::Epoll);
}

#[test]
fn half_close_with_the_data_while_waiting_polling() {
    half_close_with_the_data_while_waiting(BackendKind::Polling);
}

#[test]
fn half_close_with_the_data_while_waiting_polling_oneshot() {
    half_close_with_the_data_while_waiting(BackendKind::PollingOneshot);
}
