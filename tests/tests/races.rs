//! Go's `TestReadWriteProlongedTimeout`, `TestReadWriteDeadlineRace` and
//! `TestConcurrentSetDeadline`: deadlines changed from several threads while reads and writes
//! are under way (in Go these found data races; here they look for lost wake-ups, spurious
//! timeouts, "double wait" errors and hangs).

#[macro_use]
mod util;

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netpoll_std::{is_timeout, Runtime, TcpStream};
use util::{
    assert_timeout, bounded, dial, eventually, go, join, join_all, local_listener, sleep,
    LocalServer, SharedStream, Waiter, LIMIT,
};

const HOUR: Duration = Duration::from_secs(3600);

// Blocking I/O through `&TcpStream` (so several threads can share one connection). Named
// functions, because `TcpStream` also has the futures-lite extension methods in this file.
fn read_on(mut s: &TcpStream, b: &mut [u8]) -> io::Result<usize> {
    io::Read::read(&mut s, b)
}
fn read_exact_on(mut s: &TcpStream, b: &mut [u8]) -> io::Result<()> {
    io::Read::read_exact(&mut s, b)
}
fn write_on(mut s: &TcpStream, b: &[u8]) -> io::Result<usize> {
    io::Write::write(&mut s, b)
}
fn write_all_on(mut s: &TcpStream, b: &[u8]) -> io::Result<()> {
    io::Write::write_all(&mut s, b)
}

// ---- TestReadWriteProlongedTimeout -----------------------------------------------------------

/// How a server loop ended: EOF, or an error that must not be a timeout (every deadline is an
/// hour away, pushed further before each operation).
fn check_prolonged_end(what: &str, r: io::Result<()>) {
    if let Err(e) = r {
        assert!(
            !is_timeout(&e),
            "{what}: an hour-long deadline fired: {e:?}"
        );
    }
}

/// Client side: 1000 one-byte writes and reads, all of which must succeed.
fn ping_1000(c: &TcpStream) {
    for i in 0..1000 {
        write_all_on(c, b"x").unwrap_or_else(|e| panic!("write #{i}: {e}"));
        read_exact_on(c, &mut [0u8; 1]).unwrap_or_else(|e| panic!("read #{i}: {e}"));
    }
}

fn read_write_prolonged_timeout(rt: &Runtime) {
    // The server reads and writes one byte at a time on two threads, pushing its deadline an
    // hour ahead before every operation, until the client goes away.
    let server = LocalServer::start(rt, |l| {
        let (s, _) = l.accept().expect("accept");
        let s = Arc::new(s);
        let r = s.clone();
        let reader = go(move || -> io::Result<()> {
            loop {
                r.set_read_deadline(Some(Instant::now() + HOUR))
                    .expect("set_read_deadline");
                if read_on(&r, &mut [0u8; 1])? == 0 {
                    return Ok(());
                }
            }
        });
        let writer = go(move || -> io::Result<()> {
            loop {
                s.set_write_deadline(Some(Instant::now() + HOUR))
                    .expect("set_write_deadline");
                write_on(&s, b"y")?;
            }
        });
        check_prolonged_end("server read", join("server reader", reader));
        check_prolonged_end("server write", join("server writer", writer));
    });
    let c = dial(rt, server.addr());
    let c = bounded("client", LIMIT, move || {
        ping_1000(&c);
        c
    });
    c.close().expect("close");
    // Go's Close also releases the descriptor, as no operation is in progress: here that is
    // the drop. (It matters under Wine, whose shutdown leaves the host socket open for
    // reading, so only the close resets the server's writes and ends its writer.)
    drop(c);
    server.shutdown();
}

fn read_write_prolonged_timeout_async(rt: &Runtime) {
    // The same server as two tasks on one thread, sharing the connection.
    let server = LocalServer::start(rt, |l| {
        block_on(async {
            let (s, _) = l.accept_async().await.expect("accept");
            let s = SharedStream::new(s);
            let (mut r, mut w) = (s.clone(), s.clone());
            let reader = async move {
                loop {
                    r.with(|s| s.set_read_deadline(Some(Instant::now() + HOUR)))
                        .expect("set_read_deadline");
                    if r.read(&mut [0u8; 1]).await? == 0 {
                        return Ok(());
                    }
                }
            };
            let writer = async move {
                loop {
                    w.with(|s| s.set_write_deadline(Some(Instant::now() + HOUR)))
                        .expect("set_write_deadline");
                    w.write(b"y").await?;
                }
            };
            let (r, w) = futures_lite::future::zip(reader, writer).await;
            check_prolonged_end("server read", r);
            check_prolonged_end("server write", w);
        })
    });
    let (rt2, addr) = (rt.clone(), server.addr());
    let c = bounded("client", LIMIT, move || {
        block_on(async {
            let mut c = TcpStream::connect_async_in(&rt2, addr, None)
                .await
                .expect("connect");
            for i in 0..1000 {
                AsyncWriteExt::write_all(&mut c, b"x")
                    .await
                    .unwrap_or_else(|e| panic!("write #{i}: {e}"));
                AsyncReadExt::read_exact(&mut c, &mut [0u8; 1])
                    .await
                    .unwrap_or_else(|e| panic!("read #{i}: {e}"));
            }
            c
        })
    });
    c.get_ref().close().expect("close");
    // Go's Close also releases the descriptor, as no operation is in progress: here that is
    // the drop. (It matters under Wine, whose shutdown leaves the host socket open for
    // reading, so only the close resets the server's writes and ends its writer.)
    drop(c);
    server.shutdown();
}

// ---- TestReadWriteDeadlineRace ---------------------------------------------------------------

/// Operations of each kind (Go: 1000).
const N: usize = 1000;
const TWO_US: Duration = Duration::from_micros(2);

/// Go's deadline thread: both deadlines 2µs ahead, N times, on a 2µs beat (the sleep is the
/// test's rhythm, as Go's ticker; it waits for nothing).
fn set_deadlines_fast(set: impl Fn(Instant) -> io::Result<()>) {
    for _ in 0..N {
        set(Instant::now() + TWO_US).expect("set deadline");
        sleep(TWO_US);
    }
}

/// Every read ends with a timeout (nobody writes); every write succeeds or times out.
fn check_race(reads: Vec<io::Result<usize>>, writes: Vec<io::Result<usize>>) {
    for (i, r) in reads.into_iter().enumerate() {
        match r {
            Ok(n) => panic!("read #{i} returned {n} bytes nobody sent"),
            Err(e) => assert_timeout(&e, &format!("read #{i}")),
        }
    }
    for (i, w) in writes.into_iter().enumerate() {
        if let Err(e) = w {
            assert_timeout(&e, &format!("write #{i}"));
        }
    }
}

fn read_write_deadline_race(rt: &Runtime) {
    let l = local_listener(rt);
    let c = Arc::new(dial(rt, l.local_addr().expect("addr")));
    let setter = {
        let c = c.clone();
        go(move || {
            set_deadlines_fast(|at| {
                c.set_read_deadline(Some(at))?;
                c.set_write_deadline(Some(at))
            })
        })
    };
    let reader = {
        let c = c.clone();
        go(move || {
            (0..N)
                .map(|_| read_on(&c, &mut [0u8; 1]))
                .collect::<Vec<_>>()
        })
    };
    let writer = {
        let c = c.clone();
        go(move || (0..N).map(|_| write_on(&c, b"z")).collect::<Vec<_>>())
    };
    join("setter", setter);
    check_race(join("reader", reader), join("writer", writer));
}

fn read_write_deadline_race_async(rt: &Runtime) {
    let l = local_listener(rt);
    let c = SharedStream::new(dial(rt, l.local_addr().expect("addr")));
    let setter = {
        let c = c.clone();
        thread::spawn(move || {
            set_deadlines_fast(|at| {
                c.with(|c| {
                    c.set_read_deadline(Some(at))?;
                    c.set_write_deadline(Some(at))
                })
            })
        })
    };
    let reader = {
        let mut c = c.clone();
        thread::spawn(move || {
            block_on(async {
                let mut out = Vec::new();
                for _ in 0..N {
                    out.push(c.read(&mut [0u8; 1]).await);
                }
                out
            })
        })
    };
    let writer = {
        let mut c = c.clone();
        thread::spawn(move || {
            block_on(async {
                let mut out = Vec::new();
                for _ in 0..N {
                    out.push(c.write(b"z").await);
                }
                out
            })
        })
    };
    join("setter", setter);
    check_race(join("reader", reader), join("writer", writer));
}

// ---- TestConcurrentSetDeadline ---------------------------------------------------------------

const SETTERS: usize = 8;
const CONNS: usize = 10;
const TRIES: u64 = 100;

/// Go's storm: `SETTERS` threads set both deadlines of every connection, steadily earlier but
/// always an hour or more away, `TRIES` times. Every call must succeed.
fn storm(set: Arc<dyn Fn(usize, Instant, Instant) + Send + Sync>) {
    let now = Instant::now();
    let threads: Vec<_> = (0..SETTERS as u64)
        .map(|i| {
            let set = set.clone();
            go(move || {
                for j in (1..=TRIES).rev() {
                    for k in 0..CONNS as u64 {
                        let extra = Duration::from_secs(i * j * k);
                        set(k as usize, now + 2 * HOUR + extra, now + HOUR + extra);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        join("setter", t);
    }
}

/// `CONNS` connected pairs: (clients, server sides).
fn pairs(rt: &Runtime) -> (Vec<TcpStream>, Vec<TcpStream>) {
    let l = local_listener(rt);
    let addr = l.local_addr().expect("addr");
    (0..CONNS)
        .map(|_| {
            let c = dial(rt, addr);
            let (s, _) = l.accept().expect("accept");
            (c, s)
        })
        .unzip()
}

/// Beyond Go's test (which only looks for data races): a reader waits on every connection
/// during the storm; an hour-away deadline must not wake it, and data sent afterwards must.
fn concurrent_set_deadline(rt: &Runtime) {
    let (clients, servers) = pairs(rt);
    let clients: Arc<Vec<TcpStream>> = Arc::new(clients);
    let readers: Vec<_> = (0..CONNS)
        .map(|k| {
            let clients = clients.clone();
            go(move || {
                let mut b = [0u8; 1];
                read_on(&clients[k], &mut b).map(|n| (n, b[0]))
            })
        })
        .collect();
    eventually("readers parked", || Waiter::Thread.waiting(rt, CONNS));
    let c2 = clients.clone();
    storm(Arc::new(move |k, r, w| {
        c2[k].set_read_deadline(Some(r)).expect("set_read_deadline");
        c2[k]
            .set_write_deadline(Some(w))
            .expect("set_write_deadline");
    }));
    assert!(
        Waiter::Thread.waiting(rt, CONNS),
        "a reader woke during the storm"
    );
    for (k, s) in servers.iter().enumerate() {
        write_all_on(s, &[k as u8]).expect("write");
    }
    for (k, r) in readers.into_iter().enumerate() {
        assert_eq!(join("reader", r).expect("read"), (1, k as u8));
    }
}

fn concurrent_set_deadline_async(rt: &Runtime) {
    let (clients, servers) = pairs(rt);
    let clients: Vec<SharedStream> = clients.into_iter().map(SharedStream::new).collect();
    let readers = {
        let clients = clients.clone();
        thread::spawn(move || {
            block_on(join_all::<io::Result<(usize, u8)>>(
                clients
                    .into_iter()
                    .map(|mut c| {
                        Box::pin(async move {
                            let mut b = [0u8; 1];
                            c.read(&mut b).await.map(|n| (n, b[0]))
                        }) as _
                    })
                    .collect(),
            ))
        })
    };
    eventually("reader tasks pending", || Waiter::Task.waiting(rt, CONNS));
    let c2 = clients.clone();
    storm(Arc::new(move |k, r, w| {
        c2[k].with(|c| {
            c.set_read_deadline(Some(r)).expect("set_read_deadline");
            c.set_write_deadline(Some(w)).expect("set_write_deadline");
        })
    }));
    assert!(
        Waiter::Task.waiting(rt, CONNS),
        "a reader task woke during the storm"
    );
    for (k, s) in servers.iter().enumerate() {
        write_all_on(s, &[k as u8]).expect("write");
    }
    for (k, r) in join("readers", readers).into_iter().enumerate() {
        assert_eq!(r.expect("read"), (1, k as u8));
    }
}

green_mode!(
    read_write_prolonged_timeout,
    read_write_deadline_race,
    concurrent_set_deadline,
);

per_backend!(
    read_write_prolonged_timeout,
    read_write_prolonged_timeout_async,
    read_write_deadline_race,
    read_write_deadline_race_async,
    concurrent_set_deadline,
    concurrent_set_deadline_async,
);
