//! The echo service shared by `netpoll-echo` and `netpoll-demo`: echo every byte back, with an
//! idle deadline reset before every read (Go's `conn.SetReadDeadline(time.Now().Add(idle))`)
//! and, optionally, a write deadline reset before every write.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netpoll_std::{is_timeout, Async, Server, ServerHandle, TcpListener, TcpStream};

/// Blocking (thread per connection), async (worker threads; two ways of reading, both
/// without a buffer per connection) or green (blocking-style handlers on coroutines over the
/// worker threads: waiting with `wait_readable()` without a buffer, or the plain blocking
/// handler with its buffer on the coroutine's stack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Blocking,
    Async,
    /// Async, waiting with `readable()` and reading with `try_read` (see `echo_readable`).
    AsyncReadable,
    /// Green, waiting in `wait_readable()` and reading into the worker's buffer (see
    /// `echo_green`).
    Green,
    /// Green, running the blocking handler as it is (`echo_blocking`).
    GreenBlocking,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "blocking" => Ok(Mode::Blocking),
            "async" => Ok(Mode::Async),
            "async-readable" => Ok(Mode::AsyncReadable),
            "green" => Ok(Mode::Green),
            "green-blocking" => Ok(Mode::GreenBlocking),
            _ => Err(format!(
                "unknown mode {s:?} (blocking|async|async-readable|green|green-blocking)"
            )),
        }
    }
}

/// What the echo handlers count.
#[derive(Default)]
pub struct EchoStats {
    /// Connections closed because their idle deadline passed.
    pub idle_closed: AtomicU64,
    /// Bytes echoed.
    pub bytes: AtomicU64,
}

/// The deadlines reset before every operation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    /// Close a connection silent this long: a read deadline before every read.
    pub idle: Option<Duration>,
    /// A write deadline this far ahead before every write.
    pub write: Option<Duration>,
}

/// Serve echo on `listener`.
pub fn serve(
    listener: TcpListener,
    mode: Mode,
    workers: usize,
    timeouts: Timeouts,
    stats: Arc<EchoStats>,
) -> io::Result<ServerHandle> {
    match mode {
        Mode::Blocking => {
            Server::new().blocking(listener, move |s| echo_blocking(s, timeouts, &stats))
        }
        Mode::Async => Server::new()
            .workers(workers)
            .spawn_async(listener, move |s| echo_async(s, timeouts, stats.clone())),
        Mode::AsyncReadable => Server::new()
            .workers(workers)
            .spawn_async(listener, move |s| echo_readable(s, timeouts, stats.clone())),
        #[cfg(unix)]
        Mode::Green => Server::new()
            .workers(workers)
            .green(listener, move |s| echo_green(s, timeouts, &stats)),
        // The blocking handler as it is: its reads and writes park the coroutine.
        #[cfg(unix)]
        Mode::GreenBlocking => Server::new()
            .workers(workers)
            .green(listener, move |s| echo_blocking(s, timeouts, &stats)),
        #[cfg(not(unix))]
        Mode::Green | Mode::GreenBlocking => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "green mode needs Unix",
        )),
    }
}

fn echo_blocking(mut s: TcpStream, t: Timeouts, stats: &EchoStats) {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(d) = t.idle {
            if s.set_read_deadline_after(d).is_err() {
                return;
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if let Some(d) = t.write {
                    if s.set_write_deadline_after(d).is_err() {
                        return;
                    }
                }
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                if is_timeout(&e) {
                    stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}

/// Blocking style on a coroutine, holding no buffer while idle: park in `wait_readable()`
/// (which honours the read deadline), then read into the worker's buffer and echo without
/// waiting; only a tail the send buffer did not take is written with a blocking
/// `write_all`. A parked coroutine's stack then holds only the frames of the wait, not a
/// 4 KiB buffer: one stack page instead of two. (The worker's buffer is a thread-local:
/// sound here because a coroutine never moves to another thread, and never borrowed across
/// a park because `read_and_echo` does not wait.)
#[cfg(unix)]
fn echo_green(mut s: TcpStream, t: Timeouts, stats: &EchoStats) {
    loop {
        if let Some(d) = t.idle {
            if s.set_read_deadline_after(d).is_err() {
                return;
            }
        }
        if let Err(e) = s.wait_readable() {
            count_idle(&e, stats);
            return;
        }
        match read_and_echo_in_worker_buf(&s, t) {
            Step::Again => {}
            Step::Echoed(n) => {
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Step::Partial(n, rest) => {
                if s.write_all(&rest).is_err() {
                    return;
                }
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Step::Done(e) => {
                if let Some(e) = e {
                    count_idle(&e, stats);
                }
                return;
            }
        }
    }
}

/// The async handlers' read buffer: one per worker thread, lent to a read only while it
/// runs (never across an `await`), so an idle connection's task owns no buffer. Only bytes a
/// full send buffer did not take are copied out, into a buffer of the connection's own until
/// they are written.
const ASYNC_BUF: usize = 4096;

thread_local! {
    static WORKER_BUF: std::cell::RefCell<[u8; ASYNC_BUF]> =
        const { std::cell::RefCell::new([0; ASYNC_BUF]) };
}

/// What one read-and-echo step did.
enum Step {
    /// Nothing to read after all: wait again.
    Again,
    /// Echoed `n` bytes.
    Echoed(usize),
    /// Read `n` bytes; these (the tail the send buffer did not take) are still to be written.
    Partial(usize, Vec<u8>),
    /// End-of-file, a failed write, or a read error (a read timeout counts as idle).
    Done(Option<io::Error>),
}

async fn echo_async(mut s: Async<TcpStream>, t: Timeouts, stats: Arc<EchoStats>) {
    use futures_io::AsyncRead;
    use std::pin::Pin;
    use std::task::Poll;
    loop {
        if let Some(d) = t.idle {
            if s.set_read_deadline_after(d).is_err() {
                return;
            }
        }
        // The worker's buffer is lent to each poll of the read only: a read that has to
        // wait keeps nothing of it (a `poll_read` that returns `Pending` has read nothing),
        // so the waiting task owns no buffer, and the data is echoed before the poll returns.
        let step = std::future::poll_fn(|cx| {
            WORKER_BUF.with(|b| {
                let Ok(mut buf) = b.try_borrow_mut() else {
                    // Not reachable: the borrow never spans an await.
                    return Poll::Ready(Step::Done(None));
                };
                match Pin::new(&mut s).poll_read(cx, &mut buf[..]) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Ok(0)) => Poll::Ready(Step::Done(None)),
                    Poll::Ready(Ok(n)) => Poll::Ready(echo_back(&s, &buf[..n], t)),
                    Poll::Ready(Err(e)) => Poll::Ready(Step::Done(Some(e))),
                }
            })
        })
        .await;
        match step {
            Step::Echoed(n) => {
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            other => {
                if !finish_step(&s, other, &stats).await {
                    return;
                }
            }
        }
    }
}

/// Async too, written with the readiness API: wait in `readable()`, then `try_read` into the
/// worker's buffer and `try_write` back. The same memory as [`echo_async`]; one more
/// direction-lock round per message (the wait's and the read's), which callgrind counts.
async fn echo_readable(s: Async<TcpStream>, t: Timeouts, stats: Arc<EchoStats>) {
    let s = s.into_inner();
    loop {
        if let Some(d) = t.idle {
            if s.set_read_deadline_after(d).is_err() {
                return;
            }
        }
        if let Err(e) = s.readable().await {
            count_idle(&e, &stats);
            return;
        }
        let step = read_and_echo_in_worker_buf(&s, t);
        if !finish_step(&s, step, &stats).await {
            return;
        }
    }
}

/// Count what a step did and write what it left; `false` once the connection is done.
async fn finish_step(s: &TcpStream, step: Step, stats: &EchoStats) -> bool {
    match step {
        Step::Again => true,
        Step::Echoed(n) => {
            stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            true
        }
        Step::Partial(n, rest) => {
            if write_all_async(s, &rest).await.is_err() {
                return false;
            }
            stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            true
        }
        Step::Done(e) => {
            if let Some(e) = e {
                count_idle(&e, stats);
            }
            false
        }
    }
}

fn count_idle(e: &io::Error, stats: &EchoStats) {
    if is_timeout(e) {
        stats.idle_closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// [`read_and_echo`] into the worker's buffer, borrowed for the call only (which does not
/// wait, so the borrow never spans an await or a coroutine's park).
fn read_and_echo_in_worker_buf(s: &TcpStream, t: Timeouts) -> Step {
    WORKER_BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => read_and_echo(s, &mut buf[..], t),
        // Not reachable: see above.
        Err(_) => Step::Done(None),
    })
}

/// Read what is queued into `buf` and write it back as far as the send buffer takes it,
/// without waiting.
fn read_and_echo(s: &TcpStream, buf: &mut [u8], t: Timeouts) -> Step {
    match s.try_read(buf) {
        Ok(0) => Step::Done(None),
        Ok(n) => echo_back(s, &buf[..n], t),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Again,
        Err(e) => Step::Done(Some(e)),
    }
}

/// Write `data` back as far as the send buffer takes it, without waiting.
#[inline]
fn echo_back(s: &TcpStream, data: &[u8], t: Timeouts) -> Step {
    let n = data.len();
    if let Some(d) = t.write {
        if s.set_write_deadline_after(d).is_err() {
            return Step::Done(None);
        }
    }
    match s.try_write(data) {
        Ok(w) if w == n => Step::Echoed(n),
        Ok(w) => Step::Partial(n, data[w..].to_vec()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Partial(n, data.to_vec()),
        // A failed write is not an idle connection.
        Err(_) => Step::Done(None),
    }
}

/// Write all of `rest`, waiting for room in between (bounded by the write deadline).
async fn write_all_async(s: &TcpStream, mut rest: &[u8]) -> io::Result<()> {
    while !rest.is_empty() {
        match s.try_write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(w) => rest = &rest[w..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
