//! Time on the simulated board: real ([`HostClock`] + [`SimIdle`]) or virtual
//! ([`VirtualTime`] + [`VirtualIdle`]).

use core::time::Duration;
use std::boxed::Box;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use netpoll_core::testing::ManualClock;
use netpoll_core::{Clock, Instant};

use crate::Idle;

/// The host's monotonic clock, starting at zero when created.
#[derive(Debug)]
pub struct HostClock {
    start: std::time::Instant,
}

impl HostClock {
    /// A clock reading zero now.
    pub fn new() -> Self {
        HostClock {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for HostClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for HostClock {
    fn now(&self) -> Instant {
        let n = self.start.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

/// The threaded board's idle hook: a condition variable stands in for WFI.
///
/// `pending` is evaluated under the mutex and [`interrupt`](Idle::interrupt) notifies under
/// it, so a mark made after the check always ends the sleep.
#[derive(Debug, Default)]
pub struct SimIdle {
    lock: Mutex<u64>,
    cv: Condvar,
}

impl SimIdle {
    /// A new hook.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many times the application slept in the hook.
    pub fn sleeps(&self) -> u64 {
        *self.lock()
    }
}

impl Idle for SimIdle {
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool) {
        let mut g = self.lock();
        if pending() {
            return;
        }
        *g += 1;
        // One wait: a spurious or early return is allowed, the poll loop recomputes.
        let _g = match timeout {
            None => self.cv.wait(g).unwrap_or_else(PoisonError::into_inner),
            Some(t) => {
                self.cv
                    .wait_timeout(g, t)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }

    fn interrupt(&self) {
        let _g = self.lock();
        self.cv.notify_all();
    }
}

type Action = Box<dyn FnOnce() + Send>;

/// Scheduled actions: a sequence counter (ties run in scheduling order) and the entries.
struct Agenda {
    seq: u64,
    entries: Vec<(Instant, u64, Action)>,
}

/// Virtual time for deterministic simulations: a [`ManualClock`] plus an agenda of host
/// actions ("at 5 ms the host sends `hi\n`").
///
/// The board's idle hook ([`VirtualIdle`]) runs the actions that are due and jumps the clock
/// to the next action or to the loop's timeout, whichever is first. Nothing sleeps.
pub struct VirtualTime {
    clock: ManualClock,
    agenda: Mutex<Agenda>,
}

impl VirtualTime {
    /// Time zero, empty agenda.
    pub fn new() -> Arc<Self> {
        Arc::new(VirtualTime {
            clock: ManualClock::new(),
            agenda: Mutex::new(Agenda {
                seq: 0,
                entries: Vec::new(),
            }),
        })
    }

    /// Run `action` when virtual time reaches `at` (actions at the same time run in the
    /// order they were scheduled).
    pub fn at(&self, at: Instant, action: impl FnOnce() + Send + 'static) {
        let mut a = self.agenda.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = a.seq;
        a.seq += 1;
        a.entries.push((at, seq, Box::new(action)));
    }

    /// Run `action` `d` from now.
    pub fn after(&self, d: Duration, action: impl FnOnce() + Send + 'static) {
        self.at(self.now().saturating_add(d), action);
    }

    /// Advance the clock by `d`, running the actions due on the way, in time order.
    pub fn advance(&self, d: Duration) {
        let end = self.now().saturating_add(d);
        while let Some(t) = self.next_action().filter(|t| *t <= end) {
            self.clock.set(t);
            self.run_due();
        }
        self.clock.set(end);
    }

    /// When the next action is due.
    pub fn next_action(&self) -> Option<Instant> {
        let a = self.agenda.lock().unwrap_or_else(PoisonError::into_inner);
        a.entries
            .iter()
            .map(|(t, s, _)| (*t, *s))
            .min()
            .map(|(t, _)| t)
    }

    /// Run every action due now; returns how many ran.
    pub fn run_due(&self) -> usize {
        let mut n = 0;
        loop {
            let action = {
                let mut a = self.agenda.lock().unwrap_or_else(PoisonError::into_inner);
                let now = self.clock.now();
                let first = a
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, (t, _, _))| *t <= now)
                    .min_by_key(|(_, (t, s, _))| (*t, *s))
                    .map(|(i, _)| i);
                first.map(|i| a.entries.swap_remove(i).2)
            };
            match action {
                // Run outside the lock: an action may schedule more.
                Some(f) => {
                    f();
                    n += 1;
                }
                None => return n,
            }
        }
    }
}

impl Clock for VirtualTime {
    fn now(&self) -> Instant {
        self.clock.now()
    }
}

impl core::fmt::Debug for VirtualTime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtualTime")
            .field("now", &self.now())
            .field("next_action", &self.next_action())
            .finish()
    }
}

/// The idle hook of a virtual-time board. See [`VirtualTime`].
#[derive(Debug)]
pub struct VirtualIdle {
    time: Arc<VirtualTime>,
}

impl VirtualIdle {
    /// A hook over `time`.
    pub fn new(time: Arc<VirtualTime>) -> Self {
        VirtualIdle { time }
    }
}

impl Idle for VirtualIdle {
    /// # Panics
    /// If nothing is pending, no timeout is given and the agenda is empty: the simulated
    /// program would sleep forever (a deadlock in the scenario under test).
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool) {
        let until = timeout.map(|t| self.time.now().saturating_add(t));
        loop {
            self.time.run_due();
            if pending() {
                return;
            }
            match (self.time.next_action(), until) {
                (Some(next), Some(u)) if next > u => {
                    self.time.clock.set(u);
                    return;
                }
                (Some(next), _) => self.time.clock.set(next),
                (None, Some(u)) => {
                    self.time.clock.set(u);
                    return;
                }
                (None, None) => {
                    panic!("simulation deadlock: waiting forever with nothing scheduled")
                }
            }
        }
    }
}
