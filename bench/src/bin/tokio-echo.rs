//! tokio echo server, a peer for the benchmark suite.
//!
//! ```text
//! tokio-echo --addr 127.0.0.1:7000 [--flavor current|multi] [--workers N] [--timeout-ms T]
//!            [--buf 4096]
//! ```
//!
//! With `--timeout-ms`, every read and every write is wrapped in `tokio::time::timeout`, which is
//! how a tokio program expresses a per-I/O deadline; a timed-out connection is closed.

use std::process::ExitCode;
use std::time::Duration;

use netpoll_bench::args::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Opts {
    addr: String,
    multi: bool,
    workers: Option<usize>,
    timeout: Option<Duration>,
    buf: usize,
}

fn opts() -> Result<Opts, String> {
    let mut a = Args::from_env(&[])?;
    let flavor: String = a.get("flavor", "current".to_string())?;
    let o = Opts {
        addr: a.get("addr", "127.0.0.1:7000".to_string())?,
        multi: match flavor.as_str() {
            "current" => false,
            "multi" => true,
            f => return Err(format!("--flavor: current or multi, not `{f}`")),
        },
        workers: a.opt("workers")?,
        timeout: a.opt::<u64>("timeout-ms")?.map(Duration::from_millis),
        buf: a.get("buf", 4096)?,
    };
    a.finish()?;
    if o.buf == 0 {
        return Err("--buf must be > 0".into());
    }
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

async fn echo(mut s: TcpStream, buf: usize, timeout: Option<Duration>) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut b = vec![0u8; buf];
    loop {
        let n = with_timeout(timeout, s.read(&mut b)).await?;
        if n == 0 {
            return Ok(());
        }
        with_timeout(timeout, s.write_all(&b[..n])).await?;
    }
}

async fn serve(o: &Opts) -> std::io::Result<()> {
    let l = TcpListener::bind(&o.addr).await?;
    loop {
        let (s, _) = l.accept().await?;
        let (buf, timeout) = (o.buf, o.timeout);
        tokio::spawn(async move {
            // A peer that resets or times out ends its own connection only.
            let _ = echo(s, buf, timeout).await;
        });
    }
}

fn main() -> ExitCode {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tokio-echo: {e}");
            return ExitCode::from(2);
        }
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
