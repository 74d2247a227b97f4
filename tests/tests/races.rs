//! Go's `TestReadWriteProlongedTimeout`, `TestReadWriteDeadlineRace` and
//! `TestConcurrentSetDeadline`: deadlines changed from several threads while reads and writes
//! are under way (in Go these found data races; here they look for lost wake-ups, spurious
//! timeouts, "double wait" errors and hangs).
//!
//! As Go's goroutines, the readers, writers and setters share each connection without any
//! lock of the test's and run at once: blocking calls on threads of their own, tasks on
//! threads of their own (the async forms go through `&Async<TcpStream>`, which reads and
//! writes through a shared reference), setters on threads.

#[macro_use]
mod util;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netpoll_std::{is_timeout, Async, Runtime, TcpStream};
use util::{
    assert_timeout, block_on, bounded, dial, eventually, go, join, join_all, local_listener, sleep,
    LocalServer, Waiter, LIMIT,
};

const HOUR: Duration = Duration::from_secs(3600);

// Blocking I/O through `&TcpStream` and async I/O through `&Async<TcpStream>`: several threads
// and tasks share one connection, with no lock (each call takes the socket's read or write
// lock for itself, as Go's `fdMutex`).
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
async fn read_async(mut s: &Async<TcpStream>, b: &mut [u8]) -> io::Result<usize> {
    s.read(b).await
}
async fn write_async(mut s: &Async<TcpStream>, b: &[u8]) -> io::Result<usize> {
    s.write(b).await
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
    // The same server as two tasks on two threads, sharing the connection without a lock.
    let server = LocalServer::start(rt, |l| {
        let (s, _) = block_on(l.accept_async()).expect("accept");
        let s = Arc::new(s);
        let r = s.clone();
        let reader = go(move || {
            block_on(async move {
                loop {
                    r.set_read_deadline(Some(Instant::now() + HOUR))
                        .expect("set_read_deadline");
                    if read_async(&r, &mut [0u8; 1]).await? == 0 {
                        return Ok(());
                    }
                }
            })
        });
        let writer = go(move || {
            block_on(async move {
                loop {
                    s.set_write_deadline(Some(Instant::now() + HOUR))
                        .expect("set_write_deadline");
                    write_async(&s, b"y").await?;
                }
            })
        });
        check_prolonged_end("server read", join("server reader", reader));
        check_prolonged_end("server write", join("server writer", writer));
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

/// The same with async reads and writes: the setter thread, a writer task on its own thread
/// and a reader task on the body's thread (on an inline runtime, the thread that drives it)
/// use the connection at once, without a lock.
fn read_write_deadline_race_async(rt: &Runtime) {
    let l = local_listener(rt);
    let c = Arc::new(dial(rt, l.local_addr().expect("addr")).into_async());
    let setter = {
        let c = c.clone();
        go(move || {
            set_deadlines_fast(|at| {
                c.set_read_deadline(Some(at))?;
                c.set_write_deadline(Some(at))
            })
        })
    };
    let writer = {
        let c = c.clone();
        go(move || {
            block_on(async {
                let mut out = Vec::new();
                for _ in 0..N {
                    out.push(write_async(&c, b"z").await);
                }
                out
            })
        })
    };
    let reads = block_on(async {
        let mut out = Vec::new();
        for _ in 0..N {
            out.push(read_async(&c, &mut [0u8; 1]).await);
        }
        out
    });
    join("setter", setter);
    check_race(reads, join("writer", writer));
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

/// Reader threads for the async form, each running the reader tasks of every other connection.
const READER_THREADS: usize = 2;

/// The same with reader tasks, on two threads: the storm's setters, the tasks' polls and the
/// runtime's loop touch the connections at once, without a lock.
fn concurrent_set_deadline_async(rt: &Runtime) {
    let (clients, servers) = pairs(rt);
    let clients: Arc<Vec<Async<TcpStream>>> =
        Arc::new(clients.into_iter().map(TcpStream::into_async).collect());
    let readers: Vec<_> = (0..READER_THREADS)
        .map(|t| {
            let clients = clients.clone();
            go(move || {
                let tasks = (t..CONNS)
                    .step_by(READER_THREADS)
                    .map(|k| {
                        let clients = clients.clone();
                        Box::pin(async move {
                            let mut b = [0u8; 1];
                            let r = read_async(&clients[k], &mut b).await;
                            (k, r.map(|n| (n, b[0])))
                        }) as _
                    })
                    .collect();
                block_on(join_all::<(usize, io::Result<(usize, u8)>)>(tasks))
            })
        })
        .collect();
    eventually("reader tasks pending", || Waiter::Task.waiting(rt, CONNS));
    let c2 = clients.clone();
    storm(Arc::new(move |k, r, w| {
        c2[k].set_read_deadline(Some(r)).expect("set_read_deadline");
        c2[k]
            .set_write_deadline(Some(w))
            .expect("set_write_deadline");
    }));
    assert!(
        Waiter::Task.waiting(rt, CONNS),
        "a reader task woke during the storm"
    );
    for (k, s) in servers.iter().enumerate() {
        write_all_on(s, &[k as u8]).expect("write");
    }
    let mut seen = 0;
    for r in readers {
        for (k, r) in join("readers", r) {
            assert_eq!(r.expect("read"), (1, k as u8), "connection #{k}");
            seen += 1;
        }
    }
    assert_eq!(seen, CONNS);
}

green_mode!(
    read_write_prolonged_timeout,
    read_write_deadline_race,
    concurrent_set_deadline,
);

per_runtime!(
    read_write_prolonged_timeout,
    read_write_prolonged_timeout_async,
    read_write_deadline_race,
    read_write_deadline_race_async,
    concurrent_set_deadline,
    concurrent_set_deadline_async,
);
