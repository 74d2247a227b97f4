//! A `#![no_std]`, `#![no_main]` program that runs netpoll-core and netpoll-boards on this
//! Linux host the way a microcontroller would, to prove neither needs std.
//!
//! * The "interrupt" is `SIGALRM` from a one-shot interval timer; its handler calls
//!   `IrqPoller::mark_readable`, as a UART ISR would.
//! * The idle hook is WFI done the POSIX way: block the signal, check `pending`, then `ppoll`
//!   with the signal unblocked (atomically), which returns when the handler has run or the
//!   timeout passed.
//! * The critical section blocks the signal (masking the "interrupt"); the embassy-time driver
//!   reads `CLOCK_MONOTONIC`.
//!
//! Exit status 0 when every check passed.

#![no_std]
#![no_main]

use core::fmt::Write;
use core::task::Waker;
use core::time::Duration;

use netpoll_boards::{blocking, CsLock, EmbassyClock, Idle, IrqPoller, Line};
use netpoll_core::{Clock, Error, Mode, Netpoll, PollDesc, PollError};

const TIMER: Line = Line(0);

static POLLER: IrqPoller<2, SignalIdle> = IrqPoller::new(SignalIdle);
static SLOTS: [PollDesc<CsLock>; 2] = PollDesc::array_with_lock();

// ---------------------------------------------------------------- the "interrupt"

extern "C" fn on_sigalrm(_signal: libc::c_int) {
    // Async-signal-safe: a mark is a few atomic operations and `SignalIdle::interrupt` is
    // the default no-op (the signal itself ends `ppoll`).
    POLLER.mark_readable(TIMER);
}

fn install_handler() -> bool {
    // SAFETY: a zeroed `sigaction` is a valid value of this plain C struct; we fill in the
    // handler and an empty mask before passing it to `sigaction`, which only reads it.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_sigalrm as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, core::ptr::null_mut()) == 0
    }
}

/// Raise the interrupt once, `after` from now.
fn arm_timer(after: Duration) {
    let it = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: after.as_secs() as libc::time_t,
            tv_usec: after.subsec_micros() as libc::suseconds_t,
        },
    };
    // SAFETY: `it` is a valid itimerval; a null old value is allowed.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &it, core::ptr::null_mut()) };
}

fn alarm_set() -> libc::sigset_t {
    // SAFETY: `sigemptyset` initialises the zeroed set before `sigaddset` adds to it.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        set
    }
}

/// Block SIGALRM; returns the previous mask.
fn block_alarm() -> libc::sigset_t {
    let set = alarm_set();
    // SAFETY: both pointers are valid sigset_t values for the duration of the call.
    unsafe {
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

fn restore_mask(old: &libc::sigset_t) {
    // SAFETY: `old` is a mask returned by `sigprocmask`.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, old, core::ptr::null_mut()) };
}

// ---------------------------------------------------------------- the board

/// "Wait for interrupt": the POSIX analogue of masking interrupts, checking, then WFI.
struct SignalIdle;

impl Idle for SignalIdle {
    fn wait_for_interrupt(&self, timeout: Option<Duration>, pending: &dyn Fn() -> bool) {
        let old = block_alarm();
        if !pending() {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(core::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: no descriptors (null, 0); `ts_ptr` is null or points to `ts`, alive
            // across the call; `old` is a valid mask (the one with SIGALRM unblocked). A
            // signal made pending since `block_alarm` is delivered as `ppoll` unblocks it.
            unsafe { libc::ppoll(core::ptr::null_mut(), 0, ts_ptr, &old) };
        }
        restore_mask(&old);
    }
}

struct SignalCriticalSection;
critical_section::set_impl!(SignalCriticalSection);

// SAFETY: the process is single-threaded; the only other context is the SIGALRM handler, and
// `acquire` blocks SIGALRM until the matching `release`, so no critical section can run
// concurrently with another. Nesting is handled by restoring the previous blocked state.
unsafe impl critical_section::Impl for SignalCriticalSection {
    unsafe fn acquire() -> bool {
        let old = block_alarm();
        // SAFETY: `old` was filled by `sigprocmask`.
        unsafe { libc::sigismember(&old, libc::SIGALRM) == 1 }
    }

    unsafe fn release(was_blocked: bool) {
        if !was_blocked {
            let set = alarm_set();
            // SAFETY: `set` is a valid sigset_t.
            unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut()) };
        }
    }
}

struct MonotonicDriver;

impl embassy_time_driver::Driver for MonotonicDriver {
    fn now(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write into.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let nanos = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
        (nanos * u128::from(embassy_time_driver::TICK_HZ) / 1_000_000_000) as u64
    }

    fn schedule_wake(&self, _at: u64, waker: &Waker) {
        // No timer queue here: wake at once; a spurious wake-up is allowed.
        waker.wake_by_ref();
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: MonotonicDriver = MonotonicDriver);

// ---------------------------------------------------------------- output and panics

struct Stdout;

impl Write for Stdout {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut b = s.as_bytes();
        while !b.is_empty() {
            // SAFETY: `b` is a valid buffer of `b.len()` bytes.
            let n = unsafe { libc::write(1, b.as_ptr().cast(), b.len()) };
            if n <= 0 {
                return Err(core::fmt::Error);
            }
            b = &b[n as usize..];
        }
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Stdout, "nostd-check: panic: {info}");
    // SAFETY: `abort` is always safe to call; it does not return.
    unsafe { libc::abort() }
}

/// The precompiled `core` for this target is built for unwinding and refers to the
/// personality routine; with `panic = "abort"` nothing ever unwinds, so it is never called.
/// (Stable Rust has no other way to satisfy the reference without std.)
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

// ---------------------------------------------------------------- the checks

fn check(ok: bool, what: &str, failures: &mut u32) {
    let _ = writeln!(Stdout, "  [{}] {what}", if ok { "ok" } else { "FAILED" });
    if !ok {
        *failures += 1;
    }
}

#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let _ = writeln!(
        Stdout,
        "nostd-check: netpoll-core + netpoll-boards in a #![no_std] binary"
    );
    let mut failures = 0;
    check(
        install_handler(),
        "SIGALRM handler installed",
        &mut failures,
    );
    let np = match Netpoll::new(&POLLER, EmbassyClock, &SLOTS) {
        Ok(np) => np,
        Err(_) => {
            let _ = writeln!(Stdout, "storage already in use");
            return 2;
        }
    };
    let h = match np.open(&TIMER) {
        Ok(h) => h,
        Err(_) => {
            let _ = writeln!(Stdout, "cannot open the line");
            return 2;
        }
    };

    // 1. The interrupt arrives before the read deadline: the wait completes.
    let start = np.clock().now();
    arm_timer(Duration::from_millis(20));
    let _ = np.set_read_deadline(h, Some(start.saturating_add(Duration::from_secs(5))));
    let r = blocking::wait_ready(&np, h, Mode::Read);
    let waited = np.clock().now().saturating_duration_since(start);
    let _ = writeln!(Stdout, "  wait 1: {r:?} after {} us", waited.as_micros());
    check(r == Ok(()), "interrupt completes the wait", &mut failures);
    check(
        waited >= Duration::from_millis(15),
        "the wait slept until the interrupt",
        &mut failures,
    );

    // 2. No interrupt: the read deadline fails the wait, never early.
    let start = np.clock().now();
    let _ = np.set_read_deadline(h, Some(start.saturating_add(Duration::from_millis(30))));
    let r = blocking::wait_ready(&np, h, Mode::Read);
    let waited = np.clock().now().saturating_duration_since(start);
    let _ = writeln!(Stdout, "  wait 2: {r:?} after {} us", waited.as_micros());
    check(
        r == Err(Error::Poll(PollError::Timeout)),
        "the deadline times the wait out",
        &mut failures,
    );
    check(
        waited >= Duration::from_millis(30),
        "not before the deadline",
        &mut failures,
    );

    // 3. After close, an interrupt for the line is dropped, not delivered.
    check(np.close(h, &TIMER).is_ok(), "close", &mut failures);
    let dropped = POLLER.stats().dropped_marks;
    // SAFETY: raising a signal we handle is always safe.
    unsafe { libc::raise(libc::SIGALRM) };
    check(
        POLLER.stats().dropped_marks == dropped + 1,
        "a mark for a closed line is dropped",
        &mut failures,
    );
    check(
        np.poll(Some(Duration::ZERO)) == Ok(0),
        "and wakes nobody",
        &mut failures,
    );

    let s = np.stats();
    let _ = writeln!(
        Stdout,
        "  stats: events {} timeouts {} wakeups {} polls {}",
        s.events, s.timeouts, s.wakeups, s.polls
    );
    if failures == 0 {
        let _ = writeln!(Stdout, "nostd-check: OK");
        0
    } else {
        let _ = writeln!(Stdout, "nostd-check: {failures} check(s) FAILED");
        1
    }
}
