//! An echo server over netpoll-std with idle deadlines, serving until SIGINT or SIGTERM
//! (Ctrl-C or Ctrl-Break on Windows) and then shutting down gracefully.
//!
//! ```text
//! cargo run --release --bin netpoll-echo -- --addr 127.0.0.1:7000 --mode blocking|async|async-readable|green|green-blocking \
//!     --workers N --idle-timeout SECONDS [--write-timeout SECONDS] [--grace SECONDS]
//! ```
//!
//! `--idle-timeout` resets the read deadline before every read, `--write-timeout` the write
//! deadline before every write; `0` disables either. `--help` lists every flag with its
//! default.

#[path = "common/cli.rs"]
mod cli;
#[path = "common/echo.rs"]
mod echo;
#[path = "common/stop.rs"]
mod stop;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cli::{Cli, Flag, Values};
use echo::{EchoStats, Mode, Timeouts};
use netpoll_std::{Runtime, TcpListener};

struct Options {
    addr: String,
    mode: Mode,
    workers: usize,
    idle: f64,
    write: f64,
    grace: f64,
}

fn cli() -> Cli {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Cli {
        name: "netpoll-echo",
        about: "An echo server over netpoll-std with idle deadlines; serves until SIGINT or \
                SIGTERM, then shuts down gracefully.",
        flags: vec![
            Flag::value("addr", "HOST:PORT", "127.0.0.1:7000", "address to listen on"),
            Flag::value(
                "mode",
                "blocking|async|async-readable|green|green-blocking",
                "blocking",
                "a thread per connection, tasks on async workers (async-readable: waiting with \
                 readable() and reading with try_read), or blocking-style handlers on green \
                 coroutines over the workers (green: waiting in wait_readable() with no \
                 buffer of its own; green-blocking: the blocking handler as it is)",
            ),
            Flag::value(
                "workers",
                "N",
                cpus,
                "worker threads (async and green modes; one per CPU unless given)",
            ),
            Flag::value(
                "idle-timeout",
                "SECONDS",
                0,
                "close a connection silent this long (read deadline reset before every read); 0: off",
            ),
            Flag::value(
                "write-timeout",
                "SECONDS",
                0,
                "fail a write stuck this long (write deadline reset before every write); 0: off",
            ),
            Flag::value(
                "grace",
                "SECONDS",
                5,
                "at shutdown, how long handlers may finish before their connections are closed",
            ),
        ],
    }
}

fn options(v: &Values) -> Result<Options, String> {
    let o = Options {
        addr: v.get("addr")?,
        mode: v
            .get::<String>("mode")?
            .parse()
            .map_err(|e| format!("--mode: {e}"))?,
        workers: v.get("workers")?,
        idle: v.get("idle-timeout")?,
        write: v.get("write-timeout")?,
        grace: v.get("grace")?,
    };
    Values::check("workers", o.workers >= 1, "at least 1")?;
    let secs = |x: f64| x.is_finite() && (0.0..=1e9).contains(&x);
    Values::check("idle-timeout", secs(o.idle), "a number of seconds >= 0")?;
    Values::check("write-timeout", secs(o.write), "a number of seconds >= 0")?;
    Values::check("grace", secs(o.grace), "a number of seconds >= 0")?;
    Ok(o)
}

fn main() -> ExitCode {
    let cli = cli();
    let o = match cli.parse_env().and_then(|v| {
        options(&v).map_err(|e| {
            eprintln!("netpoll-echo: {e}\n(see netpoll-echo --help)");
            2
        })
    }) {
        Ok(o) => o,
        Err(code) => return ExitCode::from(code),
    };
    // Before any thread starts (see `stop.rs`).
    let signals = stop::StopSignals::install();
    let listener = match TcpListener::bind(&o.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("netpoll-echo: cannot listen on {}: {e}", o.addr);
            return ExitCode::FAILURE;
        }
    };
    let secs = |x: f64| (x > 0.0).then(|| Duration::from_secs_f64(x));
    let (idle, write) = (secs(o.idle), secs(o.write));
    let stats = Arc::new(EchoStats::default());
    let timeouts = Timeouts { idle, write };
    let server = match echo::serve(listener, o.mode, o.workers, timeouts, stats.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netpoll-echo: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backend = Runtime::global().map(|r| r.backend().name()).unwrap_or("?");
    let mode = match o.mode {
        Mode::Blocking => "blocking, a thread per connection".to_string(),
        Mode::Async => format!("async, {} workers", o.workers),
        Mode::AsyncReadable => format!("async with readable(), {} workers", o.workers),
        Mode::Green => format!("green, coroutines on {} workers", o.workers),
        Mode::GreenBlocking => format!(
            "green with the blocking handler, coroutines on {} workers",
            o.workers
        ),
    };
    eprintln!(
        "netpoll-echo: listening on {} ({mode}, idle timeout {}, write timeout {}, backend \
         {backend}); Ctrl-C to stop",
        server.local_addr(),
        idle.map_or("off".to_string(), |d| format!("{d:?}")),
        write.map_or("off".to_string(), |d| format!("{d:?}")),
    );
    // A signal thread shuts the server down; `main` joins it.
    let stopper = server.clone();
    let grace = Duration::from_secs_f64(o.grace);
    std::thread::spawn(move || {
        let sig = signals.wait();
        eprintln!(
            "netpoll-echo: {sig}, shutting down (grace {}s)",
            grace.as_secs_f64()
        );
        stopper.shutdown(grace)
    });
    let report = server.clone().join();
    let served = server.stats();
    eprintln!(
        "netpoll-echo: accepted {}, idle-closed {}, bytes echoed {}, closed at shutdown {}, \
         handler panics {}",
        served.accepted,
        stats.idle_closed.load(std::sync::atomic::Ordering::Relaxed),
        stats.bytes.load(std::sync::atomic::Ordering::Relaxed),
        report.closed_forcibly,
        served.panics,
    );
    ExitCode::SUCCESS
}
