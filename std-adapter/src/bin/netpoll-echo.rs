//! An echo server over netpoll-std with idle deadlines, serving until SIGINT or SIGTERM and
//! then shutting down gracefully.
//!
//! ```text
//! cargo run --release --bin netpoll-echo -- --addr 127.0.0.1:7000 --mode blocking|async|green \
//!     --workers N --idle-timeout SECONDS [--grace SECONDS]
//! ```
//!
//! `--idle-timeout` resets the read deadline before every read; `0` disables it.

#[path = "common/echo.rs"]
mod echo;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use echo::{flags, parse, EchoStats, Mode};
use netpoll_std::{Runtime, TcpListener};

const USAGE: &str =
    "usage: netpoll-echo [--addr HOST:PORT] [--mode blocking|async|green] [--workers N] \
                     [--idle-timeout SECONDS] [--grace SECONDS]";

struct Options {
    addr: String,
    mode: Mode,
    workers: usize,
    idle: f64,
    grace: f64,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        addr: "127.0.0.1:7000".into(),
        mode: Mode::Blocking,
        workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        idle: 0.0,
        grace: 5.0,
    };
    for (name, v) in flags(std::env::args().skip(1))? {
        match name.as_str() {
            "addr" => o.addr = v,
            "mode" => o.mode = v.parse()?,
            "workers" => o.workers = parse(&name, &v)?,
            "idle-timeout" => o.idle = parse(&name, &v)?,
            "grace" => o.grace = parse(&name, &v)?,
            "help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown flag --{name}\n{USAGE}")),
        }
    }
    if !(o.idle.is_finite() && o.idle >= 0.0 && o.grace.is_finite() && o.grace >= 0.0) {
        return Err("--idle-timeout and --grace take a number of seconds >= 0".into());
    }
    Ok(o)
}

/// Block SIGINT and SIGTERM in this thread (and every thread started after), so that
/// `sigwait` can take them synchronously.
fn block_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid storage for sigemptyset to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the calls only write to it and to this thread's mask.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    set
}

fn wait_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: `set` is an initialised sigset_t and `sig` a writable int.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let signals = block_signals();
    let listener = match TcpListener::bind(&o.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("netpoll-echo: cannot listen on {}: {e}", o.addr);
            return ExitCode::FAILURE;
        }
    };
    let idle = (o.idle > 0.0).then(|| Duration::from_secs_f64(o.idle));
    let stats = Arc::new(EchoStats::default());
    let server = match echo::serve(listener, o.mode, o.workers, idle, stats.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netpoll-echo: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backend = Runtime::global().map(|r| r.backend().name()).unwrap_or("?");
    eprintln!(
        "netpoll-echo: listening on {} (mode {:?}, {} workers, idle timeout {}, backend {backend}); \
         Ctrl-C to stop",
        server.local_addr(),
        o.mode,
        o.workers,
        idle.map_or("off".to_string(), |d| format!("{d:?}")),
    );
    let sig = wait_signal(&signals);
    eprintln!(
        "netpoll-echo: signal {sig}, shutting down (grace {}s)",
        o.grace
    );
    let served = server.stats();
    let report = server.shutdown(Duration::from_secs_f64(o.grace));
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
