//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`].

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use netpoll_core::Mode;

use super::io::{op_err, Endpoint, StreamIo};
use super::{common_methods, pick, std_conversions, stream_io, Async};
use crate::fd::PollFd;
use crate::Runtime;

/// A Unix-domain stream with Go-style deadlines: blocking here, async on its [`Async`] face;
/// like [`TcpStream`](crate::TcpStream), also through `&UnixStream`, clones and split halves,
/// by any number of readers and writers at once.
pub struct UnixStream {
    fd: PollFd<std::os::unix::net::UnixStream>,
}

common_methods!(UnixStream);
stream_io!(UnixStream);
super::options::buffer_options!(UnixStream);

impl UnixStream {
    /// `MSG_PEEK` through socket2 (`std`'s `UnixStream::peek` is not stable).
    fn peek_raw(s: &std::os::unix::net::UnixStream, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and `peek` only writes
        // initialised bytes into the slice, so `buf` stays fully initialised.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        socket2::SockRef::from(s).peek(uninit)
    }

    /// Connect to the socket at `path` in the global runtime. A listener whose backlog is full
    /// makes it wait until the listener accepts (use [`connect_timeout`](Self::connect_timeout)
    /// or a [`Dialer`](crate::Dialer) to bound that).
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        UnixStream::connect_in(&pick(None)?, path)
    }

    /// Connect to the socket at `path` in `rt`.
    pub fn connect_in(rt: &Runtime, path: impl AsRef<Path>) -> io::Result<UnixStream> {
        UnixStream::dial(rt, path.as_ref(), None)
    }

    /// Connect to the socket at `path` in the global runtime, failing with "i/o timeout"
    /// if a full backlog keeps it waiting longer than `timeout`.
    pub fn connect_timeout(path: impl AsRef<Path>, timeout: Duration) -> io::Result<UnixStream> {
        UnixStream::connect_deadline_in(&pick(None)?, path, crate::deadline_after(timeout))
    }

    /// Connect to the socket at `path` in `rt`, giving up at `deadline` (a deadline already
    /// past fails at once).
    pub fn connect_deadline_in(
        rt: &Runtime,
        path: impl AsRef<Path>,
        deadline: Option<Instant>,
    ) -> io::Result<UnixStream> {
        UnixStream::dial(rt, path.as_ref(), deadline)
    }

    /// Connect (async) to the socket at `path` in the global runtime (see
    /// [`Dialer::dial_unix_async`](crate::Dialer::dial_unix_async)).
    pub async fn connect_async(path: impl AsRef<Path>) -> io::Result<Async<UnixStream>> {
        crate::Dialer::new().dial_unix_async(path).await
    }

    /// A connected pair, both in `rt`.
    pub fn pair_in(rt: &Runtime) -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((
            UnixStream::from_std_in(a, rt)?,
            UnixStream::from_std_in(b, rt)?,
        ))
    }

    /// A connected pair in the global runtime.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        UnixStream::pair_in(&pick(None)?)
    }

    /// Wrap a `std` stream (made non-blocking) in `rt`.
    pub fn from_std_in(s: std::os::unix::net::UnixStream, rt: &Runtime) -> io::Result<UnixStream> {
        s.set_nonblocking(true)?;
        Ok(UnixStream {
            fd: PollFd::new(s, rt, true)?,
        })
    }

    /// Wrap a `std` stream (made non-blocking) in the global runtime.
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        UnixStream::from_std_in(s, &pick(None)?)
    }

    /// A blocking `std` stream for the same connection (through a duplicated descriptor).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
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

    /// Shut down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.io().shutdown(how)
    }
}

/// A listening Unix-domain socket with an accept deadline (the read deadline).
pub struct UnixListener {
    fd: PollFd<std::os::unix::net::UnixListener>,
}

common_methods!(UnixListener);

impl UnixListener {
    /// Bind to `path` in the global runtime.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::bind_in(&pick(None)?, path)
    }

    /// Bind to `path` in `rt`.
    pub fn bind_in(rt: &Runtime, path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_std_in(std::os::unix::net::UnixListener::bind(path)?, rt)
    }

    /// Wrap a `std` listener (made non-blocking) in `rt`.
    pub fn from_std_in(
        l: std::os::unix::net::UnixListener,
        rt: &Runtime,
    ) -> io::Result<UnixListener> {
        l.set_nonblocking(true)?;
        Ok(UnixListener {
            fd: PollFd::new(l, rt, true)?,
        })
    }

    /// Wrap a `std` listener (made non-blocking) in the global runtime.
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        UnixListener::from_std_in(l, &pick(None)?)
    }

    /// A blocking `std` listener for the same socket (through a duplicated descriptor).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        let l = self.fd.io().try_clone()?;
        l.set_nonblocking(false)?;
        Ok(l)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.io().local_addr()
    }

    fn wrap(
        &self,
        rt: &Runtime,
        (s, addr): (std::os::unix::net::UnixStream, SocketAddr),
    ) -> io::Result<(UnixStream, SocketAddr)> {
        let s = UnixStream::from_std_in(s, rt).map_err(|e| op_err("accept", self.fd.io(), e))?;
        Ok((s, addr))
    }

    /// Accept a connection (blocking; bounded by the read deadline).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        self.accept_in(self.fd.runtime())
    }

    /// Accept a connection (blocking) and register it with `rt` rather than with the
    /// listener's runtime: how an acceptor hands connections to per-thread runtimes.
    pub fn accept_in(&self, rt: &Runtime) -> io::Result<(UnixStream, SocketAddr)> {
        let got = self
            .fd
            .blocking(Mode::Read, |l| l.accept())
            .map_err(|e| op_err("accept", self.fd.io(), e))?;
        self.wrap(rt, got)
    }

    /// Poll for a connection: the async form of [`accept`](Self::accept).
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Async<UnixStream>, SocketAddr)>> {
        match self.fd.poll_io(cx, Mode::Read, |l| l.accept()) {
            Poll::Ready(Ok(got)) => Poll::Ready(
                self.wrap(self.fd.runtime(), got)
                    .map(|(s, a)| (s.into_async(), a)),
            ),
            Poll::Ready(Err(e)) => Poll::Ready(Err(op_err("accept", self.fd.io(), e))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Accept a connection (async). Accept from one task at a time per listener.
    pub fn accept_async(
        &self,
    ) -> impl Future<Output = io::Result<(Async<UnixStream>, SocketAddr)>> + '_ {
        std::future::poll_fn(move |cx| self.poll_accept(cx))
    }
}

std_conversions!(UnixStream, std::os::unix::net::UnixStream);
std_conversions!(UnixListener, std::os::unix::net::UnixListener);

/// A Unix socket address as Go prints it: the path; `None` when unnamed.
fn unix_name(a: io::Result<SocketAddr>) -> Option<String> {
    a.ok()?.as_pathname().map(|p| p.display().to_string())
}

impl Endpoint for std::os::unix::net::UnixStream {
    const NET: &'static str = "unix";
    fn local(&self) -> Option<String> {
        unix_name(self.local_addr())
    }
    fn peer(&self) -> Option<String> {
        unix_name(self.peer_addr())
    }
}

impl StreamIo for std::os::unix::net::UnixStream {
    fn shutdown_how(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

impl Endpoint for std::os::unix::net::UnixListener {
    const NET: &'static str = "unix";
    const LISTENER: bool = true;
    fn local(&self) -> Option<String> {
        unix_name(self.local_addr())
    }
    fn peer(&self) -> Option<String> {
        None
    }
}
