//! How the core's [`PollError`]s reach users: as `std::io::Error`s with a kind a caller can
//! match on and Go's messages.
//!
//! | core error | `io::ErrorKind` | message |
//! |------------|-----------------|---------|
//! | `Timeout` | `TimedOut` | `i/o timeout` |
//! | `Closing`, `StaleHandle` | `Other` | `use of closed network connection` |
//! | `PoolExhausted` | `Other` | `descriptor pool exhausted` |
//! | `TooManyOperations` | `Other` | `too many concurrent operations on one socket` |
//! | `DoubleWait` | `ResourceBusy` | `another wait is already in progress` |
//! | `EventError` | the socket's own error (`SO_ERROR`), or `Other` | |
//!
//! "Closed" is `ErrorKind::Other` on purpose: the kinds the OS also reports (`NotConnected`
//! for `ENOTCONN`, `BrokenPipe`, ...) would let a caller mistake our close for the peer's or
//! the kernel's doing; std never uses `Other` for an OS error. Test with [`is_closed`].

use std::fmt;
use std::io;

use netpoll_core::PollError;

/// The error carried inside `io::Error`s this crate makes (reach it with
/// [`io::Error::get_ref`] and `downcast_ref`, or use [`is_timeout`] / [`is_closed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// A deadline passed (Go's `os.ErrDeadlineExceeded`).
    Timeout,
    /// The socket was closed (Go's `net.ErrClosed`).
    Closed,
    /// Every descriptor of the runtime's pool is in use.
    PoolExhausted,
    /// Two threads tried to run one runtime's poll loop at the same time.
    ConcurrentWait,
    /// More operations in progress on one socket at once than its reference count holds.
    TooManyOperations,
    /// The poller reported an error condition and the socket had no error to report.
    EventError,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetError::Timeout => "i/o timeout",
            NetError::Closed => "use of closed network connection",
            NetError::PoolExhausted => "descriptor pool exhausted",
            NetError::ConcurrentWait => "another wait is already in progress",
            NetError::TooManyOperations => "too many concurrent operations on one socket",
            NetError::EventError => "descriptor reported an error",
        })
    }
}

impl std::error::Error for NetError {}

impl From<NetError> for io::Error {
    fn from(e: NetError) -> io::Error {
        let kind = match e {
            NetError::Timeout => io::ErrorKind::TimedOut,
            NetError::Closed
            | NetError::PoolExhausted
            | NetError::EventError
            | NetError::TooManyOperations => io::ErrorKind::Other,
            NetError::ConcurrentWait => io::ErrorKind::ResourceBusy,
        };
        io::Error::new(kind, e)
    }
}

/// The `io::Error` for a core error.
pub(crate) fn from_poll(e: PollError) -> io::Error {
    match e {
        PollError::Timeout => NetError::Timeout,
        PollError::Closing | PollError::StaleHandle => NetError::Closed,
        PollError::PoolExhausted => NetError::PoolExhausted,
        PollError::DoubleWait => NetError::ConcurrentWait,
        PollError::TooManyOperations => NetError::TooManyOperations,
        PollError::EventError => NetError::EventError,
    }
    .into()
}

/// The `io::Error` for a core error that may carry a backend error.
pub(crate) fn from_core(e: netpoll_core::Error<io::Error>) -> io::Error {
    match e {
        netpoll_core::Error::Poll(p) => from_poll(p),
        netpoll_core::Error::Backend(b) => b,
    }
}

fn net_error(e: &io::Error) -> Option<NetError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<NetError>())
        .copied()
}

/// Whether `e` is a deadline expiry (Go's `errors.Is(err, os.ErrDeadlineExceeded)`).
pub fn is_timeout(e: &io::Error) -> bool {
    net_error(e) == Some(NetError::Timeout)
}

/// Whether `e` says the socket was closed (Go's `errors.Is(err, net.ErrClosed)`).
pub fn is_closed(e: &io::Error) -> bool {
    net_error(e) == Some(NetError::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_reads_like_go() {
        let e = from_poll(PollError::Timeout);
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "i/o timeout");
        assert!(is_timeout(&e) && !is_closed(&e));
        let c = from_poll(PollError::StaleHandle);
        assert!(is_closed(&c));
        assert_eq!(c.to_string(), "use of closed network connection");
        // Not a kind the OS reports (ENOTCONN is NotConnected): only is_closed says "closed".
        assert_eq!(c.kind(), io::ErrorKind::Other);
        #[cfg(unix)]
        let enotconn = libc::ENOTCONN;
        #[cfg(windows)]
        let enotconn = 10057; // WSAENOTCONN
        let os = io::Error::from_raw_os_error(enotconn);
        assert!(!is_closed(&os) && os.kind() != c.kind());
    }
}
