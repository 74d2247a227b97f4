//! Runs one operation on the real `Netpoll` and on the reference model, then compares
//! everything observable: the return values, how often each waker was woken, `Stats`, the
//! scripted backend's calls and the timeout the loop asked it for.
//!
//! Operations name handles and wakers indirectly ([`Target`], waker numbers taken modulo
//! [`WAKERS`]), so any generated sequence is meaningful whatever the state; a fuzzer can build
//! [`Op`]s from raw bytes the same way.

use core::task::{Context, Waker};
use core::time::Duration;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Wake;

use netpoll_core::testing::{Call, ManualClock, ScriptedPoller};
use netpoll_core::{Clock, Handle, Instant, Mode, Netpoll, PollDesc, Readiness, Token};

use super::reference::{Model, ModelHandle};

/// Descriptor slots in the pool.
pub const SLOTS: usize = 4;
/// Distinct wakers the operations choose from.
pub const WAKERS: usize = 6;
/// Events the scripted backend can queue; more than any sequence pushes between two polls.
const EVENT_CAPACITY: usize = 256;

/// Which handle an operation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The newest handle issued for slot `n % SLOTS` (current if the slot is open, closed or
    /// stale otherwise); forged if that slot was never opened.
    Slot(u8),
    /// Any handle issued so far, `n` modulo their number (often stale).
    History(u8),
    /// A handle whose index is outside the pool: just past the end (`false`) or `u32::MAX`.
    Forged(bool),
    /// `Handle::default()`: slot 0, generation 0, which no opening ever gets.
    Zero,
}

/// Which deadlines a setter changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dirs {
    /// `set_read_deadline`.
    Read,
    /// `set_write_deadline`.
    Write,
    /// `set_deadline`.
    Both,
}

/// A deadline, relative to the clock when the operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// `None`: no deadline.
    Clear,
    /// This many nanoseconds before now (at least 1; saturates at zero).
    Past(u64),
    /// Exactly now: expired at once.
    Now,
    /// This many nanoseconds after now (saturating).
    Future(u64),
    /// `Instant::MAX`: never.
    Max,
}

/// One step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `open` with a fresh source id.
    Open,
    /// `close` with the handle's own source.
    Close(Target),
    /// `prepare`.
    Prepare(Target, Mode),
    /// `arm`.
    Arm(Target, Mode),
    /// `poll_wait` with waker `n % WAKERS`.
    PollWait(Target, Mode, u8),
    /// Poll a parked waiter again (`which` modulo the parked ones), with its own waker
    /// (`None`) or with waker `n % WAKERS`.
    RePoll {
        /// Which parked waiter.
        which: u8,
        /// The waker to poll with.
        waker: Option<u8>,
    },
    /// `cancel_wait` by the holder of waker `n % WAKERS`.
    Cancel(Target, Mode, u8),
    /// The backend queues an event with the handle's token.
    Event(Target, Readiness),
    /// A deadline setter.
    SetDeadline(Target, Dirs, At),
    /// Advance the clock by this many nanoseconds (saturating).
    Advance(u64),
    /// `poll(delay)`.
    Poll(Option<Duration>),
    /// `poll_and_sleep(max)`: the loop then sleeps outside the backend until the next turn.
    PollAndSleep(Option<Duration>),
    /// `Netpoll::wake`.
    Wake,
    /// Make the backend's next call of this kind fail.
    FailNext(Call),
}

/// A waker that counts its wake-ups.
struct Counter(AtomicU64);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, Debug)]
struct Issued {
    model: ModelHandle,
    real: Handle,
    source: u32,
}

type Real = Netpoll<ScriptedPoller<EVENT_CAPACITY>, ManualClock, Box<[PollDesc]>>;

/// The real poller and the model, side by side.
pub struct Harness {
    np: Real,
    model: Model,
    counters: Vec<Arc<Counter>>,
    wakers: Vec<Waker>,
    issued: Vec<Issued>,
    latest: Vec<Option<usize>>,
    next_source: u32,
}

macro_rules! same {
    ($what:expr, $real:expr, $model:expr) => {{
        let (real, model) = ($real, $model);
        if real != model {
            return Err(format!("{}: real {:?}, model {:?}", $what, real, model));
        }
    }};
}

impl Harness {
    /// A fresh pool of [`SLOTS`] descriptors, the clock at `start` nanoseconds.
    pub fn new(start: u64) -> Self {
        let slots: Box<[PollDesc]> = (0..SLOTS).map(|_| PollDesc::new()).collect();
        let clock = ManualClock::starting_at(Instant::from_nanos(start));
        let np = match Netpoll::new(ScriptedPoller::new(), clock, slots) {
            Ok(np) => np,
            Err(e) => panic!("fresh storage refused: {e}"),
        };
        let counters: Vec<_> = (0..WAKERS)
            .map(|_| Arc::new(Counter(AtomicU64::new(0))))
            .collect();
        let wakers = counters.iter().map(|c| Waker::from(c.clone())).collect();
        Harness {
            np,
            model: Model::new(SLOTS, WAKERS, start),
            counters,
            wakers,
            issued: Vec::new(),
            latest: vec![None; SLOTS],
            next_source: 1,
        }
    }

    /// The model, for assertions in tests.
    pub fn model(&self) -> &Model {
        &self.model
    }

    fn resolve(&self, t: Target) -> Issued {
        let issued = match t {
            Target::Slot(n) => self.latest[usize::from(n) % SLOTS],
            Target::History(n) if !self.issued.is_empty() => {
                Some(usize::from(n) % self.issued.len())
            }
            _ => None,
        };
        match issued {
            Some(i) => self.issued[i],
            None => {
                let real = match t {
                    Target::Zero => Handle::default(),
                    Target::Forged(true) => Token(u64::from(u32::MAX)).handle(),
                    _ => Token(SLOTS as u64).handle(),
                };
                Issued {
                    model: ModelHandle::FORGED,
                    real,
                    source: 0,
                }
            }
        }
    }

    fn deadline(&self, at: At) -> Option<u64> {
        let now = self.model.now;
        match at {
            At::Clear => None,
            At::Past(d) => Some(now.saturating_sub(d.max(1))),
            At::Now => Some(now),
            At::Future(d) => Some(now.saturating_add(d.max(1))),
            At::Max => Some(u64::MAX),
        }
    }

    /// Run `op` on both sides and compare the results and the state after it.
    pub fn step(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Open => self.open()?,
            Op::Close(t) => {
                let h = self.resolve(t);
                same!(
                    "close",
                    self.np.close(h.real, &h.source),
                    self.model.close(h.model)
                );
            }
            Op::Prepare(t, mode) => {
                let h = self.resolve(t);
                // The hang-up mark first: `prepare` must not clear it.
                same!(
                    "read_closed",
                    self.np.read_closed(h.real),
                    self.model.read_closed(h.model)
                );
                same!(
                    "prepare",
                    self.np.prepare(h.real, mode),
                    self.model.prepare(h.model, mode)
                );
            }
            Op::Arm(t, mode) => {
                let h = self.resolve(t);
                same!(
                    "arm",
                    self.np.arm(h.real, mode, &h.source),
                    self.model.arm(h.model, mode)
                );
            }
            Op::PollWait(t, mode, w) => {
                let h = self.resolve(t);
                self.poll_wait(h, mode, usize::from(w) % WAKERS)?;
            }
            Op::RePoll { which, waker } => {
                let parked = self.model.parked();
                if !parked.is_empty() {
                    let (slot, mode, own) = parked[usize::from(which) % parked.len()];
                    let h = self.latest[slot].map(|i| self.issued[i]);
                    let Some(h) =
                        h.filter(|h| h.model.generation == self.model.descs[slot].generation)
                    else {
                        return Err(format!(
                            "slot {slot}: parked waiter on a handle never issued"
                        ));
                    };
                    let w = waker.map_or(own, |w| usize::from(w) % WAKERS);
                    self.poll_wait(h, mode, w)?;
                }
            }
            Op::Cancel(t, mode, w) => {
                let h = self.resolve(t);
                let w = usize::from(w) % WAKERS;
                self.np.cancel_wait(h.real, mode, &self.wakers[w]);
                self.model.cancel_wait(h.model, mode, w);
            }
            Op::Event(t, readiness) => {
                let h = self.resolve(t);
                if self.np.poller().push(h.real.token(), readiness).is_ok() {
                    self.model.push_event(h.model, readiness);
                }
            }
            Op::SetDeadline(t, dirs, at) => {
                let h = self.resolve(t);
                let at = self.deadline(at);
                let instant = at.map(Instant::from_nanos);
                let real = match dirs {
                    Dirs::Read => self.np.set_read_deadline(h.real, instant),
                    Dirs::Write => self.np.set_write_deadline(h.real, instant),
                    Dirs::Both => self.np.set_deadline(h.real, instant),
                };
                let (r, w) = (dirs != Dirs::Write, dirs != Dirs::Read);
                same!(
                    "set deadline",
                    real,
                    self.model.set_deadline(h.model, r, w, at)
                );
            }
            Op::Advance(nanos) => {
                self.np.clock().advance(Duration::from_nanos(nanos));
                self.model.advance(nanos);
            }
            Op::Poll(delay) => same!("poll", self.np.poll(delay), self.model.poll(delay)),
            Op::PollAndSleep(max) => {
                let real = self
                    .np
                    .poll_and_sleep(max)
                    .map(|(n, at)| (n, at.map(Instant::as_nanos)));
                let model = self.model.poll_and_sleep(max);
                match (real, model) {
                    (Ok((rn, rp)), Ok((mn, mp))) => {
                        same!("poll_and_sleep: woken", rn, mn);
                        // The core may promise to look earlier (a stale timer entry), never
                        // later than the earliest pending deadline.
                        if !no_later(rp, mp) {
                            return Err(format!(
                                "poll_and_sleep: real promise {rp:?} later than the model's {mp:?}"
                            ));
                        }
                        self.model.adopt_promise(rp);
                    }
                    (real, model) => same!("poll_and_sleep", real, model),
                }
            }
            Op::Wake => same!("wake", self.np.wake(), self.model.wake()),
            Op::FailNext(call) => {
                self.np.poller().fail_next(call);
                self.model.fail_next(call);
            }
        }
        self.compare()
    }

    fn open(&mut self) -> Result<(), String> {
        let source = self.next_source;
        self.next_source += 1;
        match (self.np.open(&source), self.model.open()) {
            (Ok(real), Ok(model)) => {
                same!("open: slot", real.index() as usize, model.slot);
                self.latest[model.slot] = Some(self.issued.len());
                self.issued.push(Issued {
                    model,
                    real,
                    source,
                });
            }
            (real, model) => same!("open", real.map(|_| ()), model.map(|_| ())),
        }
        Ok(())
    }

    fn poll_wait(&mut self, h: Issued, mode: Mode, waker: usize) -> Result<(), String> {
        let mut cx = Context::from_waker(&self.wakers[waker]);
        let real = self.np.poll_wait(h.real, mode, &mut cx);
        same!(
            "poll_wait",
            real,
            self.model.poll_wait(h.model, mode, waker)
        );
        Ok(())
    }

    /// Everything observable besides return values.
    fn compare(&self) -> Result<(), String> {
        let m = &self.model;
        let woken: Vec<u64> = self
            .counters
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .collect();
        same!("wake-ups per waker", woken, m.woken.clone());
        let s = self.np.stats();
        same!("stats.capacity", s.capacity as usize, SLOTS);
        same!("stats.open", s.open, m.stats.open);
        same!("stats.events", s.events, m.stats.events);
        same!("stats.stale_events", s.stale_events, m.stats.stale_events);
        same!("stats.timeouts", s.timeouts, m.stats.timeouts);
        same!("stats.wakeups", s.wakeups, m.stats.wakeups);
        same!("stats.polls", s.polls, m.stats.polls);
        let p = self.np.poller();
        same!(
            "backend registrations",
            p.registered(),
            m.stats.open as usize
        );
        same!(
            "backend (waits, wakes, arms)",
            p.calls(),
            (m.backend.waits, m.backend.wakes, m.backend.arms)
        );
        // The loop may look earlier than the model's earliest deadline (a stale entry), never
        // later, and never spins: a zero timeout exactly when the model's is zero.
        match (p.last_timeout(), m.backend.last_timeout) {
            (Some(real), Some(model)) => {
                let zero = Some(Duration::ZERO);
                if !no_later(real, model) || (real == zero) != (model == zero) {
                    return Err(format!(
                        "backend timeout: real {real:?}, model {model:?} (the real one may only be earlier, and zero only with the model's)"
                    ));
                }
            }
            (real, model) => same!("backend timeout", real, model),
        }
        same!(
            "backend wake pending",
            p.wake_pending(),
            m.backend.wake_pending
        );
        same!("clock", self.np.clock().now().as_nanos(), m.now);
        m.invariants()
    }
}

/// Whether `real` (`None`: never) is no later than `model`.
fn no_later<T: PartialOrd>(real: Option<T>, model: Option<T>) -> bool {
    match (real, model) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(r), Some(m)) => r <= m,
    }
}

/// Run `ops` from a fresh state; on a mismatch, say which step and what differed.
pub fn run(start: u64, ops: &[Op]) -> Result<Harness, String> {
    let mut h = Harness::new(start);
    for (i, op) in ops.iter().enumerate() {
        h.step(*op).map_err(|e| format!("step {i} ({op:?}): {e}"))?;
    }
    Ok(h)
}

/// Build operations from raw bytes (for a fuzzer, and a second, differently shaped
/// distribution in the property test). Every byte string decodes; missing bytes read as zero.
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut ops = Vec::new();
    while let Some(tag) = next() {
        let mut arg = || next().unwrap_or(0);
        let mode = |b: u8| if b & 1 == 0 { Mode::Read } else { Mode::Write };
        let target = |b: u8| match b % 8 {
            0..=4 => Target::Slot(b / 8),
            5 | 6 => Target::History(b / 8),
            _ if b & 16 != 0 => Target::Zero,
            _ => Target::Forged(b & 8 != 0),
        };
        let op = match tag % 13 {
            0 => Op::Open,
            1 => Op::Close(target(arg())),
            2 => Op::Prepare(target(arg()), mode(tag / 13)),
            3 => Op::Arm(target(arg()), mode(tag / 13)),
            4 => Op::PollWait(target(arg()), mode(tag / 13), arg()),
            5 => {
                let which = arg();
                let w = arg();
                Op::RePoll {
                    which,
                    waker: (w & 1 != 0).then_some(w >> 1),
                }
            }
            6 => Op::Cancel(target(arg()), mode(tag / 13), arg()),
            7 => {
                let t = target(arg());
                let r = arg();
                Op::Event(
                    t,
                    Readiness {
                        readable: r & 1 != 0,
                        writable: r & 2 != 0,
                        error: r & 4 != 0,
                        read_closed: r & 8 != 0,
                        urgent: r & 16 != 0,
                    },
                )
            }
            8 => {
                let t = target(arg());
                let dirs = match tag / 13 % 3 {
                    0 => Dirs::Read,
                    1 => Dirs::Write,
                    _ => Dirs::Both,
                };
                let a = arg();
                let at = match a % 8 {
                    0 => At::Clear,
                    1 => At::Past(u64::from(a / 8) * 1_000_000 + 1),
                    2 => At::Now,
                    3..=5 => At::Future(u64::from(a / 8) * 1_000_000 + 1),
                    6 => At::Future(u64::from(a / 8)),
                    _ => At::Max,
                };
                Op::SetDeadline(t, dirs, at)
            }
            9 => Op::Advance(match arg() {
                255 => u64::MAX,
                254 => 3_600_000_000_000,
                b if b >= 200 => u64::from(b - 200),
                b => u64::from(b % 16) * 1_000_000,
            }),
            10 => {
                let a = arg();
                let delay = match a % 4 {
                    0 | 1 => Some(Duration::ZERO),
                    2 => None,
                    _ => Some(Duration::from_millis(u64::from(tag / 13))),
                };
                if a & 4 == 0 {
                    Op::Poll(delay)
                } else {
                    Op::PollAndSleep(delay)
                }
            }
            11 => Op::Wake,
            _ => Op::FailNext(match tag / 13 % 4 {
                0 => Call::Register,
                1 => Call::Deregister,
                2 => Call::Wait,
                _ => Call::Wake,
            }),
        };
        ops.push(op);
    }
    ops
}
