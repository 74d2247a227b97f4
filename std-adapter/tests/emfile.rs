//! EMFILE during accept: the error reaches the caller, and the listener works again once
//! descriptors are free. Its own test binary, because it lowers the process's file limit.
//!
//! Unix only: Windows has no per-process descriptor limit to lower (`WSAEMFILE` means the
//! system ran out of socket handles), so there is no way to provoke it on demand; the
//! fault-injection suite (`tests/tests/faults.rs`) covers failing accepts on every OS.
#![cfg(unix)]

use std::io::Read;

use netpoll_std::{BackendKind, Runtime, TcpListener};

#[test]
fn emfile_during_accept_is_an_error_not_a_crash() {
    for kind in BackendKind::all() {
        check(kind);
    }
}

fn check(kind: BackendKind) {
    let rt = Runtime::builder()
        .backend(kind)
        .capacity(64)
        .build()
        .unwrap();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    // Fill the table up to a low limit: the next accept has no descriptor to take.
    let mut hold = Vec::new();
    let peer = std::net::TcpStream::connect(addr).unwrap();
    let highest = {
        let f = std::fs::File::open("/dev/null").unwrap();
        u32::try_from(std::os::fd::AsRawFd::as_raw_fd(&f)).unwrap()
    };
    // `rlim_t` is `u64` on Linux and macOS, `i64` on FreeBSD: both take a `u32`.
    let low = libc::rlimit {
        rlim_cur: (highest + 1).into(),
        rlim_max: old.rlim_max,
    };
    // SAFETY: `low` is a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hold.push(f);
    }
    let err = l.accept().unwrap_err();
    // SAFETY: `old` is the limit read above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{kind}: {err}");
    drop(hold);
    // The pending connection is still in the backlog; now it is accepted.
    let (mut s, _) = l.accept().unwrap();
    let mut p = peer;
    std::io::Write::write_all(&mut p, b"k").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"k");
}
