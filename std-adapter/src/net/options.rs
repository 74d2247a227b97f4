//! Socket options, through `socket2::SockRef` on the wrapped `std` socket (no descriptor is
//! duplicated, nothing is re-registered).
//!
//! ## Keep-alive: off unless asked for
//! Go turns TCP keep-alive on for every dialed and accepted connection (15 s idle time and
//! probe interval). netpoll leaves it off, as `std`, tokio and mio do: each accepted
//! connection would pay three more `setsockopt` calls, and deadlines already bound how long
//! an operation waits on a silent peer. Ask for it per connection
//! ([`TcpStream::set_keepalive`](crate::TcpStream::set_keepalive)), for every accepted one
//! ([`ListenerBuilder::keepalive`](crate::net::ListenerBuilder::keepalive)) or every dialed
//! one ([`Dialer::keepalive`](crate::Dialer::keepalive)); `Some(Duration::from_secs(15))`
//! is Go's setting.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// Keep-alive probes after `idle` without traffic, then every `idle` (Go uses one period for
/// both); `None` turns keep-alive off.
pub(crate) fn set_keepalive(s: SockRef<'_>, idle: Option<Duration>) -> io::Result<()> {
    match idle {
        None => s.set_keepalive(false),
        Some(d) => {
            // The kernel counts whole seconds, at least one.
            let d = d.max(Duration::from_secs(1));
            let ka = TcpKeepalive::new().with_time(d);
            #[cfg(any(
                target_os = "linux",
                target_os = "android",
                target_os = "freebsd",
                target_os = "macos",
                target_os = "ios",
                target_os = "netbsd",
                target_os = "windows"
            ))]
            let ka = ka.with_interval(d);
            s.set_tcp_keepalive(&ka)
        }
    }
}

/// The keep-alive idle time if keep-alive is on.
pub(crate) fn keepalive(s: SockRef<'_>) -> io::Result<Option<Duration>> {
    if !s.keepalive()? {
        return Ok(None);
    }
    #[cfg(windows)]
    return crate::sys::net::tcp_keepalive_time(crate::sys::AsSource::as_source(&*s)).map(Some);
    #[cfg(not(any(windows, target_os = "haiku", target_os = "openbsd")))]
    return s.tcp_keepalive_time().map(Some);
    #[cfg(any(target_os = "haiku", target_os = "openbsd"))]
    return Ok(Some(Duration::ZERO));
}

/// `IP_TTL` for IPv4, the unicast hop limit for IPv6.
pub(crate) fn set_ttl(s: SockRef<'_>, v6: bool, ttl: u32) -> io::Result<()> {
    if v6 {
        s.set_unicast_hops_v6(ttl)
    } else {
        s.set_ttl_v4(ttl)
    }
}

pub(crate) fn ttl(s: SockRef<'_>, v6: bool) -> io::Result<u32> {
    if v6 {
        s.unicast_hops_v6()
    } else {
        s.ttl_v4()
    }
}

/// Buffer-size getters and setters for a socket type with a `fd: PollFd<_>` field.
macro_rules! buffer_options {
    ($ty:ty) => {
        impl $ty {
            /// Set `SO_RCVBUF`, the kernel's receive buffer. The kernel may round it (Linux
            /// doubles it for its bookkeeping: [`recv_buffer_size`](Self::recv_buffer_size)
            /// reports the doubled value).
            pub fn set_recv_buffer_size(&self, bytes: usize) -> std::io::Result<()> {
                socket2::SockRef::from(self.fd.io()).set_recv_buffer_size(bytes)
            }
            /// `SO_RCVBUF`, as the kernel reports it.
            pub fn recv_buffer_size(&self) -> std::io::Result<usize> {
                socket2::SockRef::from(self.fd.io()).recv_buffer_size()
            }
            /// Set `SO_SNDBUF`, the kernel's send buffer (rounded like the receive buffer).
            pub fn set_send_buffer_size(&self, bytes: usize) -> std::io::Result<()> {
                socket2::SockRef::from(self.fd.io()).set_send_buffer_size(bytes)
            }
            /// `SO_SNDBUF`, as the kernel reports it.
            pub fn send_buffer_size(&self) -> std::io::Result<usize> {
                socket2::SockRef::from(self.fd.io()).send_buffer_size()
            }
        }
    };
}

/// TTL (hop limit) getter and setter for an IP socket type with a `fd: PollFd<_>` field whose
/// `std` socket has `local_addr`.
macro_rules! ttl_options {
    ($ty:ty) => {
        impl $ty {
            /// Set the time to live of outgoing packets (`IP_TTL`; the unicast hop limit on an
            /// IPv6 socket).
            pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
                let v6 = self.fd.io().local_addr()?.is_ipv6();
                $crate::net::options::set_ttl(socket2::SockRef::from(self.fd.io()), v6, ttl)
            }
            /// The time to live of outgoing packets (IPv6: the unicast hop limit).
            pub fn ttl(&self) -> std::io::Result<u32> {
                let v6 = self.fd.io().local_addr()?.is_ipv6();
                $crate::net::options::ttl(socket2::SockRef::from(self.fd.io()), v6)
            }
        }
    };
}

pub(crate) use {buffer_options, ttl_options};
