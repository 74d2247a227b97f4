//! Micro-benchmark of netpoll-std's `set_read_deadline`, the counterpart of Go's
//! `BenchmarkSetReadDeadline` in `bench/go/deadline_test.go`: each iteration sets a fresh
//! absolute read deadline 30 s ahead on a connected TCP stream (never reached).
//!
//! ```text
//! deadline-micro [--iters 1000000]
//! ```
//! Prints `{"ns_per_op": ..., "iters": ...}`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use netpoll_bench::args::Args;
use netpoll_std::net::{TcpListener, TcpStream};

fn run(iters: u64) -> std::io::Result<f64> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let c = TcpStream::connect(l.local_addr()?)?;
    let (_s, _) = l.accept()?;
    let ahead = Duration::from_secs(30);
    for _ in 0..iters.min(10_000) {
        c.set_read_deadline(Some(Instant::now() + ahead))?;
    }
    let start = Instant::now();
    for _ in 0..iters {
        c.set_read_deadline(Some(Instant::now() + ahead))?;
    }
    Ok(start.elapsed().as_nanos() as f64 / iters.max(1) as f64)
}

fn main() -> ExitCode {
    let iters = match Args::from_env(&[]).and_then(|mut a| {
        let n = a.get("iters", 1_000_000u64)?;
        a.finish().map(|_| n)
    }) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("deadline-micro: {e}");
            return ExitCode::from(2);
        }
    };
    match run(iters) {
        Ok(ns) => {
            println!("{{\"ns_per_op\":{ns},\"iters\":{iters}}}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("deadline-micro: {e}");
            ExitCode::from(1)
        }
    }
}
