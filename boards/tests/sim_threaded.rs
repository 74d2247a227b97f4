//! The threaded simulated board: a real interrupt thread, the condition-variable idle hook
//! and the host clock. Waits are bounded by generous deadlines; nothing sleeps to let things
//! settle.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use netpoll_boards::blocking;
use netpoll_boards::sim::{self, HostClock, Nvic, SimIdle, SimUart, Trace, Traced};
use netpoll_boards::{CsLock, IrqPoller, Line};
use netpoll_core::{Clock, Error, Mode, Netpoll, PollDesc, PollError};

const UART: Line = Line(0);
const LIMIT: Duration = Duration::from_secs(10);

struct Board {
    clock: Arc<HostClock>,
    nvic: Nvic,
    poller: Arc<IrqPoller<2, SimIdle>>,
    uart: Arc<SimUart>,
    trace: Arc<Trace>,
}

fn board() -> Board {
    let clock = Arc::new(HostClock::new());
    let trace = Trace::new(clock.clone());
    let nvic = Nvic::threaded().expect("interrupt thread");
    let poller = Arc::new(IrqPoller::new(SimIdle::new()));
    let uart = SimUart::new("uart0", &nvic, UART, 16, 4);
    sim::attach(&nvic, poller.clone(), uart.clone(), trace.clone());
    Board {
        clock,
        nvic,
        poller,
        uart,
        trace,
    }
}

#[test]
fn echo_through_the_interrupt_thread() {
    let b = board();
    let slots = PollDesc::<CsLock>::array_with_lock::<2>();
    let np = Netpoll::new(Traced::new(&*b.poller, b.trace.clone()), &*b.clock, &slots).unwrap();
    let h = np.open(&UART).unwrap();
    let limit = Some(b.clock.now().saturating_add(LIMIT));
    np.set_deadline(h, limit).unwrap();

    let host = {
        let uart = b.uart.clone();
        thread::spawn(move || {
            uart.host_send(b"ping\n");
            // Collect the echo, bounded.
            let start = StdInstant::now();
            let mut got = Vec::new();
            while got.len() < 5 && start.elapsed() < LIMIT {
                got.extend(uart.host_recv(2));
                thread::yield_now();
            }
            got
        })
    };

    let mut line = Vec::new();
    let mut buf = [0u8; 8];
    while !line.ends_with(b"\n") {
        let n = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf)).unwrap();
        line.extend_from_slice(&buf[..n]);
    }
    let mut sent = 0;
    while sent < line.len() {
        sent += blocking::retry(&np, h, Mode::Write, || b.uart.write(&line[sent..])).unwrap();
    }
    assert_eq!(host.join().unwrap(), b"ping\n");
    assert!(b.nvic.taken() >= 1);
    assert_eq!(np.stats().stale_events, 0);
    np.close(h, &UART).unwrap();
    b.nvic.shutdown();
}

#[test]
fn a_read_deadline_fires_in_real_time_and_never_early() {
    let b = board();
    let slots = PollDesc::<CsLock>::array_with_lock::<2>();
    let np = Netpoll::new(&*b.poller, &*b.clock, &slots).unwrap();
    let h = np.open(&UART).unwrap();
    let start = b.clock.now();
    np.set_read_deadline(h, Some(start.saturating_add(Duration::from_millis(20))))
        .unwrap();
    let mut buf = [0u8; 8];
    let r = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf));
    assert_eq!(r, Err(Error::Poll(PollError::Timeout)));
    let waited = b.clock.now().saturating_duration_since(start);
    assert!(
        waited >= Duration::from_millis(20),
        "fired early: {waited:?}"
    );
    assert!(b.poller.idle().sleeps() >= 1, "slept in the idle hook");
    b.nvic.shutdown();
}
