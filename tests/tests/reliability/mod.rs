//! Helpers shared by the reliability tests (`faults.rs`, `close_races.rs`, `soak.rs`): a
//! small random generator, a thread-per-connection echo server, and descriptor accounting.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use netpoll_std::{Closer, Runtime, TcpListener, TcpStream};

/// SplitMix64: a tiny, seedable generator (tests need reproducible randomness, not quality).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }
}

/// A seed from the environment (`NETPOLL_SEED`) or the clock; printed so a failure can be
/// replayed.
pub fn seed(what: &str) -> u64 {
    let s = std::env::var("NETPOLL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("{what}: NETPOLL_SEED={s}");
    s
}

/// The echo server's connections: a closer and the handler thread of each.
type Conns = Arc<Mutex<Vec<(Closer, JoinHandle<()>)>>>;

/// An echo server on its own threads (one per connection) in `rt`: what the fault tests use
/// as "the other connections", which must keep working while faults hit.
pub struct EchoServer {
    addr: SocketAddr,
    closer: Closer,
    acceptor: Option<JoinHandle<()>>,
    conns: Conns,
}

impl EchoServer {
    /// Listen on loopback in `rt`.
    pub fn start(rt: &Runtime) -> EchoServer {
        let l = TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let closer = l.closer();
        let conns: Conns = Arc::default();
        let list = conns.clone();
        let acceptor = thread::spawn(move || {
            // Accept errors other than "closed" (injected EMFILE, ...) are retried.
            loop {
                match l.accept() {
                    Ok((s, _)) => {
                        let c = s.closer();
                        let h = thread::spawn(move || echo_until_eof(&s));
                        list.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((c, h));
                    }
                    Err(e) if netpoll_std::is_closed(&e) => return,
                    Err(_) => continue,
                }
            }
        });
        EchoServer {
            addr,
            closer,
            acceptor: Some(acceptor),
            conns,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, close every connection, and join all threads (bounded).
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let _ = self.closer.close();
        if let Some(a) = self.acceptor.take() {
            join("echo acceptor", a);
        }
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(PoisonError::into_inner));
        for (c, h) in conns {
            let _ = c.close();
            join("echo connection", h);
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.stop_inner();
        }
    }
}

fn echo_until_eof(s: &TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if (&*s).write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Send `msg` over `c` and check that it comes back, within [`LIMIT`] (set as a deadline).
pub fn check_echo(c: &TcpStream, msg: &[u8]) {
    c.set_deadline(Some(Instant::now() + LIMIT))
        .expect("deadline");
    (&*c).write_all(msg).expect("echo write");
    let mut back = vec![0u8; msg.len()];
    (&*c).read_exact(&mut back).expect("echo read");
    assert_eq!(back, msg, "echoed bytes differ");
    c.set_deadline(None).expect("deadline");
}

/// A generous bound for anything that should take milliseconds.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Join `h` within [`LIMIT`], failing the test if it hangs or panicked.
pub fn join<T: Send + 'static>(what: &str, h: JoinHandle<T>) -> T {
    let start = Instant::now();
    while !h.is_finished() {
        assert!(start.elapsed() < LIMIT, "{what}: not done within {LIMIT:?}");
        thread::sleep(Duration::from_millis(1));
    }
    match h.join() {
        Ok(v) => v,
        Err(_) => panic!("{what}: thread panicked"),
    }
}

/// Wait (bounded by [`LIMIT`]) until `cond` holds.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "{what}: not true within {LIMIT:?}");
        thread::yield_now();
        thread::sleep(Duration::from_micros(200));
    }
}

/// A connected pair over loopback in `rt`: (client, server side).
pub fn tcp_pair(rt: &Runtime) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind");
    let c = TcpStream::connect_in(rt, l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

/// Shrink a socket's send and receive buffers, so that a writer blocks after a few KiB.
pub fn small_buffers<'a, S>(s: &'a S)
where
    socket2::SockRef<'a>: From<&'a S>,
{
    let s = socket2::SockRef::from(s);
    s.set_send_buffer_size(4096).expect("SO_SNDBUF");
    s.set_recv_buffer_size(4096).expect("SO_RCVBUF");
}

/// Set `SO_LINGER` to zero seconds: closing the socket then sends a reset, not a FIN.
pub fn linger_zero<'a, S>(s: &'a S)
where
    socket2::SockRef<'a>: From<&'a S>,
{
    socket2::SockRef::from(s)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
}

/// The socket's OS number (descriptor, or `SOCKET` handle on Windows).
pub fn raw_number(s: &TcpStream) -> u64 {
    #[cfg(unix)]
    return std::os::fd::AsRawFd::as_raw_fd(s) as u64;
    #[cfg(windows)]
    return std::os::windows::io::AsRawSocket::as_raw_socket(s);
}

/// Write to `c` until a write would block: fill the send buffer and the peer's receive
/// buffer. Writes through a duplicate of the socket (same socket, same non-blocking mode),
/// so the registration is untouched. Returns the bytes written.
pub fn fill(c: &TcpStream) -> usize {
    let dup = socket2::SockRef::from(c).try_clone().expect("dup");
    // Shared on Unix; set in case a duplicated Windows handle does not share it.
    dup.set_nonblocking(true).expect("non-blocking");
    let mut raw = std::net::TcpStream::from(dup);
    let chunk = [0x5au8; 4096];
    let mut total = 0;
    loop {
        match raw.write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("fill: {e:?}"),
        }
    }
}

/// The resident set size of process `pid` (`self` for this one), in KiB.
pub fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
