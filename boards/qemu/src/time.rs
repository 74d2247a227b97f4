//! The embassy-time driver: a periodic tick interrupt counts [`TICK_HZ`] ticks.
//!
//! The board programs its tick timer (SysTick on Arm, the CLINT machine timer on RISC-V) to
//! interrupt `TICK_HZ` times a second and calls [`on_tick`] from the handler. Timers that
//! embassy-time users (and netpoll-boards' `WfiIdle` alarms) schedule are kept in a small
//! queue and woken from the tick. A tickless driver would program a compare match for the
//! queue's next expiration instead; the periodic tick keeps the firmware simple and gives the
//! interrupt-deadline stress its "every tick".

use core::cell::{Cell, RefCell};
use core::task::Waker;

use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::queue_generic::ConstGenericQueue;

/// Ticks per second (embassy-time's `TICK_HZ`, picked by this crate's features).
pub const TICK_HZ: u64 = embassy_time_driver::TICK_HZ;

struct TickDriver {
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<ConstGenericQueue<4>>>,
}

impl Driver for TickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let now = self.ticks.borrow(cs).get();
            let mut q = self.queue.borrow_ref_mut(cs);
            // A full queue wakes its latest timer early (it then re-arms): never late.
            q.schedule_wake(at, waker);
            q.next_expiration(now);
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: TickDriver = TickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(ConstGenericQueue::new())),
});

/// From the tick interrupt: count one tick, wake the timers that came due; returns the new
/// tick count.
pub fn on_tick() -> u64 {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        DRIVER.queue.borrow_ref_mut(cs).next_expiration(now);
        now
    })
}

/// The tick count now.
pub fn now() -> u64 {
    embassy_time_driver::now()
}
