//! Runtime modes: who drives the test's runtime, and the helpers that wait the way the calling
//! thread's mode requires.
//!
//! * [`Mode::Poller`]: a runtime with its own poller thread (`Runtime::builder().build()`);
//!   events and deadlines are applied there, and wake the test's threads and tasks from
//!   across threads.
//! * [`Mode::Inline`]: an inline runtime (`Builder::drive_inline`, what the async server's
//!   workers use): no poller thread. The body runs on a *driver* thread that claims the
//!   runtime's driver role, as a worker does before its first task. Its blocking calls run the
//!   runtime's loop while they wait (the path of a blocking call in an async handler), its
//!   futures are polled by [`block_on`], which runs the loop whenever they are pending (so a
//!   deadline fires, and wakes its task, on the task's own thread), and every other wait it
//!   makes ([`sleep`], [`join`](super::join), [`recv_within`], [`bounded`](super::bounded),
//!   [`eventually`](super::eventually)) runs the loop too. Threads it starts with [`go`]
//!   park, and the driver's loop wakes them from across threads.
//!
//! Whatever the mode, the body waits only through these helpers (never `thread::sleep`,
//! `JoinHandle::join`, a bare channel `recv` or `futures_lite::future::block_on`), because a
//! driver that waits any other way stops the loop that every waiter of its runtime needs.
//!
//! * Coroutines (`green_mode!`, Unix): the body runs in a green coroutine on a one-worker
//!   scheduler (see [`in_green`](super::in_green)). A caller in a coroutine starts
//!   coroutines with [`go`], sleeps and blocks on futures through `netpoll_std::green`, and
//!   polls channels (a blocking receive would stall the worker that runs the sender).

use std::cell::RefCell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread, ThreadId};
use std::time::{Duration, Instant};

use netpoll_std::{BackendKind, Runtime};

/// The longest a whole test body may take (the slowest, the fluctuation tests, bound
/// themselves at 30 s).
pub const TEST_LIMIT: Duration = Duration::from_secs(60);

/// How the test's runtime is driven (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The runtime's own poller thread.
    Poller,
    /// An inline runtime driven by the thread that runs the body.
    Inline,
}

impl Mode {
    /// A fresh runtime on `kind` for this mode, with a small descriptor pool.
    fn runtime(self, kind: BackendKind) -> Runtime {
        let b = Runtime::builder().backend(kind).capacity(256);
        match self {
            Mode::Poller => b.build(),
            Mode::Inline => b.drive_inline().build(),
        }
        .expect("runtime")
    }

    /// Start `body` in this mode on a new thread named `name`.
    fn start(self, name: String, kind: BackendKind, body: fn(&Runtime)) -> Handle<()> {
        let rt = self.runtime(kind);
        go_named(name, move || {
            if self == Mode::Inline {
                drive_from_here(&rt);
            }
            body(&rt)
        })
    }
}

/// Run `body` on a fresh runtime on `kind`, in `mode`; fail the test if it panics (with its
/// message) or takes longer than [`TEST_LIMIT`].
pub fn run(kind: BackendKind, mode: Mode, body: fn(&Runtime)) {
    // The test's name (libtest names its threads so), for the body's panic messages.
    let name = thread::current().name().unwrap_or("test body").to_string();
    let h = mode.start(name, kind, body);
    super::join_within("test body", TEST_LIMIT, h);
}

thread_local! {
    /// The inline runtime this thread drives, if any.
    static DRIVEN: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// Make this thread the driver of the inline runtime `rt`: the runtime's loop runs whenever
/// the thread waits (a worker claims the role so before its first task).
fn drive_from_here(rt: &Runtime) {
    // A zero-length turn of the loop claims the role (see `Runtime::poll`).
    drive(rt, Some(Duration::ZERO));
    DRIVEN.with(|d| *d.borrow_mut() = Some(rt.clone()));
}

/// The inline runtime this thread drives, if any.
pub fn driven() -> Option<Runtime> {
    DRIVEN.with(|d| d.borrow().clone())
}

/// One turn of `rt`'s loop, waiting at most `timeout` (`None`: until something happens).
fn drive(rt: &Runtime, timeout: Option<Duration>) {
    if let Err(e) = rt.poll(timeout) {
        // The driver is the only thread that polls: any error is a failure.
        panic!("driving the inline runtime: {e}");
    }
}

/// Go's `go f()`: a new thread. (Its blocking calls park; on an inline runtime the driver's
/// loop wakes them.)
///
/// Inside a green coroutine: another coroutine on the same worker.
pub fn go<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Handle<T> {
    #[cfg(unix)]
    if netpoll_std::green::in_coroutine() {
        return Handle::Green(netpoll_std::green::spawn(f).expect("green spawn"));
    }
    go_named(String::new(), f)
}

/// Whether the caller runs in a green coroutine.
fn in_coroutine() -> bool {
    #[cfg(unix)]
    return netpoll_std::green::in_coroutine();
    #[cfg(not(unix))]
    false
}

fn go_named<T: Send + 'static>(name: String, f: impl FnOnce() -> T + Send + 'static) -> Handle<T> {
    let b = thread::Builder::new();
    let b = if name.is_empty() { b } else { b.name(name) };
    Handle::Thread(b.spawn(f).expect("spawn a thread"))
}

/// Something started with [`go`].
pub enum Handle<T> {
    /// A thread.
    Thread(JoinHandle<T>),
    /// A green coroutine.
    #[cfg(unix)]
    Green(netpoll_std::green::JoinHandle<T>),
}

impl<T> From<JoinHandle<T>> for Handle<T> {
    fn from(h: JoinHandle<T>) -> Self {
        Handle::Thread(h)
    }
}

impl<T> Handle<T> {
    /// Whether it has finished.
    pub fn is_finished(&self) -> bool {
        match self {
            Handle::Thread(h) => h.is_finished(),
            #[cfg(unix)]
            Handle::Green(h) => h.is_finished(),
        }
    }

    /// Its result, once finished (see [`join`](super::join) for the bounded wait).
    pub fn join(self) -> thread::Result<T> {
        match self {
            Handle::Thread(h) => h.join(),
            #[cfg(unix)]
            Handle::Green(h) => h.join(),
        }
    }
}

/// Sleep for `d`; a driver runs its runtime's loop meanwhile, a coroutine yields its worker.
pub fn sleep(d: Duration) {
    #[cfg(unix)]
    if netpoll_std::green::in_coroutine() {
        netpoll_std::green::sleep(d);
        return;
    }
    let Some(rt) = driven() else {
        thread::sleep(d);
        return;
    };
    let until = Instant::now() + d;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        drive(&rt, Some(left));
    }
}

/// Receive from `rx` within `limit` (`None`: nothing came, or the sender is gone); a driver
/// runs its runtime's loop meanwhile.
pub fn recv_within<T>(rx: &mpsc::Receiver<T>, limit: Duration) -> Option<T> {
    if driven().is_none() && !in_coroutine() {
        return rx.recv_timeout(limit).ok();
    }
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if start.elapsed() >= limit => return None,
            Err(mpsc::TryRecvError::Empty) => sleep(Duration::from_millis(1)),
        }
    }
}

/// Run `f` on a new thread and return its result within `limit`, or its panic; `None` if it
/// is not done by then (the thread is left behind).
pub fn on_thread_within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    let _ = go(move || {
        let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(f)));
    });
    match recv_within(&rx, limit)? {
        Ok(v) => Some(v),
        Err(p) => panic::resume_unwind(p),
    }
}

/// Run a future to completion on this thread. A driver runs its runtime's loop while the
/// future is pending, so what the loop wakes (its deadlines, its readiness) is woken here;
/// any other thread parks until woken.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    #[cfg(unix)]
    if netpoll_std::green::in_coroutine() {
        return netpoll_std::green::block_on(fut);
    }
    match driven() {
        Some(rt) => block_on_driving(&rt, fut),
        None => futures_lite::future::block_on(fut),
    }
}

/// The waker of [`block_on_driving`]: a flag, and from another thread a wake of the loop the
/// driver may be blocked in.
struct Signal {
    woken: AtomicBool,
    driver: ThreadId,
    thread: Thread,
    rt: Runtime,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        if thread::current().id() != self.driver {
            // The driver may be blocked in the loop, or (inside a blocking call's wait) parked.
            let _ = self.rt.wake();
            self.thread.unpark();
        }
    }
}

fn block_on_driving<F: Future>(rt: &Runtime, fut: F) -> F::Output {
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(true),
        driver: thread::current().id(),
        thread: thread::current(),
        rt: rt.clone(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if signal.woken.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        } else {
            // Nothing to run: the loop, until an event, a deadline or a wake from elsewhere.
            drive(rt, None);
        }
    }
}
