//! Errors: one small `Copy` enum for the state machine, and a wrapper adding the backend's own.

use core::fmt;

/// Why a descriptor operation failed (Go's `pollNoError` ... `pollErrNotPollable`, plus the
/// misuse cases where Go would throw).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PollError {
    /// The descriptor is being closed (Go's `ErrNetClosing` / `ErrFileClosing`).
    Closing,
    /// The deadline for this direction has passed (Go's `ErrDeadlineExceeded`, "i/o timeout").
    Timeout,
    /// The backend reported an error condition on the descriptor (Go's `pollErrNotPollable`);
    /// the next read reports the specific error.
    EventError,
    /// The handle is stale (its descriptor was closed and possibly reused), was closed twice,
    /// or belongs to another poller.
    StaleHandle,
    /// Every descriptor of the pool is in use.
    PoolExhausted,
    /// Another thread is already running the poll loop; or, for a waiter slot used without
    /// its direction's lock (never by the public API), another wait is registering (Go
    /// throws "double wait").
    DoubleWait,
    /// 2^27 - 1 operations are already in progress on the descriptor (Go panics at 2^20).
    TooManyOperations,
}

impl PollError {
    /// A short, stable description (the `Display` text).
    pub const fn as_str(self) -> &'static str {
        match self {
            PollError::Closing => "use of closed descriptor",
            PollError::Timeout => "i/o timeout",
            PollError::EventError => "descriptor reported an error",
            PollError::StaleHandle => "stale descriptor handle",
            PollError::PoolExhausted => "descriptor pool exhausted",
            PollError::DoubleWait => "another wait is already in progress",
            PollError::TooManyOperations => "too many concurrent operations on one descriptor",
        }
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for PollError {}

/// The error of an operation that also calls the backend: the state machine's or the
/// backend's own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The state machine refused the operation.
    Poll(PollError),
    /// The backend failed (registration, deregistration, waiting, waking).
    Backend(E),
}

impl<E> From<PollError> for Error<E> {
    fn from(e: PollError) -> Self {
        Error::Poll(e)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Poll(e) => e.fmt(f),
            Error::Backend(e) => write!(f, "poller backend: {e}"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Poll(e) => Some(e),
            Error::Backend(e) => Some(e),
        }
    }
}

/// The storage handed to [`Netpoll::new`](crate::Netpoll::new) already belongs to another
/// `Netpoll`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StorageInUse;

impl fmt::Display for StorageInUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("descriptor storage is already used by another poller")
    }
}

impl core::error::Error for StorageInUse {}
