//! Micro-benchmark of netpoll-std's `set_read_deadline`, the counterpart of Go's
//! `BenchmarkSetReadDeadline` in `bench/go/deadline_test.go`: each iteration sets a fresh
//! absolute read deadline 30 s ahead on a connected TCP stream (never reached).
//!
//! ```text
//! deadline-micro [--iters 1000000] [--precomputed | --relative]
//! ```
//! Without `--precomputed` each iteration reads the clock (`Instant::now() + 30 s`), as a server
//! does before every read, so the figure includes the caller's clock read. With
//! `--precomputed` (the counterpart of `BenchmarkSetReadDeadlinePrecomputed`) the clock is read
//! once and iteration `i` sets `base + i ns`: a new, strictly later deadline each time, and
//! only the deadline operation is timed. With `--relative` each iteration calls
//! `set_read_deadline_after(30 s)`, the relative form of the first (Go's
//! `SetReadDeadline(time.Now().Add(30 * time.Second))`).
//!
//! Prints `{"ns_per_op": ..., "iters": ..., "precomputed": ..., "relative": ...}`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use netpoll_bench::cli::{Cli, Flag};
use netpoll_std::net::{TcpListener, TcpStream};

fn run(iters: u64, precomputed: bool, relative: bool) -> std::io::Result<f64> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let c = TcpStream::connect(l.local_addr()?)?;
    let (_s, _) = l.accept()?;
    let ahead = Duration::from_secs(30);
    let warmup = iters.min(10_000);
    if precomputed {
        let base = Instant::now() + ahead;
        // The warm-up and the timed loop share one counter so the deadlines keep increasing.
        for i in 0..warmup {
            c.set_read_deadline(Some(base + Duration::from_nanos(i)))?;
        }
        let start = Instant::now();
        for i in warmup..warmup + iters {
            c.set_read_deadline(Some(base + Duration::from_nanos(i)))?;
        }
        return Ok(start.elapsed().as_nanos() as f64 / iters.max(1) as f64);
    }
    if relative {
        for _ in 0..warmup {
            c.set_read_deadline_after(ahead)?;
        }
        let start = Instant::now();
        for _ in 0..iters {
            c.set_read_deadline_after(ahead)?;
        }
        return Ok(start.elapsed().as_nanos() as f64 / iters.max(1) as f64);
    }
    for _ in 0..warmup {
        c.set_read_deadline(Some(Instant::now() + ahead))?;
    }
    let start = Instant::now();
    for _ in 0..iters {
        c.set_read_deadline(Some(Instant::now() + ahead))?;
    }
    Ok(start.elapsed().as_nanos() as f64 / iters.max(1) as f64)
}

fn main() -> ExitCode {
    let cli = Cli {
        name: "deadline-micro",
        about: "Times netpoll-std's set_read_deadline (the counterpart of Go's \
                BenchmarkSetReadDeadline); prints one JSON line.",
        flags: vec![
            Flag::value("iters", "N", 1_000_000, "iterations timed"),
            Flag::switch(
                "precomputed",
                "read the clock once, not per iteration (BenchmarkSetReadDeadlinePrecomputed)",
            ),
            Flag::switch(
                "relative",
                "set_read_deadline_after(30 s) per iteration instead of now + 30 s",
            ),
        ],
    };
    let (iters, precomputed, relative) = match cli.parse_env().and_then(|v| {
        v.get::<u64>("iters")
            .map(|n| (n, v.given("precomputed"), v.given("relative")))
            .map_err(|e| {
                eprintln!("deadline-micro: {e}\n(see deadline-micro --help)");
                2
            })
    }) {
        Ok(x) => x,
        Err(code) => return ExitCode::from(code),
    };
    if precomputed && relative {
        eprintln!("deadline-micro: --precomputed and --relative exclude each other");
        return ExitCode::from(2);
    }
    match run(iters, precomputed, relative) {
        Ok(ns) => {
            println!(
                "{{\"ns_per_op\":{ns},\"iters\":{iters},\"precomputed\":{precomputed},\"relative\":{relative}}}"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("deadline-micro: {e}");
            ExitCode::from(1)
        }
    }
}
