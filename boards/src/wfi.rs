//! [`WfiIdle`]: the idle hook for real hardware (features `cortex-m` and `riscv`).
//!
//! The race it closes (see [`Idle`]): an interrupt taken between "nothing pending" and the
//! sleep instruction would leave the core asleep until the next one. So the hook masks
//! interrupts, evaluates `pending`, executes `wfi` with interrupts still masked, and unmasks:
//! `wfi` returns when an enabled interrupt becomes pending even while the core ignores it
//! (PRIMASK on Cortex-M, `mstatus.MIE` on RISC-V), and the handler runs at the unmask.
//!
//! A `timeout` is handed to the embassy-time driver as an alarm
//! ([`embassy_time_driver::schedule_wake`] with a no-op waker): the driver's alarm interrupt
//! ends the `wfi`. A driver with a periodic tick ends it at every tick anyway.
//!
//! If interrupts are already masked when the hook is called, no handler could run to end the
//! sleep, so it returns at once instead of sleeping (the loop then polls again).

use core::task::Waker;
use core::time::Duration;

use crate::Idle;

#[cfg(all(feature = "cortex-m", feature = "riscv"))]
compile_error!("netpoll-boards: enable at most one of the `cortex-m` and `riscv` features");

/// Mask interrupts, check, `wfi`, unmask: the blocking poll loop's sleep on a single core of
/// a Cortex-M or RISC-V (machine mode) microcontroller. Zero-sized; put it in the
/// [`IrqPoller`](crate::IrqPoller): `static POLLER: IrqPoller<4, WfiIdle> =
/// IrqPoller::new(WfiIdle);`.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WfiIdle;

impl Idle for WfiIdle {
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool) {
        if let Some(t) = timeout {
            arm_alarm(t);
        }
        if !arch::interrupts_enabled() {
            return;
        }
        arch::disable_interrupts();
        if !pending() {
            arch::wfi();
        }
        // SAFETY: interrupts were enabled when the hook was entered (checked above); this
        // restores that state, ending the masked section this function opened.
        unsafe { arch::enable_interrupts() };
    }
}

/// Ask the embassy-time driver for an interrupt no later than `timeout` from now (rounded up
/// to its tick).
fn arm_alarm(timeout: Duration) {
    let hz = u128::from(embassy_time_driver::TICK_HZ);
    let ticks = (timeout.as_nanos() * hz).div_ceil(1_000_000_000);
    let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
    let at = embassy_time_driver::now().saturating_add(ticks);
    embassy_time_driver::schedule_wake(at, Waker::noop());
}

#[cfg(feature = "cortex-m")]
mod arch {
    pub(super) fn interrupts_enabled() -> bool {
        cortex_m::register::primask::read().is_active()
    }
    pub(super) fn disable_interrupts() {
        cortex_m::interrupt::disable();
    }
    /// # Safety
    /// Ends a masked section opened by `disable_interrupts`.
    pub(super) unsafe fn enable_interrupts() {
        // SAFETY: forwarded from the caller.
        unsafe { cortex_m::interrupt::enable() }
    }
    pub(super) fn wfi() {
        cortex_m::asm::wfi();
    }
}

#[cfg(all(feature = "riscv", not(feature = "cortex-m")))]
mod arch {
    pub(super) fn interrupts_enabled() -> bool {
        riscv::register::mstatus::read().mie()
    }
    pub(super) fn disable_interrupts() {
        riscv::interrupt::machine::disable();
    }
    /// # Safety
    /// Ends a masked section opened by `disable_interrupts`.
    pub(super) unsafe fn enable_interrupts() {
        // SAFETY: forwarded from the caller.
        unsafe { riscv::interrupt::machine::enable() }
    }
    pub(super) fn wfi() {
        riscv::asm::wfi();
    }
}
