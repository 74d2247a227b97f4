//! The operations every stream type shares, blocking and async, written once over
//! [`PollFd`]: each runs the syscall through `fd.rs`'s wait logic and names itself in the
//! errors it returns ([`OpError`](crate::OpError)).

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::task::{Context, Poll};

use netpoll_core::Mode;

use crate::error::with_op;
use crate::fd::PollFd;
use crate::sys::{net as sysnet, AsSource};

/// A `std` socket type as the error messages name it: its network and its endpoints.
pub(crate) trait Endpoint {
    /// `tcp`, `udp` or `unix`.
    const NET: &'static str;
    /// Whether it listens (then errors name its own address as the remote end, as Go does).
    const LISTENER: bool = false;
    /// The local address, if it has a printable one.
    fn local(&self) -> Option<String>;
    /// The peer's address, if connected.
    fn peer(&self) -> Option<String>;
}

/// Wrap a netpoll error from `op` on `s` with the operation and the endpoints.
pub(crate) fn op_err<S: Endpoint>(op: &'static str, s: &S, e: io::Error) -> io::Error {
    with_op(e, op, S::NET, || {
        if S::LISTENER {
            (None, s.local())
        } else {
            (s.local(), s.peer())
        }
    })
}

/// A `std` stream type (`for<'a> &'a S: Read + Write`) that can shut a direction down.
pub(crate) trait StreamIo: Endpoint + AsSource + 'static
where
    for<'a> &'a Self: Read + Write,
{
    fn shutdown_how(&self, how: Shutdown) -> io::Result<()>;
}

impl Endpoint for std::net::TcpStream {
    const NET: &'static str = "tcp";
    fn local(&self) -> Option<String> {
        self.local_addr().ok().map(|a| a.to_string())
    }
    fn peer(&self) -> Option<String> {
        self.peer_addr().ok().map(|a| a.to_string())
    }
}

impl StreamIo for std::net::TcpStream {
    fn shutdown_how(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

impl Endpoint for std::net::TcpListener {
    const NET: &'static str = "tcp";
    const LISTENER: bool = true;
    fn local(&self) -> Option<String> {
        self.local_addr().ok().map(|a| a.to_string())
    }
    fn peer(&self) -> Option<String> {
        None
    }
}

impl Endpoint for std::net::UdpSocket {
    const NET: &'static str = "udp";
    fn local(&self) -> Option<String> {
        self.local_addr().ok().map(|a| a.to_string())
    }
    fn peer(&self) -> Option<String> {
        self.peer_addr().ok().map(|a| a.to_string())
    }
}

/// The most bytes one `readv` can return for `bufs`: std passes at most `IOV_MAX` buffers to
/// the kernel, so a read that fills those is full, not short (and the socket not drained).
pub(crate) fn vectored_cap(bufs: &[IoSliceMut<'_>]) -> usize {
    // IOV_MAX on Linux (`UIO_MAXIOV`), macOS and FreeBSD; std caps `readv` at the platform's
    // value. Windows' `WSARecv` takes every buffer, so a cap there only ever makes a read that
    // filled the first 1,024 buffers count as full: one more syscall, never a skipped one.
    const IOV_MAX: usize = 1024;
    bufs.iter().take(IOV_MAX).map(|b| b.len()).sum()
}

/// Go's rule for an empty read: return at once (Linux would say `EAGAIN` for an empty
/// `recv` and make it wait for data it cannot take), failing only on a closed socket.
fn empty_read<S: Endpoint + AsSource>(fd: &PollFd<S>) -> io::Result<usize> {
    fd.check_open()
        .map(|()| 0)
        .map_err(|e| op_err("read", fd.io(), e))
}

pub(crate) fn read<S: StreamIo>(fd: &PollFd<S>, buf: &mut [u8]) -> io::Result<usize>
where
    for<'a> &'a S: Read + Write,
{
    if buf.is_empty() {
        return empty_read(fd);
    }
    fd.blocking_read_stream(buf.len(), |s| sysnet::stream_read(s, buf))
        .map_err(|e| op_err("read", fd.io(), e))
}

pub(crate) fn read_vectored<S: StreamIo>(
    fd: &PollFd<S>,
    bufs: &mut [IoSliceMut<'_>],
) -> io::Result<usize>
where
    for<'a> &'a S: Read + Write,
{
    if bufs.iter().all(|b| b.is_empty()) {
        return empty_read(fd);
    }
    let cap = vectored_cap(bufs);
    fd.blocking_read_stream(cap, |s| Read::read_vectored(&mut &*s, bufs))
        .map_err(|e| op_err("read", fd.io(), e))
}

pub(crate) fn write<S: StreamIo>(fd: &PollFd<S>, buf: &[u8]) -> io::Result<usize>
where
    for<'a> &'a S: Read + Write,
{
    fd.blocking(Mode::Write, |s| sysnet::stream_write(s, buf))
        .map_err(|e| op_err("write", fd.io(), e))
}

pub(crate) fn write_vectored<S: StreamIo>(fd: &PollFd<S>, bufs: &[IoSlice<'_>]) -> io::Result<usize>
where
    for<'a> &'a S: Read + Write,
{
    fd.blocking(Mode::Write, |s| Write::write_vectored(&mut &*s, bufs))
        .map_err(|e| op_err("write", fd.io(), e))
}

fn ready_err<T, S: Endpoint>(
    op: &'static str,
    s: &S,
    p: Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match p {
        Poll::Ready(Err(e)) => Poll::Ready(Err(op_err(op, s, e))),
        p => p,
    }
}

pub(crate) fn poll_read<S: StreamIo>(
    fd: &PollFd<S>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a S: Read + Write,
{
    if buf.is_empty() {
        return Poll::Ready(empty_read(fd));
    }
    let cap = buf.len();
    let p = fd.poll_read_stream(cx, cap, |s| sysnet::stream_read(s, buf));
    ready_err("read", fd.io(), p)
}

pub(crate) fn poll_read_vectored<S: StreamIo>(
    fd: &PollFd<S>,
    cx: &mut Context<'_>,
    bufs: &mut [IoSliceMut<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a S: Read + Write,
{
    if bufs.iter().all(|b| b.is_empty()) {
        return Poll::Ready(empty_read(fd));
    }
    let cap = vectored_cap(bufs);
    let p = fd.poll_read_stream(cx, cap, |s| Read::read_vectored(&mut &*s, bufs));
    ready_err("read", fd.io(), p)
}

pub(crate) fn poll_write<S: StreamIo>(
    fd: &PollFd<S>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a S: Read + Write,
{
    let p = fd.poll_io(cx, Mode::Write, |s| sysnet::stream_write(s, buf));
    ready_err("write", fd.io(), p)
}

pub(crate) fn poll_write_vectored<S: StreamIo>(
    fd: &PollFd<S>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a S: Read + Write,
{
    let p = fd.poll_io(cx, Mode::Write, |s| Write::write_vectored(&mut &*s, bufs));
    ready_err("write", fd.io(), p)
}

/// Shut the write side down (the peer reads EOF); the socket stays open. Already shut down
/// or never connected is not an error.
pub(crate) fn shutdown_write<S: StreamIo>(fd: &PollFd<S>) -> io::Result<()>
where
    for<'a> &'a S: Read + Write,
{
    match fd.io().shutdown_how(Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        r => r,
    }
}

/// A peek (blocking, bounded by the read deadline) with `peek`, the `std` type's own.
pub(crate) fn peek<S: Endpoint + AsSource>(
    fd: &PollFd<S>,
    buf: &mut [u8],
    peek: impl Fn(&S, &mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    if buf.is_empty() {
        return empty_read(fd);
    }
    fd.blocking(Mode::Read, |s| peek(s, buf))
        .map_err(|e| op_err("peek", fd.io(), e))
}

/// The async form of [`peek`].
pub(crate) fn poll_peek<S: Endpoint + AsSource>(
    fd: &PollFd<S>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
    peek: impl Fn(&S, &mut [u8]) -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(empty_read(fd));
    }
    let p = fd.poll_io(cx, Mode::Read, |s| peek(s, buf));
    ready_err("peek", fd.io(), p)
}

/// tokio's `poll_read`: into the unfilled part of `buf` (zeroed once by `ReadBuf`, which
/// remembers what it has initialised).
#[cfg(feature = "tokio")]
pub(crate) fn poll_read_buf<S: StreamIo>(
    fd: &PollFd<S>,
    cx: &mut Context<'_>,
    buf: &mut tokio::io::ReadBuf<'_>,
) -> Poll<io::Result<()>>
where
    for<'a> &'a S: Read + Write,
{
    match poll_read(fd, cx, buf.initialize_unfilled()) {
        Poll::Ready(Ok(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}
