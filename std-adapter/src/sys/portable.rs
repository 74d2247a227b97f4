//! The portable backend, over the `polling` crate: kqueue on macOS and the BSDs, event ports on
//! illumos, IOCP on Windows, epoll on Linux (where it is a second, independently written
//! backend to test against).
//!
//! On Windows `polling` asks the AFD driver (the kernel side of Winsock) for readiness with one
//! poll request per socket, completed through an I/O completion port. A request reports the
//! socket's state when it is issued, so it behaves like a level-triggered oneshot: there is no
//! edge mode, and [`Portable::new`] falls back to oneshot whatever was asked.
//!
//! In edge mode (where the OS supports it) every descriptor is registered once for both
//! directions, like the native epoll backend. In oneshot mode each registration fires once and
//! is then disabled, so the core calls [`arm`](Portable::arm) before every wait (Go's
//! `netpollarm`); this file remembers which directions are armed per token, and after an event
//! re-arms the directions that are still wanted, since a oneshot event disables both.
//!
//! Tokens are 64 bits (`generation << 32 | index`) and become `polling` keys unchanged, which
//! needs a 64-bit `usize`; on smaller targets `register` refuses with an error rather than
//! truncating the generation away.

use std::collections::HashMap;
use std::io;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use netpoll_core::{Event, Mode, Readiness, Token};
use polling::{Events, PollMode};

use super::{BorrowedSource, RawSource, Source};

const READ: u8 = 1;
const WRITE: u8 = 2;

/// Events taken from `polling` per wait.
const EVENTS: usize = 256;

pub(crate) struct Portable {
    poller: polling::Poller,
    edge: bool,
    events: Mutex<Events>,
    /// Oneshot mode only: the descriptor and armed directions of every registered token.
    armed: Mutex<HashMap<u64, (RawSource, u8)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(token: Token) -> io::Result<usize> {
    usize::try_from(token.0)
        .map_err(|_| io::Error::new(io::ErrorKind::Unsupported, "token wider than usize"))
}

fn interest(key: usize, bits: u8) -> polling::Event {
    match (bits & READ != 0, bits & WRITE != 0) {
        (true, true) => polling::Event::all(key),
        (true, false) => polling::Event::readable(key),
        (false, true) => polling::Event::writable(key),
        (false, false) => polling::Event::none(key),
    }
}

impl Portable {
    /// `edge`: use edge mode if the OS supports it (not Windows); otherwise (or if false)
    /// oneshot.
    pub(crate) fn new(edge: bool, capacity: usize) -> io::Result<Portable> {
        let poller = polling::Poller::new()?;
        let edge = edge && poller.supports_edge();
        let cap = NonZeroUsize::new(EVENTS).unwrap_or(NonZeroUsize::MIN);
        Ok(Portable {
            poller,
            edge,
            events: Mutex::new(Events::with_capacity(cap)),
            armed: Mutex::new(HashMap::with_capacity(if edge {
                0
            } else {
                capacity.min(4096)
            })),
        })
    }

    pub(crate) fn register(&self, source: &Source, token: Token) -> io::Result<()> {
        let key = key(token)?;
        let fd = source.raw_source();
        if self.edge {
            let both = interest(key, READ | WRITE);
            // SAFETY: polling's contract is that the source is deleted before it is closed; the
            // front-end deregisters every descriptor (`Netpoll::close`) before closing it.
            return unsafe { self.poller.add_with_mode(fd, both, PollMode::Edge) };
        }
        let mut armed = lock(&self.armed);
        let none = interest(key, 0);
        // SAFETY: as above, every descriptor is deregistered before it is closed.
        unsafe { self.poller.add_with_mode(fd, none, PollMode::Oneshot) }?;
        armed.insert(token.0, (fd, 0));
        Ok(())
    }

    pub(crate) fn deregister(&self, source: &Source, token: Token) -> io::Result<()> {
        if !self.edge {
            lock(&self.armed).remove(&token.0);
        }
        self.poller.delete(source.as_source())
    }

    pub(crate) fn arm(&self, source: &Source, token: Token, mode: Mode) -> io::Result<()> {
        if self.edge {
            return Ok(());
        }
        let bit = if mode == Mode::Read { READ } else { WRITE };
        let mut armed = lock(&self.armed);
        let Some(entry) = armed.get_mut(&token.0) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "descriptor not registered",
            ));
        };
        entry.1 |= bit;
        self.poller
            .modify(source.as_source(), interest(key(token)?, entry.1))
    }

    pub(crate) fn wait(
        &self,
        timeout: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> io::Result<()> {
        let mut events = lock(&self.events);
        events.clear();
        match self.poller.wait(&mut events, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut armed = (!self.edge).then(|| lock(&self.armed));
        for ev in events.iter() {
            let token = Token(ev.key as u64);
            // As in the epoll backend: only an error without readiness marks the descriptor;
            // otherwise the retried syscall reports it.
            let error = ev.is_err().unwrap_or(false) && !ev.readable && !ev.writable;
            if let Some(armed) = armed.as_mut() {
                self.rearm_rest(armed, token, &ev, error);
            }
            on_event(Event {
                token,
                readiness: Readiness {
                    readable: ev.readable,
                    writable: ev.writable,
                    error,
                    // `polling` does not say whether the peer half-closed (it has no
                    // `EPOLLRDHUP` or `EV_EOF`), so any readable edge may carry an
                    // end-of-file: readers on this backend never skip a read.
                    read_closed: ev.readable || ev.is_interrupt() || error,
                    urgent: ev.is_interrupt(),
                },
            });
        }
        Ok(())
    }

    /// A oneshot event disabled the whole registration: re-enable the armed directions it did
    /// not report.
    fn rearm_rest(
        &self,
        armed: &mut HashMap<u64, (RawSource, u8)>,
        token: Token,
        ev: &polling::Event,
        error: bool,
    ) {
        let Some(entry) = armed.get_mut(&token.0) else {
            return;
        };
        let delivered = if error {
            READ | WRITE
        } else {
            (if ev.readable { READ } else { 0 }) | (if ev.writable { WRITE } else { 0 })
        };
        entry.1 &= !delivered;
        if entry.1 != 0 {
            // SAFETY: the descriptor is still registered (its entry is in the table, and
            // `deregister` removes the entry under this lock before the descriptor is closed),
            // so it is open for the duration of this call.
            let fd = unsafe { BorrowedSource::borrow_raw(entry.0) };
            // A failure leaves the direction disarmed; its waiter re-arms before waiting again.
            let _ = self.poller.modify(fd, interest(ev.key, entry.1));
        }
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        self.poller.notify()
    }
}
