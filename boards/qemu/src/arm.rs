//! Cortex-M support shared by the Arm boards: the device interrupt vector, SysTick as the
//! tick timer, and NVIC helpers.

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{NVIC, SCB, SYST};
#[cfg(not(feature = "size-probe"))]
use cortex_m_rt::exception;

/// One entry of the device-specific part of the vector table (`__INTERRUPTS`): a handler, or
/// zero for a reserved slot.
#[derive(Clone, Copy)]
pub union Vector {
    /// An interrupt handler.
    pub handler: unsafe extern "C" fn(),
    /// A reserved slot.
    pub reserved: usize,
}

/// A device interrupt number (the position in `__INTERRUPTS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq(pub u16);

// SAFETY: `number` returns the value the board chose, which it only uses for interrupts that
// exist on its NVIC (below the machine's interrupt count).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// The handler for interrupts nobody expects: report and fail.
pub extern "C" fn unexpected_irq() {
    let vect = SCB::vect_active();
    crate::println!("unexpected interrupt {:?}", vect);
    crate::fail("unexpected interrupt");
}

/// The device part of the vector table: `handlers` at their interrupt numbers,
/// [`unexpected_irq`] everywhere else. For the board's `__INTERRUPTS` static.
pub const fn vector_table<const N: usize>(handlers: &[(Irq, extern "C" fn())]) -> [Vector; N] {
    let mut v = [Vector {
        handler: unexpected_irq,
    }; N];
    let mut i = 0;
    while i < handlers.len() {
        let (irq, handler) = handlers[i];
        v[irq.0 as usize] = Vector { handler };
        i += 1;
    }
    v
}

/// Bring the board up: enable its software interrupt and its UART receive interrupt, and
/// start SysTick at [`TICK_HZ`](crate::time::TICK_HZ) from a core clock of `core_hz`.
/// Priorities, highest first: the software interrupt, the UART, the tick (any order works:
/// handlers share state only through critical sections and atomics).
pub fn start(core_hz: u32, soft: Irq, uart: Irq) {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        crate::fail("peripherals taken twice")
    };
    enable_irq(&mut p.NVIC, soft, 0x40);
    enable_irq(&mut p.NVIC, uart, 0x80);
    start_tick(&mut p.SYST, &mut p.SCB, core_hz, 0xC0);
}

// Not in the size probe: it would link the checks (and a netpoll instance) into the probe's
// baseline.
#[cfg(not(feature = "size-probe"))]
#[exception]
fn SysTick() {
    let now = crate::time::on_tick();
    crate::on_tick(now);
}

/// Start SysTick interrupting [`TICK_HZ`](crate::time::TICK_HZ) times a second from a core
/// clock of `core_hz`, at `priority` (upper bits count; lower numbers preempt higher ones).
pub fn start_tick(syst: &mut SYST, scb: &mut SCB, core_hz: u32, priority: u8) {
    let reload = core_hz / crate::time::TICK_HZ as u32 - 1;
    // SAFETY: setting an exception's priority cannot break a critical section here: the
    // tick interrupt is not enabled yet.
    unsafe { scb.set_priority(cortex_m::peripheral::scb::SystemHandler::SysTick, priority) };
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(reload);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Give `irq` a priority and enable it in the NVIC.
pub fn enable_irq(nvic: &mut NVIC, irq: Irq, priority: u8) {
    // SAFETY: priorities only order the firmware's own handlers, none of which relies on
    // another's priority for mutual exclusion (shared state goes through critical sections
    // or atomics).
    unsafe { nvic.set_priority(irq, priority) };
    // SAFETY: the board installed a handler for `irq` in `__INTERRUPTS` before calling this.
    unsafe { NVIC::unmask(irq) };
}

/// Make `irq` pending from software (its handler runs when priorities allow).
pub fn pend(irq: Irq) {
    NVIC::pend(irq);
}
