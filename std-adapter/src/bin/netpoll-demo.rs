//! A self-contained demo: start the echo server with idle deadlines on loopback, drive it with
//! a built-in load client for a few seconds (live progress line), then print a report.
//!
//! ```text
//! cargo run --release -p netpoll-std --bin netpoll-demo -- [--mode async|blocking|green]
//!     [--seconds S] [--conns N] [--idle-conns N] [--idle-timeout S] [--size BYTES]
//! ```
//!
//! Every loop is bounded in time and count; everything stays on 127.0.0.1.

#[path = "common/echo.rs"]
mod echo;

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use echo::{flags, parse, EchoStats, Mode};
use netpoll_std::{deadline_after, Runtime, TcpListener, TcpStream};

const USAGE: &str = "usage: netpoll-demo [--mode async|blocking|green] [--seconds S] [--conns N] \
                     [--idle-conns N] [--idle-timeout S] [--size BYTES]";

struct Options {
    mode: Mode,
    seconds: f64,
    conns: usize,
    idle_conns: usize,
    idle_timeout: f64,
    size: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        mode: Mode::Async,
        seconds: 3.0,
        conns: 16,
        idle_conns: 8,
        idle_timeout: 1.0,
        size: 64,
    };
    for (name, v) in flags(std::env::args().skip(1))? {
        match name.as_str() {
            "mode" => o.mode = v.parse()?,
            "seconds" => o.seconds = parse(&name, &v)?,
            "conns" => o.conns = parse(&name, &v)?,
            "idle-conns" => o.idle_conns = parse(&name, &v)?,
            "idle-timeout" => o.idle_timeout = parse(&name, &v)?,
            "size" => o.size = parse(&name, &v)?,
            "help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown flag --{name}\n{USAGE}")),
        }
    }
    let ok = o.seconds.is_finite()
        && (0.1..=60.0).contains(&o.seconds)
        && o.idle_timeout.is_finite()
        && (0.05..=30.0).contains(&o.idle_timeout)
        && (1..=1000).contains(&o.conns)
        && o.idle_conns <= 1000
        && (1..=65536).contains(&o.size);
    if !ok {
        return Err(format!(
            "out of range: --seconds 0.1..60, --idle-timeout 0.05..30, --conns 1..1000, \
             --idle-conns 0..1000, --size 1..65536\n{USAGE}"
        ));
    }
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
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
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
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = echo::serve(listener, o.mode, workers, Some(idle_timeout), stats.clone())?;
    println!(
        "netpoll-demo: echo server on {addr} ({:?} mode, backend {}, idle timeout {idle_timeout:?})",
        o.mode,
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
    let mut last = (start, 0u64);
    while start.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(250).min(run_for.saturating_sub(start.elapsed())));
        let now = Instant::now();
        let n = sent.load(Ordering::Relaxed);
        let rate = (n - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
        last = (now, n);
        let s = server.stats();
        print!(
            "\r  t={:>4.1}s  messages {:>9}  {:>9.0} msg/s  connections {:>4}  idle closed {:>3}   ",
            start.elapsed().as_secs_f64(),
            n,
            rate,
            s.active,
            stats.idle_closed.load(Ordering::Relaxed)
        );
        let _ = io::stdout().flush();
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    println!();

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
    let st = rt.stats();
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
    println!(
        "  global runtime      {} events, {} waiters woken, {} deadlines fired, {} thread parks, {} async parks (load clients and listener; the server's workers run their own)",
        st.events, st.wakeups, st.timeouts, st.parks, st.async_parks
    );
    Ok(())
}
