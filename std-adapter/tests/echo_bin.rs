//! The `netpoll-echo` binary end to end: serves, closes idle connections at their deadline,
//! traces with `NETPOLL_DEBUG=1`, and shuts down gracefully on SIGTERM. Over every backend.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use netpoll_std::BackendKind;

const LIMIT: Duration = Duration::from_secs(20);

fn run(kind: BackendKind, mode: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpoll-echo"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--mode",
            mode,
            "--workers",
            "2",
            "--idle-timeout",
            "0.2",
        ])
        .env("NETPOLL_DEBUG", "1")
        .env("NETPOLL_BACKEND", kind.name())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netpoll-echo");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let addr = loop {
        let line = rx.recv_timeout(LIMIT).expect("a 'listening on' line");
        lines.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    c.write_all(b"echo me").unwrap();
    let mut got = [0u8; 7];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"echo me");
    // Say nothing more: the idle deadline closes the connection.
    assert_eq!(c.read(&mut got).unwrap_or(0), 0);
    let pid = child.id() as libc::pid_t;
    // SAFETY: sending SIGTERM to our own child process; no memory is involved.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    lines.extend(rx.iter());
    let text = lines.join("\n");
    let mut want = vec![
        "netpoll: init",
        "netpoll: add",
        "netpoll: deadline",
        "idle-closed 1",
    ];
    // Edge-triggered registration always reports the connected socket writable; a oneshot
    // backend reports only what a waiter armed, and whether the echo had to wait is timing.
    if kind != BackendKind::PollingOneshot {
        want.push("netpoll: ready");
    }
    for w in want {
        assert!(text.contains(w), "{kind}/{mode}: no {w:?} in\n{text}");
    }
}

#[test]
fn echo_binary_blocking() {
    for kind in BackendKind::all() {
        run(kind, "blocking");
    }
}

#[test]
fn echo_binary_async() {
    for kind in BackendKind::all() {
        run(kind, "async");
    }
}

#[test]
fn echo_binary_green() {
    for kind in BackendKind::all() {
        run(kind, "green");
    }
}
