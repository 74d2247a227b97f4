//! Socket options through socket2: keep-alive (off by default; on per connection, per
//! listener), linger, TTL, buffer sizes, IPv6-only, UDP broadcast.

mod util;

use std::time::Duration;

use netpoll_std::{Runtime, TcpListener, UdpSocket};
use util::tcp_pair;

fn keepalive_is_off_unless_asked_for(rt: &Runtime) {
    let (c, s) = tcp_pair(rt);
    assert_eq!(c.keepalive().unwrap(), None);
    assert_eq!(s.keepalive().unwrap(), None);
    c.set_keepalive(Some(Duration::from_secs(15))).unwrap();
    assert_eq!(c.keepalive().unwrap(), Some(Duration::from_secs(15)));
    // Sub-second periods round up to the kernel's one-second unit.
    c.set_keepalive(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(c.keepalive().unwrap(), Some(Duration::from_secs(1)));
    c.set_keepalive(None).unwrap();
    assert_eq!(c.keepalive().unwrap(), None);
}

/// `SO_KEEPALIVE` goes on and off with `set_keepalive`, read back through socket2 (this
/// runs under Wine too, which cannot read the time back).
fn keepalive_turns_on_and_off(rt: &Runtime) {
    let (c, _s) = tcp_pair(rt);
    let on = || socket2::SockRef::from(&c).keepalive().unwrap();
    assert!(!on());
    c.set_keepalive(Some(Duration::from_secs(15))).unwrap();
    assert!(on());
    c.set_keepalive(None).unwrap();
    assert!(!on());
}

fn listener_keepalive_applies_to_accepted_connections(rt: &Runtime) {
    let l = TcpListener::builder()
        .runtime(rt)
        .keepalive(Some(Duration::from_secs(15)))
        .bind("127.0.0.1:0")
        .unwrap();
    let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    assert_eq!(s.keepalive().unwrap(), Some(Duration::from_secs(15)));
}

fn linger_ttl_and_buffers(rt: &Runtime) {
    let (c, _s) = tcp_pair(rt);
    assert_eq!(c.linger().unwrap(), None);
    c.set_linger(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(c.linger().unwrap(), Some(Duration::from_secs(3)));
    c.set_linger(None).unwrap();
    assert_eq!(c.linger().unwrap(), None);

    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);

    c.set_recv_buffer_size(64 * 1024).unwrap();
    c.set_send_buffer_size(64 * 1024).unwrap();
    // Linux doubles what it is given; other systems keep it or round up.
    assert!(c.recv_buffer_size().unwrap() >= 64 * 1024);
    assert!(c.send_buffer_size().unwrap() >= 64 * 1024);
}

/// Unix-domain sockets exist on Unix only.
#[cfg(unix)]
fn unix_stream_buffers(rt: &Runtime) {
    let (u, _) = netpoll_std::UnixStream::pair_in(rt).unwrap();
    u.set_send_buffer_size(32 * 1024).unwrap();
    assert!(u.send_buffer_size().unwrap() >= 32 * 1024);
}

/// On the wildcard address (Linux makes a socket bound to one IPv6 address IPv6-only itself).
/// With `only_v6(false)` an IPv4 client reaches the IPv6 listener.
fn ipv6_only_listeners(rt: &Runtime) {
    for only in [true, false] {
        let l = TcpListener::builder()
            .runtime(rt)
            .only_v6(only)
            .bind("[::]:0")
            .unwrap();
        assert_eq!(l.only_v6().unwrap(), only);
        let port = l.local_addr().unwrap().port();
        let v4 = std::net::TcpStream::connect(("127.0.0.1", port));
        assert_eq!(v4.is_ok(), !only, "IPv4 client, only_v6({only}): {v4:?}");
        l.set_ttl(7).unwrap(); // the IPv6 hop limit
        assert_eq!(l.ttl().unwrap(), 7);
    }
}

fn udp_options(rt: &Runtime) {
    let u = UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap();
    u.set_broadcast(true).unwrap();
    assert!(u.broadcast().unwrap());
    u.set_ttl(9).unwrap();
    assert_eq!(u.ttl().unwrap(), 9);
    u.set_recv_buffer_size(128 * 1024).unwrap();
    assert!(u.recv_buffer_size().unwrap() >= 128 * 1024);
    let u6 = UdpSocket::bind_in(rt, "[::]:0").unwrap();
    // The system's default for a new IPv6 socket: dual-stack on Linux (net.ipv6.bindv6only =
    // 0), IPv6-only on Windows (where IPV6_V6ONLY starts on).
    assert_eq!(u6.only_v6().unwrap(), cfg!(windows));
}

per_backend!(
    #[cfg_attr(
        wine,
        ignore = "Wine 8.0 cannot read the keep-alive time back: its getsockopt knows no TCP_KEEPALIVE (Windows 10 1709's TCP_KEEPIDLE; it logs \"fixme:winsock:getsockopt unrecognized TCP option 0x3\" and fails with WSAENOPROTOOPT), see getsockopt in dlls/ws2_32/socket.c, https://gitlab.winehq.org/wine/wine/-/blob/wine-8.0/dlls/ws2_32/socket.c"
    )]
    keepalive_is_off_unless_asked_for,
    #[cfg_attr(
        wine,
        ignore = "Wine 8.0 cannot read the keep-alive time back: its getsockopt knows no TCP_KEEPALIVE (Windows 10 1709's TCP_KEEPIDLE; it logs \"fixme:winsock:getsockopt unrecognized TCP option 0x3\" and fails with WSAENOPROTOOPT), see getsockopt in dlls/ws2_32/socket.c, https://gitlab.winehq.org/wine/wine/-/blob/wine-8.0/dlls/ws2_32/socket.c"
    )]
    listener_keepalive_applies_to_accepted_connections,
    keepalive_turns_on_and_off,
    linger_ttl_and_buffers,
    #[cfg(unix)]
    unix_stream_buffers,
    ipv6_only_listeners,
    udp_options,
);
