//! The runtime: one [`Netpoll`] over the chosen backend, its descriptor pool and the poller
//! thread that drives it (or, inline, no thread: its owner drives it).
//!
//! ## Who does what
//! * **The poller thread** (one per runtime, named `netpoll`) runs `Netpoll::poll(None)` in a
//!   loop: it blocks in epoll until an event, the next deadline, or a wake; applies the events
//!   and fires expired deadlines, which wakes the parked waiters' [`Waker`](std::task::Waker)s.
//! * **Blocking callers** park their own thread (`std::thread::park`) behind a waker that
//!   unparks it; **async tasks** hand in their executor's waker. The core does not know the
//!   difference, so one poller serves both.
//! * Why a dedicated thread: blocking callers have no "idle worker" to lend, and a single
//!   poller keeps the loop lock uncontended.
//! * **Inline runtimes** ([`Builder::drive_inline`]) have no poller thread: their owner runs
//!   the loop with [`Runtime::poll`] when it has nothing else to do. The async server's
//!   workers each own one, so an echoed message involves no other thread (see `executor.rs`).
//!   The core allows one poller at a time.
//!
//! The pool capacity is chosen at start-up ([`Builder::capacity`]) and never grows: the core
//! allocates nothing after that.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use netpoll_core::{Netpoll, PollDesc, PollError};

use crate::clock::StdClock;
use crate::sys::{BackendKind, Selector};
use crate::trace;

/// The core type this crate drives.
pub(crate) type Np = Netpoll<Selector, StdClock, Box<[PollDesc]>>;

/// Default pool capacity of [`Runtime::global`] (override with `NETPOLL_CAPACITY`) and of a
/// [`Builder`].
pub const DEFAULT_CAPACITY: usize = 16 * 1024;

pub(crate) struct Shared {
    pub(crate) np: Np,
    /// The backend's `arm` does nothing (epoll): the hot path skips the call.
    pub(crate) arm_is_noop: bool,
    /// No poller thread: whoever drives the runtime runs its loop ([`Runtime::poll`]).
    inline: bool,
    /// The thread that last ran [`Runtime::poll`] (see [`thread_token`]); 0 if none has.
    driver: AtomicUsize,
    kind: BackendKind,
    pub(crate) counters: Counters,
    users: AtomicUsize,
    stop: AtomicBool,
}

/// Front-end counters (the core keeps its own).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) parked_now: AtomicUsize,
    pub(crate) parks: AtomicU64,
    pub(crate) async_pending_now: AtomicUsize,
    pub(crate) async_parks: AtomicU64,
    pub(crate) timeouts_seen: AtomicU64,
}

/// A snapshot of a runtime's counters ([`Runtime::stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// The backend in use.
    pub backend: BackendKind,
    /// Descriptors open now.
    pub open: u32,
    /// Descriptor pool capacity.
    pub capacity: u32,
    /// Readiness events delivered by the backend and applied.
    pub events: u64,
    /// Events dropped because their descriptor had been closed or reused.
    pub stale_events: u64,
    /// Deadlines that expired in the poll loop.
    pub timeouts: u64,
    /// Waiters (threads or tasks) woken by the poll loop.
    pub wakeups: u64,
    /// Rounds of the poll loop.
    pub polls: u64,
    /// Blocking callers parked in a wait right now.
    pub parked_now: usize,
    /// Times a blocking caller parked its thread.
    pub parks: u64,
    /// Async waits pending right now. A wait abandoned by dropping its future stays counted
    /// until the socket's next operation in that direction, or its close.
    pub async_pending_now: usize,
    /// Times an async wait returned `Pending`.
    pub async_parks: u64,
    /// Operations that failed with "i/o timeout".
    pub timeouts_seen: u64,
}

/// A handle to a runtime: cheap to clone; the poller thread stops when the last handle (and
/// the last socket, which holds one) is dropped.
pub struct Runtime {
    shared: Arc<Shared>,
}

/// Configures a [`Runtime`].
#[derive(Clone, Debug)]
pub struct Builder {
    capacity: usize,
    backend: BackendKind,
    thread_name: String,
    inline: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            capacity: DEFAULT_CAPACITY,
            backend: BackendKind::from_env(),
            thread_name: "netpoll".into(),
            inline: false,
        }
    }
}

impl Builder {
    /// How many sockets may be open at once (the descriptor pool, allocated once; at most
    /// 2^32 - 2). `build` fails, rather than aborting, if the pool cannot be allocated.
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Which backend to use (default: [`BackendKind::from_env`]).
    pub fn backend(mut self, kind: BackendKind) -> Self {
        self.backend = kind;
        self
    }

    /// The poller thread's name.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Start no poller thread: the owner drives the runtime itself by calling
    /// [`Runtime::poll`] (an executor thread polls when it has nothing else to run, as
    /// tokio's current-thread scheduler does). Until someone polls, no waiter on this
    /// runtime's sockets is ever woken, blocking callers included.
    pub fn drive_inline(mut self) -> Self {
        self.inline = true;
        self
    }

    /// Create the backend and the pool, and start the poller thread (unless
    /// [`drive_inline`](Self::drive_inline)).
    pub fn build(self) -> io::Result<Runtime> {
        if self.capacity >= u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "capacity over 2^32 - 2",
            ));
        }
        let mut slots = Vec::new();
        slots.try_reserve_exact(self.capacity).map_err(|_| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "cannot allocate the descriptor pool",
            )
        })?;
        slots.extend((0..self.capacity).map(|_| PollDesc::new()));
        let slots = slots.into_boxed_slice();
        let selector = Selector::new(self.backend, self.capacity)?;
        let np = Netpoll::new(selector, StdClock::new(), slots)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let arm_is_noop = np.poller().arm_is_noop();
        let shared = Arc::new(Shared {
            np,
            arm_is_noop,
            inline: self.inline,
            driver: AtomicUsize::new(0),
            kind: self.backend,
            counters: Counters::default(),
            users: AtomicUsize::new(1),
            stop: AtomicBool::new(false),
        });
        if !self.inline {
            let for_thread = shared.clone();
            std::thread::Builder::new()
                .name(self.thread_name)
                .stack_size(256 * 1024)
                .spawn(move || poller_thread(&for_thread))?;
        }
        trace::init(self.backend.name(), self.capacity);
        Ok(Runtime { shared })
    }
}

fn poller_thread(shared: &Shared) {
    let mut backoff = Duration::from_millis(1);
    while !shared.stop.load(Ordering::Acquire) {
        match shared.np.poll(None) {
            Ok(_) => backoff = Duration::from_millis(1),
            Err(netpoll_core::Error::Poll(PollError::DoubleWait)) => {
                // Someone else runs the loop (a user calling `Netpoll::poll` on this runtime
                // is not possible from outside; keep out of its way).
                std::thread::yield_now();
            }
            Err(e) => {
                if trace::enabled() {
                    eprintln!("netpoll: poll error: {e:?}");
                }
                // A failing backend (ENOMEM, ...): retry with a growing pause, not a spin.
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(100));
            }
        }
    }
}

impl Runtime {
    /// A [`Builder`] with the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The process-wide runtime, created on first use with [`Builder`]'s defaults (capacity
    /// from `NETPOLL_CAPACITY` if set). Socket constructors without a runtime argument use it.
    pub fn global() -> io::Result<&'static Runtime> {
        static GLOBAL: OnceLock<Runtime> = OnceLock::new();
        if let Some(rt) = GLOBAL.get() {
            return Ok(rt);
        }
        let capacity = std::env::var("NETPOLL_CAPACITY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CAPACITY);
        let rt = Builder::default().capacity(capacity).build()?;
        // If another thread won the race, its runtime is kept and ours stops on drop.
        let _ = GLOBAL.set(rt);
        GLOBAL
            .get()
            .ok_or_else(|| io::Error::other("global runtime unavailable"))
    }

    /// Run the poll loop once on this thread: fire expired deadlines, wait for readiness
    /// events no longer than `timeout` (`None`: until an event, a deadline or a wake; zero:
    /// do not block), and wake the waiters they concern. Returns how many were woken.
    ///
    /// For runtimes built with [`Builder::drive_inline`]; on one with a poller thread this
    /// competes with that thread and may fail with "double wait" (one poller at a time).
    /// The calling thread becomes the runtime's driver: a blocking call it makes later on
    /// one of the runtime's sockets runs the loop while it waits, instead of parking the
    /// thread that would have to wake it.
    pub fn poll(&self, timeout: Option<Duration>) -> io::Result<usize> {
        self.shared.drive_from_here();
        self.shared.np.poll(timeout).map_err(|e| match e {
            netpoll_core::Error::Poll(p) => crate::error::from_poll(p),
            netpoll_core::Error::Backend(b) => b,
        })
    }

    /// Make a [`poll`](Self::poll) blocked on another thread (or the next one) return
    /// promptly. Wakes that arrive while one is pending cost nothing.
    pub fn wake(&self) -> io::Result<()> {
        self.shared.np.wake()
    }

    /// The backend in use.
    pub fn backend(&self) -> BackendKind {
        self.shared.kind
    }

    /// The descriptor pool capacity.
    pub fn capacity(&self) -> usize {
        self.shared.np.capacity()
    }

    /// The runtime's clock (deadlines are converted with it).
    pub fn clock(&self) -> &StdClock {
        self.shared.np.clock()
    }

    /// Counters, readable at any time.
    pub fn stats(&self) -> RuntimeStats {
        let s = self.shared.np.stats();
        let c = &self.shared.counters;
        RuntimeStats {
            backend: self.shared.kind,
            open: s.open,
            capacity: s.capacity,
            events: s.events,
            stale_events: s.stale_events,
            timeouts: s.timeouts,
            wakeups: s.wakeups,
            polls: s.polls,
            parked_now: c.parked_now.load(Ordering::Relaxed),
            parks: c.parks.load(Ordering::Relaxed),
            async_pending_now: c.async_pending_now.load(Ordering::Relaxed),
            async_parks: c.async_parks.load(Ordering::Relaxed),
            timeouts_seen: c.timeouts_seen.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Shared {
    /// Make the calling thread this runtime's driver (see [`Runtime::poll`]). A thread that
    /// drives an inline runtime says so before it runs anything that may block on one of its
    /// sockets (the async server's workers do, before their first task).
    pub(crate) fn drive_from_here(&self) {
        let me = thread_token();
        if self.driver.load(Ordering::Relaxed) != me {
            self.driver.store(me, Ordering::Relaxed);
        }
    }

    /// Whether a caller blocking on this runtime should run its loop rather than park: the
    /// runtime is inline and this thread is its driver.
    #[inline]
    pub(crate) fn may_drive_here(&self) -> bool {
        self.inline && self.driver.load(Ordering::Relaxed) == thread_token()
    }
}

/// A number that identifies the calling thread while it lives (the address of a thread-local;
/// never 0).
#[inline]
fn thread_token() -> usize {
    thread_local! {
        static TOKEN: u8 = const { 0 };
    }
    TOKEN.with(|t| t as *const u8 as usize)
}

impl Clone for Runtime {
    fn clone(&self) -> Self {
        self.shared.users.fetch_add(1, Ordering::Relaxed);
        Runtime {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.shared.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.stop.store(true, Ordering::Release);
            // If the wake fails the thread stays parked in the backend: a leak, not a hang.
            let _ = self.shared.np.wake();
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish()
    }
}
