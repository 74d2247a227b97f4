//! UDP: [`UdpSocket`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use netpoll_core::Mode;

use super::io::op_err;
use super::{common_methods, pick, std_conversions};
use crate::fd::PollFd;
use crate::Runtime;

/// A UDP socket with Go-style deadlines (the read deadline bounds `recv*`, the write deadline
/// `send*`), blocking and async.
pub struct UdpSocket {
    fd: PollFd<std::net::UdpSocket>,
}

common_methods!(UdpSocket);
super::ready::readiness_methods!(UdpSocket);
super::options::buffer_options!(UdpSocket);
super::options::ttl_options!(UdpSocket);

impl UdpSocket {
    /// Bind in the global runtime.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::bind_in(&pick(None)?, addr)
    }

    /// Bind in `rt`.
    pub fn bind_in(rt: &Runtime, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::from_std_in(std::net::UdpSocket::bind(addr)?, rt)
    }

    /// Wrap a `std` socket (made non-blocking) in `rt`.
    ///
    /// On Windows this also turns `SIO_UDP_CONNRESET` off, as Go does: otherwise a datagram
    /// answered by an ICMP "port unreachable" makes the next receive fail with
    /// `WSAECONNRESET`, where Unix reports nothing on an unconnected socket.
    pub fn from_std_in(s: std::net::UdpSocket, rt: &Runtime) -> io::Result<UdpSocket> {
        s.set_nonblocking(true)?;
        #[cfg(windows)]
        crate::sys::net::udp_no_connreset(crate::sys::AsSource::as_source(&s))?;
        // No shutdown on close: a UDP socket is woken through the poller alone.
        Ok(UdpSocket {
            fd: PollFd::new(s, rt, false)?,
        })
    }

    /// Wrap a `std` socket (made non-blocking) in the global runtime.
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_std_in(s, &pick(None)?)
    }

    /// A blocking `std` socket for the same endpoint (through a duplicated descriptor).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        let s = self.fd.io().try_clone()?;
        s.set_nonblocking(false)?;
        Ok(s)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.io().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.io().peer_addr()
    }

    /// Set `SO_BROADCAST` (sending to a broadcast address).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.fd.io().set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.fd.io().broadcast()
    }

    /// Whether an IPv6 socket takes IPv6 traffic only (`IPV6_V6ONLY`; set it before binding
    /// with [`UdpSocket::from_std_in`] over a `socket2` socket). The default is the system's:
    /// off on Linux, on on Windows.
    pub fn only_v6(&self) -> io::Result<bool> {
        socket2::SockRef::from(self.fd.io()).only_v6()
    }

    /// Set the default peer (filters what `recv` sees).
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.fd.io().connect(addr)
    }

    /// Send one datagram to `addr` (blocking; bounded by the write deadline). A name is
    /// looked up first (on this thread), and the datagram goes to its first address.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let to = first_address(addr)?;
        self.fd
            .blocking(Mode::Write, |s| s.send_to(buf, to))
            .map_err(|e| self.err("write", e))
    }

    /// Receive one datagram (blocking; bounded by the read deadline).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd
            .blocking(Mode::Read, |s| s.recv_from(buf))
            .map_err(|e| self.err("read", e))
    }

    /// Send to the connected peer (blocking).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd
            .blocking(Mode::Write, |s| s.send(buf))
            .map_err(|e| self.err("write", e))
    }

    /// Receive from the connected peer (blocking). An empty `buf` returns 0 at once, as Go's
    /// `Read` does (Linux would wait for a datagram and then discard it).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return self.empty_recv();
        }
        self.fd
            .blocking(Mode::Read, |s| s.recv(buf))
            .map_err(|e| self.err("read", e))
    }

    /// Send one datagram to `addr` (async). One task per direction at a time.
    pub async fn send_to_async(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Write, |s| s.send_to(buf, addr)))
            .await
            .map_err(|e| self.err("write", e))
    }

    /// Receive one datagram (async). One task per direction at a time.
    pub async fn recv_from_async(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Read, |s| s.recv_from(buf)))
            .await
            .map_err(|e| self.err("read", e))
    }

    /// Send to the connected peer (async).
    pub async fn send_async(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Write, |s| s.send(buf)))
            .await
            .map_err(|e| self.err("write", e))
    }

    /// Receive from the connected peer (async); an empty `buf` returns 0 at once.
    pub async fn recv_async(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return self.empty_recv();
        }
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Read, |s| s.recv(buf)))
            .await
            .map_err(|e| self.err("read", e))
    }

    /// Send one datagram to `addr` without waiting: `WouldBlock` if the send buffer is full
    /// (or another send is running); see [`writable`](Self::writable).
    pub fn try_send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.fd
            .try_io(Mode::Write, |s| s.send_to(buf, addr))
            .map_err(|e| self.try_err("write", e))
    }

    /// Receive one queued datagram and its sender without waiting: `WouldBlock` if none is
    /// queued (or another receive is running); see [`readable`](Self::readable).
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd
            .try_io(Mode::Read, |s| s.recv_from(buf))
            .map_err(|e| self.try_err("read", e))
    }

    /// Send to the connected peer without waiting (see [`try_send_to`](Self::try_send_to)).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd
            .try_io(Mode::Write, |s| s.send(buf))
            .map_err(|e| self.try_err("write", e))
    }

    /// Receive from the connected peer without waiting (see
    /// [`try_recv_from`](Self::try_recv_from)); an empty `buf` returns 0 at once.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return self.empty_recv();
        }
        self.fd
            .try_io(Mode::Read, |s| s.recv(buf))
            .map_err(|e| self.try_err("read", e))
    }

    /// Receive without consuming (blocking): the next datagram's first bytes and its sender,
    /// bounded by the read deadline.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd
            .blocking(Mode::Read, |s| s.peek_from(buf))
            .map_err(|e| self.err("peek", e))
    }

    fn empty_recv(&self) -> io::Result<usize> {
        self.fd
            .check_open()
            .map(|()| 0)
            .map_err(|e| self.err("read", e))
    }

    fn err(&self, op: &'static str, e: io::Error) -> io::Error {
        op_err(op, self.fd.io(), e)
    }

    fn try_err(&self, op: &'static str, e: io::Error) -> io::Error {
        super::ready::op_err_unless_would_block(op, self.fd.io(), e)
    }
}

/// The first address `addr` resolves to (std's `send_to` rule).
fn first_address(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))
}

std_conversions!(UdpSocket, std::net::UdpSocket);
