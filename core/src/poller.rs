//! The backend trait: what an OS or board must provide (Go's `netpollinit` ... `netpollBreak`).
//!
//! `netpollinit` is the backend's own constructor. The rest maps one to one:
//!
//! | Go                 | [`Poller`]                | notes                                         |
//! |--------------------|---------------------------|-----------------------------------------------|
//! | `netpollopen`      | [`register`](Poller::register)     | once per descriptor, edge-triggered  |
//! | `netpollclose`     | [`deregister`](Poller::deregister) |                                      |
//! | `netpollarm`       | [`arm`](Poller::arm)      | only oneshot / level-triggered backends       |
//! | `netpoll(delay)`   | [`wait`](Poller::wait)    | `None` blocks, zero polls, otherwise bounded  |
//! | `netpollBreak`     | [`wake`](Poller::wake)    | the core deduplicates calls                   |

use core::time::Duration;

use crate::Token;

/// A direction of I/O: which waiter slot an operation uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// Reading (Go's `'r'`).
    Read,
    /// Writing (Go's `'w'`).
    Write,
}

/// What an event reports about a descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Readiness {
    /// Readable, or the peer hung up (wakes readers).
    pub readable: bool,
    /// Writable, or the connection hung up (wakes writers).
    pub writable: bool,
    /// An error condition (epoll's `EPOLLERR`): sets the descriptor's event-error flag and wakes
    /// both directions.
    pub error: bool,
    /// The peer will send nothing more (epoll's `EPOLLRDHUP` or `EPOLLHUP`, kqueue's `EV_EOF`
    /// on a read filter): wakes readers and stays set on the descriptor until it is closed
    /// (see [`Netpoll::read_closed`](crate::Netpoll::read_closed)). A backend that cannot
    /// tell should set it with every readable event: readers then never skip a read.
    pub read_closed: bool,
    /// Urgent (out-of-band) data arrived (epoll's `EPOLLPRI`: TCP's urgent mark): wakes
    /// readers and stays set on the descriptor until it is closed
    /// ([`IoLock::urgent`](crate::IoLock::urgent)). A TCP read stops short at the urgent mark
    /// with data still queued behind it, so once this is set a short read proves nothing.
    pub urgent: bool,
}

impl Readiness {
    /// Readable only.
    pub const READABLE: Readiness = Readiness {
        readable: true,
        writable: false,
        error: false,
        read_closed: false,
        urgent: false,
    };
    /// Writable only.
    pub const WRITABLE: Readiness = Readiness {
        readable: false,
        writable: true,
        error: false,
        read_closed: false,
        urgent: false,
    };
    /// Readable and writable.
    pub const BOTH: Readiness = Readiness {
        readable: true,
        writable: true,
        error: false,
        read_closed: false,
        urgent: false,
    };
    /// Readable, and the peer will send nothing more (a half-close or hang-up).
    pub const READ_CLOSED: Readiness = Readiness {
        readable: true,
        writable: false,
        error: false,
        read_closed: true,
        urgent: false,
    };
    /// An error condition.
    pub const ERROR: Readiness = Readiness {
        readable: true,
        writable: true,
        error: true,
        read_closed: false,
        urgent: false,
    };
}

/// One readiness event from the backend.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Event {
    /// The cookie given to [`Poller::register`].
    pub token: Token,
    /// What happened.
    pub readiness: Readiness,
}

/// An event source: epoll, kqueue, IOCP, or interrupt handlers on a board.
///
/// Methods take `&self`: the front-end registers and wakes from any thread while one thread
/// runs the poll loop.
pub trait Poller {
    /// What is registered: a file descriptor, a socket, an interrupt line.
    type Source: ?Sized;
    /// The backend's error.
    type Error: core::fmt::Debug;

    /// Start watching `source` for reads and writes, edge-triggered where the backend can,
    /// handing `token` back with every event (Go's `netpollopen`).
    fn register(&self, source: &Self::Source, token: Token) -> Result<(), Self::Error>;

    /// Stop watching `source` (Go's `netpollclose`).
    fn deregister(&self, source: &Self::Source, token: Token) -> Result<(), Self::Error>;

    /// Re-arm one direction before a wait (Go's `netpollarm`). Edge-triggered backends keep
    /// the default, which does nothing; oneshot and level-triggered ones override it.
    fn arm(&self, source: &Self::Source, token: Token, mode: Mode) -> Result<(), Self::Error> {
        let _ = (source, token, mode);
        Ok(())
    }

    /// Wait for events, calling `on_event` for each (Go's `netpoll(delay)`).
    ///
    /// `timeout` is `None` to block until an event or a [`wake`](Poller::wake), zero to poll,
    /// and otherwise an upper bound; a backend with a coarser resolution rounds up, never
    /// down. Returning early (a signal, a wake) is fine: the loop recomputes and calls again.
    fn wait(
        &self,
        timeout: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), Self::Error>;

    /// Make a concurrent or the next [`wait`](Poller::wait) return (Go's `netpollBreak`).
    fn wake(&self) -> Result<(), Self::Error>;
}

impl<P: Poller + ?Sized> Poller for &P {
    type Source = P::Source;
    type Error = P::Error;
    fn register(&self, source: &Self::Source, token: Token) -> Result<(), Self::Error> {
        (**self).register(source, token)
    }
    fn deregister(&self, source: &Self::Source, token: Token) -> Result<(), Self::Error> {
        (**self).deregister(source, token)
    }
    fn arm(&self, source: &Self::Source, token: Token, mode: Mode) -> Result<(), Self::Error> {
        (**self).arm(source, token, mode)
    }
    fn wait(
        &self,
        timeout: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), Self::Error> {
        (**self).wait(timeout, on_event)
    }
    fn wake(&self) -> Result<(), Self::Error> {
        (**self).wake()
    }
}
