//! UDP: [`UdpSocket`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use netpoll_core::Mode;

use super::{common_methods, pick, std_conversions};
use crate::fd::PollFd;
use crate::Runtime;

/// A UDP socket with Go-style deadlines (the read deadline bounds `recv*`, the write deadline
/// `send*`), blocking and async.
pub struct UdpSocket {
    fd: PollFd<std::net::UdpSocket>,
}

common_methods!(UdpSocket);

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

    /// Set the default peer (filters what `recv` sees).
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.fd.io().connect(addr)
    }

    /// Send one datagram to `addr` (blocking).
    pub fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.fd.blocking(Mode::Write, |s| s.send_to(buf, addr))
    }

    /// Receive one datagram (blocking).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.blocking(Mode::Read, |s| s.recv_from(buf))
    }

    /// Send to the connected peer (blocking).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.blocking(Mode::Write, |s| s.send(buf))
    }

    /// Receive from the connected peer (blocking).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.blocking(Mode::Read, |s| s.recv(buf))
    }

    /// Send one datagram to `addr` (async). One task per direction at a time.
    pub async fn send_to_async(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Write, |s| s.send_to(buf, addr))).await
    }

    /// Receive one datagram (async). One task per direction at a time.
    pub async fn recv_from_async(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Read, |s| s.recv_from(buf))).await
    }

    /// Send to the connected peer (async).
    pub async fn send_async(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Write, |s| s.send(buf))).await
    }

    /// Receive from the connected peer (async).
    pub async fn recv_async(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.fd.poll_io(cx, Mode::Read, |s| s.recv(buf))).await
    }
}

std_conversions!(UdpSocket, std::net::UdpSocket);
