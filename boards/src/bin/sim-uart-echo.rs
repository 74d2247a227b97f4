//! Echo lines over the simulated UART, with read deadlines, on the threaded simulated board.
//!
//! A "terminal" thread types lines into the UART (one pause longer than the read deadline,
//! one burst that overruns the 16-byte RX FIFO); the "wire" thread drains the TX FIFO and the
//! packet socket. The application is a superloop on the main thread: it reads with a
//! 250 ms read deadline, echoes each line back, and sends one datagram per line on the packet
//! socket. It prints the board's trace (interrupts, poll-loop events, waits that returned
//! empty, application outcomes) and a summary, and exits non-zero if the echo went wrong.
//!
//! Run with `cargo run -p netpoll-boards --features sim --bin sim-uart-echo`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use netpoll_boards::blocking::{self, WouldBlock};
use netpoll_boards::sim::{
    self, HostClock, Nvic, SimIdle, SimPacketSocket, SimUart, Trace, Traced,
};
use netpoll_boards::{CsLock, IrqPoller, Line};
use netpoll_core::{Clock, Error, Handle, Mode, Netpoll, PollDesc, PollError};

const UART: Line = Line(0);
const NET: Line = Line(1);
const READ_IDLE: Duration = Duration::from_millis(250);
const WRITE_LIMIT: Duration = Duration::from_millis(200);

type Np<'a> =
    Netpoll<Traced<&'a IrqPoller<4, SimIdle>>, &'a HostClock, &'a [PollDesc<CsLock>; 4], CsLock>;

/// What the far end of the wire received: UART bytes and datagrams.
type Received = Arc<Mutex<(Vec<u8>, Vec<Vec<u8>>)>>;

#[derive(Default, Debug)]
struct Summary {
    reads_completed: u32,
    read_timeouts: u32,
    overruns: u32,
    lines_echoed: u32,
    packets_sent: u32,
}

fn main() -> ExitCode {
    let clock = Arc::new(HostClock::new());
    let trace = Trace::new(clock.clone());
    let nvic = match Nvic::threaded() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("cannot start the simulated interrupt thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    let poller = Arc::new(IrqPoller::<4, SimIdle>::new(SimIdle::new()));
    let uart = SimUart::new("uart0", &nvic, UART, 16, 4);
    let net = SimPacketSocket::new("net0", &nvic, NET, 2, 64);
    sim::attach(&nvic, poller.clone(), uart.clone(), trace.clone());
    sim::attach(&nvic, poller.clone(), net.clone(), trace.clone());

    let slots = PollDesc::<CsLock>::array_with_lock::<4>();
    let np = match Netpoll::new(Traced::new(&*poller, trace.clone()), &*clock, &slots) {
        Ok(np) => np,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let received: Received = Arc::default();
    let terminal = spawn_terminal(uart.clone(), trace.clone());
    let wire = spawn_wire(uart.clone(), net.clone(), stop.clone(), received.clone());

    let summary = run_app(&np, &uart, &net, &trace);

    let _ = terminal.join();
    stop.store(true, Ordering::SeqCst);
    let _ = wire.join();
    nvic.shutdown();

    println!("== trace (time since boot, who, what)");
    for e in trace.entries() {
        println!("{e}");
    }
    let (echo, packets) = std::mem::take(&mut *received.lock().unwrap_or_else(|p| p.into_inner()));
    let echo = String::from_utf8_lossy(&echo).into_owned();
    println!("\n== the terminal received\n{echo}");
    println!("== datagrams on the packet socket");
    for p in &packets {
        println!("  {}", String::from_utf8_lossy(p));
    }
    let stats = np.stats();
    let irq = poller.stats();
    println!("\n== summary");
    println!("  reads completed      {}", summary.reads_completed);
    println!("  read deadlines hit   {}", summary.read_timeouts);
    println!("  overruns reported    {}", summary.overruns);
    println!("  lines echoed         {}", summary.lines_echoed);
    println!("  datagrams sent       {}", summary.packets_sent);
    println!("  interrupts taken     {}", nvic.taken());
    println!("  marks kept/dropped   {}/{}", irq.marks, irq.dropped_marks);
    println!(
        "  loop events          {} (stale {})",
        stats.events, stats.stale_events
    );
    println!("  loop deadlines fired {}", stats.timeouts);
    println!("  sleeps in idle hook  {}", poller.idle().sleeps());

    let ok = echo == "hello\nworld\n"
        && summary.read_timeouts >= 1
        && summary.overruns == 1
        && packets.len() == 2;
    if ok {
        println!("\nOK: both lines echoed, the idle pause timed out, the overrun was reported");
        ExitCode::SUCCESS
    } else {
        println!("\nUNEXPECTED: see the trace above");
        ExitCode::FAILURE
    }
}

/// The person at the terminal.
fn spawn_terminal(uart: Arc<SimUart>, trace: Arc<Trace>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let typed = |s: &[u8]| {
            trace.record(format_args!("host types {:?}", String::from_utf8_lossy(s)));
            uart.host_send(s);
        };
        thread::sleep(Duration::from_millis(20));
        typed(b"hello\n");
        thread::sleep(Duration::from_millis(60));
        typed(b"wor");
        thread::sleep(Duration::from_millis(120));
        typed(b"ld\n");
        // A pause longer than the read deadline.
        thread::sleep(Duration::from_millis(400));
        // A paste that overruns the 16-byte RX FIFO.
        typed(b"this line is far longer than the RX FIFO\n");
        thread::sleep(Duration::from_millis(60));
        typed(b"bye\n");
    })
}

/// The other end of the wire: drains the UART's TX FIFO quickly and the packet socket slowly.
fn spawn_wire(
    uart: Arc<SimUart>,
    net: Arc<SimPacketSocket>,
    stop: Arc<AtomicBool>,
    received: Received,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut tick = 0u32;
        while !stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(2));
            tick += 1;
            let bytes = uart.host_recv(4);
            let packet = if tick.is_multiple_of(20) {
                net.host_recv()
            } else {
                None
            };
            let mut r = received.lock().unwrap_or_else(|p| p.into_inner());
            r.0.extend(bytes);
            r.1.extend(packet);
        }
        let mut r = received.lock().unwrap_or_else(|p| p.into_inner());
        r.0.extend(uart.host_recv(usize::MAX));
        while let Some(p) = net.host_recv() {
            r.1.push(p);
        }
    })
}

fn run_app(np: &Np<'_>, uart: &SimUart, net: &SimPacketSocket, trace: &Trace) -> Summary {
    let mut s = Summary::default();
    let (hu, hn) = match (np.open(&UART), np.open(&NET)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            trace.record(format_args!("app  cannot open: {a:?} {b:?}"));
            return s;
        }
    };
    let mut line = Vec::new();
    let mut buf = [0u8; 16];
    loop {
        let start = np.clock().now();
        let _ = np.set_read_deadline(hu, Some(start.saturating_add(READ_IDLE)));
        match blocking::retry(np, hu, Mode::Read, || uart.read(&mut buf)) {
            Ok(n) => {
                s.reads_completed += 1;
                let waited = np.clock().now().saturating_duration_since(start);
                trace.record(format_args!(
                    "app  read completed: {n} bytes {:?} after waiting {:.1} ms",
                    String::from_utf8_lossy(&buf[..n]),
                    waited.as_secs_f64() * 1e3
                ));
                for &b in &buf[..n] {
                    if b != b'\n' {
                        line.push(b);
                        continue;
                    }
                    if line == b"bye" {
                        trace.record(format_args!("app  bye: closing"));
                        let _ = np.close(hu, &UART);
                        let _ = np.close(hn, &NET);
                        return s;
                    }
                    line.push(b'\n');
                    match echo(np, hu, hn, uart, net, &line, trace) {
                        Ok(()) => {
                            s.lines_echoed += 1;
                            s.packets_sent += 1;
                        }
                        Err(e) => trace.record(format_args!("app  echo failed: {e}")),
                    }
                    line.clear();
                }
            }
            Err(Error::Poll(PollError::Timeout)) => {
                s.read_timeouts += 1;
                trace.record(format_args!(
                    "app  read timed out: no byte for {} ms",
                    READ_IDLE.as_millis()
                ));
                if s.read_timeouts >= 5 {
                    trace.record(format_args!("app  giving up: terminal idle"));
                    return s;
                }
            }
            Err(Error::Poll(PollError::EventError)) => {
                s.overruns += 1;
                let lost = uart.take_lost();
                // Drop the partial line and what is left of it in the FIFO, then wait for the
                // line's next clean event, which clears the error.
                while uart.read(&mut buf).is_ok() {}
                line.clear();
                trace.record(format_args!(
                    "app  read failed: UART overrun, {lost} bytes lost; line dropped, \
                     waiting for a clean edge"
                ));
                if let Err(e) = wait_for_clean_event(np, hu) {
                    trace.record(format_args!("app  read failed: {e:?}"));
                    return s;
                }
            }
            Err(e) => {
                trace.record(format_args!("app  read failed: {e:?}"));
                return s;
            }
        }
    }
}

/// After an event error: like Go's poller, the core fails reads with `EventError` until the
/// line's next clean event clears the flag. This thread is the poll loop, so it runs the loop
/// until then (bytes arriving meanwhile wait in the FIFO), bounded by a fresh read deadline; a
/// deadline or a close ends the wait and the next read reports it.
fn wait_for_clean_event(np: &Np<'_>, h: Handle) -> Result<(), Error<netpoll_boards::IrqError>> {
    np.set_read_deadline(h, Some(np.clock().now().saturating_add(READ_IDLE)))?;
    while np.prepare(h, Mode::Read) == Err(PollError::EventError) {
        np.poll(None)?;
    }
    Ok(())
}

fn echo(
    np: &Np<'_>,
    hu: Handle,
    hn: Handle,
    uart: &SimUart,
    net: &SimPacketSocket,
    line: &[u8],
    trace: &Trace,
) -> Result<(), Error<netpoll_boards::IrqError>> {
    let start = np.clock().now();
    let limit = Some(start.saturating_add(WRITE_LIMIT));
    np.set_write_deadline(hu, limit)?;
    let mut sent = 0;
    while sent < line.len() {
        sent += blocking::retry(np, hu, Mode::Write, || uart.write(&line[sent..]))?;
    }
    let took = np.clock().now().saturating_duration_since(start);
    trace.record(format_args!(
        "app  echoed {} bytes in {:.1} ms (TX FIFO holds 4)",
        line.len(),
        took.as_secs_f64() * 1e3
    ));
    np.set_write_deadline(hn, limit)?;
    let msg = format!("echoed {} bytes", line.len());
    let start = np.clock().now();
    blocking::retry(np, hn, Mode::Write, || {
        net.send(msg.as_bytes()).map_err(|WouldBlock| WouldBlock)
    })?;
    let took = np.clock().now().saturating_duration_since(start);
    trace.record(format_args!(
        "app  datagram {msg:?} queued after {:.1} ms",
        took.as_secs_f64() * 1e3
    ));
    // No write is in flight any more: clear the limits so they never fire.
    np.set_write_deadline(hu, None)?;
    np.set_write_deadline(hn, None)?;
    Ok(())
}
