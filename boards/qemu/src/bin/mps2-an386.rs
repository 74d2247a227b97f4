//! netpoll on QEMU's `mps2-an386` (Arm MPS2 board, AN386 image: Cortex-M4F,
//! `thumbv7em-none-eabihf`).
//!
//! * tick: SysTick at 10 kHz from the 25 MHz core clock;
//! * software interrupt: IRQ 30 (wired to nothing on this image), pended through the NVIC;
//! * UART0 (a CMSDK APB UART) at 0x4000_4000, receive interrupt IRQ 0.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use netpoll_qemu::arm::{self, Irq, Vector};
use netpoll_qemu::checks::{self, Board};
use netpoll_qemu::mmio::Regs;

const CORE_HZ: u32 = 25_000_000;
const UART0_RX_IRQ: Irq = Irq(0);
const SOFT_IRQ: Irq = Irq(30);

// CMSDK APB UART registers.
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const STATE_TXFULL: u32 = 1 << 0;
const STATE_RXFULL: u32 = 1 << 1;
const CTRL: usize = 0x08;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INTEN: u32 = 1 << 3;
const INTSTATUS: usize = 0x0C;
const INT_RX: u32 = 1 << 1;
const BAUDDIV: usize = 0x10;

fn uart0() -> Regs {
    // SAFETY: the AN386 image maps UART0 at 0x4000_4000.
    unsafe { Regs::new(0x4000_4000) }
}

fn uart_init() {
    let u = uart0();
    if u.read(CTRL) & CTRL_TX_EN == 0 {
        u.write(BAUDDIV, 25_000_000 / 115_200);
        u.write(CTRL, CTRL_TX_EN);
    }
}

struct Mps2An386;

impl Board for Mps2An386 {
    const NAME: &'static str = "mps2-an386";

    fn pend_soft_irq() {
        arm::pend(SOFT_IRQ);
    }

    fn uart_enable_rx() {
        uart_init();
        uart0().write(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INTEN);
    }

    fn uart_write(bytes: &[u8]) {
        uart_init();
        let u = uart0();
        for &b in bytes {
            while u.read(STATE) & STATE_TXFULL != 0 {}
            u.write(DATA, u32::from(b));
        }
    }
}

extern "C" fn uart0_rx_irq() {
    netpoll_qemu::on_uart_irq();
    let u = uart0();
    u.write(INTSTATUS, INT_RX);
    while u.read(STATE) & STATE_RXFULL != 0 {
        netpoll_qemu::on_uart_byte(u.read(DATA) as u8);
    }
}

extern "C" fn soft_irq() {
    netpoll_qemu::on_soft_irq();
}

#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [Vector; 31] =
    arm::vector_table(&[(UART0_RX_IRQ, uart0_rx_irq), (SOFT_IRQ, soft_irq)]);

#[entry]
fn main() -> ! {
    arm::start(CORE_HZ, SOFT_IRQ, UART0_RX_IRQ);
    checks::run::<Mps2An386>()
}
