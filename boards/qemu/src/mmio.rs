//! [`Regs`]: a peripheral's 32-bit registers at a fixed address.

/// A block of memory-mapped 32-bit registers.
#[derive(Clone, Copy, Debug)]
pub struct Regs {
    base: usize,
}

impl Regs {
    /// # Safety
    /// `base` must be the address of a device's register block on this machine, valid for
    /// volatile 32-bit reads and writes at every offset the caller will use.
    pub const unsafe fn new(base: usize) -> Self {
        Regs { base }
    }

    /// Read the register at byte offset `off`.
    #[inline]
    pub fn read(&self, off: usize) -> u32 {
        // SAFETY: `new`'s contract: the block is a device's registers, readable at `off`.
        unsafe { core::ptr::read_volatile((self.base + off) as *const u32) }
    }

    /// Write the register at byte offset `off`.
    #[inline]
    pub fn write(&self, off: usize, value: u32) {
        // SAFETY: `new`'s contract: the block is a device's registers, writable at `off`.
        unsafe { core::ptr::write_volatile((self.base + off) as *mut u32, value) }
    }

    /// Read, modify and write back the register at `off` (not atomic with respect to
    /// interrupts: call it where no handler writes the same register).
    #[inline]
    pub fn modify(&self, off: usize, f: impl FnOnce(u32) -> u32) {
        self.write(off, f(self.read(off)));
    }
}
