//! The checks every board runs, in thread mode, against interrupts the board raises.
//!
//! 1. A software-pended interrupt wakes a blocked read (the tick handler pends it while the
//!    reader sleeps in `wfi`).
//! 2. A read deadline fires on its tick.
//! 3. An expired deadline fails at once: it wakes a parked waiter from the setter itself, and
//!    `prepare` fails even with data ready; clearing it makes the next wait block again.
//! 4. An event after close wakes nobody: the waiter woken by the close is not woken again,
//!    the mark is dropped, and a descriptor reopened on the line does not see it.
//! 5. The interrupt-deadline stress: for thousands of rounds, the tick handler moves a
//!    descriptor's read deadline on every tick (later, then earlier than the loop knows,
//!    which makes the setter lower the loop's wake-up promise and wake it) and reads
//!    `stats()`, while thread mode polls, alternately busy (`poll(Some(ZERO))`) and sleeping
//!    in `wfi` (`poll(None)`). Each round's deadline must still fire on its tick.
//! 6. A UART receive interrupt completes a read: the host sends `ping` after the firmware
//!    announces itself on the UART, and the firmware answers `pong`.
//!
//! Results go to the semihosting console; the exit status is 0 only if every check passed.

use core::cell::RefCell;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use core::time::Duration;

use critical_section::Mutex;
use netpoll_boards::{blocking, EmbassyClock, Line};
use netpoll_core::{Error, Handle, Instant, Mode, PollError};
use portable_atomic::{AtomicU32, Ordering};

use crate::{lines, netpoll, println, time, Np, POLLER, SOFT_IRQS, SOFT_LINE, UART_IRQS};

/// What the firmware needs from a board besides its interrupt handlers.
pub trait Board {
    /// The QEMU machine's name.
    const NAME: &'static str;
    /// Make the software interrupt pending; its handler calls [`crate::on_soft_irq`].
    fn pend_soft_irq();
    /// Enable the UART receiver and its interrupt; the handler calls [`crate::on_uart_irq`]
    /// and [`crate::on_uart_byte`].
    fn uart_enable_rx();
    /// Send `bytes` on the UART, blocking until the hardware took them.
    fn uart_write(bytes: &[u8]);
}

/// Rounds of the interrupt-deadline stress.
pub const STRESS_ROUNDS: u32 = 2_000;
/// Ticks from the start of a stress round to its deadline.
const STRESS_TICKS: u64 = 12;

type CheckResult = Result<(), &'static str>;
type Check = fn(&Np) -> CheckResult;

/// Run every check on board `B`, print the results and exit QEMU with the status.
pub fn run<B: Board>() -> ! {
    let np = crate::init_netpoll();
    critical_section::with(|cs| TICK.borrow_ref_mut(cs).pend_soft = Some(B::pend_soft_irq));
    println!(
        "netpoll-qemu on {}: {} Hz tick, {} descriptors",
        B::NAME,
        time::TICK_HZ,
        lines::COUNT
    );
    let start = time::now();
    let mut failed = 0;
    let checks: [(&str, Check); 5] = [
        ("soft_irq_wakes_blocked_read", soft_irq_wakes_blocked_read),
        ("deadline_fires_on_its_tick", deadline_fires_on_its_tick),
        (
            "expired_deadline_fails_at_once",
            expired_deadline_fails_at_once,
        ),
        (
            "event_after_close_wakes_nobody",
            event_after_close_wakes_nobody::<B>,
        ),
        ("isr_deadline_stress", isr_deadline_stress),
    ];
    for (name, check) in checks {
        failed += report(name, check(np));
        close_leftovers(np);
    }
    failed += report("uart_rx_irq_wakes_read", uart_rx_irq_wakes_read::<B>(np));
    close_leftovers(np);
    let s = np.stats();
    let irq = POLLER.stats();
    println!(
        "stats: polls {} events {} timeouts {} wakeups {}; irq marks {} dropped {}",
        s.polls, s.events, s.timeouts, s.wakeups, irq.marks, irq.dropped_marks
    );
    let ticks = time::now() - start;
    if failed == 0 {
        println!("all 6 checks passed in {} ticks", ticks);
        semihosting::process::exit(0)
    }
    println!("{} of 6 checks FAILED ({} ticks)", failed, ticks);
    semihosting::process::exit(1)
}

fn report(name: &str, result: CheckResult) -> u32 {
    match result {
        Ok(()) => {
            println!("ok   {}", name);
            0
        }
        Err(why) => {
            println!("FAIL {}: {}", name, why);
            1
        }
    }
}

fn ensure(ok: bool, why: &'static str) -> CheckResult {
    if ok {
        Ok(())
    } else {
        Err(why)
    }
}

/// The core's instant for embassy tick `t`.
fn at_tick(t: u64) -> Instant {
    EmbassyClock::to_core(embassy_time::Instant::from_ticks(t))
}

/// The descriptor open on each line, so a check that fails half-way leaves nothing open for
/// the next one.
static OPEN: Mutex<RefCell<[Option<Handle>; lines::COUNT]>> =
    Mutex::new(RefCell::new([None; lines::COUNT]));

fn open(np: &Np, line: Line) -> Result<Handle, &'static str> {
    let h = np.open(&line).map_err(|_| "open failed")?;
    critical_section::with(|cs| OPEN.borrow_ref_mut(cs)[usize::from(line.0)] = Some(h));
    Ok(h)
}

fn close(np: &Np, h: Handle, line: Line) -> CheckResult {
    critical_section::with(|cs| OPEN.borrow_ref_mut(cs)[usize::from(line.0)] = None);
    np.close(h, &line).map_err(|_| "close failed")
}

fn close_leftovers(np: &Np) {
    let left = critical_section::with(|cs| {
        let mut t = TICK.borrow_ref_mut(cs);
        t.soft_at = None;
        t.stress = None;
        core::mem::take(&mut *OPEN.borrow_ref_mut(cs))
    });
    for (i, h) in left.iter().enumerate() {
        if let Some(h) = h {
            let _ = np.close(*h, &Line(i as u16));
        }
    }
}

/// Busy-wait (bounded) until `done`, for effects of an interrupt pended from thread mode.
fn spin_until(done: impl Fn() -> bool) -> CheckResult {
    let until = time::now() + 100;
    while !done() {
        if time::now() > until {
            return Err("interrupt not taken within 100 ticks");
        }
        core::hint::spin_loop();
    }
    Ok(())
}

// ------------------------------------------------------------------ the tick handler's part

#[derive(Default)]
struct TickState {
    pend_soft: Option<fn()>,
    /// Pend the software interrupt at this tick.
    soft_at: Option<u64>,
    /// The stress round in progress: the descriptor and the tick its deadline must fire on.
    stress: Option<(Handle, u64)>,
    moves: u32,
    lowerings: u32,
    set_errors: u32,
    stats_reads: u32,
    stats_backwards: u32,
    last_polls: u64,
    last_timeouts: u64,
}

static TICK: Mutex<RefCell<TickState>> = Mutex::new(RefCell::new(TickState {
    pend_soft: None,
    soft_at: None,
    stress: None,
    moves: 0,
    lowerings: 0,
    set_errors: 0,
    stats_reads: 0,
    stats_backwards: 0,
    last_polls: 0,
    last_timeouts: 0,
}));

/// The tick handler's share of the checks (see [`crate::on_tick`]).
pub(crate) fn on_tick(now: u64) {
    let Some(np) = netpoll() else { return };
    let (pend, stress) = critical_section::with(|cs| {
        let mut t = TICK.borrow_ref_mut(cs);
        let pend = match t.soft_at {
            Some(at) if at <= now => {
                t.soft_at = None;
                t.pend_soft
            }
            _ => None,
        };
        (pend, t.stress)
    });
    if let Some(pend) = pend {
        pend();
    }
    if let Some((h, target)) = stress {
        // Ticks before the deadline alternate between pushing it later (the loop's timer
        // entry is left alone) and pulling it earlier than every value before (the setter
        // lowers the loop's promise and wakes it); the last tick before it sets it exactly.
        let left = target.saturating_sub(now);
        let next = match left {
            0 => None,
            1 => Some((target, true)),
            l if l % 2 == 1 => Some((target + 20, false)),
            l => Some((target + l, true)),
        };
        if let Some((t, lower)) = next {
            let ok = np.set_read_deadline(h, Some(at_tick(t))).is_ok();
            critical_section::with(|cs| {
                let mut s = TICK.borrow_ref_mut(cs);
                s.moves += 1;
                s.lowerings += u32::from(lower);
                s.set_errors += u32::from(!ok);
            });
        }
    }
    // Read the loop's counters from the interrupt every tick: they never go back.
    let s = np.stats();
    critical_section::with(|cs| {
        let mut t = TICK.borrow_ref_mut(cs);
        t.stats_reads += 1;
        if s.polls < t.last_polls || s.timeouts < t.last_timeouts {
            t.stats_backwards += 1;
        }
        t.last_polls = s.polls;
        t.last_timeouts = s.timeouts;
    });
}

// ------------------------------------------------------------------ a counting waker

static WAKES: AtomicU32 = AtomicU32::new(0);

fn counting_waker() -> Waker {
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    fn wake(_: *const ()) {
        WAKES.fetch_add(1, Ordering::Relaxed);
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: the vtable's functions ignore the data pointer (null) and touch only the
    // `WAKES` atomic, so every contract of `RawWaker` holds for any thread or context.
    unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) }
}

fn wakes() -> u32 {
    WAKES.load(Ordering::Relaxed)
}

// ------------------------------------------------------------------ the checks

fn soft_irq_wakes_blocked_read(np: &Np) -> CheckResult {
    let h = open(np, lines::SOFT)?;
    np.prepare(h, Mode::Read).map_err(|_| "prepare failed")?;
    let start = time::now();
    // A far deadline, so a wake-up by the deadline could not pass for the interrupt's.
    np.set_read_deadline(h, Some(at_tick(start + 1_000)))
        .map_err(|_| "set_read_deadline failed")?;
    let irqs = SOFT_IRQS.load(Ordering::Relaxed);
    critical_section::with(|cs| TICK.borrow_ref_mut(cs).soft_at = Some(start + 5));
    let r = blocking::wait_ready(np, h, Mode::Read);
    let woke = time::now();
    ensure(r.is_ok(), "the wait did not end ready")?;
    ensure(
        SOFT_IRQS.load(Ordering::Relaxed) == irqs + 1,
        "not one software interrupt",
    )?;
    ensure(woke >= start + 5, "woke before the interrupt was pended")?;
    println!(
        "     pended at tick +5, read woke at tick +{}",
        woke - start
    );
    // The edge is consumed: a new wait blocks.
    np.prepare(h, Mode::Read).map_err(|_| "prepare failed")?;
    let mut cx = Context::from_waker(Waker::noop());
    ensure(
        np.poll_wait(h, Mode::Read, &mut cx).is_pending(),
        "the edge was delivered twice",
    )?;
    np.cancel_wait(h, Mode::Read, Waker::noop());
    close(np, h, lines::SOFT)
}

fn deadline_fires_on_its_tick(np: &Np) -> CheckResult {
    let h = open(np, lines::TIMER)?;
    let timeouts = np.stats().timeouts;
    np.prepare(h, Mode::Read).map_err(|_| "prepare failed")?;
    let target = time::now() + 20;
    np.set_read_deadline(h, Some(at_tick(target)))
        .map_err(|_| "set_read_deadline failed")?;
    let r = blocking::wait_ready(np, h, Mode::Read);
    let fired = time::now();
    ensure(
        r == Err(Error::Poll(PollError::Timeout)),
        "the wait did not time out",
    )?;
    ensure(fired >= target, "the deadline fired early")?;
    println!("     deadline at tick {}, fired at tick {}", target, fired);
    ensure(fired == target, "the deadline fired late")?;
    ensure(np.stats().timeouts == timeouts + 1, "timeouts not counted")?;
    close(np, h, lines::TIMER)
}

fn expired_deadline_fails_at_once(np: &Np) -> CheckResult {
    let h = open(np, lines::TIMER)?;
    np.prepare(h, Mode::Read).map_err(|_| "prepare failed")?;
    let waker = counting_waker();
    let mut cx = Context::from_waker(&waker);
    ensure(
        np.poll_wait(h, Mode::Read, &mut cx).is_pending(),
        "nothing ready, yet the wait did not park",
    )?;
    let before = wakes();
    let polls = np.stats().polls;
    let now = time::now();
    // A deadline at the current tick has passed: the setter itself wakes the waiter.
    np.set_read_deadline(h, Some(at_tick(now)))
        .map_err(|_| "set_read_deadline failed")?;
    ensure(wakes() == before + 1, "the parked waiter was not woken")?;
    ensure(
        np.poll_wait(h, Mode::Read, &mut cx) == Poll::Ready(Err(PollError::Timeout)),
        "the woken wait did not time out",
    )?;
    ensure(np.stats().polls == polls, "it needed the poll loop")?;
    ensure(time::now() <= now + 1, "not at once")?;
    // Data ready does not save an operation whose deadline passed (Go's pollReset).
    POLLER.mark_readable(lines::TIMER);
    np.poll(Some(Duration::ZERO)).map_err(|_| "poll failed")?;
    ensure(
        np.prepare(h, Mode::Read) == Err(PollError::Timeout),
        "prepare succeeded past the deadline",
    )?;
    // Clearing the deadline makes the next wait block again.
    np.set_read_deadline(h, None)
        .map_err(|_| "clearing the deadline failed")?;
    np.prepare(h, Mode::Read)
        .map_err(|_| "prepare failed after clearing")?;
    ensure(
        np.poll_wait(h, Mode::Read, &mut cx).is_pending(),
        "the wait did not block after clearing the deadline",
    )?;
    np.cancel_wait(h, Mode::Read, &waker);
    close(np, h, lines::TIMER)
}

fn event_after_close_wakes_nobody<B: Board>(np: &Np) -> CheckResult {
    let h = open(np, lines::CLOSED)?;
    np.prepare(h, Mode::Read).map_err(|_| "prepare failed")?;
    let waker = counting_waker();
    let mut cx = Context::from_waker(&waker);
    ensure(
        np.poll_wait(h, Mode::Read, &mut cx).is_pending(),
        "the wait did not park",
    )?;
    let w0 = wakes();
    close(np, h, lines::CLOSED)?;
    ensure(wakes() == w0 + 1, "close did not wake the waiter once")?;
    ensure(
        np.poll_wait(h, Mode::Read, &mut cx).is_ready(),
        "the closed handle still waits",
    )?;
    let dropped = POLLER.stats().dropped_marks;
    let events = np.stats().events;
    let irqs = SOFT_IRQS.load(Ordering::Relaxed);
    // The line's interrupt fires after the close.
    SOFT_LINE.store(lines::CLOSED.0, Ordering::Relaxed);
    B::pend_soft_irq();
    let taken = spin_until(|| SOFT_IRQS.load(Ordering::Relaxed) > irqs);
    SOFT_LINE.store(lines::SOFT.0, Ordering::Relaxed);
    taken?;
    ensure(
        POLLER.stats().dropped_marks == dropped + 1,
        "the mark was not dropped",
    )?;
    let woken = np.poll(Some(Duration::ZERO)).map_err(|_| "poll failed")?;
    ensure(woken == 0, "the loop woke someone")?;
    ensure(wakes() == w0 + 1, "the closed waiter was woken again")?;
    ensure(np.stats().events == events, "an event was delivered")?;
    // A descriptor reopened on the line does not inherit the event.
    let h2 = open(np, lines::CLOSED)?;
    np.prepare(h2, Mode::Read).map_err(|_| "prepare failed")?;
    np.poll(Some(Duration::ZERO)).map_err(|_| "poll failed")?;
    ensure(
        np.poll_wait(h2, Mode::Read, &mut cx).is_pending(),
        "the reopened descriptor saw the old event",
    )?;
    np.cancel_wait(h2, Mode::Read, &waker);
    close(np, h2, lines::CLOSED)
}

fn isr_deadline_stress(np: &Np) -> CheckResult {
    let h = open(np, lines::STRESS)?;
    let start = time::now();
    let mut exact = 0u32;
    let mut cx = Context::from_waker(Waker::noop());
    let result = (|| {
        for round in 0..STRESS_ROUNDS {
            critical_section::with(|cs| TICK.borrow_ref_mut(cs).stress = None);
            np.set_read_deadline(h, None)
                .map_err(|_| "clearing the deadline failed")?;
            np.prepare(h, Mode::Read).map_err(|_| "prepare failed")?;
            let target = time::now() + STRESS_TICKS;
            np.set_read_deadline(h, Some(at_tick(target + STRESS_TICKS + 1)))
                .map_err(|_| "set_read_deadline failed")?;
            critical_section::with(|cs| TICK.borrow_ref_mut(cs).stress = Some((h, target)));
            let r = if round % 2 == 0 {
                // Busy: thread mode is inside the loop whenever the tick interrupt comes.
                loop {
                    if let Poll::Ready(r) = np.poll_wait(h, Mode::Read, &mut cx) {
                        break r.map_err(Error::Poll);
                    }
                    np.poll(Some(Duration::ZERO)).map_err(|_| "poll failed")?;
                }
            } else {
                blocking::wait_ready(np, h, Mode::Read)
            };
            let fired = time::now();
            if r != Err(Error::Poll(PollError::Timeout)) {
                return Err("a stress round did not time out");
            }
            if fired < target {
                return Err("a stress deadline fired early");
            }
            if fired > target + 1 {
                println!(
                    "     round {}: deadline tick {} fired at {}",
                    round, target, fired
                );
                return Err("a stress deadline fired late");
            }
            exact += u32::from(fired == target);
        }
        Ok(())
    })();
    let t = critical_section::with(|cs| {
        let mut t = TICK.borrow_ref_mut(cs);
        t.stress = None;
        (
            t.moves,
            t.lowerings,
            t.set_errors,
            t.stats_reads,
            t.stats_backwards,
        )
    });
    result?;
    println!(
        "     {} rounds in {} ticks: {} deadline moves from the tick interrupt ({} earlier), \
         {} stats reads there; {} of {} fired on their tick (the others one tick later)",
        STRESS_ROUNDS,
        time::now() - start,
        t.0,
        t.1,
        t.3,
        exact,
        STRESS_ROUNDS
    );
    ensure(t.2 == 0, "a deadline set from the interrupt failed")?;
    ensure(t.4 == 0, "stats went backwards")?;
    ensure(t.1 >= STRESS_ROUNDS, "too few lowerings")?;
    close(np, h, lines::STRESS)
}

fn uart_rx_irq_wakes_read<B: Board>(np: &Np) -> CheckResult {
    let h = open(np, lines::UART)?;
    B::uart_enable_rx();
    B::uart_write(b"netpoll-qemu: send a line\n");
    let mut line = [0u8; 16];
    let mut len = 0;
    while !line[..len].contains(&b'\n') {
        if len == line.len() {
            return Err("no newline in 16 bytes");
        }
        let n = blocking::retry(np, h, Mode::Read, || crate::uart_read(&mut line[len..]))
            .map_err(|_| "the UART read failed")?;
        len += n;
    }
    ensure(&line[..len] == b"ping\n", "the host sent something else")?;
    ensure(
        UART_IRQS.load(Ordering::Relaxed) > 0,
        "the bytes did not come through the receive interrupt",
    )?;
    B::uart_write(b"pong\n");
    println!(
        "     read {:?} after {} UART interrupts",
        core::str::from_utf8(&line[..len - 1]).unwrap_or("?"),
        UART_IRQS.load(Ordering::Relaxed)
    );
    close(np, h, lines::UART)
}
