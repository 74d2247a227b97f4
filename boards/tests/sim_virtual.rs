//! The simulated board in virtual time: deterministic scenarios over the same UART, packet
//! socket, interrupt handlers, IrqPoller and netpoll-core code as the threaded demo.

mod util;

use std::time::Duration;

use netpoll_boards::blocking::{self, WouldBlock};
use netpoll_core::{Clock, Error, Instant, Mode, PollError};
use util::{VBoard, NET, UART};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at_ms(n: u64) -> Option<Instant> {
    Some(Instant::from_nanos(n * 1_000_000))
}

#[test]
fn read_completes_when_the_bytes_arrive_before_the_deadline() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&UART).unwrap();
    let uart = b.uart.clone();
    b.time.after(ms(3), move || {
        uart.host_send(b"hi");
    });
    np.set_read_deadline(h, at_ms(10)).unwrap();
    let mut buf = [0u8; 8];
    let n = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"hi");
    assert_eq!(
        b.time.now(),
        Instant::from_nanos(3_000_000),
        "woken by the interrupt"
    );
    assert_eq!(b.trace.count("isr  uart0  line 0 rx -> marked"), 1);
    assert_eq!(b.trace.count("loop event desc 0"), 1);
}

#[test]
fn read_times_out_exactly_at_the_deadline() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&UART).unwrap();
    np.set_read_deadline(h, at_ms(10)).unwrap();
    let mut buf = [0u8; 8];
    let r = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf));
    assert_eq!(r, Err(Error::Poll(PollError::Timeout)));
    assert_eq!(b.time.now(), Instant::from_nanos(10_000_000));
    assert_eq!(np.stats().timeouts, 1);
    // Moving the deadline later makes the descriptor usable again (Go semantics).
    np.set_read_deadline(h, at_ms(30)).unwrap();
    let uart = b.uart.clone();
    b.time.after(ms(5), move || {
        uart.host_send(b"late");
    });
    let n = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"late");
    assert_eq!(b.time.now(), Instant::from_nanos(15_000_000));
}

#[test]
fn data_already_waiting_is_read_without_sleeping() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&UART).unwrap();
    b.uart.host_send(b"ready");
    let mut buf = [0u8; 8];
    let n = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf)).unwrap();
    assert_eq!(n, 5);
    assert_eq!(b.time.now(), Instant::ZERO);
    assert_eq!(np.stats().polls, 0, "no wait, no poll");
}

#[test]
fn a_write_waits_for_tx_fifo_space_freed_by_the_wire() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&UART).unwrap();
    // The wire transmits one byte per millisecond.
    for i in 1..=20 {
        let uart = b.uart.clone();
        b.time.at(Instant::from_nanos(i * 1_000_000), move || {
            uart.host_recv(1);
        });
    }
    let msg = b"0123456789";
    let mut sent = 0;
    while sent < msg.len() {
        sent += blocking::retry(&np, h, Mode::Write, || b.uart.write(&msg[sent..])).unwrap();
    }
    // TX FIFO holds 4: the first 4 go at once, then one per freed byte.
    assert_eq!(b.time.now(), Instant::from_nanos(6_000_000));
    assert!(b.trace.count("writable") >= 6);
}

#[test]
fn a_write_deadline_fails_a_blocked_write() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&UART).unwrap();
    assert_eq!(b.uart.write(b"full"), Ok(4));
    np.set_write_deadline(h, at_ms(2)).unwrap();
    let r = blocking::retry(&np, h, Mode::Write, || b.uart.write(b"x"));
    assert_eq!(r, Err(Error::Poll(PollError::Timeout)));
    assert_eq!(b.time.now(), Instant::from_nanos(2_000_000));
}

#[test]
fn an_overrun_is_reported_as_an_event_error_on_read() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&UART).unwrap();
    let uart = b.uart.clone();
    b.time.after(ms(1), move || {
        uart.host_send(&[b'x'; 40]);
    });
    let mut buf = [0u8; 64];
    let r = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf));
    assert_eq!(r, Err(Error::Poll(PollError::EventError)));
    assert_eq!(b.uart.take_lost(), 24);
    assert_eq!(b.trace.count("rx error -> marked"), 1);
}

#[test]
fn a_mark_for_a_closed_descriptor_never_reaches_its_successor() {
    let b = VBoard::new();
    let np = b.netpoll();
    let old = np.open(&UART).unwrap();
    b.uart.host_send(b"old"); // handler marks the line for `old`
    np.close(old, &UART).unwrap();
    let new = np.open(&UART).unwrap();
    assert_ne!(old, new);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(np.poll_wait(new, Mode::Read, &mut cx).is_pending());
    np.poll(Some(Duration::ZERO)).unwrap();
    assert!(
        np.poll_wait(new, Mode::Read, &mut cx).is_pending(),
        "the old registration's mark must not wake the new descriptor"
    );
    np.cancel_wait(new, Mode::Read, std::task::Waker::noop());
    assert_eq!(np.stats().events, 0);
}

#[test]
fn marks_while_the_line_is_not_registered_are_dropped_and_counted() {
    let b = VBoard::new();
    b.uart.host_send(b"nobody listens");
    assert_eq!(b.poller.stats().dropped_marks, 1);
    assert_eq!(b.trace.count("dropped (not registered)"), 1);
}

#[test]
fn packets_in_and_out_with_deadlines_and_a_link_error() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&NET).unwrap();
    let net = b.net.clone();
    b.time.after(ms(2), move || {
        net.host_send(b"ping");
    });
    np.set_deadline(h, at_ms(50)).unwrap();
    let mut buf = [0u8; 64];
    let n = blocking::retry(&np, h, Mode::Read, || b.net.recv(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"ping");
    // Fill the TX ring (2 slots); the third send waits until the wire takes one at 7 ms.
    b.net.send(b"a").unwrap();
    b.net.send(b"b").unwrap();
    let net = b.net.clone();
    b.time.after(ms(5), move || {
        net.host_recv();
    });
    blocking::retry(&np, h, Mode::Write, || b.net.send(b"pong")).unwrap();
    assert_eq!(b.time.now(), Instant::from_nanos(7_000_000));
    // The link fails: a read wait reports the event error.
    let net = b.net.clone();
    b.time.after(ms(1), move || net.host_link_error());
    let r = blocking::retry(&np, h, Mode::Read, || Err::<(), _>(WouldBlock));
    assert_eq!(r, Err(Error::Poll(PollError::EventError)));
}

#[test]
fn two_descriptors_one_loop() {
    // A read on the UART while packets arrive: the loop applies both lines' events; the
    // packet's readiness is remembered for the later wait on the socket.
    let b = VBoard::new();
    let np = b.netpoll();
    let hu = np.open(&UART).unwrap();
    let hn = np.open(&NET).unwrap();
    let (net, uart) = (b.net.clone(), b.uart.clone());
    b.time.after(ms(1), move || {
        net.host_send(b"first");
    });
    b.time.after(ms(4), move || {
        uart.host_send(b"u");
    });
    let mut buf = [0u8; 16];
    blocking::retry(&np, hu, Mode::Read, || b.uart.read(&mut buf)).unwrap();
    assert_eq!(b.time.now(), Instant::from_nanos(4_000_000));
    np.prepare(hn, Mode::Read).unwrap();
    let n = b.net.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"first");
}

#[test]
fn event_error_clears_on_the_next_clean_event_like_go() {
    let b = VBoard::new();
    let np = b.netpoll();
    let h = np.open(&UART).unwrap();
    b.uart.host_send(&[b'x'; 40]); // overrun: rx + error
    let mut buf = [0u8; 64];
    let r = blocking::retry(&np, h, Mode::Read, || Err::<(), _>(WouldBlock));
    assert_eq!(r, Err(Error::Poll(PollError::EventError)));
    while b.uart.read(&mut buf).is_ok() {}
    b.uart.take_lost();
    // A turn of the loop with no event leaves the flag: reads keep failing until a clean edge.
    np.poll(Some(Duration::ZERO)).unwrap();
    assert_eq!(np.prepare(h, Mode::Read), Err(PollError::EventError));
    b.uart.host_send(b"ok"); // a clean rx edge
    np.poll(Some(Duration::ZERO)).unwrap();
    let n = blocking::retry(&np, h, Mode::Read, || b.uart.read(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"ok");
}
