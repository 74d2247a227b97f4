//! A host-simulated board: interrupts, peripherals and time, driving the same
//! [`IrqPoller`] and `netpoll-core` code as a microcontroller would.
//!
//! Feature `sim`, uses std. Two ways to run it:
//!
//! * **Threaded** ([`Nvic::threaded`], [`SimIdle`], [`HostClock`]): a simulated interrupt
//!   thread runs the handlers while the application thread sleeps in the idle hook; real time.
//!   The `sim-uart-echo` demo runs this way.
//! * **Virtual time** ([`Nvic::inline`], [`VirtualTime`]): handlers run inline when a
//!   peripheral raises its line, and the idle hook jumps a manual clock to the next scheduled
//!   host action or timeout. Single-threaded and deterministic: tests never sleep.
//!
//! Peripherals: [`SimUart`] (RX/TX FIFOs, overrun) and [`SimPacketSocket`] (datagram queues,
//! link errors). Each raises its line when a status flag is newly set; the handler installed by
//! [`attach`] reads and clears the flags and marks the line, exactly like a driver's ISR.

mod clock;
mod nvic;
mod packet;
mod trace;
mod uart;

pub use clock::{HostClock, SimIdle, VirtualIdle, VirtualTime};
pub use nvic::{Handler, Nvic};
pub use packet::SimPacketSocket;
pub use trace::{Trace, Traced};
pub use uart::SimUart;

use std::sync::Arc;

use netpoll_core::Readiness;

use crate::{Idle, IrqPoller, Line};

/// Read-and-clear interrupt status of a simulated peripheral.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct IrqStatus {
    /// Data arrived (RX FIFO went from empty to not empty, or more arrived).
    pub rx: bool,
    /// Space became available for writing.
    pub tx: bool,
    /// An error condition (overrun, link down).
    pub error: bool,
}

impl IrqStatus {
    /// Whether any flag is set.
    pub fn any(self) -> bool {
        self.rx || self.tx || self.error
    }

    /// As the core's readiness.
    pub fn readiness(self) -> Readiness {
        Readiness {
            readable: self.rx,
            writable: self.tx,
            error: self.error,
            // A peripheral has no peer that could half-close, nor urgent data.
            read_closed: false,
            urgent: false,
        }
    }
}

/// A simulated peripheral with an interrupt line.
pub trait Peripheral: Send + Sync {
    /// Its line.
    fn line(&self) -> Line;
    /// A short name for traces.
    fn name(&self) -> &str;
    /// Read and clear the interrupt status register.
    fn take_status(&self) -> IrqStatus;
}

/// Install `peripheral`'s interrupt handler on `nvic`: read and clear the status, mark the
/// line in `poller`, and record what happened in `trace`.
pub fn attach<const N: usize, I, P>(
    nvic: &Nvic,
    poller: Arc<IrqPoller<N, I>>,
    peripheral: Arc<P>,
    trace: Arc<Trace>,
) where
    I: Idle + Send + Sync + 'static,
    P: Peripheral + 'static,
{
    let line = peripheral.line();
    nvic.set_handler(
        line,
        Arc::new(move || {
            let s = peripheral.take_status();
            if !s.any() {
                return;
            }
            let kept = poller.mark_readiness(line, s.readiness());
            trace.record(format_args!(
                "isr  {:<6} line {} {}{}{}{}",
                peripheral.name(),
                line.0,
                if s.rx { "rx " } else { "" },
                if s.tx { "tx " } else { "" },
                if s.error { "error " } else { "" },
                if kept {
                    "-> marked"
                } else {
                    "-> dropped (not registered)"
                },
            ));
        }),
    );
}

#[cfg(test)]
mod tests;
