//! TCP: [`TcpListener`] and [`TcpStream`].

#[cfg(unix)]
use std::fs::File;
use std::future::Future;
use std::io;
#[cfg(unix)]
use std::io::{Seek, SeekFrom};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use netpoll_core::Mode;

use super::io::op_err;
use super::options::{buffer_options, ttl_options};
use super::{common_methods, pick, std_conversions, stream_io, Async};
use crate::fd::PollFd;
use crate::sys::{net as sysnet, AsSource};
use crate::Runtime;

/// A TCP connection with Go-style deadlines: blocking `Read`/`Write` here, async
/// `AsyncRead`/`AsyncWrite` on its [`Async`] face ([`into_async`](Self::into_async)).
///
/// Both are implemented for shared references too, so one thread or task can read while
/// another writes (share it through an `Arc`, or borrow it); [`try_clone`](Self::try_clone)
/// and [`into_split`](Self::into_split) give owned handles. Any number of threads and tasks
/// may read (or write) at once, blocking and async mixed: as with Go's `net.Conn`, they take
/// turns on the direction's lock, each completes or fails with a timeout, and
/// [`close`](Self::close) wakes every one of them with "use of closed network connection".
///
/// Like Go, new connections have `TCP_NODELAY` set. Unlike Go, keep-alive is off unless
/// asked for (see [`set_keepalive`](Self::set_keepalive) for why).
pub struct TcpStream {
    fd: PollFd<std::net::TcpStream>,
}

common_methods!(TcpStream);
stream_io!(TcpStream);
buffer_options!(TcpStream);
ttl_options!(TcpStream);

/// Whether a non-blocking connect has finished: `WouldBlock` while in progress.
fn connect_done(s: &std::net::TcpStream) -> io::Result<()> {
    if let Some(e) = sysnet::take_error(s.as_source())? {
        return Err(e);
    }
    match s.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

impl TcpStream {
    fn peek_raw(s: &std::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        s.peek(buf)
    }

    fn from_socket(s: socket2::Socket, rt: &Runtime) -> io::Result<TcpStream> {
        let s = std::net::TcpStream::from(s);
        // Like Go: small writes go out at once. Not fatal if the option is refused.
        let _ = s.set_nodelay(true);
        Ok(TcpStream {
            fd: PollFd::tcp_stream(s, rt)?,
        })
    }

    /// Start connecting to `addr`; `Ok((stream, false))` if still in progress.
    fn start(rt: &Runtime, addr: &SocketAddr) -> io::Result<(TcpStream, bool)> {
        let s = sysnet::socket(addr, socket2::Type::STREAM)?;
        let done = sysnet::start_connect(&s, addr)?;
        Ok((TcpStream::from_socket(s, rt)?, done))
    }

    /// Connect (blocking) using the global runtime, trying each address in turn (a
    /// [`Dialer`](crate::Dialer) with no timeout).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        crate::Dialer::new().dial(addr)
    }

    /// Connect (blocking) using `rt`, trying each address in turn.
    pub fn connect_in(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        crate::Dialer::new().runtime(rt).dial(addr)
    }

    /// Connect (blocking) with a timeout, using the global runtime. Fails with "i/o timeout"
    /// when it runs out (at once for a zero timeout).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_deadline_in(&pick(None)?, addr, crate::deadline_after(timeout))
    }

    /// Connect (blocking) to one address using `rt`, giving up at `deadline` (`None`: only the
    /// kernel's own connect timeout applies; a deadline already past fails at once).
    pub fn connect_deadline_in(
        rt: &Runtime,
        addr: &SocketAddr,
        deadline: Option<Instant>,
    ) -> io::Result<TcpStream> {
        TcpStream::dial_one(rt, addr, deadline)
    }

    /// One connect attempt (blocking), bounded by `deadline`; netpoll errors name the dial.
    pub(crate) fn dial_one(
        rt: &Runtime,
        addr: &SocketAddr,
        deadline: Option<Instant>,
    ) -> io::Result<TcpStream> {
        let named = |e| super::dial::dial_err("tcp", &addr.to_string(), e);
        let (s, done) = TcpStream::dial_start(rt, addr, deadline).map_err(named)?;
        if !done {
            s.fd.blocking(Mode::Write, connect_done).map_err(named)?;
            s.set_write_deadline(None).map_err(named)?;
        }
        Ok(s)
    }

    /// The async form of [`dial_one`](Self::dial_one).
    pub(crate) async fn dial_one_async(
        rt: &Runtime,
        addr: &SocketAddr,
        deadline: Option<Instant>,
    ) -> io::Result<TcpStream> {
        let named = |e| super::dial::dial_err("tcp", &addr.to_string(), e);
        let (s, done) = TcpStream::dial_start(rt, addr, deadline).map_err(named)?;
        if !done {
            std::future::poll_fn(|cx| s.fd.poll_io(cx, Mode::Write, connect_done))
                .await
                .map_err(named)?;
            s.set_write_deadline(None).map_err(named)?;
        }
        Ok(s)
    }

    /// Start a connect unless `deadline` has passed (Go fails those before any syscall);
    /// while it is in progress (`false`), its wait is bounded by the write deadline.
    fn dial_start(
        rt: &Runtime,
        addr: &SocketAddr,
        deadline: Option<Instant>,
    ) -> io::Result<(TcpStream, bool)> {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(crate::NetError::Timeout.into());
        }
        let (s, done) = TcpStream::start(rt, addr)?;
        if !done {
            s.set_write_deadline(deadline)?;
        }
        Ok((s, done))
    }

    /// Connect (async) using the global runtime, trying each address in turn; a host name is
    /// looked up on a helper thread (see [`Dialer::dial_async`](crate::Dialer::dial_async)).
    pub async fn connect_async(
        addr: impl ToSocketAddrs + Send + 'static,
    ) -> io::Result<Async<TcpStream>> {
        crate::Dialer::new().dial_async(addr).await
    }

    /// Connect (async) to `addr` using `rt`, giving up at `deadline`.
    pub async fn connect_async_in(
        rt: &Runtime,
        addr: SocketAddr,
        deadline: Option<Instant>,
    ) -> io::Result<Async<TcpStream>> {
        Ok(TcpStream::dial_one_async(rt, &addr, deadline)
            .await?
            .into_async())
    }

    /// Wrap a connected `std` stream (made non-blocking) in the global runtime.
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_std_in(s, &pick(None)?)
    }

    /// Wrap a connected `std` stream (made non-blocking) in `rt`.
    pub fn from_std_in(s: std::net::TcpStream, rt: &Runtime) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        Ok(TcpStream {
            fd: PollFd::tcp_stream(s, rt)?,
        })
    }

    /// A blocking `std` stream for the same connection (this one is deregistered and closed;
    /// the connection stays open through a duplicated descriptor).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let s = self.fd.io().try_clone()?;
        s.set_nonblocking(false)?;
        Ok(s)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.io().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.io().peer_addr()
    }

    /// Shut down one or both directions (a half-close with `Shutdown::Write`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.io().shutdown(how)
    }

    /// Set `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.fd.io().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.fd.io().nodelay()
    }

    /// Turn TCP keep-alive on, probing after `idle` without traffic and then every `idle`
    /// (whole seconds, at least one), or off with `None`.
    ///
    /// Off by default, unlike Go (which sets 15 s on every connection): as in `std` and
    /// tokio, a connection pays for the option only when asked; deadlines already bound how
    /// long an operation waits on a silent peer. [`ListenerBuilder::keepalive`] and
    /// [`Dialer::keepalive`](crate::Dialer::keepalive) set it for every accepted or dialed
    /// connection; `Some(Duration::from_secs(15))` is Go's setting.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        super::options::set_keepalive(socket2::SockRef::from(self.fd.io()), idle)
    }

    /// The keep-alive idle time, or `None` when keep-alive is off. (On Windows the time is
    /// read back with `TCP_KEEPALIVE`, which needs Windows 10 1709 or later.)
    pub fn keepalive(&self) -> io::Result<Option<Duration>> {
        super::options::keepalive(socket2::SockRef::from(self.fd.io()))
    }

    /// Set `SO_LINGER`: `Some(d)` makes the descriptor's release wait up to `d` for unsent
    /// data (`Some(ZERO)` resets the connection instead of a graceful close); `None` restores
    /// the default (close at once, send in the background).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        socket2::SockRef::from(self.fd.io()).set_linger(linger)
    }

    /// `SO_LINGER`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        socket2::SockRef::from(self.fd.io()).linger()
    }

    /// Send `count` bytes of `file` starting at `offset` with `sendfile(2)` (no copy through
    /// user space), blocking while the socket is full and honouring the write deadline.
    /// Returns the bytes sent: fewer than `count` only if the file ended.
    ///
    /// Unix only. On Linux this is `sendfile(2)`; on the other Unix systems a positioned read
    /// and a write through a 16 KiB buffer (their `sendfile` loses the count of a partial send
    /// on a non-blocking socket).
    #[cfg(unix)]
    pub fn send_file(&self, file: &File, offset: u64, count: u64) -> io::Result<u64> {
        let mut off = offset;
        let mut left = count;
        while left > 0 {
            let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
            let n = self
                .fd
                .blocking(Mode::Write, |s| {
                    sysnet::sendfile(s.as_source(), file, &mut off, chunk)
                })
                .map_err(|e| op_err("sendfile", self.fd.io(), e))?;
            if n == 0 {
                break;
            }
            left -= n as u64;
        }
        Ok(count - left)
    }

    /// Go's `TCPConn.ReadFrom(*os.File)`: send the rest of `file`, from its current position,
    /// with [`send_file`](Self::send_file), and advance the position by what was sent.
    /// Unix only.
    #[cfg(unix)]
    pub fn send_file_to_end(&self, file: &mut File) -> io::Result<u64> {
        let pos = file.stream_position()?;
        let len = file.metadata()?.len();
        let r = self.send_file(file, pos, len.saturating_sub(pos));
        // Advance past what went out, even on error (as far as we know it did).
        if let Ok(n) = &r {
            file.seek(SeekFrom::Start(pos + n))?;
        }
        r
    }
}

/// A listening TCP socket with an accept deadline (the read deadline), usable blocking
/// ([`accept`](Self::accept)) and async ([`accept_async`](Self::accept_async)).
pub struct TcpListener {
    fd: PollFd<std::net::TcpListener>,
    /// Keep-alive for accepted connections.
    keepalive: Option<Duration>,
}

common_methods!(TcpListener);
ttl_options!(TcpListener);

/// Options for binding a [`TcpListener`].
#[derive(Clone, Debug)]
pub struct ListenerBuilder {
    reuse_port: bool,
    backlog: i32,
    only_v6: Option<bool>,
    keepalive: Option<Duration>,
    runtime: Option<Runtime>,
}

impl Default for ListenerBuilder {
    fn default() -> Self {
        ListenerBuilder {
            reuse_port: false,
            backlog: 1024,
            only_v6: None,
            keepalive: None,
            runtime: None,
        }
    }
}

impl ListenerBuilder {
    /// Set `SO_REUSEPORT`, so several listeners (one per worker thread) can bind one port and
    /// the kernel spreads connections among them. Unix only: on Windows `bind` fails with
    /// `ErrorKind::Unsupported` when this is on.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The `listen(2)` backlog (default 1024).
    pub fn backlog(mut self, n: i32) -> Self {
        self.backlog = n;
        self
    }

    /// Register with `rt` instead of the global runtime.
    pub fn runtime(mut self, rt: &Runtime) -> Self {
        self.runtime = Some(rt.clone());
        self
    }

    /// Set `IPV6_V6ONLY` on an IPv6 listener: `true` accepts IPv6 only, `false` IPv4-mapped
    /// connections too (on `[::]`). Unset: the system default (Linux: both; Windows: IPv6
    /// only). No effect on an IPv4 address.
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }

    /// Turn keep-alive on for every accepted connection (see
    /// [`TcpStream::set_keepalive`]; off by default).
    pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
        self.keepalive = idle;
        self
    }

    /// Bind to the first address that works.
    pub fn bind(&self, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let rt = pick(self.runtime.as_ref())?;
        let mut last = None;
        for a in super::dial::resolve(&addr)? {
            match sysnet::tcp_listen(&a, self.reuse_port, self.backlog, self.only_v6) {
                Ok(s) => {
                    let l = std::net::TcpListener::from(s);
                    return Ok(TcpListener {
                        fd: PollFd::new(l, &rt, true)?,
                        keepalive: self.keepalive,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::InvalidInput.into()))
    }
}

impl TcpListener {
    /// Options: `SO_REUSEPORT`, backlog, runtime.
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder::default()
    }

    /// Bind with the defaults, in the global runtime.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        ListenerBuilder::default().bind(addr)
    }

    /// Bind with the defaults, in `rt`.
    pub fn bind_in(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        ListenerBuilder::default().runtime(rt).bind(addr)
    }

    /// Wrap a `std` listener (made non-blocking) in `rt`.
    pub fn from_std_in(l: std::net::TcpListener, rt: &Runtime) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        Ok(TcpListener {
            fd: PollFd::new(l, rt, true)?,
            keepalive: None,
        })
    }

    /// Wrap a `std` listener (made non-blocking) in the global runtime.
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std_in(l, &pick(None)?)
    }

    /// A blocking `std` listener for the same socket (through a duplicated descriptor).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        let l = self.fd.io().try_clone()?;
        l.set_nonblocking(false)?;
        Ok(l)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.io().local_addr()
    }

    /// Whether an IPv6 listener takes IPv6 connections only (`IPV6_V6ONLY`).
    pub fn only_v6(&self) -> io::Result<bool> {
        socket2::SockRef::from(self.fd.io()).only_v6()
    }

    /// Keep-alive for connections accepted from now on (see [`TcpStream::set_keepalive`]).
    pub fn set_accepted_keepalive(&mut self, idle: Option<Duration>) {
        self.keepalive = idle;
    }

    fn accept_one(&self, l: &std::net::TcpListener) -> io::Result<(socket2::Socket, SocketAddr)> {
        let _ = self;
        #[cfg(feature = "fault-injection")]
        crate::sys::fault::before_accept(self.fd.runtime().shared().np.poller())?;
        sysnet::accept(l.as_source())
    }

    fn wrap(&self, got: (socket2::Socket, SocketAddr)) -> io::Result<(TcpStream, SocketAddr)> {
        self.wrap_in(self.fd.runtime(), got)
    }

    fn wrap_in(
        &self,
        rt: &Runtime,
        got: (socket2::Socket, SocketAddr),
    ) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = wrap_in(rt, got).map_err(|e| op_err("accept", self.fd.io(), e))?;
        if self.keepalive.is_some() {
            // Like TCP_NODELAY: a refused option does not refuse the connection.
            let _ = s.set_keepalive(self.keepalive);
        }
        Ok((s, a))
    }

    /// Accept a connection (blocking; bounded by the read deadline).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let got = self
            .fd
            .blocking(Mode::Read, |l| self.accept_one(l))
            .map_err(|e| op_err("accept", self.fd.io(), e))?;
        self.wrap(got)
    }

    /// Accept a connection (blocking) and register it with `rt` rather than with the
    /// listener's runtime: how an acceptor hands connections to per-thread runtimes.
    pub fn accept_in(&self, rt: &Runtime) -> io::Result<(TcpStream, SocketAddr)> {
        let got = self
            .fd
            .blocking(Mode::Read, |l| self.accept_one(l))
            .map_err(|e| op_err("accept", self.fd.io(), e))?;
        self.wrap_in(rt, got)
    }

    /// Poll for a connection: the async form of [`accept`](Self::accept).
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Async<TcpStream>, SocketAddr)>> {
        match self.fd.poll_io(cx, Mode::Read, |l| self.accept_one(l)) {
            Poll::Ready(Ok(got)) => Poll::Ready(self.wrap(got).map(|(s, a)| (s.into_async(), a))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(op_err("accept", self.fd.io(), e))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Accept a connection (async). Accept from one task at a time per listener.
    pub fn accept_async(
        &self,
    ) -> impl Future<Output = io::Result<(Async<TcpStream>, SocketAddr)>> + '_ {
        std::future::poll_fn(move |cx| self.poll_accept(cx))
    }
}

fn wrap_in(
    rt: &Runtime,
    (s, addr): (socket2::Socket, SocketAddr),
) -> io::Result<(TcpStream, SocketAddr)> {
    // If the pool is full the new connection is closed here (dropped), and the error says
    // why; the listener keeps working.
    Ok((TcpStream::from_socket(s, rt)?, addr))
}

std_conversions!(TcpStream, std::net::TcpStream);
std_conversions!(TcpListener, std::net::TcpListener);
