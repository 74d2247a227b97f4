//! [`Idle`]: how a blocking poll loop sleeps until the next interrupt.
//!
//! The classic race on a microcontroller is "check for work, then sleep": an interrupt that
//! lands between the check and the sleep instruction is serviced, and the core then sleeps
//! until the *next* one. The hook therefore receives the check itself (`pending`) and must
//! evaluate it in a way that cannot miss an interrupt taken after it returned `false`:
//!
//! * Cortex-M: mask interrupts (PRIMASK), evaluate `pending`, `wfi`, unmask. WFI wakes on a
//!   pending interrupt even while masked, and the handler runs after the unmask.
//! * With an event register (WFE/SEV): handlers `sev` in [`Idle::interrupt`]; `wfe` returns at
//!   once if an event arrived since it last returned.
//! * On a host: a mutex and condition variable (the simulated board's `SimIdle`), or
//!   `sigsuspend`/`ppoll` with the "interrupt" signal blocked (the `nostd-check` binary).
//!
//! `timeout` needs a wake-up source too: the board arms a timer or RTC alarm for it.

use core::time::Duration;

use netpoll_core::Clock;

/// The board's "wait for interrupt": the blocking half of an [`IrqPoller`](crate::IrqPoller).
pub trait Idle {
    /// Sleep until an interrupt handler has marked a source (`pending()` is true), `timeout`
    /// has passed (`None`: no limit), or earlier; returning early is always allowed.
    ///
    /// Must not miss a mark made after an evaluation of `pending` that returned `false` (see
    /// the module documentation). Called only from the poll loop, never from a handler.
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool);

    /// Called after an interrupt handler marked a source and after
    /// [`Poller::wake`](netpoll_core::Poller::wake), from that context: make a concurrent
    /// `wait_for_interrupt` return. Must be interrupt-safe. The default does nothing, which is
    /// right where taking the interrupt already ends the sleep (WFI).
    fn interrupt(&self) {}
}

impl<I: Idle + ?Sized> Idle for &I {
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool) {
        (**self).wait_for_interrupt(timeout, pending)
    }
    fn interrupt(&self) {
        (**self).interrupt()
    }
}

/// Never sleeps: for async executors, where the poll-loop task awaits
/// [`IrqPoller::ready`](crate::IrqPoller::ready) instead of blocking (see
/// [`asynch`](crate::asynch)).
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoIdle;

impl Idle for NoIdle {
    fn wait_for_interrupt(&self, _timeout: Option<Duration>, _pending: &dyn Fn() -> bool) {}
}

/// Busy-waits on `pending` until the timeout passes on clock `C`. Burns power; meant for
/// bring-up, before the board's low-power wait exists, and for tests.
#[derive(Debug, Default)]
pub struct SpinIdle<C> {
    clock: C,
}

impl<C: Clock> SpinIdle<C> {
    /// Spin against `clock`.
    pub const fn new(clock: C) -> Self {
        SpinIdle { clock }
    }
}

impl<C: Clock> Idle for SpinIdle<C> {
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool) {
        let until = timeout.map(|t| self.clock.now().saturating_add(t));
        while !pending() {
            if until.is_some_and(|u| self.clock.now() >= u) {
                return;
            }
            core::hint::spin_loop();
        }
    }
}
