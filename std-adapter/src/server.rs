//! [`Server`]: accept on a listener (TCP, or Unix-domain on Unix: any [`Listener`]) and run
//! a handler per connection, on threads, on async workers or (Unix) on green coroutines, with
//! graceful shutdown; [`ServerHandle::join`]
//! lets `main` block until another thread shuts the server down.
//!
//! * **Blocking** ([`Server::blocking`]): one thread per connection
//!   ([`Server::stack_size`], [`DEFAULT_STACK_SIZE`] by default); the handler gets a blocking
//!   [`TcpStream`](crate::TcpStream) (or, on Unix, a `UnixStream`).
//! * **Async** ([`Server::workers`] + [`Server::spawn_async`]): N worker threads, each running
//!   its own queue of tasks and driving its own runtime (no poller thread: a worker with
//!   nothing to run blocks in its own epoll; see `executor.rs`). Connections are dealt to
//!   workers in turn, each registered with its worker's runtime, and the handler is an async
//!   function of the stream's [`Async`] face.
//! * **Green** ([`Server::workers`] + `Server::green`, Unix): the async mode's workers, each
//!   connection's handler a blocking-style function running on its own stackful coroutine
//!   ([`Server::stack_size`], `green::DEFAULT_STACK_SIZE` by default): a blocking call parks
//!   the coroutine, not the worker (see the `green` module, Unix only: no links here, so that
//!   these docs build for Windows too).
//!
//! In every mode an acceptor thread runs the accept loop. An accept error other than "closed"
//! (EMFILE, a full descriptor pool) is counted and retried after a short, growing pause, so
//! the server survives descriptor exhaustion. A handler that panics closes its own connection
//! only; the panic is counted in [`ServerStats::panics`].
//!
//! [`ServerHandle::shutdown`] is graceful: stop accepting (close the listener), let running
//! handlers finish until the grace period ends, then close the remaining connections (their
//! handlers see "use of closed network connection" and return) and wait for them.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::executor::{Pool, PoolCounters};
use crate::net::{Listener, Token};
use crate::{is_closed, Async, Closer, Runtime};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stack size of a blocking handler thread unless [`Server::stack_size`] says otherwise: 2 MiB,
/// std's own default for spawned threads, so a handler that works on a plain thread works
/// here. A stack is reserved address space; only the pages a handler touches take memory, so
/// 1,000 connections cost 2 GiB of address space but about the RSS their handlers use.
pub const DEFAULT_STACK_SIZE: usize = 2 * 1024 * 1024;

/// Configures and starts a server.
#[derive(Clone, Debug)]
pub struct Server {
    /// `None`: the mode's default.
    stack_size: Option<usize>,
    workers: usize,
    worker_capacity: Option<usize>,
    name: String,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            stack_size: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            worker_capacity: None,
            name: "netpoll-server".into(),
        }
    }
}

/// Counters of a running server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections being handled now.
    pub active: usize,
    /// Handlers that panicked (their connection was closed).
    pub panics: u64,
    /// Accept errors survived (EMFILE, pool exhausted, ...).
    pub accept_errors: u64,
}

/// What a graceful shutdown did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections still open when the grace period ended, closed by the server.
    pub closed_forcibly: usize,
    /// Handlers still running after the forced close and a further grace period (they
    /// ignored errors); zero in a well-behaved server.
    pub abandoned: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the last connection ends, the accept loop ends, or a shutdown is done.
    changed: Condvar,
    accepted: AtomicU64,
    panics: AtomicU64,
    accept_errors: AtomicU64,
    stopping: AtomicBool,
}

/// What [`ServerHandle::wait`] waits on, under one lock.
#[derive(Default)]
struct State {
    conns: HashMap<u64, Closer>,
    /// The accept loop has returned (its listener was closed).
    accept_ended: bool,
    /// The server has stopped: set by a shutdown, or by a wait that saw the listener closed
    /// elsewhere and the last handler return.
    report: Option<ShutdownReport>,
}

impl Shared {
    fn active(&self) -> usize {
        lock(&self.state).conns.len()
    }

    /// Wait until no connection is left or `until`; returns how many are left.
    fn wait_idle(&self, until: Instant) -> usize {
        let mut st = lock(&self.state);
        loop {
            let now = Instant::now();
            if st.conns.is_empty() || now >= until {
                return st.conns.len();
            }
            st = self
                .changed
                .wait_timeout(st, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn finish(&self, report: ShutdownReport) {
        lock(&self.state).report = Some(report);
        self.changed.notify_all();
    }
}

/// Removes a connection from the table when its handler ends, even by panicking.
struct ConnGuard {
    shared: Arc<Shared>,
    id: u64,
}

/// A connection's handler future with the guard that unregisters the connection when the task
/// ends (completes, panics or is dropped). A struct, not `async move { let _g = guard;
/// fut.await }`: an async block stores its captured `fut` and the awaited `fut` in separate
/// slots, which doubles the task (an echo handler with a 4 KiB buffer took about 8.4 KiB per
/// connection instead of about 4.2 KiB).
struct Guarded<F> {
    fut: F,
    // Dropped after `fut` (fields drop in declaration order), as the guard must outlive it.
    _guard: ConnGuard,
}

impl<F: Future<Output = ()>> Future for Guarded<F> {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of `Guarded` nor handed out
        // unpinned, and `Guarded` has no `Drop` impl and no `Unpin` impl of its own (it is
        // `Unpin` only when `F` is).
        unsafe { self.map_unchecked_mut(|g| &mut g.fut) }.poll(cx)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.conns.remove(&self.id);
        if st.conns.is_empty() {
            self.shared.changed.notify_all();
        }
    }
}

/// A running server, on a TCP listener (`ServerHandle`, the default `A = SocketAddr`) or a
/// Unix-domain one on Unix (`ServerHandle<std::os::unix::net::SocketAddr>`).
///
/// Stop it with [`shutdown`](Self::shutdown) from any clone (the handle is cheap to clone
/// and can go to a signal-handling thread); [`wait`](Self::wait) or [`join`](Self::join)
/// block until it has stopped, so `main` need not park forever. Dropping the last handle
/// without a shutdown only stops accepting (running handlers go on, and async worker threads
/// stay until they are done and the process exits).
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use netpoll_std::{Server, TcpListener};
///
/// let server = Server::new().blocking(TcpListener::bind("127.0.0.1:0")?, |mut s| {
///     let mut buf = [0; 64];
///     while let Ok(n @ 1..) = s.read(&mut buf) {
///         let _ = s.write_all(&buf[..n]);
///     }
/// })?;
/// let stopper = server.clone();
/// let addr = server.local_addr();
/// std::thread::spawn(move || {
///     let mut c = std::net::TcpStream::connect(addr).unwrap();
///     c.write_all(b"hi").unwrap();
///     c.read_exact(&mut [0; 2]).unwrap();
///     stopper.shutdown(Duration::from_secs(1)); // e.g. on SIGTERM
/// });
/// let report = server.join(); // returns once the other thread has shut it down
/// assert_eq!(report.abandoned, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ServerHandle<A = SocketAddr> {
    inner: Arc<HandleInner<A>>,
}

struct HandleInner<A> {
    shared: Arc<Shared>,
    listener: Closer,
    addr: A,
    acceptor: Mutex<Option<JoinHandle<()>>>,
    pool: Mutex<Option<Arc<Pool>>>,
    /// The async workers' counters, kept past the pool's stop.
    pool_counters: Option<Arc<PoolCounters>>,
    /// The async workers' runtimes (none for a blocking server).
    worker_runtimes: Vec<Runtime>,
    /// A shutdown has started (the first caller runs it; later ones wait for its report).
    shutting_down: AtomicBool,
}

impl<A> Clone for ServerHandle<A> {
    fn clone(&self) -> Self {
        ServerHandle {
            inner: self.inner.clone(),
        }
    }
}

impl Server {
    /// The defaults: [`DEFAULT_STACK_SIZE`] handler stacks, one async worker per CPU.
    pub fn new() -> Server {
        Server::default()
    }

    /// Stack size of a blocking handler thread (default [`DEFAULT_STACK_SIZE`]) or of a green
    /// handler's coroutine (default
    /// `green::DEFAULT_STACK_SIZE`, Unix). A handler that
    /// overflows it aborts the whole process (with a message: the stack ends in a guard
    /// page), so lower it only for handlers whose stack use you know.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Number of async or green worker threads (at least one; default: one per CPU).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Descriptor pool capacity of each async or green worker's runtime (default: the listener's
    /// runtime's capacity). Connections beyond it on a worker are closed at accept and counted
    /// in [`ServerStats::accept_errors`].
    pub fn worker_capacity(mut self, n: usize) -> Self {
        self.worker_capacity = Some(n);
        self
    }

    /// Thread name prefix.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Serve `listener` (a [`TcpListener`](crate::TcpListener) or, on Unix, a
    /// `UnixListener`) with a thread per connection running `handler`.
    pub fn blocking<L, H>(self, listener: L, handler: H) -> io::Result<ServerHandle<L::Addr>>
    where
        L: Listener,
        H: Fn(L::Stream) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        let stack = self.stack_size.unwrap_or(DEFAULT_STACK_SIZE);
        let name = format!("{}-conn", self.name);
        let accept = |l: &L| l.accept_stream(None, Token).map(|s| (s, ()));
        self.start(listener, None, accept, move |shared, guard, stream, ()| {
            let h = handler.clone();
            let sh = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(name.clone())
                .stack_size(stack)
                .spawn(move || {
                    let _guard = guard;
                    if catch_unwind(AssertUnwindSafe(|| h(stream))).is_err() {
                        sh.panics.fetch_add(1, Ordering::Relaxed);
                    }
                });
            if spawned.is_err() {
                // No thread: the connection (moved into the failed closure) is already closed.
                shared.accept_errors.fetch_add(1, Ordering::Relaxed);
            }
        })
    }

    /// Serve `listener` (TCP, or Unix-domain on Unix) on the async workers: each connection becomes a task
    /// running `handler(stream)` on the stream's [`Async`] face.
    pub fn spawn_async<L, H, F>(self, listener: L, handler: H) -> io::Result<ServerHandle<L::Addr>>
    where
        L: Listener,
        H: Fn(Async<L::Stream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let pool = self.pool(&listener)?;
        let p = pool.clone();
        let accept = accept_on(&pool);
        self.start(
            listener,
            Some(pool),
            accept,
            move |shared, guard, stream, i| {
                // Calling the handler runs its synchronous prologue on the acceptor thread: a panic
                // there must not stop the accept loop.
                let stream = L::stream_async(stream, Token);
                match catch_unwind(AssertUnwindSafe(|| handler(stream))) {
                    Ok(fut) => p.spawn_on(i, Guarded { fut, _guard: guard }),
                    Err(_) => {
                        shared.panics.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
        )
    }

    /// Serve `listener` (TCP or Unix) on the workers in green mode: each connection's
    /// `handler(stream)` runs on its own coroutine, where blocking calls on netpoll sockets
    /// park the coroutine instead of the worker thread (see [`green`](crate::green)). A
    /// connection for which no stack can be mapped is closed and counted in
    /// [`ServerStats::accept_errors`].
    #[cfg(unix)]
    pub fn green<L, H>(self, listener: L, handler: H) -> io::Result<ServerHandle<L::Addr>>
    where
        L: Listener,
        H: Fn(L::Stream) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        let stack = self.stack_size.unwrap_or(crate::green::DEFAULT_STACK_SIZE);
        let pool = self.pool(&listener)?;
        let p = pool.clone();
        let accept = accept_on(&pool);
        self.start(
            listener,
            Some(pool),
            accept,
            move |shared, guard, stream, i| {
                let h = handler.clone();
                // A panic in the handler unwinds the coroutine (closing the stream) and is
                // counted by the worker.
                match crate::green::GreenTask::new(stack, move || {
                    let _guard = guard;
                    h(stream);
                }) {
                    Ok(task) => p.spawn_on(i, task),
                    Err(_) => {
                        shared.accept_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
        )
    }

    /// The worker threads of the async and green modes.
    fn pool<L: Listener>(&self, listener: &L) -> io::Result<Arc<Pool>> {
        let rt = listener.listener_runtime(Token);
        let capacity = self.worker_capacity.unwrap_or_else(|| rt.capacity());
        Ok(Arc::new(Pool::new(
            self.workers,
            &format!("{}-worker", self.name),
            rt.backend(),
            capacity,
        )?))
    }

    fn start<L: Listener, W>(
        self,
        listener: L,
        pool: Option<Arc<Pool>>,
        accept: impl Fn(&L) -> io::Result<(L::Stream, W)> + Send + 'static,
        dispatch: impl Fn(&Arc<Shared>, ConnGuard, L::Stream, W) + Send + 'static,
    ) -> io::Result<ServerHandle<L::Addr>> {
        let addr = listener.listen_addr(Token)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            accepted: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        });
        let closer = listener.listener_closer(Token);
        let pool_counters = pool.as_ref().map(|p| p.counters.clone());
        let worker_runtimes = pool.as_ref().map_or_else(Vec::new, |p| p.runtimes());
        let sh = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("{}-accept", self.name))
            .spawn(move || {
                accept_loop(&listener, &sh, accept, dispatch);
                lock(&sh.state).accept_ended = true;
                sh.changed.notify_all();
            })?;
        Ok(ServerHandle {
            inner: Arc::new(HandleInner {
                shared,
                listener: closer,
                addr,
                acceptor: Mutex::new(Some(acceptor)),
                pool: Mutex::new(pool),
                pool_counters,
                worker_runtimes,
                shutting_down: AtomicBool::new(false),
            }),
        })
    }
}

/// The async and green modes' accept: each connection is registered with the runtime of the
/// worker that will run it, dealt in turn.
fn accept_on<L: Listener>(
    pool: &Arc<Pool>,
) -> impl Fn(&L) -> io::Result<(L::Stream, usize)> + Send + 'static {
    let p = pool.clone();
    move |l: &L| {
        let i = p.pick();
        l.accept_stream(Some(p.runtime(i)), Token).map(|s| (s, i))
    }
}

fn accept_loop<L: Listener, W>(
    listener: &L,
    shared: &Arc<Shared>,
    accept: impl Fn(&L) -> io::Result<(L::Stream, W)>,
    dispatch: impl Fn(&Arc<Shared>, ConnGuard, L::Stream, W),
) {
    let mut backoff = Duration::from_millis(1);
    let mut next_id = 0u64;
    while !shared.stopping.load(Ordering::Acquire) {
        match accept(listener) {
            Ok((stream, w)) => {
                backoff = Duration::from_millis(1);
                next_id += 1;
                lock(&shared.state)
                    .conns
                    .insert(next_id, L::stream_closer(&stream, Token));
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let guard = ConnGuard {
                    shared: shared.clone(),
                    id: next_id,
                };
                dispatch(shared, guard, stream, w);
            }
            Err(e) if is_closed(&e) => break,
            Err(_) => {
                // EMFILE, a full pool, a connection reset before accept: pause and go on.
                shared.accept_errors.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(100));
            }
        }
    }
}

impl<A: Clone> ServerHandle<A> {
    /// The address the server listens on.
    pub fn local_addr(&self) -> A {
        self.inner.addr.clone()
    }

    /// The runtimes of the async workers, one per worker (empty for a blocking server, whose
    /// connections are registered with the listener's runtime): their
    /// [`stats`](Runtime::stats) count what the server's connections did.
    pub fn worker_runtimes(&self) -> &[Runtime] {
        &self.inner.worker_runtimes
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        let s = &self.inner.shared;
        let pool_panics = self
            .inner
            .pool_counters
            .as_ref()
            .map_or(0, |c| c.panics.load(Ordering::Relaxed));
        ServerStats {
            accepted: s.accepted.load(Ordering::Relaxed),
            active: s.active(),
            panics: s.panics.load(Ordering::Relaxed) + pool_panics,
            accept_errors: s.accept_errors.load(Ordering::Relaxed),
        }
    }

    /// Graceful shutdown: stop accepting, wait up to `grace` for handlers to finish, close the
    /// connections still open, and wait (up to `grace` again) for their handlers to return.
    /// Any clone may call it, from any thread; a second call waits for the first one's report.
    pub fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let inner = &self.inner;
        if inner.shutting_down.swap(true, Ordering::AcqRel) {
            return self.wait();
        }
        inner.shared.stopping.store(true, Ordering::Release);
        // The acceptor is parked in accept: closing the listener wakes it.
        let _ = inner.listener.close();
        inner.join_acceptor();
        // Stopped already (the listener was closed elsewhere, the last handler returned, and
        // a wait saw it): nothing is left to close.
        if let Some(r) = lock(&inner.shared.state).report {
            inner.stop_pool(&r);
            return r;
        }
        let mut report = ShutdownReport::default();
        let left = inner.shared.wait_idle(Instant::now() + grace);
        if left > 0 {
            let closers: Vec<Closer> = lock(&inner.shared.state).conns.values().cloned().collect();
            report.closed_forcibly = closers.len();
            for c in closers {
                let _ = c.close();
            }
            report.abandoned = inner
                .shared
                .wait_idle(Instant::now() + grace.max(Duration::from_secs(1)));
        }
        inner.stop_pool(&report);
        inner.shared.finish(report);
        report
    }

    /// Block until the server has stopped: a [`shutdown`](Self::shutdown) from another
    /// thread has finished (its report is returned), or its listener was closed elsewhere
    /// (through a [`Closer`]) and the last handler has returned (an empty report).
    pub fn wait(&self) -> ShutdownReport {
        let shared = &self.inner.shared;
        let mut st = lock(&shared.state);
        loop {
            if let Some(r) = st.report {
                return r;
            }
            let stopping = shared.stopping.load(Ordering::Acquire);
            if st.accept_ended && !stopping && st.conns.is_empty() {
                let r = ShutdownReport::default();
                st.report = Some(r);
                shared.changed.notify_all();
                return r;
            }
            st = shared
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// [`wait`](Self::wait), then release this handle and, once the server has stopped,
    /// its threads (the acceptor, and the async workers if no handler was abandoned).
    pub fn join(self) -> ShutdownReport {
        let r = self.wait();
        self.inner.join_acceptor();
        self.inner.stop_pool(&r);
        r
    }
}

impl<A> HandleInner<A> {
    fn join_acceptor(&self) {
        let acceptor = lock(&self.acceptor).take();
        if let Some(a) = acceptor {
            let _ = a.join();
        }
    }

    /// Stop the async workers unless a handler is still running on them.
    fn stop_pool(&self, report: &ShutdownReport) {
        if report.abandoned > 0 {
            return;
        }
        let pool = lock(&self.pool).take();
        if let Some(pool) = pool {
            if let Ok(pool) = Arc::try_unwrap(pool) {
                pool.stop();
            }
        }
    }
}

impl<A> Drop for HandleInner<A> {
    fn drop(&mut self) {
        if !self.shutting_down.load(Ordering::Acquire) {
            // Dropped without shutdown: stop accepting; running handlers go on by themselves.
            self.shared.stopping.store(true, Ordering::Release);
            let _ = self.listener.close();
        }
    }
}

impl<A: Clone + std::fmt::Debug> std::fmt::Debug for ServerHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.inner.addr)
            .field("stats", &self.stats())
            .finish()
    }
}
