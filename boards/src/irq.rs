//! [`IrqPoller`]: a [`Poller`] fed by interrupt handlers.
//!
//! ## Lines
//! The board numbers its event sources `0..N` ([`Line`]): "UART0", "Ethernet RX", "GPIO 4".
//! The poll loop registers a line with the token of the descriptor that owns it; the line's
//! interrupt handler calls [`mark_readable`](IrqPoller::mark_readable),
//! [`mark_writable`](IrqPoller::mark_writable) or [`mark_error`](IrqPoller::mark_error).
//!
//! ## Why a mark is one `fetch_or`
//! A handler must never wait for the code it interrupted. Each line is one 32-bit word:
//! pending bits (read, write, error), a registered bit, a busy bit (registration in
//! progress) and a 27-bit registration epoch. A mark ORs its bit into the word, then raises the
//! shared signal, calls the board's [`Idle::interrupt`] and wakes the async loop task. Nothing
//! there spins or takes a lock (on thumbv6m, portable-atomic's `critical-section` fallback
//! turns the `fetch_or` into a short critical section). No 64-bit atomics are touched, since
//! those fall back to spin locks on 32-bit targets.
//!
//! ## Edges and stale marks
//! [`Poller::wait`] takes all pending bits of a line in one compare-exchange and reports them
//! as one event: a mark is delivered once (edge semantics), and marks between two waits merge.
//! Deregistering bumps the epoch, so that compare-exchange fails for a word read before the
//! line was deregistered; the token is read before it and written only while the line is not
//! registered, so a mark made for one registration is never delivered with the token of the
//! next. (The epoch has 27 bits: a stale word could only match again after 2^27
//! re-registrations of one line between the loop's load and its compare-exchange.) A mark for
//! a line that is not registered (or out of range) is dropped and counted.

use core::time::Duration;

use netpoll_core::{Event, Poller, Readiness, Token};
use portable_atomic::{AtomicBool, AtomicU32, Ordering};

use crate::fmt::trace;
use crate::{AtomicWaker, Idle, NoIdle};

const READ: u32 = 1;
const WRITE: u32 = 2;
const ERROR: u32 = 4;
const PENDING: u32 = READ | WRITE | ERROR;
const REGISTERED: u32 = 8;
const BUSY: u32 = 16;
const EPOCH_SHIFT: u32 = 5;
const EPOCH_MASK: u32 = !((1 << EPOCH_SHIFT) - 1);

/// An event source of the board: an index `0..N` into the poller's line table.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Line(pub u16);

/// Why a registration call failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IrqError {
    /// The line number is not below the poller's `N`.
    NoSuchLine,
    /// The line is already registered (or a registration is in progress).
    AlreadyRegistered,
    /// The line is not registered with this token.
    NotRegistered,
}

impl core::fmt::Display for IrqError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            IrqError::NoSuchLine => "no such interrupt line",
            IrqError::AlreadyRegistered => "interrupt line already registered",
            IrqError::NotRegistered => "interrupt line not registered with this token",
        })
    }
}

impl core::error::Error for IrqError {}

/// Counters, readable with [`IrqPoller::stats`]. They wrap around.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IrqStats {
    /// Marks accepted (the line was registered).
    pub marks: u32,
    /// Marks dropped: out-of-range line, line not registered, or registration in progress.
    pub dropped_marks: u32,
    /// Events handed to the poll loop.
    pub events: u32,
}

struct LineState {
    state: AtomicU32,
    token_lo: AtomicU32,
    token_hi: AtomicU32,
}

impl LineState {
    const fn new() -> Self {
        LineState {
            state: AtomicU32::new(0),
            token_lo: AtomicU32::new(0),
            token_hi: AtomicU32::new(0),
        }
    }

    fn token(&self) -> Token {
        let lo = self.token_lo.load(Ordering::Acquire);
        let hi = self.token_hi.load(Ordering::Acquire);
        Token((u64::from(hi) << 32) | u64::from(lo))
    }
}

/// A [`Poller`] whose events come from interrupt handlers; `N` lines, waiting through the
/// board's [`Idle`] hook (blocking) or through [`ready`](IrqPoller::ready) (async, with
/// [`NoIdle`]).
///
/// Put it in a `static` (or share a reference with the handlers) and hand `&IrqPoller` to
/// [`Netpoll::new`](netpoll_core::Netpoll::new).
pub struct IrqPoller<const N: usize, I = NoIdle> {
    lines: [LineState; N],
    signal: AtomicBool,
    waker: AtomicWaker,
    idle: I,
    marks: AtomicU32,
    dropped_marks: AtomicU32,
    events: AtomicU32,
}

impl<const N: usize, I: Idle> IrqPoller<N, I> {
    /// A poller with no line registered, sleeping through `idle`.
    pub const fn new(idle: I) -> Self {
        IrqPoller {
            lines: [const { LineState::new() }; N],
            signal: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            idle,
            marks: AtomicU32::new(0),
            dropped_marks: AtomicU32::new(0),
            events: AtomicU32::new(0),
        }
    }

    /// The board's idle hook.
    pub fn idle(&self) -> &I {
        &self.idle
    }

    /// Counters.
    pub fn stats(&self) -> IrqStats {
        IrqStats {
            marks: self.marks.load(Ordering::Relaxed),
            dropped_marks: self.dropped_marks.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
        }
    }

    /// Whether `line` is registered now.
    pub fn is_registered(&self, line: Line) -> bool {
        self.lines
            .get(usize::from(line.0))
            .is_some_and(|l| l.state.load(Ordering::Acquire) & REGISTERED != 0)
    }

    // ------------------------------------------------------------ interrupt side

    /// From `line`'s interrupt handler: data can be read (Go's `'r'` edge). Returns whether
    /// the mark was kept (the line is registered). Lock-free; never blocks.
    #[inline]
    pub fn mark_readable(&self, line: Line) -> bool {
        self.mark(line, READ)
    }

    /// From `line`'s interrupt handler: data can be written.
    #[inline]
    pub fn mark_writable(&self, line: Line) -> bool {
        self.mark(line, WRITE)
    }

    /// From `line`'s interrupt handler: an error condition (overrun, link down). The core
    /// records it on the descriptor and wakes both directions.
    #[inline]
    pub fn mark_error(&self, line: Line) -> bool {
        self.mark(line, ERROR)
    }

    /// Mark several conditions at once (`readiness` fields), as one edge.
    pub fn mark_readiness(&self, line: Line, readiness: Readiness) -> bool {
        let bit = |on: bool, b: u32| if on { b } else { 0 };
        let bits = bit(readiness.readable, READ)
            | bit(readiness.writable, WRITE)
            | bit(readiness.error, ERROR);
        bits != 0 && self.mark(line, bits)
    }

    fn mark(&self, line: Line, bits: u32) -> bool {
        let Some(l) = self.lines.get(usize::from(line.0)) else {
            self.dropped_marks.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let prev = l.state.fetch_or(bits, Ordering::Release);
        if prev & REGISTERED == 0 {
            // Left in the word, but `register` clears pending bits and `wait` skips
            // unregistered lines, so it is never delivered.
            self.dropped_marks.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.marks.fetch_add(1, Ordering::Relaxed);
        self.notify();
        true
    }

    fn notify(&self) {
        self.signal.store(true, Ordering::Release);
        self.idle.interrupt();
        self.waker.wake();
    }

    // ------------------------------------------------------------ loop side

    /// Whether a mark or a wake arrived since the current (or last) wait began.
    pub fn pending(&self) -> bool {
        self.signal.load(Ordering::Acquire)
    }

    /// Register the waker of the async poll-loop task; `true` if a mark or wake is already
    /// pending (then the task should poll again instead of sleeping).
    pub fn register_loop_waker(&self, waker: &core::task::Waker) -> bool {
        self.waker.register(waker);
        self.pending()
    }

    /// A future that resolves once a handler marks a line or someone calls
    /// [`wake`](Poller::wake) after the last wait began.
    pub fn ready(&self) -> Ready<'_, N, I> {
        Ready { poller: self }
    }

    /// Take the pending marks of every line and report them; returns how many events.
    fn drain(&self, on_event: &mut dyn FnMut(Event)) -> u32 {
        let mut n = 0;
        for l in &self.lines {
            let mut s = l.state.load(Ordering::Acquire);
            while s & REGISTERED != 0 && s & PENDING != 0 {
                // Read the token before the compare-exchange: if it succeeds, the word (and so
                // the registration) was unchanged, and a later deregistration synchronises
                // with it, so the token cannot come from the next registration.
                let token = l.token();
                match l.state.compare_exchange_weak(
                    s,
                    s & !PENDING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let readiness = Readiness {
                            readable: s & READ != 0,
                            writable: s & WRITE != 0,
                            error: s & ERROR != 0,
                            // An interrupt line has no notion of a peer that hung up, nor of
                            // urgent data.
                            read_closed: false,
                            urgent: false,
                        };
                        trace!(
                            "irq: event {} r={} w={} e={}",
                            token.index(),
                            readiness.readable,
                            readiness.writable,
                            readiness.error
                        );
                        on_event(Event { token, readiness });
                        n += 1;
                        break;
                    }
                    Err(actual) => s = actual,
                }
            }
        }
        if n > 0 {
            self.events.fetch_add(n, Ordering::Relaxed);
        }
        n
    }
}

impl<const N: usize, I: Idle> Poller for IrqPoller<N, I> {
    type Source = Line;
    type Error = IrqError;

    fn register(&self, line: &Line, token: Token) -> Result<(), IrqError> {
        let l = self
            .lines
            .get(usize::from(line.0))
            .ok_or(IrqError::NoSuchLine)?;
        let mut s = l.state.load(Ordering::Relaxed);
        loop {
            if s & (REGISTERED | BUSY) != 0 {
                return Err(IrqError::AlreadyRegistered);
            }
            match l.state.compare_exchange_weak(
                s,
                (s & EPOCH_MASK) | BUSY,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        // BUSY is ours: marks are dropped and nobody else writes the token.
        l.token_lo.store(token.0 as u32, Ordering::Relaxed);
        l.token_hi.store((token.0 >> 32) as u32, Ordering::Relaxed);
        // Publishing REGISTERED (Release) also clears any bits marked while BUSY.
        l.state
            .store((s & EPOCH_MASK) | REGISTERED, Ordering::Release);
        crate::fmt::debug!("irq: register line {}", line.0);
        Ok(())
    }

    fn deregister(&self, line: &Line, token: Token) -> Result<(), IrqError> {
        let l = self
            .lines
            .get(usize::from(line.0))
            .ok_or(IrqError::NoSuchLine)?;
        let mut s = l.state.load(Ordering::Acquire);
        loop {
            if s & REGISTERED == 0 || l.token() != token {
                return Err(IrqError::NotRegistered);
            }
            // Next epoch, not registered, pending marks dropped.
            let next = (s & EPOCH_MASK).wrapping_add(1 << EPOCH_SHIFT);
            match l
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    crate::fmt::debug!("irq: deregister line {}", line.0);
                    return Ok(());
                }
                Err(actual) => s = actual,
            }
        }
    }

    fn wait(
        &self,
        timeout: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), IrqError> {
        // Clear the signal before looking: a mark after this point sets it again, so the
        // idle hook's `pending` check sees every mark this scan misses. If it was set, a wake
        // (or a mark) arrived since the last wait: return without sleeping, so a `wake` made
        // before this wait began is not lost (at worst one wait returns early).
        let signalled = self.signal.swap(false, Ordering::AcqRel);
        if self.drain(on_event) > 0 || signalled || timeout == Some(Duration::ZERO) {
            return Ok(());
        }
        self.idle
            .wait_for_interrupt(timeout, &|| self.signal.load(Ordering::Acquire));
        self.drain(on_event);
        Ok(())
    }

    /// Like a mark without a line: sets the signal, calls [`Idle::interrupt`] and wakes the
    /// async loop task. The core calls it when a deadline moves before the instant a sleeping
    /// loop (blocking or async) promised to look again.
    fn wake(&self) -> Result<(), IrqError> {
        self.notify();
        Ok(())
    }
}

impl<const N: usize, I> core::fmt::Debug for IrqPoller<N, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IrqPoller")
            .field("lines", &N)
            .field("pending", &self.signal.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Future returned by [`IrqPoller::ready`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Ready<'a, const N: usize, I> {
    poller: &'a IrqPoller<N, I>,
}

impl<const N: usize, I: Idle> core::future::Future for Ready<'_, N, I> {
    type Output = ();
    fn poll(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<()> {
        if self.poller.register_loop_waker(cx.waker()) {
            core::task::Poll::Ready(())
        } else {
            core::task::Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests;
