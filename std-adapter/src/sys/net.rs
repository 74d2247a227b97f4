//! The socket calls the front-end needs in non-blocking form, over `socket2` on every OS: a
//! non-blocking socket, a non-blocking `connect`, `accept` of non-blocking sockets, listeners
//! (with `SO_REUSEPORT` on Unix), the pending socket error, `shutdown`, and `sendfile` (Unix).
//! Everything else (readv, writev, recvfrom, ...) goes through the `std` socket types, which
//! are happy to run on non-blocking sockets.
//!
//! Two calls stay raw `libc` syscalls, on Linux only, because they are the per-message hot
//! path and were measured: [`stream_read`] and [`stream_write`] (see their docs).

use std::io;
use std::net::{Shutdown, SocketAddr};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::BorrowedSource;

/// A new non-blocking, close-on-exec (non-inheritable on Windows) socket for `addr`'s family.
pub(crate) fn socket(addr: &SocketAddr, ty: Type) -> io::Result<Socket> {
    flags::socket(Domain::for_address(*addr), ty)
}

/// Where the OS takes `SOCK_NONBLOCK | SOCK_CLOEXEC` in `socket`'s type and in `accept4`, one
/// syscall makes a socket ready (socket2 adds `SOCK_CLOEXEC` to `socket` itself).
#[cfg(any(
    target_os = "android",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "illumos",
    target_os = "linux",
    target_os = "netbsd",
    target_os = "openbsd"
))]
mod flags {
    use super::*;

    pub(super) fn socket(domain: Domain, ty: Type) -> io::Result<Socket> {
        Socket::new(domain, ty.nonblocking(), None)
    }

    pub(super) fn accept(l: &Socket) -> io::Result<(Socket, SockAddr)> {
        l.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    }
}

/// Elsewhere (macOS, Windows) a second call sets non-blocking mode; socket2 sets
/// close-on-exec (`FD_CLOEXEC`) or non-inheritance (Windows) itself. Whether an accepted
/// socket inherits the listener's non-blocking mode differs between systems, so it is set.
#[cfg(not(any(
    target_os = "android",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "illumos",
    target_os = "linux",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
mod flags {
    use super::*;

    pub(super) fn socket(domain: Domain, ty: Type) -> io::Result<Socket> {
        let s = Socket::new(domain, ty, None)?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    pub(super) fn accept(l: &Socket) -> io::Result<(Socket, SockAddr)> {
        let (s, addr) = l.accept()?;
        s.set_nonblocking(true)?;
        Ok((s, addr))
    }
}

/// Start a non-blocking connect. `Ok(true)`: connected; `Ok(false)`: in progress (wait until
/// writable, then read the socket error).
///
/// "In progress" is `EINPROGRESS` on Unix and `WSAEWOULDBLOCK` on Windows (which `std` reports
/// as `ErrorKind::WouldBlock`); an interrupted connect goes on in the background on Unix.
pub(crate) fn start_connect(s: &Socket, addr: &SocketAddr) -> io::Result<bool> {
    match s.connect(&SockAddr::from(*addr)) {
        Ok(()) => Ok(true),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// Accept one connection as a non-blocking, close-on-exec (non-inheritable) socket.
pub(crate) fn accept(listener: BorrowedSource<'_>) -> io::Result<(Socket, SocketAddr)> {
    let (s, addr) = flags::accept(&SockRef::from(&listener))?;
    let addr = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unsupported address family"))?;
    Ok((s, addr))
}

/// A bound, listening, non-blocking TCP socket; `only_v6` sets `IPV6_V6ONLY` on an IPv6
/// socket before it binds (`None`: the system default).
///
/// On Unix `SO_REUSEADDR` is set (a restarted server can bind while old connections linger in
/// `TIME_WAIT`), as `std` and Go do. Not on Windows, where it would let another socket bind
/// the same port and steal connections (and `TIME_WAIT` does not block a bind there anyway).
/// `reuse_port` (`SO_REUSEPORT`) is Unix-only: Windows has no load-spreading equivalent, so
/// asking for it there is an `Unsupported` error rather than a silent no-op.
pub(crate) fn tcp_listen(
    addr: &SocketAddr,
    reuse_port: bool,
    backlog: i32,
    only_v6: Option<bool>,
) -> io::Result<Socket> {
    let s = socket(addr, Type::STREAM)?;
    #[cfg(unix)]
    {
        s.set_reuse_address(true)?;
        if reuse_port {
            s.set_reuse_port(true)?;
        }
    }
    #[cfg(windows)]
    if reuse_port {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available on Windows",
        ));
    }
    if let (Some(on), true) = (only_v6, addr.is_ipv6()) {
        s.set_only_v6(on)?;
    }
    s.bind(&SockAddr::from(*addr))?;
    s.listen(backlog)?;
    Ok(s)
}

/// Shut down both directions, ignoring "not connected" (a listener, or a reset connection).
pub(crate) fn shutdown(s: BorrowedSource<'_>) {
    let _ = SockRef::from(&s).shutdown(Shutdown::Both);
}

/// The pending socket error (`SO_ERROR`), cleared by reading it.
pub(crate) fn take_error(s: BorrowedSource<'_>) -> io::Result<Option<io::Error>> {
    SockRef::from(&s).take_error()
}

/// Send up to `count` bytes of `file` from `*offset` to `socket` without copying through user
/// space (Linux `sendfile(2)`); advances `*offset`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn sendfile(
    socket: BorrowedSource<'_>,
    file: &std::fs::File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let Some(count) = std::num::NonZeroUsize::new(count) else {
        return Ok(0);
    };
    let off = usize::try_from(*offset)
        .ok()
        .filter(|o| libc::off_t::try_from(*o).is_ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    let n = SockRef::from(&socket).sendfile(file, off, Some(count))?;
    *offset += n as u64;
    Ok(n)
}

/// The same through a buffer (a positioned read, then a write) on the other Unix systems.
///
/// Not their `sendfile(2)` (nor socket2's wrapper of it): on FreeBSD and macOS a non-blocking
/// `sendfile` that sends part of the range and then fills the socket fails with `EAGAIN`
/// *and* reports the bytes it sent in an out-parameter, which the wrapper drops, so a caller
/// retrying after `EAGAIN` would send those bytes twice. Reading at an explicit offset
/// consumes nothing when the write says `EAGAIN`.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
pub(crate) fn sendfile(
    socket: BorrowedSource<'_>,
    file: &std::fs::File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 16 * 1024];
    let want = count.min(buf.len());
    let n = file.read_at(&mut buf[..want], *offset)?;
    if n == 0 {
        return Ok(0);
    }
    let w = SockRef::from(&socket).send(&buf[..n])?;
    *offset += w as u64;
    Ok(w)
}

/// One `read` on a stream socket. On Linux a raw `syscall(SYS_read)`: glibc's `read`/`recv`
/// wrappers are thread-cancellation points, and entering and leaving cancellable mode cost
/// about 80 user-space instructions per echoed message on top of the wrappers themselves,
/// measured under callgrind with the S2 echo (docs/architecture.md, "What it costs": 906 Ir
/// per message with these two raw calls). socket2's `recv`/`send` are the same libc
/// wrappers, so they would bring that back. Other systems use the `std` socket's own `read`
/// (`recv` on Windows).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn stream_read<S: super::AsSource>(s: &S, buf: &mut [u8]) -> io::Result<usize>
where
    for<'a> &'a S: io::Read,
{
    let len = buf.len().min(isize::MAX as usize);
    // SAFETY: `buf` is valid for `len` writable bytes for the duration of the call, and the
    // descriptor is borrowed from a live socket.
    let n = unsafe { libc::syscall(libc::SYS_read, s.raw_source(), buf.as_mut_ptr(), len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// See the Linux version.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn stream_read<S: super::AsSource>(s: &S, buf: &mut [u8]) -> io::Result<usize>
where
    for<'a> &'a S: io::Read,
{
    io::Read::read(&mut &*s, buf)
}

/// One `send` on a stream socket with `MSG_NOSIGNAL` (a closed peer is an `EPIPE` error, not
/// a `SIGPIPE`); on Linux a raw `syscall(SYS_sendto)`, for the reason given at
/// [`stream_read`]. Other systems use the `std` socket's `write` (which also avoids
/// `SIGPIPE`; Windows has no such signal).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn stream_write<S: super::AsSource>(s: &S, buf: &[u8]) -> io::Result<usize>
where
    for<'a> &'a S: io::Write,
{
    let len = buf.len().min(isize::MAX as usize);
    // SAFETY: `buf` is valid for `len` readable bytes for the duration of the call; a null
    // address with length 0 makes sendto a plain send; the descriptor is borrowed from a
    // live socket.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            s.raw_source(),
            buf.as_ptr(),
            len,
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// See the Linux version.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn stream_write<S: super::AsSource>(s: &S, buf: &[u8]) -> io::Result<usize>
where
    for<'a> &'a S: io::Write,
{
    io::Write::write(&mut &*s, buf)
}

/// Stop Windows from failing the next `recv` on a UDP socket with `WSAECONNRESET` when an
/// earlier `send` drew an ICMP "port unreachable" (Go's `internal/poll` does the same): a
/// datagram socket has no connection to reset, and Unix reports nothing there for an
/// unconnected socket.
#[cfg(windows)]
pub(crate) fn udp_no_connreset(s: BorrowedSource<'_>) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{WSAIoctl, SIO_UDP_CONNRESET, SOCKET_ERROR};
    let off: u32 = 0;
    let mut returned: u32 = 0;
    // SAFETY: `off` is a readable 4-byte input buffer and `returned` a writable u32, both
    // alive for the call; no output buffer, no overlapped I/O, no completion routine; the
    // socket is borrowed from a live one.
    let r = unsafe {
        WSAIoctl(
            s.as_raw_socket() as usize,
            SIO_UDP_CONNRESET,
            (&off as *const u32).cast(),
            std::mem::size_of::<u32>() as u32,
            std::ptr::null_mut(),
            0,
            &mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
    if r == SOCKET_ERROR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The keep-alive idle time: `TCP_KEEPALIVE`, Windows' name for `TCP_KEEPIDLE` (whole
/// seconds; Windows 10 1709 and later). socket2 has no getter on Windows, where it sets the
/// time through `SIO_KEEPALIVE_VALS`, an ioctl that cannot be read back; the option reads
/// what that ioctl set.
#[cfg(windows)]
pub(crate) fn tcp_keepalive_time(s: BorrowedSource<'_>) -> io::Result<std::time::Duration> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{
        getsockopt, IPPROTO_TCP, SOCKET_ERROR, TCP_KEEPALIVE,
    };
    let mut secs: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as i32;
    // SAFETY: `secs` is a writable 4-byte buffer and `len` holds its size, both alive for the
    // call; the socket is borrowed from a live one.
    let r = unsafe {
        getsockopt(
            s.as_raw_socket() as usize,
            IPPROTO_TCP,
            TCP_KEEPALIVE,
            (&mut secs as *mut u32).cast(),
            &mut len,
        )
    };
    if r == SOCKET_ERROR {
        return Err(io::Error::last_os_error());
    }
    Ok(std::time::Duration::from_secs(secs.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::AsSource;

    #[test]
    fn connect_and_accept_give_non_blocking_sockets() {
        let l = tcp_listen(&"127.0.0.1:0".parse().unwrap(), false, 8, None).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        let c = socket(&addr, Type::STREAM).unwrap();
        let _ = start_connect(&c, &addr).unwrap();
        let start = std::time::Instant::now();
        let (s, peer) = loop {
            match accept(l.as_source()) {
                Ok(got) => break got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(start.elapsed() < std::time::Duration::from_secs(10));
                    std::thread::yield_now();
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        assert_eq!(peer, c.local_addr().unwrap().as_socket().unwrap());
        // Non-blocking: nothing to read is "would block", not a hang.
        let e = io::Read::read(&mut &s, &mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let e = io::Read::read(&mut &c, &mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(take_error(s.as_source()).unwrap().is_none());
    }

    #[test]
    fn listening_on_a_taken_port_is_an_error() {
        let l = tcp_listen(&"127.0.0.1:0".parse().unwrap(), false, 8, None).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        assert!(tcp_listen(&addr, false, 8, None).is_err());
    }
}
