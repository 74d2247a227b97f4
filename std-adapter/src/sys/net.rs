//! Socket syscalls the standard library does not expose in non-blocking form: `socket` +
//! non-blocking `connect`, `accept4` with `SOCK_NONBLOCK`, listeners with `SO_REUSEPORT`, and
//! `sendfile`; and plain stream `read`/`send` on Linux as raw syscalls (see [`stream_read`]).
//! Everything else (readv, writev, recvfrom, ...) goes through the `std` socket types, which
//! are happy to run on non-blocking descriptors.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Flags that make `socket`/`accept4` return non-blocking, close-on-exec descriptors, where
/// the OS has them.
#[cfg(any(target_os = "linux", target_os = "android"))]
const ATOMIC_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// Make a descriptor non-blocking and close-on-exec after the fact (Unix without the atomic
/// flags; not compiled on Linux, where this file is built and tested).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_flags(fd: BorrowedFd<'_>) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl with integer arguments on a descriptor the caller owns.
    syscall!(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    // SAFETY: as above.
    let fl = syscall!(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    syscall!(unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) })?;
    Ok(())
}

/// A new non-blocking, close-on-exec socket.
pub(crate) fn socket(addr: &SocketAddr, ty: libc::c_int) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let ty = ty | ATOMIC_FLAGS;
    // SAFETY: plain syscall with integer arguments.
    let fd = syscall!(unsafe { libc::socket(domain, ty, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    set_flags(fd.as_fd())?;
    Ok(fd)
}

/// Encode `addr` as a `sockaddr_storage` and its length.
pub(crate) fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // Field by field from zero: some systems add fields (BSD's `sin_len`).
            // SAFETY: all-zero bytes are a valid sockaddr_in.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: all-zero bytes are a valid sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Decode a socket address the kernel wrote.
fn socket_addr(storage: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is aligned for.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it is aligned for.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unsupported address family",
        )),
    }
}

/// Start a non-blocking connect. `Ok(true)`: connected; `Ok(false)`: in progress (wait until
/// writable, then read `SO_ERROR`).
pub(crate) fn start_connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<bool> {
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid address of `len` bytes for the duration of the call.
    match syscall!(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// Accept one connection as a non-blocking, close-on-exec descriptor.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SocketAddr)> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = storage.as_mut_ptr().cast();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: `storage` has room for `len` bytes and both outlive the call.
    let new = syscall!(unsafe { libc::accept4(fd.as_raw_fd(), ptr, &mut len, ATOMIC_FLAGS) })?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: `storage` has room for `len` bytes and both outlive the call.
    let new = syscall!(unsafe { libc::accept(fd.as_raw_fd(), ptr, &mut len) })?;
    // SAFETY: `new` was just returned by accept and nothing else owns it.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    set_flags(new.as_fd())?;
    // SAFETY: zero-initialised, then (partly) written by the kernel: a valid sockaddr_storage.
    let storage = unsafe { storage.assume_init() };
    Ok((new, socket_addr(&storage)?))
}

fn set_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` is a readable c_int whose size is passed along.
    syscall!(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// A bound, listening, non-blocking TCP socket; `only_v6` sets `IPV6_V6ONLY` on an IPv6
/// socket before it binds (`None`: the system default).
pub(crate) fn tcp_listen(
    addr: &SocketAddr,
    reuse_port: bool,
    backlog: i32,
    only_v6: Option<bool>,
) -> io::Result<OwnedFd> {
    let fd = socket(addr, libc::SOCK_STREAM)?;
    set_int_opt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuse_port {
        set_int_opt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    if let (Some(on), true) = (only_v6, addr.is_ipv6()) {
        socket2::SockRef::from(&fd).set_only_v6(on)?;
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid address of `len` bytes for the duration of the call.
    syscall!(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    })?;
    // SAFETY: plain syscall with integer arguments.
    syscall!(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(fd)
}

/// Send up to `count` bytes of `file` from `*offset` to `socket` without copying through user
/// space; advances `*offset`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    let (out_fd, in_fd) = (socket.as_raw_fd(), file.as_raw_fd());
    // SAFETY: `off` is a valid off_t for the kernel to read and update.
    let n = syscall!(unsafe { libc::sendfile(out_fd, in_fd, &mut off, count) })?;
    *offset = off as u64;
    Ok(n as usize)
}

/// The same through a buffer (`pread` + `write`) where the OS's `sendfile` differs (not
/// compiled on Linux). Nothing is consumed when the write says `EAGAIN`, since the file is
/// read at an explicit offset.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut buf = [0u8; 16 * 1024];
    let want = count.min(buf.len());
    let off = libc::off_t::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    // SAFETY: `buf` has room for `want` bytes.
    let n = syscall!(unsafe { libc::pread(file.as_raw_fd(), buf.as_mut_ptr().cast(), want, off) })?;
    // SAFETY: the first `n` bytes of `buf` were just read.
    let w = syscall!(unsafe { libc::write(socket.as_raw_fd(), buf.as_ptr().cast(), n as usize) })?;
    *offset += w as u64;
    Ok(w as usize)
}

/// Shut down both directions, ignoring "not connected".
pub(crate) fn shutdown(fd: BorrowedFd<'_>) {
    // SAFETY: plain syscall with integer arguments; failure (ENOTCONN) is harmless.
    let _ = syscall!(unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) });
}

/// The pending socket error (`SO_ERROR`), cleared by reading it.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are writable and describe a c_int-sized buffer.
    syscall!(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok((v != 0).then(|| io::Error::from_raw_os_error(v)))
}

/// One `read` on a stream socket. On Linux a raw `syscall(SYS_read)`: glibc's `read`/`recv`
/// wrappers are thread-cancellation points, and entering and leaving cancellable mode costs
/// more user-space instructions than the rest of the call (measured under callgrind). Other
/// systems use the `std` socket's own `read`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn stream_read<S: AsFd>(s: &S, buf: &mut [u8]) -> io::Result<usize>
where
    for<'a> &'a S: io::Read,
{
    let len = buf.len().min(isize::MAX as usize);
    // SAFETY: `buf` is valid for `len` writable bytes for the duration of the call, and the
    // descriptor is borrowed from a live socket.
    let n = unsafe { libc::syscall(libc::SYS_read, s.as_fd().as_raw_fd(), buf.as_mut_ptr(), len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// See the Linux version.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn stream_read<S: AsFd>(s: &S, buf: &mut [u8]) -> io::Result<usize>
where
    for<'a> &'a S: io::Read,
{
    io::Read::read(&mut &*s, buf)
}

/// One `send` on a stream socket with `MSG_NOSIGNAL` (a closed peer is an `EPIPE` error, not
/// a `SIGPIPE`); on Linux a raw `syscall(SYS_sendto)`, for the reason given at
/// [`stream_read`]. Other systems use the `std` socket's `write` (which also avoids
/// `SIGPIPE`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn stream_write<S: AsFd>(s: &S, buf: &[u8]) -> io::Result<usize>
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
            s.as_fd().as_raw_fd(),
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
pub(crate) fn stream_write<S: AsFd>(s: &S, buf: &[u8]) -> io::Result<usize>
where
    for<'a> &'a S: io::Write,
{
    io::Write::write(&mut &*s, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for a in ["127.0.0.1:80", "[::1]:443", "[fe80::1%2]:9"] {
            let addr: SocketAddr = a.parse().unwrap();
            let (storage, _) = sockaddr(&addr);
            assert_eq!(socket_addr(&storage).unwrap(), addr);
        }
    }
}
