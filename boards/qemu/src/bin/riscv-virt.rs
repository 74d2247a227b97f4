//! netpoll on QEMU's riscv32 `virt` machine (RV32IMAC hart 0 in machine mode,
//! `riscv32imac-unknown-none-elf`).
//!
//! * tick: the CLINT machine timer (`mtime` at 10 MHz), one interrupt per 10 kHz tick;
//! * software interrupt: the CLINT's machine software interrupt (`msip`);
//! * UART0 (an NS16550A) at 0x1000_0000, receive interrupt PLIC source 10.

#![no_std]
#![no_main]

use netpoll_qemu::checks::{self, Board};
use netpoll_qemu::riscv as virt;
use riscv::interrupt::machine::Interrupt;

const UART0_SOURCE: u32 = 10;

// NS16550A registers (byte-wide; QEMU accepts word accesses at these offsets).
const RBR_THR: usize = 0;
const IER: usize = 1;
const IER_RX: u32 = 1;
const LSR: usize = 5;
const LSR_DR: u32 = 1 << 0;
const LSR_THRE: u32 = 1 << 5;

fn uart0_read(off: usize) -> u8 {
    // SAFETY: QEMU virt maps the NS16550A at 0x1000_0000 with byte-wide registers.
    unsafe { core::ptr::read_volatile((0x1000_0000 + off) as *const u8) }
}

fn uart0_write(off: usize, v: u32) {
    // SAFETY: as in `uart0_read`.
    unsafe { core::ptr::write_volatile((0x1000_0000 + off) as *mut u8, v as u8) }
}

struct RiscvVirt;

impl Board for RiscvVirt {
    const NAME: &'static str = "riscv32 virt";

    fn pend_soft_irq() {
        virt::pend_soft();
    }

    fn uart_enable_rx() {
        virt::plic_enable(UART0_SOURCE);
        uart0_write(IER, IER_RX);
    }

    fn uart_write(bytes: &[u8]) {
        for &b in bytes {
            while u32::from(uart0_read(LSR)) & LSR_THRE == 0 {}
            uart0_write(RBR_THR, u32::from(b));
        }
    }
}

#[riscv_rt::core_interrupt(Interrupt::MachineTimer)]
fn machine_timer() {
    virt::next_tick();
    let now = netpoll_qemu::time::on_tick();
    netpoll_qemu::on_tick(now);
}

#[riscv_rt::core_interrupt(Interrupt::MachineSoft)]
fn machine_soft() {
    virt::clear_soft();
    netpoll_qemu::on_soft_irq();
}

#[riscv_rt::core_interrupt(Interrupt::MachineExternal)]
fn machine_external() {
    loop {
        let source = virt::plic_claim();
        match source {
            0 => break,
            UART0_SOURCE => {
                netpoll_qemu::on_uart_irq();
                while u32::from(uart0_read(LSR)) & LSR_DR != 0 {
                    netpoll_qemu::on_uart_byte(uart0_read(RBR_THR));
                }
            }
            _ => netpoll_qemu::fail("unexpected external interrupt"),
        }
        virt::plic_complete(source);
    }
}

#[riscv_rt::entry]
fn main() -> ! {
    virt::start_tick();
    // SAFETY: the handlers above are installed (riscv-rt's trap dispatch) and share state only
    // through critical sections and atomics, so enabling interrupts breaks no critical section.
    unsafe {
        riscv::interrupt::machine::enable_interrupt(Interrupt::MachineTimer);
        riscv::interrupt::machine::enable_interrupt(Interrupt::MachineSoft);
        riscv::interrupt::machine::enable_interrupt(Interrupt::MachineExternal);
        riscv::interrupt::machine::enable();
    }
    checks::run::<RiscvVirt>()
}
