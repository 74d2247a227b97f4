//! UDP and (on Unix) Unix-domain sockets over every backend.

mod util;

#[cfg(unix)]
use std::io::{Read, Write};
use std::sync::Arc;

use netpoll_std::{is_closed, is_timeout, Runtime, UdpSocket};
#[cfg(unix)]
use netpoll_std::{UnixListener, UnixStream};
use util::{bounded, in_ms};

fn udp_round_trip_and_deadline(rt: &Runtime) {
    let a = UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap();
    let b = UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap();
    let b_addr = b.local_addr().unwrap();
    a.send_to(b"dgram", b_addr).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"dgram"[..], a.local_addr().unwrap()));
    b.set_read_deadline(in_ms(30)).unwrap();
    assert!(is_timeout(&b.recv_from(&mut buf).unwrap_err()));
    // Connected form.
    a.connect(b_addr).unwrap();
    b.set_read_deadline(None).unwrap();
    a.send(b"c").unwrap();
    assert_eq!(b.recv(&mut buf).unwrap(), 1);
}

fn udp_async(rt: &Runtime) {
    let a = UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap();
    let b = UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap();
    let b_addr = b.local_addr().unwrap();
    let got = bounded("async recv", move || {
        futures_lite::future::block_on(async {
            let mut buf = [0u8; 8];
            let recv = b.recv_from_async(&mut buf);
            a.send_to_async(b"hi", b_addr).await.unwrap();
            let (n, _) = recv.await.unwrap();
            buf[..n].to_vec()
        })
    });
    assert_eq!(got, b"hi");
}

fn udp_close_wakes_receiver(rt: &Runtime) {
    let s = Arc::new(UdpSocket::bind_in(rt, "127.0.0.1:0").unwrap());
    let r = s.clone();
    let h = std::thread::spawn(move || r.recv_from(&mut [0u8; 8]).unwrap_err());
    util::eventually("parked", || rt.stats().parked_now == 1);
    s.close().unwrap();
    let e = bounded("join", move || h.join().unwrap());
    assert!(is_closed(&e), "{e}");
}

#[cfg(unix)]
fn unix_stream_echo_and_deadline(rt: &Runtime) {
    let (mut a, mut b) = UnixStream::pair_in(rt).unwrap();
    a.write_all(b"unix").unwrap();
    let mut buf = [0u8; 4];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"unix");
    b.set_read_deadline(in_ms(30)).unwrap();
    assert!(is_timeout(&b.read(&mut buf).unwrap_err()));
}

#[cfg(unix)]
fn unix_listener_accept(rt: &Runtime) {
    let dir = std::env::temp_dir().join(format!(
        "netpoll-unix-{}-{}",
        std::process::id(),
        rt.backend()
    ));
    let _ = std::fs::remove_file(&dir);
    let l = UnixListener::bind_in(rt, &dir).unwrap();
    l.set_read_deadline(in_ms(20)).unwrap();
    assert!(is_timeout(&l.accept().unwrap_err()));
    l.set_read_deadline(None).unwrap();
    let mut c = UnixStream::connect_in(rt, &dir).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.write_all(b"!").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    let _ = std::fs::remove_file(&dir);
}

per_backend!(
    udp_round_trip_and_deadline,
    udp_async,
    udp_close_wakes_receiver,
    #[cfg(unix)]
    unix_stream_echo_and_deadline,
    #[cfg(unix)]
    unix_listener_accept,
);
