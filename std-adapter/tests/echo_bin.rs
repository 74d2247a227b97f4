//! The `netpoll-echo` binary end to end: serves, closes idle connections at their deadline,
//! traces with `NETPOLL_DEBUG=1`, and shuts down gracefully on SIGTERM (Ctrl-Break on
//! Windows). Over every backend.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use netpoll_std::BackendKind;

const LIMIT: Duration = Duration::from_secs(20);

/// Ask the server to stop as a user would: SIGTERM.
#[cfg(unix)]
fn stop(child: &std::process::Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: sending SIGTERM to our own child process; no memory is involved.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

/// Ask the server to stop as a user would: Ctrl-Break, sent to the child's own process group
/// (see `new_group`), so that this process does not receive it too.
#[cfg(windows)]
fn stop(child: &std::process::Child) {
    use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
    // SAFETY: plain call with integer arguments.
    let ok = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, child.id()) };
    assert_ne!(ok, 0, "{}", std::io::Error::last_os_error());
}

/// On Windows the child gets a process group of its own, so that a console event can be sent
/// to it alone.
fn new_group(cmd: &mut Command) -> &mut Command {
    #[cfg(windows)]
    {
        // CREATE_NEW_PROCESS_GROUP
        std::os::windows::process::CommandExt::creation_flags(cmd, 0x0000_0200);
    }
    cmd
}

/// How a test ends the server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// As a user would ([`stop`]): the server shuts down gracefully and reports.
    Graceful,
    /// Killed (SIGKILL, `TerminateProcess`): only what it printed while serving is checked.
    Kill,
}

fn run(kind: BackendKind, mode: &str, end: End) {
    let mut child = new_group(&mut Command::new(env!("CARGO_BIN_EXE_netpoll-echo")))
        .args([
            "--addr=127.0.0.1:0",
            "--mode",
            mode,
            "--workers=2",
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
    match end {
        End::Graceful => {
            stop(&child);
            let status = wait_bounded(&mut child);
            assert!(status.success(), "{status:?}");
        }
        End::Kill => {
            child.kill().unwrap();
            wait_bounded(&mut child);
        }
    }
    lines.extend(rx.iter());
    let text = lines.join("\n");
    let mut want = vec!["netpoll: init", "netpoll: add", "netpoll: deadline"];
    if end == End::Graceful {
        want.push("idle-closed 1");
    }
    // Edge-triggered registration always reports the connected socket writable; a oneshot
    // backend (any on Windows) reports only what a waiter armed, and whether the echo had to
    // wait is timing.
    if kind != BackendKind::PollingOneshot && !cfg!(windows) {
        want.push("netpoll: ready");
    }
    for w in want {
        assert!(text.contains(w), "{kind}/{mode}: no {w:?} in\n{text}");
    }
    // The banner names a worker count only where workers run.
    let banner = text.lines().find(|l| l.contains("listening on")).unwrap();
    assert_eq!(banner.contains("2 workers"), mode != "blocking", "{banner}");
}

/// The child's exit status, waiting at most [`LIMIT`] (then it is killed and the test fails).
fn wait_bounded(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("netpoll-echo did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8.0 cannot send the Ctrl-Break: a process it starts from a Unix shell has \
              no console, so GenerateConsoleCtrlEvent fails (ERROR_INVALID_ACCESS; after \
              AllocConsole, or under a pseudo-terminal, ERROR_INVALID_HANDLE), see \
              GenerateConsoleCtrlEvent in dlls/kernelbase/console.c, \
              https://gitlab.winehq.org/wine/wine/-/blob/wine-8.0/dlls/kernelbase/console.c"
)]
fn echo_binary_shuts_down_gracefully() {
    for kind in BackendKind::all() {
        for mode in ["blocking", "async"] {
            run(kind, mode, End::Graceful);
        }
    }
}

/// Serving, idle deadlines and the trace without the graceful stop (the server is killed):
/// the part that also runs under Wine.
#[test]
fn echo_binary_serves_until_killed() {
    for kind in BackendKind::all() {
        for mode in ["blocking", "async", "async-readable"] {
            run(kind, mode, End::Kill);
        }
    }
}

/// Green mode (Unix only), both handlers: served, idle deadlines, traced, and a graceful stop.
#[test]
#[cfg(unix)]
fn echo_binary_green() {
    for kind in BackendKind::all() {
        for mode in ["green", "green-blocking"] {
            run(kind, mode, End::Graceful);
        }
    }
}
