//! Regression test for a bug the conformance suite found on inline runtimes (issue 15): a
//! deadline that passed while the runtime's driver thread kept making socket calls that never
//! wait was never seen, so Go's "write until the deadline" loop (`TestWriteToTimeout`) never
//! ended.
//!
//! Why it happened: a deadline expires when the runtime's loop fires its timer, and an inline
//! runtime's loop runs only when its driver waits (in a blocking call, or an executor with
//! nothing to run). A UDP send does not wait, so the driver never ran it. Go's timers fire on
//! any thread. The fix: on the driver, each operation checks its direction's deadline against
//! the clock before its syscall (`IoLock::expire_if_passed`). Each test gives up (fails) 2 s
//! after the deadline rather than hanging; the backend is `NETPOLL_BACKEND`'s.

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
fn a_deadline_passes_unseen_by_a_driver_whose_calls_never_wait() {
    util::run(BackendKind::from_env(), Mode::Inline, blocking);
}

#[test]
fn a_deadline_passes_unseen_by_a_driver_task_whose_calls_never_wait() {
    util::run(BackendKind::from_env(), Mode::Inline, in_a_task);
}
