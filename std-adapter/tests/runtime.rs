//! Runtime construction and lifetime.

use netpoll_std::{BackendKind, Runtime, TcpListener};

#[test]
fn absurd_capacity_is_an_error_not_an_abort() {
    let e = Runtime::builder().capacity(usize::MAX).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e = Runtime::builder().capacity(1 << 40).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn zero_capacity_refuses_sockets_cleanly() {
    let rt = Runtime::builder().capacity(0).build().unwrap();
    let e = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap_err();
    assert_eq!(e.to_string(), "descriptor pool exhausted");
}

#[test]
fn every_backend_starts_and_reports_itself() {
    for kind in BackendKind::all() {
        let rt = Runtime::builder()
            .backend(kind)
            .capacity(4)
            .build()
            .unwrap();
        let s = rt.stats();
        assert_eq!((s.backend, s.capacity, s.open), (kind, 4, 0));
        let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
        assert_eq!(rt.stats().open, 1);
        drop(l);
        assert_eq!(rt.stats().open, 0);
    }
}

#[test]
fn global_runtime_is_shared() {
    let a = Runtime::global().unwrap();
    let b = Runtime::global().unwrap();
    assert!(std::ptr::eq(a, b));
    assert!(a.capacity() > 0);
}

#[test]
fn try_from_std_and_back() {
    use std::io::{Read, Write};
    let l: TcpListener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .try_into()
        .unwrap();
    let addr = l.local_addr().unwrap();
    let c = std::net::TcpStream::connect(addr).unwrap();
    let mut c: netpoll_std::TcpStream = c.try_into().unwrap();
    let (s, _) = l.accept().unwrap();
    let mut s: std::net::TcpStream = s.try_into().unwrap();
    c.write_all(b"conv").unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"conv");
    let back: std::net::TcpListener = l.try_into().unwrap();
    assert_eq!(back.local_addr().unwrap(), addr);
}
