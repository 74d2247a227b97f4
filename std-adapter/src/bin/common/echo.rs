//! The echo service shared by `netpoll-echo` and `netpoll-demo`: echo every byte back, with an
//! idle deadline reset before every read (Go's `conn.SetReadDeadline(time.Now().Add(idle))`)
//! and, optionally, a write deadline reset before every write.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netpoll_std::{
    deadline_after, is_timeout, Async, Server, ServerHandle, TcpListener, TcpStream,
};

/// Blocking (thread per connection), async (worker threads) or green (the blocking handler
/// on coroutines over the worker threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Blocking,
    Async,
    Green,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "blocking" => Ok(Mode::Blocking),
            "async" => Ok(Mode::Async),
            "green" => Ok(Mode::Green),
            _ => Err(format!("unknown mode {s:?} (blocking|async|green)")),
        }
    }
}

/// What the echo handlers count.
#[derive(Default)]
pub struct EchoStats {
    /// Connections closed because their idle deadline passed.
    pub idle_closed: AtomicU64,
    /// Bytes echoed.
    pub bytes: AtomicU64,
}

/// The deadlines reset before every operation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    /// Close a connection silent this long: a read deadline before every read.
    pub idle: Option<Duration>,
    /// A write deadline this far ahead before every write.
    pub write: Option<Duration>,
}

/// Serve echo on `listener`.
pub fn serve(
    listener: TcpListener,
    mode: Mode,
    workers: usize,
    timeouts: Timeouts,
    stats: Arc<EchoStats>,
) -> io::Result<ServerHandle> {
    match mode {
        Mode::Blocking => {
            Server::new().blocking(listener, move |s| echo_blocking(s, timeouts, &stats))
        }
        Mode::Async => Server::new()
            .workers(workers)
            .spawn_async(listener, move |s| echo_async(s, timeouts, stats.clone())),
        // The blocking handler as it is: its reads and writes park the coroutine.
        #[cfg(unix)]
        Mode::Green => Server::new()
            .workers(workers)
            .green(listener, move |s| echo_blocking(s, timeouts, &stats)),
        #[cfg(not(unix))]
        Mode::Green => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "green mode needs Unix",
        )),
    }
}

fn echo_blocking(mut s: TcpStream, t: Timeouts, stats: &EchoStats) {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(d) = t.idle {
            if s.set_read_deadline(deadline_after(d)).is_err() {
                return;
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if let Some(d) = t.write {
                    if s.set_write_deadline(deadline_after(d)).is_err() {
                        return;
                    }
                }
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                if is_timeout(&e) {
                    stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}

async fn echo_async(mut s: Async<TcpStream>, t: Timeouts, stats: Arc<EchoStats>) {
    use futures_io::{AsyncRead, AsyncWrite};
    use std::future::poll_fn;
    use std::pin::Pin;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(d) = t.idle {
            if s.set_read_deadline(deadline_after(d)).is_err() {
                return;
            }
        }
        match poll_fn(|cx| Pin::new(&mut s).poll_read(cx, &mut buf)).await {
            Ok(0) => return,
            Ok(n) => {
                if let Some(d) = t.write {
                    if s.set_write_deadline(deadline_after(d)).is_err() {
                        return;
                    }
                }
                let mut off = 0;
                while off < n {
                    match poll_fn(|cx| Pin::new(&mut s).poll_write(cx, &buf[off..n])).await {
                        Ok(0) | Err(_) => return,
                        Ok(w) => off += w,
                    }
                }
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                if is_timeout(&e) {
                    stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}
