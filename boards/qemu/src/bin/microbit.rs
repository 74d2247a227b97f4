//! netpoll on QEMU's `microbit` (BBC micro:bit v1: nRF51822, Cortex-M0, `thumbv6m-none-eabi`).
//!
//! The Cortex-M0 has no compare-and-swap: netpoll-boards' `critical-section` feature makes
//! portable-atomic run read-modify-writes inside critical sections (interrupts masked).
//!
//! * tick: SysTick at 10 kHz from the 16 MHz core clock (QEMU models SysTick here; the real
//!   nRF51 has none, so a board would drive the tick from RTC1 instead);
//! * software interrupt: SWI0 (IRQ 20), the nRF51's interrupt reserved for software;
//! * UART0 at 0x4000_2000, receive interrupt IRQ 2.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use netpoll_qemu::arm::{self, Irq, Vector};
use netpoll_qemu::checks::{self, Board};
use netpoll_qemu::mmio::Regs;

const CORE_HZ: u32 = 16_000_000;
const UART0_IRQ: Irq = Irq(2);
const SWI0_IRQ: Irq = Irq(20);

// nRF51 UART registers.
const STARTRX: usize = 0x000;
const STARTTX: usize = 0x008;
const EVENTS_RXDRDY: usize = 0x108;
const EVENTS_TXDRDY: usize = 0x11C;
const INTENSET: usize = 0x304;
const INT_RXDRDY: u32 = 1 << 2;
const ENABLE: usize = 0x500;
const RXD: usize = 0x518;
const TXD: usize = 0x51C;

fn uart0() -> Regs {
    // SAFETY: the nRF51 maps UART0 at 0x4000_2000.
    unsafe { Regs::new(0x4000_2000) }
}

fn uart_init() {
    let u = uart0();
    if u.read(ENABLE) != 4 {
        u.write(ENABLE, 4);
        u.write(STARTTX, 1);
    }
}

struct Microbit;

impl Board for Microbit {
    const NAME: &'static str = "microbit";

    fn pend_soft_irq() {
        arm::pend(SWI0_IRQ);
    }

    fn uart_enable_rx() {
        uart_init();
        let u = uart0();
        u.write(INTENSET, INT_RXDRDY);
        u.write(STARTRX, 1);
    }

    fn uart_write(bytes: &[u8]) {
        uart_init();
        let u = uart0();
        for &b in bytes {
            u.write(EVENTS_TXDRDY, 0);
            u.write(TXD, u32::from(b));
            while u.read(EVENTS_TXDRDY) == 0 {}
        }
    }
}

extern "C" fn uart0_irq() {
    netpoll_qemu::on_uart_irq();
    let u = uart0();
    // Each read of RXD raises RXDRDY again while bytes remain in the receive FIFO.
    while u.read(EVENTS_RXDRDY) != 0 {
        u.write(EVENTS_RXDRDY, 0);
        netpoll_qemu::on_uart_byte(u.read(RXD) as u8);
    }
}

extern "C" fn swi0_irq() {
    netpoll_qemu::on_soft_irq();
}

#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [Vector; 21] =
    arm::vector_table(&[(UART0_IRQ, uart0_irq), (SWI0_IRQ, swi0_irq)]);

#[entry]
fn main() -> ! {
    arm::start(CORE_HZ, SWI0_IRQ, UART0_IRQ);
    checks::run::<Microbit>()
}
