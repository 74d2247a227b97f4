//! Where an idle connection's user-space memory goes in `netpoll-echo --mode async`: the
//! echo handler itself (the same source file as the binary) serves `--conns` loopback
//! connections from this process, and a counting allocator reports, per connection, the heap
//! bytes and allocations by size that appeared between "listening" and "every connection
//! parked in its idle wait", next to the runtime's descriptor slot and the change in VmRSS.
//!
//! ```text
//! cargo run --release -p netpoll-bench --features netpoll --bin conn-memory -- --conns 5000
//! ```
//!
//! The kernel's socket memory is not in these figures (nor in VmRSS). The client ends are
//! plain blocking `std` sockets, which allocate nothing on the heap.

#[path = "../../../std-adapter/src/bin/common/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts live heap bytes and, per request size, live allocations.
struct Counting;

static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
/// Live allocations per size class (requested size rounded up to 16), up to 64 KiB.
static BY_SIZE: [AtomicU64; 4096] = [const { AtomicU64::new(0) }; 4096];

fn class(size: usize) -> usize {
    size.div_ceil(16).min(BY_SIZE.len() - 1)
}

// SAFETY: every call is forwarded to the system allocator with the same layout and pointer;
// the counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        BY_SIZE[class(l.size())].fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout is valid for `System`, as it was for us.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size() as u64, Ordering::Relaxed);
        BY_SIZE[class(l.size())].fetch_sub(1, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` (or `realloc`) with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(l.size() as u64, Ordering::Relaxed);
        BY_SIZE[class(l.size())].fetch_sub(1, Ordering::Relaxed);
        BY_SIZE[class(new)].fetch_add(1, Ordering::Relaxed);
        // SAFETY: `p` came from this allocator with layout `l`; `new` is non-zero (the
        // caller's contract).
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn snapshot() -> (u64, Vec<u64>) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        BY_SIZE.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> std::io::Result<()> {
    let mut conns = 5000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--conns", Some(n)) => {
                conns = n.parse().map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "--conns N")
                })?
            }
            _ => {
                eprintln!("usage: conn-memory [--conns N]");
                std::process::exit(2);
            }
        }
    }
    let listener = netpoll_std::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(echo::EchoStats::default());
    let timeouts = echo::Timeouts {
        idle: Some(Duration::from_secs(30)),
        write: None,
    };
    let server = echo::serve(listener, echo::Mode::Async, 1, timeouts, stats)?;
    // One round trip first, so that lazily made per-worker state is not counted.
    let warm = {
        let mut c = std::net::TcpStream::connect(addr)?;
        c.write_all(b"x")?;
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut c, &mut b)?;
        c
    };
    let rt = server.worker_runtimes()[0].clone();
    let wait_parked = |n: usize| {
        let start = Instant::now();
        while rt.stats().async_pending_now < n && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        rt.stats().async_pending_now
    };
    wait_parked(1); // the warm-up connection, waiting for its next message
    let (bytes0, sizes0) = snapshot();
    let rss0 = rss_kib();
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        clients.push(std::net::TcpStream::connect(addr)?);
    }
    let parked = wait_parked(conns + 1);
    let (bytes1, sizes1) = snapshot();
    let rss1 = rss_kib();
    // The client vector is this tool's own, not the server's.
    let client_vec = (conns * std::mem::size_of::<std::net::TcpStream>()) as u64;
    let n = conns as f64;
    println!(
        "connections: {conns} (parked tasks: {} of {})",
        parked.saturating_sub(1),
        conns
    );
    println!(
        "heap per connection: {:.1} B (client-side vector of {client_vec} B excluded)",
        (bytes1 - bytes0 - client_vec) as f64 / n
    );
    println!("allocations per connection by requested size (16-byte classes):");
    let mut rows = BTreeMap::new();
    for (i, (a, b)) in sizes0.iter().zip(&sizes1).enumerate() {
        let d = *b as f64 - *a as f64;
        if d.abs() / n >= 0.01 {
            rows.insert(i * 16, d / n);
        }
    }
    for (size, per) in rows {
        println!("  <= {size:>5} B: {per:.3} per connection");
    }
    println!(
        "descriptor slot (PollDesc, preallocated in the runtime's pool, paged in on use): {} B",
        std::mem::size_of::<netpoll_core::PollDesc>()
    );
    println!(
        "VmRSS per connection: {:.1} B",
        (rss1 as f64 - rss0 as f64) * 1024.0 / n
    );
    drop(clients);
    drop(warm);
    Ok(())
}
