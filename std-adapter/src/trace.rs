//! The event trace, switched on by `NETPOLL_DEBUG=1` (like Go's `GODEBUG=netpoll=1`): one line
//! on stderr per runtime start (`init`), descriptor registration (`add`) and close (`close`),
//! readiness event (`ready`) and expired deadline (`deadline`).
//!
//! The variable is read once; when it is off each trace point costs one relaxed load.

use std::sync::atomic::{AtomicU8, Ordering};

use netpoll_core::{Event, Handle, Mode};

use crate::sys::RawSource;

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether `NETPOLL_DEBUG` asks for the trace (any value but empty or `0`).
#[inline]
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = std::env::var_os("NETPOLL_DEBUG").is_some_and(|v| !v.is_empty() && v != "0");
            STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

pub(crate) fn init(backend: &str, capacity: usize) {
    if enabled() {
        eprintln!("netpoll: init backend={backend} capacity={capacity}");
    }
}

pub(crate) fn add(fd: RawSource, h: Handle) {
    if enabled() {
        eprintln!("netpoll: add fd={fd} desc={h:?}");
    }
}

pub(crate) fn close(fd: RawSource, h: Handle) {
    if enabled() {
        eprintln!("netpoll: close fd={fd} desc={h:?}");
    }
}

pub(crate) fn ready(ev: Event) {
    let r = ev.readiness;
    eprintln!(
        "netpoll: ready desc={:?} {}{}{}",
        ev.token.handle(),
        if r.readable { "r" } else { "-" },
        if r.writable { "w" } else { "-" },
        if r.error { "e" } else { "-" },
    );
}

pub(crate) fn deadline(fd: RawSource, h: Handle, mode: Mode) {
    if enabled() {
        let m = if mode == Mode::Read { "read" } else { "write" };
        eprintln!("netpoll: deadline fd={fd} desc={h:?} {m} expired");
    }
}
