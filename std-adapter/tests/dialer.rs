//! Dialing as Go's `net.Dialer` does: by name, each address in turn, timeout and deadline
//! (the earlier wins), a deadline in the past failing at once, blocking and async; Unix
//! connects bounded by the deadline when the listener's backlog is full; UDP `send_to` by
//! name and `recv` into an empty buffer.

mod util;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use netpoll_std::{is_timeout, Dialer, Runtime, TcpListener, UdpSocket};
use util::{bounded, LIMIT};

/// A loopback address nothing listens on: connects are refused at once.
fn refused() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A loopback address where a connect never completes: a listener with a backlog of 0 that
/// never accepts, its queue filled, makes Linux drop further SYNs (the first retransmit is a
/// second away, longer than the deadlines used here).
struct BlackHole {
    addr: SocketAddr,
    _listener: TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

fn black_hole(rt: &Runtime) -> BlackHole {
    let listener = TcpListener::builder()
        .backlog(0)
        .runtime(rt)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..64 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return BlackHole {
                    addr,
                    _listener: listener,
                    _queued: queued,
                }
            }
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    panic!("the backlog never filled");
}

fn dial_by_name_and_each_address_in_turn(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    let good = l.local_addr().unwrap();
    let d = Dialer::new().runtime(rt).timeout(LIMIT);
    // The refused address first: the dial goes on to the next.
    let c = d.dial(&[refused(), good][..]).unwrap();
    assert_eq!(c.peer_addr().unwrap(), good);
    // By name ("localhost" may also resolve to ::1, where nothing listens: the same rule).
    let c = d.dial(("localhost", good.port())).unwrap();
    assert_eq!(c.peer_addr().unwrap(), good);
    let c = d.dial(format!("localhost:{}", good.port())).unwrap();
    assert_eq!(c.peer_addr().unwrap(), good);
    // Async, by name (looked up on a helper thread) and by address.
    let d2 = d.clone();
    let c = bounded("async dial", move || {
        block_on(d2.dial_async(format!("localhost:{}", good.port())))
    })
    .unwrap();
    assert_eq!(c.peer_addr().unwrap(), good);
    let c = block_on(d.dial_async(good)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), good);
}

/// Every address fails: the first error is returned (the refusal, not the later timeout),
/// after the later address had its share of the time.
fn all_addresses_fail_with_the_first_error(rt: &Runtime) {
    let hole = black_hole(rt);
    let start = Instant::now();
    let err = Dialer::new()
        .runtime(rt)
        .timeout(Duration::from_millis(100))
        .dial(&[refused(), hole.addr][..])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "the second address was tried"
    );
    assert!(Dialer::new().dial(&[][..] as &[SocketAddr]).is_err());
}

fn a_deadline_in_the_past_fails_at_once(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let open = rt.stats().open;
    let past = Instant::now() - Duration::from_secs(1);
    for d in [
        Dialer::new().runtime(rt).deadline(past),
        Dialer::new().runtime(rt).deadline(past).timeout(LIMIT),
    ] {
        let err = d.dial(addr).unwrap_err();
        assert!(is_timeout(&err), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), format!("dial tcp {addr}: i/o timeout"));
        let err = block_on(d.dial_async(addr)).unwrap_err();
        assert!(is_timeout(&err), "{err}");
    }
    // No socket was made (a loopback connect would have succeeded at once).
    assert_eq!(rt.stats().open, open);
    assert!(l.set_read_deadline(Some(Instant::now())).is_ok());
    assert!(is_timeout(&l.accept().unwrap_err()), "nothing connected");
}

/// Go's `TestDialTimeout` rows: whichever of timeout and deadline is earlier ends a connect
/// that cannot finish.
fn the_earlier_of_timeout_and_deadline_wins(rt: &Runtime) {
    let hole = black_hole(rt);
    let near = Duration::from_millis(50);
    let far = Duration::from_secs(5);
    // Made just before each dial: a deadline counts from when it is set.
    let dialers: [&dyn Fn() -> Dialer; 3] = [
        &|| Dialer::new().runtime(rt).timeout(near),
        &|| {
            Dialer::new()
                .runtime(rt)
                .timeout(near)
                .deadline(Instant::now() + far)
        },
        &|| {
            Dialer::new()
                .runtime(rt)
                .timeout(far)
                .deadline(Instant::now() + near)
        },
    ];
    for (i, make) in dialers.into_iter().enumerate() {
        let addr = hole.addr;
        let d = make();
        let d2 = d.clone();
        let (r, took) = bounded("dial", move || {
            let start = Instant::now();
            (d2.dial(addr), start.elapsed())
        });
        let err = r.unwrap_err();
        assert!(is_timeout(&err), "#{i}: {err}");
        assert_eq!(err.to_string(), format!("dial tcp {addr}: i/o timeout"));
        assert!(
            took >= Duration::from_millis(45),
            "#{i}: gave up early: {took:?}"
        );
        assert!(
            took < Duration::from_secs(3),
            "#{i}: the far limit won: {took:?}"
        );
        let (start, d) = (Instant::now(), make());
        let err = bounded("async dial", move || block_on(d.dial_async(addr))).unwrap_err();
        assert!(is_timeout(&err), "#{i} async: {err}");
        assert!(start.elapsed() < Duration::from_secs(3), "#{i} async");
    }
}

fn udp_send_to_by_name_and_empty_recv(rt: &Runtime) {
    // Bind where "localhost" resolves first, so the name reaches the receiver.
    let first = ("localhost", 0).to_socket_addrs().unwrap().next().unwrap();
    let b = UdpSocket::bind_in(rt, first).unwrap();
    let a = UdpSocket::bind_in(rt, first).unwrap();
    let port = b.local_addr().unwrap().port();
    assert_eq!(a.send_to(b"by name", ("localhost", port)).unwrap(), 7);
    let mut buf = [0u8; 16];
    let (n, _) = b.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"by name");
    // Go returns at once from an empty read; Linux would wait for a datagram (and drop it).
    b.connect(a.local_addr().unwrap()).unwrap();
    let start = Instant::now();
    assert_eq!(b.recv(&mut []).unwrap(), 0);
    assert_eq!(block_on(b.recv_async(&mut [])).unwrap(), 0);
    assert!(start.elapsed() < LIMIT);
    // The datagram sent next is still there for a real read.
    a.send_to(b"kept", b.local_addr().unwrap()).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap(), 4);
    assert!(a.send_to(b"x", "no-such-host.invalid:1").is_err());
}

/// Unix-domain dialing: Unix only (Windows has no `std` Unix sockets).
#[cfg(unix)]
mod unix {
    use super::*;
    use netpoll_std::UnixListener;

    /// A Unix listener with a backlog of 0 that accepts nothing: one connection fits, the next
    /// waits in `connect` (blocking), and the dial's deadline ends the wait.
    fn unix_listener_with_a_full_backlog(
        rt: &Runtime,
    ) -> (tempdir::Dir, UnixListener, std::os::unix::net::UnixStream) {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("sock");
        let sock =
            socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        sock.bind(&socket2::SockAddr::unix(&path).unwrap()).unwrap();
        sock.listen(0).unwrap();
        let l = UnixListener::from_std_in(sock.into(), rt).unwrap();
        let queued = std::os::unix::net::UnixStream::connect(&path).unwrap();
        (dir, l, queued)
    }

    pub fn unix_connect_honours_the_deadline(rt: &Runtime) {
        let (dir, l, _queued) = unix_listener_with_a_full_backlog(rt);
        let path = dir.path().join("sock");
        let fifty = Duration::from_millis(50);
        let dialers: [&dyn Fn() -> Dialer; 2] =
            [&|| Dialer::new().runtime(rt).timeout(fifty), &|| {
                Dialer::new().runtime(rt).deadline(Instant::now() + fifty)
            }];
        for make in dialers {
            let (p, d2) = (path.clone(), make());
            let (r, took) = bounded("unix dial", move || {
                let start = Instant::now();
                (d2.dial_unix(&p), start.elapsed())
            });
            let err = r.unwrap_err();
            assert!(is_timeout(&err), "{err}");
            assert_eq!(
                err.to_string(),
                format!("dial unix {}: i/o timeout", path.display())
            );
            assert!(took >= Duration::from_millis(45), "gave up early: {took:?}");
            let (p, d) = (path.clone(), make());
            let err =
                bounded("async unix dial", move || block_on(d.dial_unix_async(&p))).unwrap_err();
            assert!(is_timeout(&err), "{err}");
        }
        let err =
            netpoll_std::UnixStream::connect_timeout(&path, Duration::from_millis(20)).unwrap_err();
        assert!(is_timeout(&err), "{err}");
        // Room in the backlog: a waiting dial connects once the listener accepts.
        let p = path.clone();
        let d = Dialer::new().runtime(rt).timeout(LIMIT);
        let waiting = std::thread::spawn(move || block_on(d.dial_unix_async(&p)));
        util::eventually("the dial waits on its helper thread", || {
            thread_named("netpoll-dial")
        });
        let (first, _) = l.accept().unwrap();
        let c = bounded("dial after accept", move || waiting.join().unwrap()).unwrap();
        let (second, _) = l.accept().unwrap();
        drop((c, first, second));
    }

    /// Whether this process has a thread named `name` (Linux: `/proc/self/task/*/comm`).
    fn thread_named(name: &str) -> bool {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(Result::ok)
            .any(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
            })
    }

    /// A temporary directory for socket paths, removed on drop.
    mod tempdir {
        use std::path::{Path, PathBuf};
        use std::sync::atomic::{AtomicU32, Ordering};

        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new() -> Dir {
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "netpoll-dialer-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}

#[cfg(unix)]
use unix::unix_connect_honours_the_deadline;

per_backend!(
    dial_by_name_and_each_address_in_turn,
    all_addresses_fail_with_the_first_error,
    a_deadline_in_the_past_fails_at_once,
    the_earlier_of_timeout_and_deadline_wins,
    #[cfg(unix)]
    unix_connect_honours_the_deadline,
    udp_send_to_by_name_and_empty_recv,
);
