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

/// An inline runtime has no poller thread: a reader parked on one of its sockets wakes when
/// the owner calls `Runtime::poll`, on every backend.
#[test]
fn inline_runtime_is_driven_by_its_owner() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    for kind in BackendKind::all() {
        let rt = Runtime::builder()
            .backend(kind)
            .capacity(4)
            .drive_inline()
            .build()
            .unwrap();
        let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        // The connection is in the backlog: accept succeeds without waiting.
        let (mut s, _) = l.accept_in(&rt).unwrap();
        let reader = std::thread::spawn(move || {
            let mut b = [0u8; 8];
            let n = s.read(&mut b).unwrap();
            b[..n].to_vec()
        });
        // Write only once the reader is parked, so that the wake-up path is what is tested.
        let until = Instant::now() + Duration::from_secs(10);
        while rt.stats().parked_now == 0 {
            assert!(Instant::now() < until, "{kind:?}: reader never parked");
            std::thread::yield_now();
        }
        c.write_all(b"hi").unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while !reader.is_finished() {
            assert!(Instant::now() < until, "{kind:?}: reader never woke");
            rt.poll(Some(Duration::from_millis(10))).unwrap();
        }
        assert_eq!(reader.join().unwrap(), b"hi");
        assert!(rt.stats().polls >= 1);
    }
}
