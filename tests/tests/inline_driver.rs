//! Reproducer of a bug the conformance suite found on inline runtimes (issue 15): a deadline
//! that passes while the runtime's driver thread keeps making socket calls that never wait is
//! never seen, so Go's "write until the deadline" loop (`TestWriteToTimeout`) never ends.
//!
//! Why: a deadline expires when the runtime's loop fires its timer, and an inline runtime's
//! loop runs only when its driver waits (in a blocking call, or an executor with nothing to
//! run). A UDP send does not wait, so the driver never runs it, and the expired flag that the
//! next call's `prepare` (Go's `pollReset`) checks is never set. With a poller thread (or in
//! Go, whose timers run on any thread) the loop fires the timer regardless.
//!
//! Both tests are ignored until the std adapter fixes it; they fail within 2 s (they do not
//! hang): `cargo test -p netpoll-tests --test inline_driver -- --ignored` (on the backend of
//! `NETPOLL_BACKEND`; every backend fails alike).

mod util;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netpoll_std::{BackendKind, Runtime, UdpSocket};
use util::{assert_timeout, block_on, Mode};

/// How long the sends may go on past the deadline before the test gives up.
const GIVE_UP: Duration = Duration::from_secs(2);

/// Send to `dst` until `send` fails, which must be with "i/o timeout" within [`GIVE_UP`] of
/// a deadline 10 ms away.
fn send_until_the_deadline(u: &UdpSocket, mut send: impl FnMut(&UdpSocket) -> io::Result<usize>) {
    let deadline = Instant::now() + Duration::from_millis(10);
    u.set_write_deadline(Some(deadline))
        .expect("set_write_deadline");
    let mut sent = 0u64;
    let err = loop {
        match send(u) {
            Ok(_) => sent += 1,
            // A saturated kernel may say ENOBUFS (Go's issue 49930): try again.
            Err(e) if e.raw_os_error() == Some(libc_enobufs()) => {}
            Err(e) => break e,
        }
        let late = Instant::now().saturating_duration_since(deadline);
        assert!(
            late < GIVE_UP,
            "{sent} sends went through; still no timeout {late:?} after the deadline"
        );
    };
    assert_timeout(&err, "send_to");
}

fn libc_enobufs() -> i32 {
    #[cfg(unix)]
    return libc::ENOBUFS;
    #[cfg(windows)]
    return 10055;
}

fn pair(rt: &Runtime) -> (UdpSocket, SocketAddr, std::net::UdpSocket) {
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let dst = sink.local_addr().expect("addr");
    let u = UdpSocket::bind_in(rt, "127.0.0.1:0").expect("bind");
    (u, dst, sink)
}

/// The driver's blocking sends.
fn blocking(rt: &Runtime) {
    let (u, dst, _sink) = pair(rt);
    send_until_the_deadline(&u, |u| u.send_to(b"x", dst));
}

/// The driver's async sends, polled by an executor that runs the loop whenever its task is
/// pending (which a send that never waits never is).
fn in_a_task(rt: &Runtime) {
    let (u, dst, _sink) = pair(rt);
    send_until_the_deadline(&u, |u| block_on(u.send_to_async(b"x", dst)));
}

#[test]
#[ignore = "bug (issue 15): an inline runtime's driver never sees a deadline pass while its calls do not wait"]
fn a_deadline_passes_unseen_by_a_driver_whose_calls_never_wait() {
    util::run(BackendKind::from_env(), Mode::Inline, blocking);
}

#[test]
#[ignore = "bug (issue 15): an inline runtime's driver never sees a deadline pass while its calls do not wait"]
fn a_deadline_passes_unseen_by_a_driver_task_whose_calls_never_wait() {
    util::run(BackendKind::from_env(), Mode::Inline, in_a_task);
}
