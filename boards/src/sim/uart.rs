//! [`SimUart`]: a UART with small RX/TX FIFOs, like the ones on a microcontroller.

use std::collections::VecDeque;
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use super::{IrqStatus, Nvic, Peripheral};
use crate::blocking::WouldBlock;
use crate::Line;

struct Regs {
    rx: VecDeque<u8>,
    tx: VecDeque<u8>,
    rx_cap: usize,
    tx_cap: usize,
    status: IrqStatus,
    lost: u64,
}

/// A simulated UART.
///
/// The *host* side is the wire: [`host_send`](SimUart::host_send) delivers bytes into the RX
/// FIFO (bytes that do not fit are lost and flag an overrun error), and
/// [`host_recv`](SimUart::host_recv) transmits bytes out of the TX FIFO. The *device* side is
/// the driver: non-blocking [`read`](SimUart::read) and [`write`](SimUart::write). The UART
/// raises its line when bytes arrive (rx), when TX space frees up (tx), and on overrun (error).
pub struct SimUart {
    name: String,
    line: Line,
    nvic: Nvic,
    regs: Mutex<Regs>,
}

impl SimUart {
    /// A UART on `line` of `nvic` with FIFOs of `rx_cap` and `tx_cap` bytes.
    pub fn new(name: &str, nvic: &Nvic, line: Line, rx_cap: usize, tx_cap: usize) -> Arc<Self> {
        Arc::new(SimUart {
            name: name.into(),
            line,
            nvic: nvic.clone(),
            regs: Mutex::new(Regs {
                rx: VecDeque::with_capacity(rx_cap),
                tx: VecDeque::with_capacity(tx_cap),
                rx_cap,
                tx_cap,
                status: IrqStatus::default(),
                lost: 0,
            }),
        })
    }

    fn regs(&self) -> MutexGuard<'_, Regs> {
        self.regs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Set status flags and raise the line if any of them was clear.
    fn raise(&self, mut regs: MutexGuard<'_, Regs>, set: IrqStatus) {
        let before = regs.status;
        regs.status.rx |= set.rx;
        regs.status.tx |= set.tx;
        regs.status.error |= set.error;
        let new = regs.status != before;
        drop(regs);
        if new {
            self.nvic.pend(self.line);
        }
    }

    /// Host side: bytes arrive on the wire. Returns how many fit in the RX FIFO; the rest are
    /// lost (overrun).
    pub fn host_send(&self, bytes: &[u8]) -> usize {
        let mut r = self.regs();
        let room = r.rx_cap - r.rx.len();
        let n = bytes.len().min(room);
        r.rx.extend(&bytes[..n]);
        let lost = bytes.len() - n;
        r.lost += lost as u64;
        self.raise(
            r,
            IrqStatus {
                rx: n > 0,
                tx: false,
                error: lost > 0,
            },
        );
        n
    }

    /// Host side: the wire transmits up to `max` bytes from the TX FIFO.
    pub fn host_recv(&self, max: usize) -> Vec<u8> {
        let mut r = self.regs();
        let n = max.min(r.tx.len());
        let out: Vec<u8> = r.tx.drain(..n).collect();
        self.raise(
            r,
            IrqStatus {
                rx: false,
                tx: n > 0,
                error: false,
            },
        );
        out
    }

    /// Device side: read from the RX FIFO.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, WouldBlock> {
        let mut r = self.regs();
        if r.rx.is_empty() {
            return Err(WouldBlock);
        }
        let n = buf.len().min(r.rx.len());
        for (b, v) in buf.iter_mut().zip(r.rx.drain(..n)) {
            *b = v;
        }
        Ok(n)
    }

    /// Device side: write into the TX FIFO.
    pub fn write(&self, buf: &[u8]) -> Result<usize, WouldBlock> {
        let mut r = self.regs();
        let room = r.tx_cap - r.tx.len();
        if room == 0 && !buf.is_empty() {
            return Err(WouldBlock);
        }
        let n = buf.len().min(room);
        r.tx.extend(&buf[..n]);
        Ok(n)
    }

    /// Device side: bytes lost to overruns since the last call (reading clears it).
    pub fn take_lost(&self) -> u64 {
        std::mem::take(&mut self.regs().lost)
    }

    /// Bytes waiting in the TX FIFO.
    pub fn tx_len(&self) -> usize {
        self.regs().tx.len()
    }

    /// Bytes waiting in the RX FIFO.
    pub fn rx_len(&self) -> usize {
        self.regs().rx.len()
    }
}

impl Peripheral for SimUart {
    fn line(&self) -> Line {
        self.line
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn take_status(&self) -> IrqStatus {
        std::mem::take(&mut self.regs().status)
    }
}

impl core::fmt::Debug for SimUart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = self.regs();
        f.debug_struct("SimUart")
            .field("name", &self.name)
            .field("line", &self.line)
            .field("rx", &r.rx.len())
            .field("tx", &r.tx.len())
            .finish()
    }
}
