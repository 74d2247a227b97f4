//! A virtual-time board shared by the simulation tests.
#![allow(dead_code)]

use std::sync::Arc;

use netpoll_boards::sim::{
    self, Nvic, SimPacketSocket, SimUart, Trace, Traced, VirtualIdle, VirtualTime,
};
use netpoll_boards::{CsLock, IrqPoller, Line};
use netpoll_core::{Clock, Netpoll, PollDesc};

pub const UART: Line = Line(0);
pub const NET: Line = Line(1);

pub type VPoller = IrqPoller<4, VirtualIdle>;
pub type VNetpoll<'a> =
    Netpoll<Traced<&'a VPoller>, &'a VirtualTime, &'a [PollDesc<CsLock>; 4], CsLock>;

/// A board in virtual time: UART (RX 16 bytes, TX 4 bytes) on line 0, a packet socket
/// (2 slots, MTU 64) on line 1, handlers running inline.
pub struct VBoard {
    pub time: Arc<VirtualTime>,
    pub nvic: Nvic,
    pub poller: Arc<VPoller>,
    pub uart: Arc<SimUart>,
    pub net: Arc<SimPacketSocket>,
    pub trace: Arc<Trace>,
    pub slots: [PollDesc<CsLock>; 4],
}

impl VBoard {
    pub fn new() -> Self {
        let time = VirtualTime::new();
        let nvic = Nvic::inline();
        let poller = Arc::new(IrqPoller::new(VirtualIdle::new(time.clone())));
        let trace = Trace::new(time.clone());
        let uart = SimUart::new("uart0", &nvic, UART, 16, 4);
        let net = SimPacketSocket::new("net0", &nvic, NET, 2, 64);
        sim::attach(&nvic, poller.clone(), uart.clone(), trace.clone());
        sim::attach(&nvic, poller.clone(), net.clone(), trace.clone());
        VBoard {
            time,
            nvic,
            poller,
            uart,
            net,
            trace,
            slots: PollDesc::array_with_lock(),
        }
    }

    pub fn netpoll(&self) -> VNetpoll<'_> {
        Netpoll::new(
            Traced::new(&*self.poller, self.trace.clone()),
            &*self.time,
            &self.slots,
        )
        .expect("fresh storage")
    }

    pub fn now_ms(&self) -> f64 {
        self.time.now().as_nanos() as f64 / 1e6
    }
}
