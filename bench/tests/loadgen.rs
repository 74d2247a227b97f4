//! The load generator against a small thread-per-connection echo server in this process.
//! Counts and marks are checked, never timings.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use netpoll_bench::load::{self, Config, Mode};

/// Starts an echo server on an ephemeral port; its threads end when the clients disconnect.
fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("local_addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 || s.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn config(addr: SocketAddr, mode: Mode) -> Config {
    Config {
        addr,
        mode,
        conns: 3,
        size: 100,
        warmup: Duration::from_millis(20),
        duration: Duration::from_millis(100),
        messages: None,
    }
}

#[test]
fn closed_loop_with_a_message_limit_counts_exactly() {
    let mut cfg = config(echo_server(), Mode::Closed);
    cfg.messages = Some(10);
    cfg.duration = Duration::from_secs(60);
    let mut marks = Vec::new();
    let v = load::run(&cfg, &mut |m| marks.push(m.to_string())).expect("run");
    assert_eq!(v["messages"], 30);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["complete"], true);
    assert_eq!(v["fairness"]["min"], 10);
    assert_eq!(v["fairness"]["max"], 10);
    assert_eq!(marks, ["connected", "measure-start", "measure-end"]);
}

#[test]
fn open_loop_answers_what_it_sent() {
    let v = load::run(
        &config(echo_server(), Mode::Open { rate: 2000.0 }),
        &mut |_| {},
    )
    .expect("run");
    assert_eq!(v["errors"], 0);
    assert!(v["messages"].as_u64().unwrap() > 0);
    assert!(v["sent"].as_u64().unwrap() >= v["messages"].as_u64().unwrap());
    assert!(v["latency_us"]["p99"].as_f64().unwrap() > 0.0);
}

#[test]
fn hold_mode_marks_an_idle_window_after_the_active_one() {
    let mut cfg = config(
        echo_server(),
        Mode::Hold {
            active_fraction: 0.5,
            interval: Duration::from_millis(10),
            idle: Duration::from_millis(50),
        },
    );
    cfg.conns = 4;
    let mut marks = Vec::new();
    let v = load::run(&cfg, &mut |m| marks.push(m.to_string())).expect("run");
    assert_eq!(v["errors"], 0);
    assert_eq!(v["unanswered"], 0);
    assert_eq!(
        marks,
        [
            "connected",
            "measure-start",
            "measure-end",
            "idle-start",
            "idle-end"
        ]
    );
}

#[test]
fn a_refused_connection_is_an_error_not_a_panic() {
    // Bind then drop: nothing listens on this port any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(load::run(&config(addr, Mode::Closed), &mut |_| {}).is_err());
}
