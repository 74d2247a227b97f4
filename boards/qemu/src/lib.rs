//! Firmware for four microcontrollers emulated by QEMU, sharing one set of checks.
//!
//! | binary | QEMU machine | target | CPU |
//! |---|---|---|---|
//! | `lm3s6965evb` | `lm3s6965evb` | `thumbv7m-none-eabi` | Cortex-M3 |
//! | `mps2-an386` | `mps2-an386` | `thumbv7em-none-eabihf` | Cortex-M4F |
//! | `microbit` | `microbit` | `thumbv6m-none-eabi` | Cortex-M0 (no compare-and-swap) |
//! | `riscv-virt` | `virt` (`qemu-system-riscv32`) | `riscv32imac-unknown-none-elf` | RV32IMAC |
//!
//! Each binary supplies the board: its interrupt vector, a tick timer (SysTick, or the CLINT
//! machine timer), a software-pended interrupt, and a UART whose receive interrupt feeds a
//! small buffer. This library holds what they share: the netpoll instance over an
//! [`IrqPoller`] with [`WfiIdle`], [`CsLock`] and [`EmbassyClock`]; the embassy-time
//! driver ([`time`]); the interrupt entry points the board's handlers call
//! ([`on_tick`], [`on_soft_irq`], [`on_uart_byte`]); and [`checks::run`], which runs every
//! check, prints the results through semihosting and exits QEMU with the status.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod checks;
pub mod mmio;
pub mod once;
pub mod time;

#[cfg(target_arch = "arm")]
pub mod arm;
#[cfg(target_arch = "riscv32")]
pub mod riscv;

use core::cell::RefCell;

use critical_section::Mutex;
use heapless::Deque;
use netpoll_boards::{CsLock, EmbassyClock, IrqPoller, Line, WfiIdle};
use netpoll_core::{Netpoll, PollDesc};
use portable_atomic::{AtomicU16, AtomicU32, Ordering};

pub use semihosting::{print, println};

/// Interrupt lines (event sources) of the firmware.
pub mod lines {
    use super::Line;
    /// The software-pended interrupt.
    pub const SOFT: Line = Line(0);
    /// The UART's receive interrupt.
    pub const UART: Line = Line(1);
    /// A line nobody raises: deadlines only.
    pub const TIMER: Line = Line(2);
    /// The line that is closed and then raised.
    pub const CLOSED: Line = Line(3);
    /// The line of the interrupt-deadline stress.
    pub const STRESS: Line = Line(4);
    /// How many.
    pub const COUNT: usize = 5;
}

/// The netpoll instance every board uses.
pub type Np = Netpoll<
    &'static IrqPoller<{ lines::COUNT }, WfiIdle>,
    EmbassyClock,
    &'static [PollDesc<CsLock>; lines::COUNT],
    CsLock,
>;

/// The interrupt-fed backend.
pub static POLLER: IrqPoller<{ lines::COUNT }, WfiIdle> = IrqPoller::new(WfiIdle);
static SLOTS: [PollDesc<CsLock>; lines::COUNT] = PollDesc::array_with_lock();
static NP: once::Once<Np> = once::Once::new();

/// The netpoll instance, once [`checks::run`] has made it (handlers that run earlier see
/// `None`).
pub fn netpoll() -> Option<&'static Np> {
    NP.get()
}

fn init_netpoll() -> &'static Np {
    let np = Netpoll::new(&POLLER, EmbassyClock::new(), &SLOTS)
        .unwrap_or_else(|_| fail("descriptor storage already claimed"));
    NP.init(np)
        .unwrap_or_else(|_| fail("netpoll initialised twice"))
}

/// Which line the software interrupt marks (the checks point it at different lines).
static SOFT_LINE: AtomicU16 = AtomicU16::new(lines::SOFT.0);
/// Software interrupts taken.
static SOFT_IRQS: AtomicU32 = AtomicU32::new(0);

/// From the board's software-pended interrupt handler.
pub fn on_soft_irq() {
    SOFT_IRQS.fetch_add(1, Ordering::Relaxed);
    POLLER.mark_readable(Line(SOFT_LINE.load(Ordering::Relaxed)));
}

static RX: Mutex<RefCell<Deque<u8, 32>>> = Mutex::new(RefCell::new(Deque::new()));
static UART_IRQS: AtomicU32 = AtomicU32::new(0);
static RX_OVERRUNS: AtomicU32 = AtomicU32::new(0);

/// From the board's UART receive interrupt handler, once per interrupt.
pub fn on_uart_irq() {
    UART_IRQS.fetch_add(1, Ordering::Relaxed);
}

/// From the board's UART receive interrupt handler, for each byte taken from the hardware:
/// buffer it and mark the UART line readable.
pub fn on_uart_byte(byte: u8) {
    let kept = critical_section::with(|cs| RX.borrow_ref_mut(cs).push_back(byte).is_ok());
    if !kept {
        RX_OVERRUNS.fetch_add(1, Ordering::Relaxed);
    }
    POLLER.mark_readable(lines::UART);
}

/// The driver's non-blocking read: bytes buffered by the receive interrupt.
pub fn uart_read(buf: &mut [u8]) -> Result<usize, netpoll_boards::blocking::WouldBlock> {
    critical_section::with(|cs| {
        let mut rx = RX.borrow_ref_mut(cs);
        let mut n = 0;
        while n < buf.len() {
            match rx.pop_front() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            Err(netpoll_boards::blocking::WouldBlock)
        } else {
            Ok(n)
        }
    })
}

/// From the board's tick interrupt handler, after [`time::on_tick`] returned `now`.
pub fn on_tick(now: u64) {
    checks::on_tick(now);
}

/// Report a panic through semihosting and exit QEMU with status 101.
#[cfg(not(feature = "size-probe"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("{}", info);
    semihosting::process::exit(101)
}

/// The size probe's panic handler: stop, without formatting anything.
#[cfg(feature = "size-probe")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    semihosting::process::exit(101)
}

/// Print `why` and exit QEMU with status 1.
pub fn fail(why: &str) -> ! {
    println!("FAIL: {}", why);
    semihosting::process::exit(1)
}
