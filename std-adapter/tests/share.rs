//! Sharing a connection: `try_clone`, owned halves (`into_split`) moved to other threads and
//! tasks, `reunite`, `peek`; and both I/O styles' traits in scope at once.

mod util;

use std::io::{Read, Write};

use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netpoll_std::{is_closed, is_timeout, Runtime};
use util::{bounded, eventually, in_ms, tcp_pair};

/// `std::io::{Read, Write}` and `futures_lite::{AsyncReadExt, AsyncWriteExt}` are all in scope
/// here: `read`, `write_all` and `close` resolve on either face without naming a trait
/// (before the faces were separate types this was E0034, and `close().await` did not compile).
fn both_styles_in_one_scope(rt: &Runtime) {
    let (c, s) = tcp_pair(rt);
    let mut c = c; // blocking
    let mut s = s.into_async(); // async
    c.write_all(b"ping").unwrap();
    let side = std::thread::spawn(move || {
        block_on(async move {
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.unwrap();
            s.write_all(&b).await.unwrap();
            s.close().await.unwrap(); // half-close: the peer reads EOF, we can still read
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            rest
        })
    });
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap(); // EOF after the echo: the async close half-closed
    assert_eq!(back, b"ping");
    c.write_all(b"bye").unwrap();
    c.close().unwrap(); // Go-style close on the blocking face
    let rest = bounded("async side", move || side.join().unwrap());
    assert_eq!(rest, b"bye");
}

/// A clone shares the connection: data, deadlines and a Go-style close.
fn try_clone_shares_deadlines_and_close(rt: &Runtime) {
    let (c, s) = tcp_pair(rt);
    let s2 = s.try_clone().unwrap();
    (&c).write_all(b"abc").unwrap();
    let mut b = [0u8; 3];
    (&s2).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"abc");
    // A deadline set through one handle applies to the other.
    s.set_read_deadline(in_ms(10)).unwrap();
    let e = (&s2).read(&mut b).unwrap_err();
    assert!(is_timeout(&e), "{e}");
    s.set_read_deadline(None).unwrap();
    // A reader blocked on the clone wakes when the original is closed.
    let reader = std::thread::spawn(move || (&s2).read(&mut [0u8; 1]));
    eventually("reader parked", || rt.stats().parked_now == 1);
    s.close().unwrap();
    let e = bounded("reader", move || reader.join().unwrap()).unwrap_err();
    assert!(is_closed(&e), "{e}");
    // Cloning a closed socket fails.
    let e = s.try_clone().unwrap_err();
    assert!(is_closed(&e), "{e}");
    drop(c);
}

/// The halves go to two threads: one writes 256 KiB while the other reads the echo.
fn halves_on_two_threads(rt: &Runtime) {
    const TOTAL: usize = 256 * 1024;
    let (c, s) = tcp_pair(rt);
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut s = s;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
                Err(e) => panic!("echo: {e}"),
            }
        }
    });
    let (mut rd, mut wr) = c.into_split();
    let writer = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..TOTAL / chunk.len() {
            wr.write_all(&chunk).unwrap();
        }
        wr // kept: dropping it would half-close
    });
    let (got, rd) = bounded("read half", move || {
        let mut got = vec![0u8; TOTAL];
        rd.read_exact(&mut got).unwrap();
        (got, rd)
    });
    let wr = writer.join().unwrap();
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, b)| *b == ((i % 4096) % 251) as u8));
    // Put back together, then dropping the write half of a new split half-closes.
    let c = rd.reunite(wr).unwrap_or_else(|_| panic!("same stream"));
    let (mut rd, wr) = c.into_split();
    drop(wr); // the echo thread reads EOF and ends, closing its side
    let mut rest = Vec::new();
    bounded("eof", move || rd.read_to_end(&mut rest).map(|_| rest))
        .map(|rest| assert!(rest.is_empty()))
        .unwrap();
    echo.join().unwrap();
}

fn reunite_refuses_halves_of_two_streams(rt: &Runtime) {
    let (a, _pa) = tcp_pair(rt);
    let (b, _pb) = tcp_pair(rt);
    let (ra, _wa) = a.into_split();
    let (_rb, wb) = b.into_split();
    let err = ra.reunite(wb).expect_err("different streams");
    assert_eq!(
        err.to_string(),
        "tried to reunite halves that are not from the same stream"
    );
}

/// Async halves in two tasks on two threads; the read half's deadline fires on its own.
fn async_halves_in_two_tasks(rt: &Runtime) {
    let (c, s) = tcp_pair(rt);
    let (mut rd, mut wr) = s.into_async().into_split();
    let writer = std::thread::spawn(move || {
        block_on(async move {
            wr.write_all(b"from the write half").await.unwrap();
            wr.close().await.unwrap();
        })
    });
    let mut got = Vec::new();
    (&c).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"from the write half");
    writer.join().unwrap();
    rd.set_read_deadline(in_ms(10)).unwrap();
    let e = bounded("read half deadline", move || {
        block_on(async move { rd.read(&mut [0u8; 8]).await.unwrap_err() })
    });
    assert!(is_timeout(&e), "{e}");
    assert!(e.to_string().starts_with("read tcp "), "{e}");
}

/// `peek` returns queued data without consuming it, waits (bounded by the read deadline)
/// when there is none, and returns at once for an empty buffer.
fn peek_blocking_and_async(rt: &Runtime) {
    let (c, s) = tcp_pair(rt);
    assert_eq!(s.peek(&mut []).unwrap(), 0);
    s.set_read_deadline(in_ms(10)).unwrap();
    let e = s.peek(&mut [0u8; 4]).unwrap_err();
    assert!(is_timeout(&e), "{e}");
    assert!(e.to_string().starts_with("peek tcp "), "{e}");
    s.set_read_deadline(None).unwrap();
    let s = s.into_async();
    let peeker = std::thread::spawn(move || {
        block_on(async move {
            let mut b = [0u8; 4];
            let n = s.peek(&mut b).await.unwrap();
            (n, b, s)
        })
    });
    eventually("peek waiting", || rt.stats().async_pending_now == 1);
    (&c).write_all(b"data").unwrap();
    let (n, b, s) = bounded("peek", move || peeker.join().unwrap());
    assert_eq!(&b[..n], &b"data"[..n]);
    let mut all = [0u8; 4];
    (&*s).read_exact(&mut all).unwrap();
    assert_eq!(&all, b"data");
}

/// Unix-domain sockets exist on Unix only.
#[cfg(unix)]
fn unix_halves_peek_and_errors(rt: &Runtime) {
    let (a, b) = netpoll_std::UnixStream::pair_in(rt).unwrap();
    let (mut rd, mut wr) = a.into_split();
    wr.write_all(b"u").unwrap();
    let mut one = [0u8; 1];
    assert_eq!(b.peek(&mut one).unwrap(), 1);
    (&b).read_exact(&mut one).unwrap();
    (&b).write_all(b"v").unwrap();
    rd.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"v");
    rd.set_read_deadline(in_ms(5)).unwrap();
    let e = rd.read(&mut one).unwrap_err();
    assert!(is_timeout(&e));
    // A socket pair is unnamed on both ends: Go prints no address then.
    assert_eq!(e.to_string(), "read unix: i/o timeout");
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}

per_backend!(
    both_styles_in_one_scope,
    try_clone_shares_deadlines_and_close,
    halves_on_two_threads,
    reunite_refuses_halves_of_two_streams,
    async_halves_in_two_tasks,
    peek_blocking_and_async,
    #[cfg(unix)]
    unix_halves_peek_and_errors,
);
