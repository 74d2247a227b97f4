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
        let mut s = s;
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

per_backend!(
    async_echo_and_deadline,
    async_close_wakes_task,
    async_connect_deadline
);
