//! [`SimPacketSocket`]: a datagram interface (think of an Ethernet MAC's RX/TX rings).

use std::collections::VecDeque;
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use super::{IrqStatus, Nvic, Peripheral};
use crate::blocking::WouldBlock;
use crate::Line;

struct Rings {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    slots: usize,
    mtu: usize,
    status: IrqStatus,
    dropped: u64,
}

/// A simulated packet socket with `slots` packets in each direction and an `mtu`.
///
/// Host side: [`host_send`](SimPacketSocket::host_send) (a packet arrives; dropped when the
/// RX ring is full), [`host_recv`](SimPacketSocket::host_recv) (the wire takes a packet) and
/// [`host_link_error`](SimPacketSocket::host_link_error). Device side: non-blocking
/// [`recv`](SimPacketSocket::recv) and [`send`](SimPacketSocket::send).
pub struct SimPacketSocket {
    name: String,
    line: Line,
    nvic: Nvic,
    rings: Mutex<Rings>,
}

impl SimPacketSocket {
    /// A socket on `line` of `nvic`.
    pub fn new(name: &str, nvic: &Nvic, line: Line, slots: usize, mtu: usize) -> Arc<Self> {
        Arc::new(SimPacketSocket {
            name: name.into(),
            line,
            nvic: nvic.clone(),
            rings: Mutex::new(Rings {
                rx: VecDeque::new(),
                tx: VecDeque::new(),
                slots,
                mtu,
                status: IrqStatus::default(),
                dropped: 0,
            }),
        })
    }

    fn rings(&self) -> MutexGuard<'_, Rings> {
        self.rings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn raise(&self, mut r: MutexGuard<'_, Rings>, set: IrqStatus) {
        let before = r.status;
        r.status.rx |= set.rx;
        r.status.tx |= set.tx;
        r.status.error |= set.error;
        let new = r.status != before;
        drop(r);
        if new {
            self.nvic.pend(self.line);
        }
    }

    /// Host side: a packet arrives (truncated to the MTU). `false` if the RX ring was full
    /// and it was dropped.
    pub fn host_send(&self, packet: &[u8]) -> bool {
        let mut r = self.rings();
        if r.rx.len() >= r.slots {
            r.dropped += 1;
            return false;
        }
        let n = packet.len().min(r.mtu);
        r.rx.push_back(packet[..n].to_vec());
        self.raise(
            r,
            IrqStatus {
                rx: true,
                ..IrqStatus::default()
            },
        );
        true
    }

    /// Host side: the wire takes the oldest packet of the TX ring.
    pub fn host_recv(&self) -> Option<Vec<u8>> {
        let mut r = self.rings();
        let p = r.tx.pop_front()?;
        self.raise(
            r,
            IrqStatus {
                tx: true,
                ..IrqStatus::default()
            },
        );
        Some(p)
    }

    /// Host side: the link fails (an error interrupt).
    pub fn host_link_error(&self) {
        let r = self.rings();
        self.raise(
            r,
            IrqStatus {
                error: true,
                ..IrqStatus::default()
            },
        );
    }

    /// Device side: take one packet into `buf` (truncated to `buf`); its length.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, WouldBlock> {
        let mut r = self.rings();
        let p = r.rx.pop_front().ok_or(WouldBlock)?;
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        Ok(n)
    }

    /// Device side: queue one packet (truncated to the MTU); how many bytes were queued.
    pub fn send(&self, packet: &[u8]) -> Result<usize, WouldBlock> {
        let mut r = self.rings();
        if r.tx.len() >= r.slots {
            return Err(WouldBlock);
        }
        let n = packet.len().min(r.mtu);
        r.tx.push_back(packet[..n].to_vec());
        Ok(n)
    }

    /// Packets dropped because the RX ring was full.
    pub fn dropped(&self) -> u64 {
        self.rings().dropped
    }
}

impl Peripheral for SimPacketSocket {
    fn line(&self) -> Line {
        self.line
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn take_status(&self) -> IrqStatus {
        std::mem::take(&mut self.rings().status)
    }
}

impl core::fmt::Debug for SimPacketSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = self.rings();
        f.debug_struct("SimPacketSocket")
            .field("name", &self.name)
            .field("line", &self.line)
            .field("rx", &r.rx.len())
            .field("tx", &r.tx.len())
            .finish()
    }
}
