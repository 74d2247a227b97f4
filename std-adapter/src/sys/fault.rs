//! Fault injection for tests (feature `fault-injection`, never on by default): a backend
//! wrapper that misbehaves on request, and a hook that makes `accept` fail.
//!
//! Why: the failures a poller must survive (a signal in the wait, a wait that returns with
//! nothing, readiness that turns out to be `EAGAIN`, events for a descriptor that was closed
//! and whose slot was reused, `EMFILE` on accept) are rare or impossible to provoke on demand
//! with a real kernel. The wrapper sits between the core and the real backend, so everything
//! above it (the core, the poller thread, the sockets) runs unchanged.
//!
//! A [`FaultPlan`] is a shared switchboard: a test builds a runtime inside
//! [`FaultPlan::install`], which wraps the backend of every runtime built on that thread
//! meanwhile, then turns faults on and off while the runtime runs:
//!
//! * [`spurious`](FaultPlan::set_spurious): every other wait returns at once with no events,
//!   as a wait cut short by a signal does;
//! * [`storm`](FaultPlan::set_storm): every wait is capped at one millisecond and followed by a
//!   readable + writable event for every registered descriptor, whether it has data or not;
//! * [`stale`](FaultPlan::set_stale): every wait is followed by events (plain and error) for
//!   the tokens of descriptors deregistered earlier, as a late kernel event for a closed and
//!   reused descriptor would look;
//! * [`fail_accepts`](FaultPlan::fail_accepts): the next TCP accepts on the runtime fail with
//!   the given `errno` before reaching the kernel (the connection stays in the backlog, as
//!   with a real `EMFILE`).
//!
//! Real signals (`EINTR`) need no wrapper: [`waiting_threads`](FaultPlan::waiting_threads)
//! names the threads blocked in a wait so that a test can `pthread_kill` them (Unix only:
//! Windows has no signals that interrupt a wait).

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use netpoll_core::{Event, Mode, Poller, Readiness, Token};

use super::{Selector, Source};

/// Old tokens kept for [`FaultPlan::set_stale`].
const STALE_KEPT: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Plan {
    spurious: AtomicBool,
    storm: AtomicBool,
    stale: AtomicBool,
    accept_errors: Mutex<VecDeque<i32>>,
    live: Mutex<HashSet<u64>>,
    dead: Mutex<VecDeque<u64>>,
    #[cfg(unix)]
    waiting: Mutex<Vec<libc::pthread_t>>,
    waits: AtomicU64,
    spurious_returns: AtomicU64,
    storm_events: AtomicU64,
    stale_events: AtomicU64,
    stale_on_reused: AtomicU64,
    accept_failures: AtomicU64,
}

impl Plan {
    /// Note this thread as blocked in a wait (or no longer), for `waiting_threads`.
    #[cfg(unix)]
    fn waiting(&self, now: bool) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let mut waiting = lock(&self.waiting);
        if now {
            waiting.push(me);
        } else {
            waiting.retain(|t| *t != me);
        }
    }

    /// Nothing to note: no signal can interrupt a wait on Windows.
    #[cfg(not(unix))]
    fn waiting(&self, _now: bool) {}
}

/// Counters of what a [`FaultPlan`] injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Injected {
    /// Waits of the wrapped backend (all of them, faulty or not).
    pub waits: u64,
    /// Waits that returned at once with no events.
    pub spurious_returns: u64,
    /// Fake readiness events delivered for live descriptors.
    pub storm_events: u64,
    /// Events delivered with the token of a deregistered descriptor.
    pub stale_events: u64,
    /// Those of them whose slot was open again, under a newer generation, when delivered:
    /// the core must count each as stale. (An event for a slot still closed carries the
    /// slot's current generation, and the core applies it to the closed slot, harmlessly.)
    pub stale_on_reused: u64,
    /// Accepts failed on purpose.
    pub accept_failures: u64,
}

/// A shared set of faults to inject into the runtimes built under [`install`](Self::install).
#[derive(Clone, Default)]
pub struct FaultPlan {
    plan: Arc<Plan>,
}

thread_local! {
    static INSTALLED: RefCell<Option<FaultPlan>> = const { RefCell::new(None) };
}

/// Keeps a [`FaultPlan`] installed on this thread; dropping it uninstalls the plan (runtimes
/// already built keep it).
#[must_use = "the plan is uninstalled when the guard is dropped"]
pub struct Installed {
    previous: Option<FaultPlan>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        INSTALLED.with(|p| *p.borrow_mut() = previous);
    }
}

impl FaultPlan {
    /// A plan with every fault off.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// Wrap the backend of every runtime built on this thread until the guard is dropped.
    pub fn install(&self) -> Installed {
        let previous = INSTALLED.with(|p| p.borrow_mut().replace(self.clone()));
        Installed { previous }
    }

    /// Turn spurious wake-ups on or off.
    pub fn set_spurious(&self, on: bool) {
        self.plan.spurious.store(on, Ordering::Relaxed);
    }

    /// Turn the readiness storm on or off.
    pub fn set_storm(&self, on: bool) {
        self.plan.storm.store(on, Ordering::Relaxed);
    }

    /// Turn the replay of stale tokens on or off.
    pub fn set_stale(&self, on: bool) {
        self.plan.stale.store(on, Ordering::Relaxed);
    }

    /// Make the next `errnos.len()` TCP accepts fail with these errors, in order.
    pub fn fail_accepts(&self, errnos: &[i32]) {
        lock(&self.plan.accept_errors).extend(errnos);
    }

    /// Threads blocked in a wait of the wrapped backend right now.
    #[cfg(unix)]
    pub fn waiting_threads(&self) -> Vec<libc::pthread_t> {
        lock(&self.plan.waiting).clone()
    }

    /// What was injected so far.
    pub fn injected(&self) -> Injected {
        let p = &self.plan;
        Injected {
            waits: p.waits.load(Ordering::Relaxed),
            spurious_returns: p.spurious_returns.load(Ordering::Relaxed),
            storm_events: p.storm_events.load(Ordering::Relaxed),
            stale_events: p.stale_events.load(Ordering::Relaxed),
            stale_on_reused: p.stale_on_reused.load(Ordering::Relaxed),
            accept_failures: p.accept_failures.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultPlan")
            .field("injected", &self.injected())
            .finish_non_exhaustive()
    }
}

/// The wrapper: a real backend and the plan that disturbs it.
pub(crate) struct Faulty {
    inner: Selector,
    plan: Arc<Plan>,
}

/// Wrap `inner` if a plan is installed on this thread.
pub(crate) fn wrap(inner: Selector) -> Selector {
    match INSTALLED.with(|p| p.borrow().clone()) {
        Some(plan) => Selector::Faulty(Box::new(Faulty {
            inner,
            plan: plan.plan,
        })),
        None => inner,
    }
}

/// The accept hook: an injected error for the next accept on a runtime over `selector`.
pub(crate) fn before_accept(selector: &Selector) -> io::Result<()> {
    let Selector::Faulty(f) = selector else {
        return Ok(());
    };
    match lock(&f.plan.accept_errors).pop_front() {
        Some(errno) => {
            f.plan.accept_failures.fetch_add(1, Ordering::Relaxed);
            Err(io::Error::from_raw_os_error(errno))
        }
        None => Ok(()),
    }
}

impl Poller for Faulty {
    type Source = Source;
    type Error = io::Error;

    fn register(&self, source: &Source, token: Token) -> io::Result<()> {
        self.inner.register(source, token)?;
        lock(&self.plan.live).insert(token.0);
        Ok(())
    }

    fn deregister(&self, source: &Source, token: Token) -> io::Result<()> {
        lock(&self.plan.live).remove(&token.0);
        let mut dead = lock(&self.plan.dead);
        if dead.len() == STALE_KEPT {
            dead.pop_front();
        }
        dead.push_back(token.0);
        drop(dead);
        self.inner.deregister(source, token)
    }

    fn arm(&self, source: &Source, token: Token, mode: Mode) -> io::Result<()> {
        self.inner.arm(source, token, mode)
    }

    fn wait(&self, timeout: Option<Duration>, on_event: &mut dyn FnMut(Event)) -> io::Result<()> {
        let p = &self.plan;
        let n = p.waits.fetch_add(1, Ordering::Relaxed);
        if p.spurious.load(Ordering::Relaxed) && n.is_multiple_of(2) {
            p.spurious_returns.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let storm = p.storm.load(Ordering::Relaxed);
        let timeout = if storm {
            Some(timeout.map_or(Duration::from_millis(1), |t| {
                t.min(Duration::from_millis(1))
            }))
        } else {
            timeout
        };
        p.waiting(true);
        let r = self.inner.wait(timeout, on_event);
        p.waiting(false);
        if storm {
            let live: Vec<u64> = lock(&p.live).iter().copied().collect();
            for t in live {
                on_event(Event {
                    token: Token(t),
                    readiness: Readiness::BOTH,
                });
                p.storm_events.fetch_add(1, Ordering::Relaxed);
            }
        }
        if p.stale.load(Ordering::Relaxed) {
            let dead: Vec<u64> = lock(&p.dead).iter().copied().collect();
            let reused: HashSet<u32> = lock(&p.live).iter().map(|&t| Token(t).index()).collect();
            for t in dead {
                if reused.contains(&Token(t).index()) {
                    p.stale_on_reused.fetch_add(2, Ordering::Relaxed);
                }
                let hup = Readiness {
                    read_closed: true,
                    ..Readiness::BOTH
                };
                for readiness in [hup, Readiness::ERROR] {
                    on_event(Event {
                        token: Token(t),
                        readiness,
                    });
                    p.stale_events.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        r
    }

    fn wake(&self) -> io::Result<()> {
        self.inner.wake()
    }
}
