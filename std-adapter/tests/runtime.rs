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
