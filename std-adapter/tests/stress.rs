//! Bounded stress over every backend: close racing with blocked I/O while descriptors are
//! reused, and many concurrent connections on the async server.

mod util;

use std::io::{Read, Write};
use std::sync::Arc;

use netpoll_std::{is_closed, Runtime, Server, TcpListener};
use util::{bounded, tcp_pair, LIMIT};

fn close_races_with_blocked_io_and_fd_reuse(rt: &Runtime) {
    let rt = rt.clone();
    bounded("close races", move || {
        for round in 0..60 {
            let (c, s) = tcp_pair(&rt);
            let s = Arc::new(s);
            let r = s.clone();
            let reader = std::thread::spawn(move || (&*r).read(&mut [0u8; 16]));
            // Churn descriptors so closed numbers get reused while the reader may still run.
            let churn: Vec<_> = (0..4).map(|_| tcp_pair(&rt)).collect();
            if round % 3 == 0 {
                std::thread::yield_now();
            }
            s.close().unwrap();
            match reader.join().unwrap() {
                Err(e) => assert!(is_closed(&e), "round {round}: {e}"),
                // The read raced ahead of the close and saw the shutdown: EOF, never data
                // from another socket.
                Ok(n) => assert_eq!(n, 0, "round {round}"),
            }
            drop((c, churn));
        }
        assert_eq!(rt.stats().parked_now, 0);
    });
}

fn many_connections_on_the_async_server(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    let srv = Server::new()
        .workers(2)
        .spawn_async(l, |mut s| async move {
            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 256];
            while let Ok(n) = AsyncReadExt::read(&mut s, &mut buf).await {
                if n == 0 || AsyncWriteExt::write_all(&mut s, &buf[..n]).await.is_err() {
                    return;
                }
            }
        })
        .unwrap();
    let addr = srv.local_addr();
    let clients: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut conns: Vec<_> = (0..16)
                    .map(|_| {
                        let c = std::net::TcpStream::connect(addr).unwrap();
                        c.set_read_timeout(Some(LIMIT)).unwrap();
                        c
                    })
                    .collect();
                for round in 0..20u8 {
                    for c in &mut conns {
                        let msg = [t, round, 7, 9];
                        c.write_all(&msg).unwrap();
                        let mut back = [0u8; 4];
                        c.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg);
                    }
                }
            })
        })
        .collect();
    bounded("clients", move || {
        for c in clients {
            c.join().unwrap();
        }
    });
    let report = bounded("shutdown", move || srv.shutdown(LIMIT));
    assert_eq!(report.abandoned, 0);
}

per_backend!(
    close_races_with_blocked_io_and_fd_reuse,
    many_connections_on_the_async_server
);
