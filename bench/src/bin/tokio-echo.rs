//! tokio echo server, a peer for the benchmark suite.
//!
//! ```text
//! tokio-echo --addr 127.0.0.1:7000 [--flavor current|multi] [--workers N] [--timeout-ms T]
//!            [--timeout-on read|both] [--buf 4096]
//! ```
//!
//! With `--timeout-ms`, every read (and with `--timeout-on both`, every write too) is wrapped in
//! `tokio::time::timeout`, which is how a tokio program expresses a per-I/O deadline; a
//! timed-out connection is closed. `--timeout-on read` is the idle timeout of a server (the
//! counterpart of a read deadline reset before every read), `both` the counterpart of a read
//! and a write deadline reset before every read and every write.

use std::process::ExitCode;
use std::time::Duration;

use netpoll_bench::cli::{Cli, Flag, Values};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Opts {
    addr: String,
    multi: bool,
    workers: Option<usize>,
    timeout: Option<Duration>,
    /// Whether writes are bounded by the timeout too.
    timeout_writes: bool,
    buf: usize,
}

fn cli() -> Cli {
    Cli {
        name: "tokio-echo",
        about: "A tokio echo server, a peer for the benchmark suite.",
        flags: vec![
            Flag::value(
                "addr",
                "HOST:PORT",
                "127.0.0.1:7000",
                "address to listen on",
            ),
            Flag::value(
                "flavor",
                "current|multi",
                "current",
                "tokio's current-thread or multi-thread runtime",
            ),
            Flag::optional(
                "workers",
                "N",
                "worker threads of the multi-thread runtime (default: tokio's, one per CPU)",
            ),
            Flag::optional(
                "timeout-ms",
                "T",
                "wrap every read (and write, see --timeout-on) in tokio::time::timeout \
                 (default: no timeout)",
            ),
            Flag::value(
                "timeout-on",
                "read|both",
                "both",
                "what --timeout-ms bounds: reads only, or reads and writes",
            ),
            Flag::value("buf", "BYTES", 4096, "read buffer per connection"),
        ],
    }
}

fn opts(v: &Values) -> Result<Opts, String> {
    let flavor: String = v.get("flavor")?;
    let on: String = v.get("timeout-on")?;
    let o = Opts {
        addr: v.get("addr")?,
        multi: match flavor.as_str() {
            "current" => false,
            "multi" => true,
            f => return Err(format!("--flavor: current or multi, not `{f}`")),
        },
        workers: v.opt("workers")?,
        timeout: v.opt::<u64>("timeout-ms")?.map(Duration::from_millis),
        timeout_writes: match on.as_str() {
            "read" => false,
            "both" => true,
            f => return Err(format!("--timeout-on: read or both, not `{f}`")),
        },
        buf: v.get("buf")?,
    };
    Values::check("buf", o.buf > 0, "must be > 0")?;
    Ok(o)
}

async fn with_timeout<T>(
    t: Option<Duration>,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match t {
        None => f.await,
        Some(t) => tokio::time::timeout(t, f)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
    }
}

async fn echo(
    mut s: TcpStream,
    buf: usize,
    timeout: Option<Duration>,
    timeout_writes: bool,
) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut b = vec![0u8; buf];
    let write_timeout = timeout.filter(|_| timeout_writes);
    loop {
        let n = with_timeout(timeout, s.read(&mut b)).await?;
        if n == 0 {
            return Ok(());
        }
        with_timeout(write_timeout, s.write_all(&b[..n])).await?;
    }
}

async fn serve(o: &Opts) -> std::io::Result<()> {
    let l = TcpListener::bind(&o.addr).await?;
    loop {
        let (s, _) = l.accept().await?;
        let (buf, timeout, writes) = (o.buf, o.timeout, o.timeout_writes);
        tokio::spawn(async move {
            // A peer that resets or times out ends its own connection only.
            let _ = echo(s, buf, timeout, writes).await;
        });
    }
}

fn main() -> ExitCode {
    let o = match cli().parse_env().and_then(|v| {
        opts(&v).map_err(|e| {
            eprintln!("tokio-echo: {e}\n(see tokio-echo --help)");
            2
        })
    }) {
        Ok(o) => o,
        Err(code) => return ExitCode::from(code),
    };
    let mut b = if o.multi {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    if let (true, Some(w)) = (o.multi, o.workers) {
        b.worker_threads(w.max(1));
    }
    let rt = match b.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio-echo: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio-echo: {e}");
            ExitCode::from(1)
        }
    }
}
