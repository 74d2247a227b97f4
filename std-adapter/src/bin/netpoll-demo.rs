//! A self-contained demo: start the echo server with idle deadlines on loopback, drive it with
//! a built-in load client for a few seconds (live progress line), then print a report.
//!
//! ```text
//! cargo run --release -p netpoll-std --bin netpoll-demo -- [--mode async|blocking|green|green-blocking]
//!     [--seconds S] [--conns N] [--idle-conns N] [--idle-timeout S] [--size BYTES]
//!     [--workers N]
//! ```
//!
//! On a terminal the progress line redraws in place; piped, it prints a plain line a second.
//! Every loop is bounded in time and count; everything stays on 127.0.0.1.

#[path = "common/cli.rs"]
mod cli;
#[path = "common/echo.rs"]
mod echo;

use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli::{Cli, Flag, Values};
use echo::{EchoStats, Mode};
use netpoll_std::{deadline_after, Runtime, RuntimeStats, TcpListener, TcpStream};

struct Options {
    mode: Mode,
    seconds: f64,
    conns: usize,
    idle_conns: usize,
    idle_timeout: f64,
    size: usize,
    workers: usize,
}

fn cli() -> Cli {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Cli {
        name: "netpoll-demo",
        about: "Starts the echo server with idle deadlines on loopback, drives it with a \
                built-in load client for a few seconds, and prints a report.",
        flags: vec![
            Flag::value(
                "mode",
                "async|blocking|green|green-blocking",
                "async",
                "the server: tasks on async workers, a thread per connection, or blocking-style \
                 handlers on green coroutines over the workers (green: waiting in \
                 wait_readable() with no buffer of its own; green-blocking: the blocking \
                 handler as it is)",
            ),
            Flag::value("seconds", "S", 3, "how long the load runs (0.1 to 60)"),
            Flag::value(
                "conns",
                "N",
                16,
                "load connections, each a closed loop (1 to 1000)",
            ),
            Flag::value(
                "idle-conns",
                "N",
                8,
                "connections that say nothing, for the server's idle deadline to close (0 to 1000)",
            ),
            Flag::value(
                "idle-timeout",
                "S",
                1,
                "the server's idle deadline, reset before every read (0.05 to 30)",
            ),
            Flag::value("size", "BYTES", 64, "message size (1 to 65536)"),
            Flag::value(
                "workers",
                "N",
                cpus,
                "async worker threads (async mode only; one per CPU unless given)",
            ),
        ],
    }
}

fn options(v: &Values) -> Result<Options, String> {
    let o = Options {
        mode: v
            .get::<String>("mode")?
            .parse()
            .map_err(|e| format!("--mode: {e}"))?,
        seconds: v.get("seconds")?,
        conns: v.get("conns")?,
        idle_conns: v.get("idle-conns")?,
        idle_timeout: v.get("idle-timeout")?,
        size: v.get("size")?,
        workers: v.get("workers")?,
    };
    let within = |x: f64, lo: f64, hi: f64| x.is_finite() && (lo..=hi).contains(&x);
    Values::check("seconds", within(o.seconds, 0.1, 60.0), "0.1 to 60")?;
    Values::check(
        "idle-timeout",
        within(o.idle_timeout, 0.05, 30.0),
        "0.05 to 30",
    )?;
    Values::check("conns", (1..=1000).contains(&o.conns), "1 to 1000")?;
    Values::check("idle-conns", o.idle_conns <= 1000, "0 to 1000")?;
    Values::check("size", (1..=65536).contains(&o.size), "1 to 65536")?;
    Values::check("workers", (1..=1024).contains(&o.workers), "1 to 1024")?;
    Ok(o)
}

/// Most messages one connection sends (a bound besides the time limit).
const MAX_MESSAGES_PER_CONN: u64 = 50_000_000;

/// One load connection: send `size` bytes, read them back, record the round trip in µs.
fn load_conn(
    addr: std::net::SocketAddr,
    size: usize,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> io::Result<Vec<u32>> {
    let mut s = TcpStream::connect(addr)?;
    let msg = vec![b'x'; size];
    let mut back = vec![0u8; size];
    let mut lat = Vec::with_capacity(1 << 16);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && n < MAX_MESSAGES_PER_CONN {
        // Never wait forever on a misbehaving server.
        s.set_deadline(deadline_after(Duration::from_secs(5)))?;
        let t = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        let us = t.elapsed().as_micros();
        lat.push(u32::try_from(us).unwrap_or(u32::MAX));
        n += 1;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    Ok(lat)
}

/// One idle connection: say nothing and wait (bounded) for the server's idle deadline to close
/// it. Returns whether it was closed.
fn idle_conn(addr: std::net::SocketAddr, limit: Duration) -> io::Result<bool> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_deadline(deadline_after(limit))?;
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(true),
        Err(e) if netpoll_std::is_timeout(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> ExitCode {
    let o = match cli().parse_env().and_then(|v| {
        options(&v).map_err(|e| {
            eprintln!("netpoll-demo: {e}\n(see netpoll-demo --help)");
            2
        })
    }) {
        Ok(o) => o,
        Err(code) => return ExitCode::from(code),
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netpoll-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> io::Result<()> {
    let rt = Runtime::global()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let idle_timeout = Duration::from_secs_f64(o.idle_timeout);
    let stats = Arc::new(EchoStats::default());
    let server = echo::serve(
        listener,
        o.mode,
        o.workers,
        echo::Timeouts {
            idle: Some(idle_timeout),
            write: None,
        },
        stats.clone(),
    )?;
    let mode = match o.mode {
        Mode::Async => format!("async mode, {} workers", o.workers),
        Mode::AsyncReadable => format!("async mode with readable(), {} workers", o.workers),
        Mode::Green => format!("green mode, coroutines on {} workers", o.workers),
        Mode::GreenBlocking => format!(
            "green mode with the blocking handler, coroutines on {} workers",
            o.workers
        ),
        Mode::Blocking => "blocking mode, a thread per connection".to_string(),
    };
    println!(
        "netpoll-demo: echo server on {addr} ({mode}, backend {}, idle timeout {idle_timeout:?})",
        rt.backend()
    );
    println!(
        "load: {} connections x {}-byte messages for {:.1}s, plus {} idle connections",
        o.conns, o.size, o.seconds, o.idle_conns
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for _ in 0..o.conns {
        let (stop, sent, size) = (stop.clone(), sent.clone(), o.size);
        loaders.push(std::thread::spawn(move || {
            load_conn(addr, size, &stop, &sent)
        }));
    }
    let idle_limit = idle_timeout + Duration::from_secs(5);
    let idlers: Vec<_> = (0..o.idle_conns)
        .map(|_| std::thread::spawn(move || idle_conn(addr, idle_limit)))
        .collect();

    let start = Instant::now();
    let run_for = Duration::from_secs_f64(o.seconds);
    // On a terminal one line redraws in place four times a second; into a pipe or a file,
    // a plain line a second (no carriage returns in a log).
    let terminal = io::stdout().is_terminal();
    let tick = Duration::from_millis(if terminal { 250 } else { 1000 });
    let mut last = (start, 0u64);
    while start.elapsed() < run_for {
        std::thread::sleep(tick.min(run_for.saturating_sub(start.elapsed())));
        let now = Instant::now();
        let n = sent.load(Ordering::Relaxed);
        let rate = (n - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
        last = (now, n);
        let line = format!(
            "  t={:>4.1}s  messages {:>9}  {:>9.0} msg/s  connections {:>4}  idle closed {:>3}",
            start.elapsed().as_secs_f64(),
            n,
            rate,
            server.stats().active,
            stats.idle_closed.load(Ordering::Relaxed)
        );
        if terminal {
            print!("\r{line}   ");
            let _ = io::stdout().flush();
        } else {
            println!("{line}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    if terminal {
        println!();
    }

    let mut lat = Vec::new();
    let mut errors = 0;
    for l in loaders {
        match l.join() {
            Ok(Ok(v)) => lat.extend(v),
            _ => errors += 1,
        }
    }
    let mut idle_closed_seen = 0;
    for i in idlers {
        if let Ok(Ok(true)) = i.join() {
            idle_closed_seen += 1;
        }
    }
    lat.sort_unstable();
    let total = lat.len();
    let report = server.shutdown(Duration::from_secs(2));
    let global = Counts::of(&[rt.stats()]);
    let workers: Vec<RuntimeStats> = server
        .worker_runtimes()
        .iter()
        .map(Runtime::stats)
        .collect();
    println!("report:");
    println!(
        "  messages echoed     {total} in {:.2}s = {:.0} msg/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  round-trip latency  p50 {} us, p99 {} us, max {} us",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0)
    );
    println!(
        "  idle connections    {} closed by the server's read deadline ({} of {} seen closed by clients)",
        stats.idle_closed.load(Ordering::Relaxed),
        idle_closed_seen,
        o.idle_conns
    );
    println!(
        "  load client errors  {errors}; closed at shutdown {}",
        report.closed_forcibly
    );
    // Each runtime counts the sockets registered with it: say whose they are.
    match o.mode {
        Mode::Blocking => println!(
            "  global runtime      {global} (load clients, listener and the server's connections)"
        ),
        Mode::Async | Mode::AsyncReadable | Mode::Green | Mode::GreenBlocking => {
            println!("  global runtime      {global} (load clients and listener)");
            println!(
                "  worker runtimes     {} (the server's connections, {} workers)",
                Counts::of(&workers),
                workers.len()
            );
        }
    }
    Ok(())
}

/// The counters the report shows, summed over runtimes.
#[derive(Default)]
struct Counts {
    events: u64,
    wakeups: u64,
    deadlines: u64,
    parks: u64,
    async_parks: u64,
}

impl Counts {
    fn of(stats: &[RuntimeStats]) -> Counts {
        let mut c = Counts::default();
        for s in stats {
            c.events += s.events;
            c.wakeups += s.wakeups;
            c.deadlines += s.timeouts;
            c.parks += s.parks;
            c.async_parks += s.async_parks;
        }
        c
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events, {} waiters woken, {} deadlines fired, {} thread parks, {} async parks",
            self.events, self.wakeups, self.deadlines, self.parks, self.async_parks
        )
    }
}
