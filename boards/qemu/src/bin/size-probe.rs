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
        // One opaque input, one opaque output: every call's argument and result is real.
        let k = black_box(1u32);
        let mode = if k & 1 == 1 { Mode::Read } else { Mode::Write };
        let at = Some(Instant::from_nanos(u64::from(k) * 5));
        let mut cx = Context::from_waker(Waker::noop());
        let mut ok = 0u32;
        if let Ok(h) = np.open(&k) {
            ok += u32::from(np.prepare(h, mode).is_ok());
            ok += u32::from(np.arm(h, Mode::Write, &k).is_ok());
            ok += u32::from(np.poll_wait(h, mode, &mut cx).is_pending());
            np.cancel_wait(h, mode, Waker::noop());
            ok += u32::from(np.set_read_deadline(h, at).is_ok());
            ok += u32::from(np.set_write_deadline(h, at).is_ok());
            ok += u32::from(np.set_deadline(h, at).is_ok());
            ok += u32::from(np.read_closed(h).is_ok());
            ok += u32::from(np.poll(None).is_ok());
            ok += u32::from(np.poll_and_sleep(None).is_ok());
            ok += u32::from(np.wake().is_ok());
            ok += u32::from(np.close(h, &k).is_ok());
        }
        ok += np.stats().polls as u32;
        black_box(ok);
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
        let k = black_box(0u16);
        let line = Line(k);
        let mut ok = 0u32;
        if let Ok(h) = np.open(&line) {
            let at = Some(Instant::from_nanos(u64::from(k) + 5));
            ok += u32::from(np.set_read_deadline(h, at).is_ok());
            ok += u32::from(POLLER.mark_readable(line));
            ok += u32::from(blocking::wait_ready(np, h, Mode::Read).is_ok());
            ok += u32::from(np.close(h, &line).is_ok());
        }
        ok += np.stats().polls as u32 + POLLER.stats().marks;
        black_box(ok);
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
