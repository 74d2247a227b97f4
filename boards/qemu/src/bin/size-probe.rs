//! Not a test: a binary whose size, compared with its own baseline build, is netpoll's flash
//! and RAM on a target (`size.sh` builds it three ways).
//!
//! * no feature: the baseline, the same runtime and embassy-time driver, no netpoll;
//! * `probe-core`: netpoll-core alone over a do-nothing three-method poller and a clock
//!   reading a counter (the core's own cost), every public operation called once;
//! * `probe-boards`: netpoll-core with netpoll-boards as a board uses them: `IrqPoller` with
//!   `WfiIdle`, `CsLock`, `EmbassyClock`, an interrupt mark and a blocking wait.
//!
//! Inputs go through `black_box`, so nothing is folded away, and the instance lives in a
//! `static`, so its RAM counts.

#![no_std]
#![no_main]

use core::hint::black_box;

// The library holds the panic handler (and, on Arm, the vector type).
use netpoll_qemu as _;

#[cfg(feature = "probe-core")]
mod probe {
    use core::hint::black_box;
    use core::task::{Context, Waker};
    use core::time::Duration;

    use netpoll_core::{Clock, Event, Instant, Mode, Netpoll, PollDesc, Poller, Token};
    use netpoll_qemu::once::Once;

    /// The three-line poller: nothing to register, nothing ever ready.
    struct NullPoller;
    impl Poller for NullPoller {
        type Source = u32;
        type Error = ();
        fn register(&self, _: &u32, _: Token) -> Result<(), ()> {
            Ok(())
        }
        fn deregister(&self, _: &u32, _: Token) -> Result<(), ()> {
            Ok(())
        }
        fn wait(&self, _: Option<Duration>, _: &mut dyn FnMut(Event)) -> Result<(), ()> {
            Ok(())
        }
        fn wake(&self) -> Result<(), ()> {
            Ok(())
        }
    }

    struct CounterClock;
    impl Clock for CounterClock {
        fn now(&self) -> Instant {
            Instant::from_nanos(black_box(0))
        }
    }

    static SLOTS: [PollDesc; 4] = PollDesc::array();
    static NP: Once<Netpoll<NullPoller, CounterClock, &'static [PollDesc; 4]>> = Once::new();

    pub fn run() {
        let Ok(np) = Netpoll::new(NullPoller, CounterClock, &SLOTS) else {
            return;
        };
        let Ok(np) = NP.init(np) else { return };
        let mut cx = Context::from_waker(Waker::noop());
        if let Ok(h) = np.open(&black_box(1)) {
            let at = Some(Instant::from_nanos(black_box(5)));
            let _ = black_box(np.prepare(h, black_box(Mode::Read)));
            let _ = black_box(np.arm(h, Mode::Write, &1));
            let _ = black_box(np.poll_wait(h, black_box(Mode::Read), &mut cx));
            np.cancel_wait(h, Mode::Read);
            let _ = black_box(np.set_read_deadline(h, at));
            let _ = black_box(np.set_write_deadline(h, at));
            let _ = black_box(np.set_deadline(h, at));
            let _ = black_box(np.read_closed(h));
            let _ = black_box(np.poll(black_box(None)));
            let _ = black_box(np.poll_and_sleep(black_box(None)));
            let _ = black_box(np.wake());
            let _ = black_box(np.close(h, &1));
        }
        black_box(np.stats());
    }
}

#[cfg(feature = "probe-boards")]
mod probe {
    use core::hint::black_box;

    use netpoll_boards::{blocking, CsLock, EmbassyClock, IrqPoller, Line, WfiIdle};
    use netpoll_core::{Instant, Mode, Netpoll, PollDesc};
    use netpoll_qemu::once::Once;

    type Np = Netpoll<
        &'static IrqPoller<4, WfiIdle>,
        EmbassyClock,
        &'static [PollDesc<CsLock>; 4],
        CsLock,
    >;
    static POLLER: IrqPoller<4, WfiIdle> = IrqPoller::new(WfiIdle);
    static SLOTS: [PollDesc<CsLock>; 4] = PollDesc::array_with_lock();
    static NP: Once<Np> = Once::new();

    pub fn run() {
        let Ok(np) = Netpoll::new(&POLLER, EmbassyClock::new(), &SLOTS) else {
            return;
        };
        let Ok(np) = NP.init(np) else { return };
        let line = Line(black_box(0));
        if let Ok(h) = np.open(&line) {
            let _ = black_box(np.set_read_deadline(h, Some(Instant::from_nanos(black_box(5)))));
            POLLER.mark_readable(line);
            let _ = black_box(blocking::wait_ready(np, h, Mode::Read));
            let _ = black_box(np.close(h, &line));
        }
        black_box(np.stats());
        black_box(POLLER.stats());
    }
}

#[cfg(not(any(feature = "probe-core", feature = "probe-boards")))]
mod probe {
    pub fn run() {}
}

fn body() -> ! {
    // In every variant, so they cancel out: the time driver, the exit path, and the compiler
    // builtins any firmware links (copying and clearing memory, 64-bit division).
    black_box(embassy_time_driver::now());
    let mut buf = [0u8; 64];
    let src = black_box([7u8; 64]);
    use_builtins(&mut buf, &src);
    black_box(black_box(u64::MAX) / black_box(1_000_000_000u64));
    probe::run();
    semihosting::process::exit(0)
}

#[inline(never)]
fn use_builtins(buf: &mut [u8; 64], src: &[u8; 64]) {
    let n = black_box(48);
    buf[..n].copy_from_slice(&src[..n]);
    black_box(&mut *buf);
    buf[..black_box(40)].fill(0);
    black_box(buf);
}

#[cfg(target_arch = "arm")]
#[cortex_m_rt::entry]
fn main() -> ! {
    body()
}

#[cfg(target_arch = "riscv32")]
#[riscv_rt::entry]
fn main() -> ! {
    body()
}

#[cfg(target_arch = "arm")]
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [netpoll_qemu::arm::Vector; 1] = [netpoll_qemu::arm::Vector { reserved: 0 }];
