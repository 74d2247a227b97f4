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
//!
//! The socket types wrap these in an [`OpError`] naming the operation and the endpoints.

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

/// The [`NetError`] inside `e`, directly or inside an [`OpError`].
pub(crate) fn net_error(e: &io::Error) -> Option<NetError> {
    let inner = e.get_ref()?;
    if let Some(n) = inner.downcast_ref::<NetError>() {
        return Some(*n);
    }
    inner.downcast_ref::<OpError>().map(|o| o.err)
}

/// A netpoll error with what failed: the operation, the network and the endpoints, as Go's
/// `net.OpError` prints them (`read tcp 127.0.0.1:5000->127.0.0.1:41234: i/o timeout`).
///
/// Every error netpoll itself makes ([`NetError`]: a timeout, a closed socket, a full pool,
/// ...) reaches users of the socket types wrapped in one, inside an `io::Error` of the same
/// [`kind`](io::Error::kind), so [`is_timeout`] and [`is_closed`] work on it unchanged and
/// [`source`](std::error::Error::source) is the [`NetError`]. Errors the kernel reports
/// (`ECONNRESET`, `EMFILE`, ...) are returned as the kernel reported them, so that
/// [`raw_os_error`](io::Error::raw_os_error) keeps working as on `std`'s sockets.
///
/// The endpoints are read when the error is made; one the kernel no longer reports (a peer
/// after the connection is gone, an unnamed Unix socket) is left out.
///
/// ```
/// use std::io::Read;
/// use netpoll_std::{OpError, TcpListener, TcpStream};
///
/// let l = TcpListener::bind("127.0.0.1:0")?;
/// let mut c = TcpStream::connect(l.local_addr()?)?;
/// c.set_read_deadline(Some(std::time::Instant::now()))?;
/// let err = c.read(&mut [0; 8]).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// assert!(netpoll_std::is_timeout(&err));
/// let want = format!("read tcp {}->{}: i/o timeout", c.local_addr()?, l.local_addr()?);
/// assert_eq!(err.to_string(), want);
/// let op = err.get_ref().and_then(|e| e.downcast_ref::<OpError>()).unwrap();
/// assert_eq!((op.op(), op.net()), ("read", "tcp"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    op: &'static str,
    net: &'static str,
    source: Option<String>,
    addr: Option<String>,
    err: NetError,
}

impl OpError {
    /// The operation: `read`, `write`, `accept`, `dial`, `peek`, ...
    pub fn op(&self) -> &str {
        self.op
    }

    /// The network: `tcp`, `udp` or `unix`.
    pub fn net(&self) -> &str {
        self.net
    }

    /// The local end, for operations on a connection or a UDP socket.
    pub fn source_addr(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The remote end (a listener's or a dial's: the address listened on or dialed).
    pub fn addr(&self) -> Option<&str> {
        self.addr.as_deref()
    }

    /// What went wrong.
    pub fn error(&self) -> NetError {
        self.err
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op, self.net)?;
        if let Some(s) = &self.source {
            write!(f, " {s}")?;
        }
        if let Some(a) = &self.addr {
            let sep = if self.source.is_some() { "->" } else { " " };
            write!(f, "{sep}{a}")?;
        }
        write!(f, ": {}", self.err)
    }
}

impl std::error::Error for OpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.err)
    }
}

/// Wrap `e` in an [`OpError`] if it is one of ours (a kernel error is returned as it is).
/// The endpoints are computed only then.
pub(crate) fn with_op(
    e: io::Error,
    op: &'static str,
    net: &'static str,
    ends: impl FnOnce() -> (Option<String>, Option<String>),
) -> io::Error {
    let Some(err) = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<NetError>())
        .copied()
    else {
        return e;
    };
    let (source, addr) = ends();
    io::Error::new(
        e.kind(),
        OpError {
            op,
            net,
            source,
            addr,
            err,
        },
    )
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

    // OS error numbers: errno on Unix, Winsock's on Windows (WSAENOTCONN, WSAECONNRESET).
    #[cfg(unix)]
    const ENOTCONN: i32 = libc::ENOTCONN;
    #[cfg(unix)]
    const ECONNRESET: i32 = libc::ECONNRESET;
    #[cfg(windows)]
    const ENOTCONN: i32 = 10057;
    #[cfg(windows)]
    const ECONNRESET: i32 = 10054;

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
        let os = io::Error::from_raw_os_error(ENOTCONN);
        assert!(!is_closed(&os) && os.kind() != c.kind());
    }

    #[test]
    fn op_error_reads_like_go_and_keeps_the_kind() {
        let a = || {
            (
                Some("127.0.0.1:5000".into()),
                Some("127.0.0.1:41234".into()),
            )
        };
        let e = with_op(from_poll(PollError::Timeout), "read", "tcp", a);
        assert_eq!(
            e.to_string(),
            "read tcp 127.0.0.1:5000->127.0.0.1:41234: i/o timeout"
        );
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(is_timeout(&e) && !is_closed(&e));
        let c = with_op(from_poll(PollError::Closing), "accept", "tcp", || {
            (None, Some("[::1]:80".into()))
        });
        assert_eq!(
            c.to_string(),
            "accept tcp [::1]:80: use of closed network connection"
        );
        assert!(is_closed(&c) && !is_timeout(&c));
        let bare = with_op(from_poll(PollError::Timeout), "read", "unix", || {
            (None, None)
        });
        assert_eq!(bare.to_string(), "read unix: i/o timeout");
        let os = with_op(io::Error::from_raw_os_error(ECONNRESET), "read", "tcp", a);
        assert_eq!(os.raw_os_error(), Some(ECONNRESET));
        assert_eq!(os.kind(), io::ErrorKind::ConnectionReset);
    }
}
