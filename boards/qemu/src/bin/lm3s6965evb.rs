//! netpoll on QEMU's `lm3s6965evb` (TI Stellaris LM3S6965, Cortex-M3, `thumbv7m-none-eabi`).
//!
//! * tick: SysTick at 10 kHz from the 12 MHz core clock;
//! * software interrupt: IRQ 30 (wired to nothing on this machine), pended through the NVIC;
//! * UART0 (a PL011) at 0x4000_C000, receive interrupt IRQ 5, the host's end of `-serial`.
//!
//! On a real LM3S6965 also enable UART0's clock (`RCGC1`) and route its pins (GPIO A0/A1).

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use netpoll_qemu::arm::{self, Irq, Vector};
use netpoll_qemu::checks::{self, Board};
use netpoll_qemu::mmio::Regs;

const CORE_HZ: u32 = 12_000_000;
const UART0_IRQ: Irq = Irq(5);
const SOFT_IRQ: Irq = Irq(30);

// PL011 registers.
const DR: usize = 0x000;
const FR: usize = 0x018;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const LCRH: usize = 0x02C;
const LCRH_FEN: u32 = 1 << 4;
const LCRH_WLEN8: u32 = 3 << 5;
const CTL: usize = 0x030;
const CTL_EN: u32 = 1 | 1 << 8 | 1 << 9; // UARTEN, TXE, RXE
const IM: usize = 0x038;
const IM_RX: u32 = 1 << 4;
const ICR: usize = 0x044;

fn uart0() -> Regs {
    // SAFETY: the LM3S6965 maps UART0 at 0x4000_C000.
    unsafe { Regs::new(0x4000_C000) }
}

struct Lm3s6965;

impl Board for Lm3s6965 {
    const NAME: &'static str = "lm3s6965evb";

    fn pend_soft_irq() {
        arm::pend(SOFT_IRQ);
    }

    fn uart_enable_rx() {
        let u = uart0();
        u.write(LCRH, LCRH_FEN | LCRH_WLEN8);
        u.write(CTL, CTL_EN);
        u.write(IM, IM_RX);
    }

    fn uart_write(bytes: &[u8]) {
        let u = uart0();
        for &b in bytes {
            while u.read(FR) & FR_TXFF != 0 {}
            u.write(DR, u32::from(b));
        }
    }
}

extern "C" fn uart0_irq() {
    netpoll_qemu::on_uart_irq();
    let u = uart0();
    u.write(ICR, IM_RX);
    while u.read(FR) & FR_RXFE == 0 {
        netpoll_qemu::on_uart_byte(u.read(DR) as u8);
    }
}

extern "C" fn soft_irq() {
    netpoll_qemu::on_soft_irq();
}

#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [Vector; 31] =
    arm::vector_table(&[(UART0_IRQ, uart0_irq), (SOFT_IRQ, soft_irq)]);

#[entry]
fn main() -> ! {
    arm::start(CORE_HZ, SOFT_IRQ, UART0_IRQ);
    checks::run::<Lm3s6965>()
}
