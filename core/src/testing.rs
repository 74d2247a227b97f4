//! Test doubles for driving the state machine on a host, deterministically.
//!
//! * [`ManualClock`]: time moves only when the test says so; no test ever sleeps.
//! * [`ScriptedPoller`]: a backend whose events the test pushes; `wait` never blocks, and it
//!   records what the loop asked of it (the timeout, registrations, wakes).
//!
//! ```
//! use core::task::{Context, Poll, Waker};
//! use core::time::Duration;
//! use netpoll_core::testing::{ManualClock, ScriptedPoller};
//! use netpoll_core::{Clock, Mode, Netpoll, PollDesc, PollError};
//!
//! let slots = PollDesc::array::<4>();
//! let np = Netpoll::new(ScriptedPoller::<16>::new(), ManualClock::new(), &slots).unwrap();
//! let h = np.open(&7).unwrap();                      // source id 7
//! let mut cx = Context::from_waker(Waker::noop());
//!
//! // Nothing ready: the wait parks.
//! assert!(np.poll_wait(h, Mode::Read, &mut cx).is_pending());
//! // A read deadline 5 ms from now; the loop asks the backend to wait no longer than that.
//! np.set_read_deadline(h, Some(np.clock().now().saturating_add(Duration::from_millis(5)))).unwrap();
//! np.poll(None).unwrap();
//! assert_eq!(np.poller().last_timeout(), Some(Some(Duration::from_millis(5))));
//! // Time passes; the loop fires the deadline and the waiter gets a timeout.
//! np.clock().advance(Duration::from_millis(5));
//! assert_eq!(np.poll(Some(Duration::ZERO)).unwrap(), 1);
//! assert_eq!(np.poll_wait(h, Mode::Read, &mut cx), Poll::Ready(Err(PollError::Timeout)));
//! ```

use core::time::Duration;

use heapless::{Deque, Vec};

use crate::sync::{AtomicU64, Locked, Ordering};
use crate::{Clock, Event, Instant, Mode, Poller, Readiness, SpinLock, Token};

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock at [`Instant::ZERO`].
    pub fn new() -> Self {
        Self::starting_at(Instant::ZERO)
    }

    /// A clock at `t`.
    pub fn starting_at(t: Instant) -> Self {
        ManualClock {
            nanos: AtomicU64::new(t.as_nanos()),
        }
    }

    /// Move time forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let step = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(step))
            });
    }

    /// Jump to `t`; a `t` earlier than now is ignored (clocks are monotonic).
    pub fn set(&self, t: Instant) {
        self.nanos.fetch_max(t.as_nanos(), Ordering::AcqRel);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

/// Errors a [`ScriptedPoller`] can be told to produce.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ScriptError {
    /// An error injected with [`ScriptedPoller::fail_next`].
    Injected,
    /// More registrations than the poller's capacity.
    Full,
}

impl core::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ScriptError::Injected => "injected failure",
            ScriptError::Full => "scripted poller is full",
        })
    }
}

impl core::error::Error for ScriptError {}

/// Which backend call an injected failure applies to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Call {
    /// [`Poller::register`].
    Register,
    /// [`Poller::deregister`].
    Deregister,
    /// [`Poller::wait`].
    Wait,
    /// [`Poller::wake`].
    Wake,
}

struct Script<const N: usize> {
    queue: Deque<Event, N>,
    registered: Vec<(u32, Token), N>,
    last_timeout: Option<Option<Duration>>,
    waits: u64,
    wakes: u64,
    arms: u64,
    pending_wake: bool,
    fail: Option<Call>,
}

/// A backend for tests: sources are `u32` ids, events are pushed by the test, and `wait`
/// returns at once with whatever was queued. `N` bounds queued events and registrations.
pub struct ScriptedPoller<const N: usize = 64> {
    script: Locked<SpinLock, Script<N>>,
}

impl<const N: usize> ScriptedPoller<N> {
    /// An empty script.
    pub fn new() -> Self {
        ScriptedPoller {
            script: Locked::new(Script {
                queue: Deque::new(),
                registered: Vec::new(),
                last_timeout: None,
                waits: 0,
                wakes: 0,
                arms: 0,
                pending_wake: false,
                fail: None,
            }),
        }
    }

    /// Queue an event for the next `wait`. Gives the event back if the queue is full.
    pub fn push(&self, token: Token, readiness: Readiness) -> Result<(), Event> {
        let ev = Event { token, readiness };
        self.script.with(|s| s.queue.push_back(ev))
    }

    /// Queue an event for the source registered as `source`, if it is registered.
    pub fn push_source(&self, source: u32, readiness: Readiness) -> Result<(), Event> {
        match self.token_of(source) {
            Some(token) => self.push(token, readiness),
            None => Err(Event {
                token: Token(u64::MAX),
                readiness,
            }),
        }
    }

    /// The token `source` is registered with.
    pub fn token_of(&self, source: u32) -> Option<Token> {
        self.script.with(|s| {
            s.registered
                .iter()
                .find(|(src, _)| *src == source)
                .map(|r| r.1)
        })
    }

    /// How many sources are registered now.
    pub fn registered(&self) -> usize {
        self.script.with(|s| s.registered.len())
    }

    /// The timeout of the most recent `wait` (`None` before the first).
    pub fn last_timeout(&self) -> Option<Option<Duration>> {
        self.script.with(|s| s.last_timeout)
    }

    /// How many times `wait`, `wake` and `arm` were called.
    pub fn calls(&self) -> (u64, u64, u64) {
        self.script.with(|s| (s.waits, s.wakes, s.arms))
    }

    /// Whether a wake is pending (called and not yet consumed by a `wait`).
    pub fn wake_pending(&self) -> bool {
        self.script.with(|s| s.pending_wake)
    }

    /// Make the next call of kind `call` fail with [`ScriptError::Injected`].
    pub fn fail_next(&self, call: Call) {
        self.script.with(|s| s.fail = Some(call));
    }

    fn injected(s: &mut Script<N>, call: Call) -> Result<(), ScriptError> {
        if s.fail == Some(call) {
            s.fail = None;
            return Err(ScriptError::Injected);
        }
        Ok(())
    }
}

impl<const N: usize> Default for ScriptedPoller<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for ScriptedPoller<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScriptedPoller")
            .field("registered", &self.registered())
            .finish()
    }
}

impl<const N: usize> Poller for ScriptedPoller<N> {
    type Source = u32;
    type Error = ScriptError;

    fn register(&self, source: &u32, token: Token) -> Result<(), ScriptError> {
        self.script.with(|s| {
            Self::injected(s, Call::Register)?;
            s.registered.retain(|(src, _)| src != source);
            s.registered
                .push((*source, token))
                .map_err(|_| ScriptError::Full)
        })
    }

    fn deregister(&self, source: &u32, _token: Token) -> Result<(), ScriptError> {
        self.script.with(|s| {
            s.registered.retain(|(src, _)| src != source);
            Self::injected(s, Call::Deregister)
        })
    }

    fn arm(&self, _source: &u32, _token: Token, _mode: Mode) -> Result<(), ScriptError> {
        self.script.with(|s| s.arms += 1);
        Ok(())
    }

    fn wait(
        &self,
        timeout: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), ScriptError> {
        let mut batch: Deque<Event, N> = Deque::new();
        self.script.with(|s| {
            s.waits += 1;
            s.last_timeout = Some(timeout);
            s.pending_wake = false;
            Self::injected(s, Call::Wait)?;
            core::mem::swap(&mut batch, &mut s.queue);
            Ok(())
        })?;
        for ev in batch {
            on_event(ev);
        }
        Ok(())
    }

    fn wake(&self) -> Result<(), ScriptError> {
        self.script.with(|s| {
            Self::injected(s, Call::Wake)?;
            s.wakes += 1;
            s.pending_wake = true;
            Ok(())
        })
    }
}
