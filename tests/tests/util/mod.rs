//! Shared helpers for the conformance tests: runtimes per backend and runtime mode, bounded
//! waits, Go-style deadline arithmetic, a local server, and the checks Go's
//! `isDeadlineExceeded` makes.
//!
//! Every wait in the suite is bounded: a hang becomes a failed test, never a stuck run.
// Each test binary uses part of this module.
#![allow(dead_code, unused_macros, unused_imports)]

mod mode;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use netpoll_std::{is_closed, is_timeout, Closer, Runtime, TcpListener, TcpStream};

pub use mode::{
    block_on, driven, go, on_thread_within, recv_within, run, sleep, Handle, Mode, TEST_LIMIT,
};

/// A generous outer bound for anything that should take milliseconds.
pub const LIMIT: Duration = Duration::from_secs(10);

/// How long a "must not return" test watches an operation that has no deadline (Go: 100ms).
pub const MUST_NOT_RETURN: Duration = Duration::from_millis(100);

/// Generate one `#[test]` per listed body (`fn(&Runtime)`), per backend the OS has and per
/// runtime mode ([`Mode`]), each on a fresh runtime, bounded by [`TEST_LIMIT`]:
/// * the runtime's poller thread: `mod epoll` (Linux), `mod polling`, `mod polling_oneshot`;
/// * inline runtimes driven by the body's thread: `mod inline_epoll`, `mod inline_polling`,
///   `mod inline_polling_oneshot`.
///
/// A body may carry attributes (`#[cfg(unix)]`, `#[cfg_attr(wine, ignore = "why")]`), which
/// each of its tests gets, and after its name `{ inline: #[attr] ... }`, which only its
/// inline tests get.
macro_rules! per_runtime {
    ($($(#[$meta:meta])* $test:ident $({ inline: $(#[$imeta:meta])* })?),* $(,)?) => {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        per_runtime!(@module epoll, Epoll, Poller, [$([$(#[$meta])*] $test),*]);
        per_runtime!(@module polling, Polling, Poller, [$([$(#[$meta])*] $test),*]);
        per_runtime!(@module polling_oneshot, PollingOneshot, Poller, [$([$(#[$meta])*] $test),*]);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        per_runtime!(
            @module inline_epoll, Epoll, Inline,
            [$([$(#[$meta])* $($(#[$imeta])*)?] $test),*]
        );
        per_runtime!(
            @module inline_polling, Polling, Inline,
            [$([$(#[$meta])* $($(#[$imeta])*)?] $test),*]
        );
        per_runtime!(
            @module inline_polling_oneshot, PollingOneshot, Inline,
            [$([$(#[$meta])* $($(#[$imeta])*)?] $test),*]
        );
    };
    (@module $name:ident, $kind:ident, $mode:ident, [$([$(#[$meta:meta])*] $test:ident),*]) => {
        mod $name {
            $( $(#[$meta])* #[test] fn $test() {
                crate::util::run(
                    netpoll_std::BackendKind::$kind,
                    crate::util::Mode::$mode,
                    super::$test,
                )
            } )*
        }
    };
}

/// Generate one `#[test]` per listed body (`fn(&Runtime)`) and backend in `mod green`
/// (`green::epoll`, `green::polling`, `green::polling_oneshot`; Unix), running the body inside
/// a green coroutine on a one-worker [`Scheduler`](netpoll_std::green::Scheduler) over that
/// backend, with the worker's runtime: every blocking call the body makes, and those of the
/// coroutines it starts with [`go`], parks a coroutine instead of a thread.
macro_rules! green_mode {
    ($($test:ident),* $(,)?) => {
        #[cfg(unix)]
        mod green {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            green_mode!(@module epoll, Epoll, $($test),*);
            green_mode!(@module polling, Polling, $($test),*);
            green_mode!(@module polling_oneshot, PollingOneshot, $($test),*);
        }
    };
    (@module $name:ident, $kind:ident, $($test:ident),*) => {
        mod $name {
            $( #[test] fn $test() {
                crate::util::in_green(netpoll_std::BackendKind::$kind, super::super::$test)
            } )*
        }
    };
}

/// Run `body` inside a coroutine on a one-worker scheduler over `kind`, with the worker's
/// runtime; fail the test on a panic or if it takes longer than [`TEST_LIMIT`].
#[cfg(unix)]
pub fn in_green(kind: netpoll_std::BackendKind, body: fn(&Runtime)) {
    let sched = netpoll_std::green::Scheduler::builder()
        .workers(1)
        .backend(kind)
        .capacity(256)
        .build()
        .expect("scheduler");
    let h = sched
        .spawn(move || {
            let rt = netpoll_std::green::current_runtime().expect("in a coroutine");
            body(&rt);
        })
        .expect("spawn");
    let start = Instant::now();
    while !h.is_finished() {
        assert!(
            start.elapsed() < TEST_LIMIT,
            "green: not done within {TEST_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Err(p) = h.join() {
        std::panic::resume_unwind(p);
    }
}

/// Run `f` and return its result; fail the test if it takes longer than `limit`.
///
/// Elsewhere `f` runs on a thread of its own, left behind if it hangs. On the driver of an
/// inline runtime it runs right here, so that its calls drive the runtime as the body's own
/// calls do (a hang is then caught by the test's [`TEST_LIMIT`]).
pub fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    if driven().is_some() {
        let start = Instant::now();
        let v = f();
        let took = start.elapsed();
        assert!(took <= limit, "{what}: took {took:?}, over {limit:?}");
        return v;
    }
    match on_thread_within(limit, f) {
        Some(v) => v,
        None => panic!("{what}: not done within {limit:?}"),
    }
}

/// Join `h`, failing the test if it is not done within [`LIMIT`]; its panic goes on here.
pub fn join<T: Send + 'static>(what: &str, h: impl Into<Handle<T>>) -> T {
    join_within(what, LIMIT, h)
}

/// Join `h`, failing the test if it is not done within `limit`; its panic goes on here.
pub fn join_within<T: Send + 'static>(what: &str, limit: Duration, h: impl Into<Handle<T>>) -> T {
    let h = h.into();
    let start = Instant::now();
    while !h.is_finished() {
        assert!(start.elapsed() < limit, "{what}: not done within {limit:?}");
        sleep(Duration::from_millis(1));
    }
    match h.join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Wait (bounded by [`LIMIT`]) until `cond` holds, checking every millisecond.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "{what}: not true within {LIMIT:?}");
        sleep(Duration::from_millis(1));
    }
}

/// Go's `time.Now().Add(-d)`: `d` ago (or now, if the monotonic clock cannot go back that far).
pub fn ago(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_sub(d).unwrap_or(now)
}

/// `d` from now.
pub fn after(d: Duration) -> Instant {
    Instant::now() + d
}

/// The earliest instant we can make: what Go's `time.Now().Add(-1 << 63)` gives (a deadline
/// so far in the past that naive nanosecond arithmetic would overflow).
pub fn far_past() -> Instant {
    let now = Instant::now();
    [u64::MAX / 4, 1 << 62, 1 << 40, 1 << 30, 1 << 20]
        .into_iter()
        .find_map(|s| now.checked_sub(Duration::from_secs(s)))
        .unwrap_or(now)
}

/// The latest instant we can make, beyond what `u64` nanoseconds count (585 years): Go's
/// `1<<63 - 1` timeouts, which overflow an `int64` of Unix nanoseconds.
pub fn far_future() -> Instant {
    let now = Instant::now();
    [u64::MAX / 4, 1 << 62, 1 << 40, 1 << 36]
        .into_iter()
        .find_map(|s| now.checked_add(Duration::from_secs(s)))
        .unwrap_or(now + Duration::from_secs(1 << 35))
}

/// Go's `isDeadlineExceeded`, as an assertion: the error is this crate's timeout, with the
/// kind and message Go users expect.
#[track_caller]
pub fn assert_timeout(e: &io::Error, what: &str) {
    assert!(is_timeout(e), "{what}: want i/o timeout, got {e:?}");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{what}");
    // Go's message ends so; before it, what failed ("read tcp a->b: i/o timeout").
    assert!(e.to_string().ends_with("i/o timeout"), "{what}: {e}");
}

/// An operation's result must be the deadline error.
#[track_caller]
pub fn expect_timeout<T: std::fmt::Debug>(r: io::Result<T>, what: &str) {
    match r {
        Ok(v) => panic!("{what}: want i/o timeout, got Ok({v:?})"),
        Err(e) => assert_timeout(&e, what),
    }
}

/// What an operation waiting on a socket closed under it must return: Go's `net.ErrClosed`
/// ("use of closed network connection"), never a timeout. (An operation that is inside its
/// syscall when the close's `shutdown` lands may see EOF or `EPIPE` instead; the tests close
/// only after the operation is parked, so they require the closed error.)
#[track_caller]
pub fn assert_closed_not_timeout(e: &io::Error, what: &str) {
    assert!(
        !is_timeout(e),
        "{what}: a close must not look like a timeout: {e:?}"
    );
    assert!(
        is_closed(e),
        "{what}: want use of closed network connection, got {e:?}"
    );
}

/// A connected pair over loopback: (client, server side), both in `rt`.
pub fn tcp_pair(rt: &Runtime) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind");
    let c = TcpStream::connect_in(rt, l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

/// Go's `newLocalListener(t, "tcp")`.
pub fn local_listener(rt: &Runtime) -> TcpListener {
    TcpListener::bind_in(rt, "127.0.0.1:0").expect("bind")
}

/// A client connection to `addr` in `rt`, whose peer is left in the listener's backlog
/// (Go's tests often dial a listener that never accepts).
pub fn dial(rt: &Runtime, addr: SocketAddr) -> TcpStream {
    TcpStream::connect_in(rt, addr).expect("connect")
}

/// Wait until `s` has data queued to read, without consuming it: peeks through a duplicate
/// of the socket (which shares it, so the registration is untouched).
pub fn wait_for_data<'a, S>(s: &'a S)
where
    socket2::SockRef<'a>: From<&'a S>,
{
    let dup = socket2::SockRef::from(s).try_clone().expect("dup");
    // The duplicate shares the original's non-blocking mode on Unix; Windows does not say
    // whether a duplicated handle does, so it is set (a no-op where it is shared).
    dup.set_nonblocking(true).expect("non-blocking");
    let probe = std::net::UdpSocket::from(dup);
    // `peek` is `recv(MSG_PEEK)`, valid on any socket type, and never blocks here.
    // Dropping `probe` closes only the duplicate; the original stays open and registered.
    // Room for any datagram: Windows fails a peek that would truncate one (`WSAEMSGSIZE`)
    // where Unix returns the part that fits.
    let mut buf = vec![0u8; 64 * 1024];
    eventually(
        "data queued",
        || matches!(probe.peek(&mut buf), Ok(n) if n > 0),
    );
}

/// Go's `TestReadTimeout` as Go runs it, on a stream `s` with `msg` queued to read: `set`
/// sets its read deadline, `read` reads.
///
/// A deadline in the past fails two reads although data is ready. Then, with a deadline
/// 50 ms away, one-byte reads with a third of that between them (Go's `time.Sleep(timeout /
/// 3)`): the deadline passes while most of the message is still queued, and the read after
/// it fails although data is ready, and so does the next. Beyond Go: the first failure is the
/// timeout too and comes no earlier than the deadline, the bytes read are the message's
/// first, and the failed reads consumed nothing: the rest is still there to be read.
pub fn read_timeout_with_data_queued<S>(
    s: &mut S,
    msg: &[u8],
    set: fn(&S, Option<Instant>) -> io::Result<()>,
    read: fn(&mut S, &mut [u8]) -> io::Result<usize>,
) {
    let mut b = [0u8; 1];
    set(s, Some(ago(Duration::from_secs(5)))).expect("set_read_deadline");
    for j in 0..2 {
        expect_timeout(read(s, &mut b), &format!("past deadline, read #{j}"));
    }

    let timeout = Duration::from_millis(50);
    let deadline = after(timeout);
    set(s, Some(deadline)).expect("set_read_deadline");
    let mut got = Vec::new();
    let err = loop {
        match read(s, &mut b) {
            Ok(1) => {
                got.push(b[0]);
                sleep(timeout / 3);
            }
            Ok(n) => panic!("read {n} bytes into one"),
            Err(e) => break e,
        }
    };
    assert_timeout(&err, "read as the deadline passes");
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    expect_timeout(read(s, &mut b), "read after the timeout");
    eprintln!(
        "{} of {} bytes read before the deadline passed",
        got.len(),
        msg.len()
    );
    assert!(
        msg.starts_with(&got),
        "read {got:?}, not the start of {msg:?}"
    );
    // A byte per 16.7 ms cannot take the whole message in 50 ms, unless the deadline's timer
    // fired over 250 ms late.
    assert!(
        got.len() < msg.len(),
        "the whole message was read before the deadline fired"
    );

    set(s, Some(after(LIMIT))).expect("set_read_deadline");
    let mut rest = got;
    while rest.len() < msg.len() {
        let n = read(s, &mut b).expect("the rest of the message");
        rest.extend_from_slice(&b[..n]);
        assert!(n > 0, "end of file before the rest of the message");
    }
    assert_eq!(rest, msg);
}

/// Go's `localServer`: a listener whose `handler` runs on its own thread until
/// [`shutdown`](Self::shutdown) closes the listener.
pub struct LocalServer {
    addr: SocketAddr,
    closer: Closer,
    thread: Option<Handle<()>>,
}

impl LocalServer {
    /// Bind a loopback listener in `rt` and run `handler` with it on a new thread ([`go`]).
    pub fn start(rt: &Runtime, handler: impl FnOnce(Arc<TcpListener>) + Send + 'static) -> Self {
        let l = Arc::new(local_listener(rt));
        let addr = l.local_addr().expect("addr");
        let closer = l.closer();
        let thread = Some(go(move || handler(l)));
        LocalServer {
            addr,
            closer,
            thread,
        }
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Close the listener (a handler blocked in accept wakes with "closed") and wait,
    /// bounded, for the handler to return.
    pub fn shutdown(mut self) {
        let _ = self.closer.close();
        if let Some(t) = self.thread.take() {
            join("server handler", t);
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // On a failing test: do not leave a handler parked in accept.
        let _ = self.closer.close();
    }
}

/// Run every future to completion on the current thread (a tiny `join_all`), returning their
/// outputs in order.
pub async fn join_all<T>(futs: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut futs: Vec<Option<Pin<Box<dyn Future<Output = T> + Send + '_>>>> =
        futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, res) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *res = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Whether a blocking caller or an async task is the one waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiter {
    /// A thread parked in a blocking call.
    Thread,
    /// A task whose future returned `Pending`.
    Task,
}

impl Waiter {
    /// Whether exactly `n` such waiters are waiting in `rt` now.
    pub fn waiting(self, rt: &Runtime, n: usize) -> bool {
        let s = rt.stats();
        match self {
            Waiter::Thread => s.parked_now == n,
            Waiter::Task => s.async_pending_now == n,
        }
    }
}

/// Go's "must not return" pattern: run `op` on a thread; once it waits in `rt` (as `waiter`),
/// check that it does not return for [`MUST_NOT_RETURN`]; then `close` the socket and return
/// the error `op` ends with (bounded by [`LIMIT`]).
pub fn blocked_until_closed<T: std::fmt::Debug + Send + 'static>(
    what: &str,
    rt: &Runtime,
    waiter: Waiter,
    op: impl FnOnce() -> io::Result<T> + Send + 'static,
    close: impl FnOnce(),
) -> io::Error {
    let (tx, rx) = mpsc::channel();
    let _ = go(move || {
        let _ = tx.send(op());
    });
    let start = Instant::now();
    while !waiter.waiting(rt, 1) {
        if let Ok(r) = rx.try_recv() {
            panic!("{what}: expected not to return, but it returned with {r:?}");
        }
        assert!(start.elapsed() < LIMIT, "{what}: never started waiting");
        sleep(Duration::from_millis(1));
    }
    if let Some(r) = recv_within(&rx, MUST_NOT_RETURN) {
        panic!("{what}: expected not to return, but it returned with {r:?}");
    }
    close();
    match recv_within(&rx, LIMIT) {
        Some(Err(e)) => e,
        Some(Ok(v)) => panic!("{what}: succeeded after close: {v:?}"),
        None => panic!("{what}: close did not wake it within {LIMIT:?}"),
    }
}
