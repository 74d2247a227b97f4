//! Micro-benchmark of netpoll-std's `set_read_deadline`, the counterpart of Go's
//! `BenchmarkSetReadDeadline` in `bench/go/deadline_test.go`: each iteration sets a fresh
//! absolute read deadline 30 s ahead on a connected TCP stream (never reached).
//!
//! ```text
//! deadline-micro [--iters 1000000] [--precomputed]
//! ```
//! Without `--precomputed` each iteration reads the clock (`Instant::now() + 30 s`), as a server
//! does before every read, so the figure includes the caller's clock read. With
//! `--precomputed` (the counterpart of `BenchmarkSetReadDeadlinePrecomputed`) the clock is read
//! once and iteration `i` sets `base + i ns`: a new, strictly later deadline each time, and
//! only the deadline operation is timed.
//!
//! Prints `{"ns_per_op": ..., "iters": ..., "precomputed": ...}`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use netpoll_bench::cli::{Cli, Flag};
use netpoll_std::net::{TcpListener, TcpStream};

fn run(iters: u64, precomputed: bool) -> std::io::Result<f64> {
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
        ],
    };
    let (iters, precomputed) = match cli.parse_env().and_then(|v| {
        v.get::<u64>("iters")
            .map(|n| (n, v.given("precomputed")))
            .map_err(|e| {
                eprintln!("deadline-micro: {e}\n(see deadline-micro --help)");
                2
            })
    }) {
        Ok(x) => x,
        Err(code) => return ExitCode::from(code),
    };
    match run(iters, precomputed) {
        Ok(ns) => {
            println!("{{\"ns_per_op\":{ns},\"iters\":{iters},\"precomputed\":{precomputed}}}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("deadline-micro: {e}");
            ExitCode::from(1)
        }
    }
}
