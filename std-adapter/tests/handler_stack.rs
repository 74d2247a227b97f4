//! A blocking handler with a large stack frame survives with the server's default stack size.
//! A stack overflow aborts the whole process, so the server runs in a child process (this test
//! binary, re-run with one ignored test selected) and the parent checks how it ended.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use netpoll_std::{Server, TcpListener, TcpStream};

const CHILD: &str = "NETPOLL_HANDLER_STACK_CHILD";

/// 128 KiB on the handler's own stack (the default was 64 KiB, which aborted the process).
fn big_frame_handler(mut s: TcpStream) {
    let mut buf = [0u8; 128 * 1024];
    let n = s.read(std::hint::black_box(&mut buf[..])).unwrap_or(0);
    let _ = s.write_all(std::hint::black_box(&buf[..n]));
}

#[test]
#[ignore = "run by handler_with_a_large_stack_frame_survives in a child process"]
fn child_serves_with_a_large_stack_frame() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = Server::new().blocking(l, big_frame_handler).unwrap();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"deep").unwrap();
    let mut got = [0u8; 4];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"deep");
    server.shutdown(Duration::from_secs(1));
}

#[test]
fn handler_with_a_large_stack_frame_survives() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "child_serves_with_a_large_stack_frame",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the server process died: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
}
