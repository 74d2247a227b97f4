//! RISC-V support for QEMU's `virt` machine (machine mode, hart 0): the CLINT's machine
//! timer as the tick timer, its software-interrupt register, and the PLIC.

use crate::mmio::Regs;

/// QEMU `virt`: the CLINT counts `mtime` at 10 MHz.
pub const MTIME_HZ: u64 = 10_000_000;
const CLINT: usize = 0x0200_0000;
const MSIP0: usize = 0x0;
const MTIMECMP0: usize = 0x4000;
const MTIME: usize = 0xBFF8;
const PLIC: usize = 0x0c00_0000;
/// Hart 0, machine mode: the PLIC's context 0.
const PLIC_ENABLE0: usize = 0x2000;
const PLIC_THRESHOLD0: usize = 0x20_0000;
const PLIC_CLAIM0: usize = 0x20_0004;

fn clint() -> Regs {
    // SAFETY: QEMU virt maps the CLINT at 0x0200_0000; the firmware touches only hart 0's
    // registers.
    unsafe { Regs::new(CLINT) }
}

fn plic() -> Regs {
    // SAFETY: QEMU virt maps the PLIC at 0x0c00_0000.
    unsafe { Regs::new(PLIC) }
}

fn mtime() -> u64 {
    let c = clint();
    loop {
        let hi = c.read(MTIME + 4);
        let lo = c.read(MTIME);
        if c.read(MTIME + 4) == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

fn set_mtimecmp(at: u64) {
    let c = clint();
    // Raise the high word first so no intermediate value lies in the past.
    c.write(MTIMECMP0 + 4, u32::MAX);
    c.write(MTIMECMP0, at as u32);
    c.write(MTIMECMP0 + 4, (at >> 32) as u32);
}

const PERIOD: u64 = MTIME_HZ / crate::time::TICK_HZ;

/// Start the machine timer interrupting [`TICK_HZ`](crate::time::TICK_HZ) times a second.
pub fn start_tick() {
    set_mtimecmp(mtime() + PERIOD);
}

/// From the machine timer handler: schedule the next tick one period after the last
/// deadline (not after now, so the rate does not drift).
pub fn next_tick() {
    let c = clint();
    let last = (u64::from(c.read(MTIMECMP0 + 4)) << 32) | u64::from(c.read(MTIMECMP0));
    let now = mtime();
    let mut next = last + PERIOD;
    if next <= now {
        // Fell behind by whole periods (a long critical section): skip them.
        next = now + PERIOD;
    }
    set_mtimecmp(next);
}

/// Make the machine software interrupt pending (hart 0's `msip`).
pub fn pend_soft() {
    clint().write(MSIP0, 1);
}

/// From the machine software interrupt handler: acknowledge it.
pub fn clear_soft() {
    clint().write(MSIP0, 0);
}

/// Route PLIC source `source` to hart 0 in machine mode.
pub fn plic_enable(source: u32) {
    let p = plic();
    p.write(4 * source as usize, 1); // priority 1 (0 disables)
    let word = PLIC_ENABLE0 + 4 * (source as usize / 32);
    p.modify(word, |v| v | 1 << (source % 32));
    p.write(PLIC_THRESHOLD0, 0);
}

/// Claim the highest-priority pending source (0: none).
pub fn plic_claim() -> u32 {
    plic().read(PLIC_CLAIM0)
}

/// Signal that `source`'s handler is done.
pub fn plic_complete(source: u32) {
    plic().write(PLIC_CLAIM0, source);
}
