//! Async I/O over every backend: futures-io streams, accept/connect futures, per-socket
//! deadlines and close wake-ups for tasks.

mod util;

use std::io;

use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netpoll_std::{is_closed, is_timeout, Runtime, TcpListener, TcpStream};
use util::{bounded, in_ms, tcp_pair};

fn async_echo_and_deadline(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let rt2 = rt.clone();
    let client = std::thread::spawn(move || {
        block_on(async {
            let mut c = TcpStream::connect_async_in(&rt2, addr, None).await.unwrap();
            c.write_all(b"ping").await.unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).await.unwrap();
            assert_eq!(&b, b"pong");
            // Async per-socket deadline.
            c.set_read_deadline(in_ms(30)).unwrap();
            let e = c.read(&mut b).await.unwrap_err();
            assert!(is_timeout(&e), "{e}");
        })
    });
    bounded("async server", move || {
        block_on(async {
            let (mut s, _) = l.accept_async().await.unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.unwrap();
            s.write_all(b"pong").await.unwrap();
            // Hold the connection until the client's deadline has fired.
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
        })
    });
    client.join().unwrap();
}

fn async_close_wakes_task(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    let closer = s.closer();
    let h = std::thread::spawn(move || {
        let mut s = s.into_async();
        block_on(async move { s.read(&mut [0u8; 4]).await.unwrap_err() })
    });
    util::eventually("task pending", || rt.stats().async_pending_now == 1);
    closer.close().unwrap();
    let err = bounded("join", move || h.join().unwrap());
    assert!(is_closed(&err), "{err}");
    assert_eq!(rt.stats().async_pending_now, 0);
}

fn async_connect_deadline(rt: &Runtime) {
    // 10.255.255.1 is not routed on a test machine: the SYN goes nowhere, the deadline fires.
    // Where the network answers at once, the connect fails instead; either way, no hang.
    let addr = "10.255.255.1:9".parse().unwrap();
    let r = bounded("connect", {
        let rt = rt.clone();
        move || block_on(TcpStream::connect_async_in(&rt, addr, in_ms(50)))
    });
    if let Err(e) = r {
        assert!(is_timeout(&e) || e.kind() != io::ErrorKind::TimedOut, "{e}");
    }
}

fn async_write_deadline(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    let mut s = s.into_async();
    s.set_write_deadline(in_ms(50)).unwrap();
    let err = bounded("async write until timeout", move || {
        block_on(async move {
            let chunk = vec![0u8; 64 * 1024];
            loop {
                if let Err(e) = s.write(&chunk).await {
                    return e;
                }
            }
        })
    });
    assert!(is_timeout(&err), "{err}");
}

#[cfg(unix)]
fn async_unix_stream(rt: &Runtime) {
    let (a, b) = netpoll_std::UnixStream::pair_in(rt).unwrap();
    let (mut a, mut b) = (a.into_async(), b.into_async());
    let got = bounded("async unix", move || {
        block_on(async move {
            a.write_all(b"over unix").await.unwrap();
            a.close().await.unwrap(); // half-close: AsyncWriteExt::close
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        })
    });
    assert_eq!(got, b"over unix");
}

fn async_accept_deadline_and_close(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    l.set_read_deadline(in_ms(20)).unwrap();
    let e = block_on(l.accept_async()).unwrap_err();
    assert!(is_timeout(&e), "{e}");
    l.set_read_deadline(None).unwrap();
    let closer = l.closer();
    let h = std::thread::spawn(move || block_on(l.accept_async()).unwrap_err());
    util::eventually("accept pending", || rt.stats().async_pending_now == 1);
    closer.close().unwrap();
    let e = bounded("join", move || h.join().unwrap());
    assert!(is_closed(&e), "{e}");
    assert_eq!(
        e.kind(),
        io::ErrorKind::Other,
        "closed is not an OS error kind"
    );
}

/// A split through `&TcpStream`: one task writes 1 MiB while another reads the echo, both
/// async and at the same time (the reader waits for echoed data while the writer writes).
fn async_split_through_a_shared_reference(rt: &Runtime) {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let (c, s) = tcp_pair(rt);
    const TOTAL: usize = 1 << 20;
    // The peer echoes with blocking I/O, starting once the reader waits for the echo (so
    // that the concurrent wait is exercised however the threads are scheduled).
    let rt2 = rt.clone();
    let echo = std::thread::spawn(move || {
        util::eventually("reader waits", || rt2.stats().async_parks > 0);
        let mut buf = [0u8; 1500];
        let mut n_total = 0;
        while n_total < TOTAL {
            let n = Read::read(&mut &c, &mut buf).unwrap();
            assert!(n > 0, "early EOF after {n_total} bytes");
            Write::write_all(&mut &c, &buf[..n]).unwrap();
            n_total += n;
        }
    });
    let s = Arc::new(s.into_async());
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            block_on(async {
                let chunk: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
                for _ in 0..TOTAL / chunk.len() {
                    AsyncWriteExt::write_all(&mut &*s, &chunk).await.unwrap();
                }
            })
        })
    };
    let got = bounded("split read", move || {
        block_on(async {
            let mut got = vec![0u8; TOTAL];
            AsyncReadExt::read_exact(&mut &*s, &mut got).await.unwrap();
            got
        })
    });
    writer.join().unwrap();
    echo.join().unwrap();
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, b)| *b == ((i % 4096) % 251) as u8),
        "echoed bytes differ"
    );
    assert!(rt.stats().async_parks > 0, "neither direction ever waited");
}

per_backend!(
    async_split_through_a_shared_reference,
    async_echo_and_deadline,
    async_close_wakes_task,
    async_connect_deadline,
    async_write_deadline,
    #[cfg(unix)]
    async_unix_stream,
    async_accept_deadline_and_close,
);
