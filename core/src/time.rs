//! Time as the core sees it: a monotonic [`Instant`] in nanoseconds from a [`Clock`].
//!
//! The core never reads a clock by itself; every operation that needs the time asks the
//! `Clock` it was built with, so a test can drive every deadline with
//! [`ManualClock`](crate::testing::ManualClock) and never sleep.

use core::fmt;
use core::time::Duration;

/// A point on a monotonic clock, in nanoseconds since the clock's own epoch.
///
/// Arithmetic saturates: a deadline too far in the future becomes [`Instant::MAX`], which
/// never fires (Go clamps overflowing deadlines the same way).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    /// The clock's epoch.
    pub const ZERO: Instant = Instant(0);
    /// The far future: a deadline at `MAX` never expires.
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }

    /// `self - d`, saturating at [`Instant::ZERO`].
    pub fn saturating_sub(self, d: Duration) -> Self {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_sub(nanos))
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Instant::MAX {
            f.write_str("Instant::MAX")
        } else {
            write!(f, "Instant({}ns)", self.0)
        }
    }
}

/// A monotonic clock (Go's `nanotime`).
///
/// Implementations must never go backwards. `netpoll-std` implements it over
/// `std::time::Instant`, `netpoll-boards` over embassy-time, and
/// [`ManualClock`](crate::testing::ManualClock) is advanced by hand.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;

    /// Whether `at` is at or before the current time: `at <= self.now()`.
    ///
    /// Every deadline set asks this (a deadline already past expires at once). The default
    /// reads [`now`](Clock::now); a clock with a cheaper coarse source may answer `false` from it
    /// when `at` is certainly later than now, and must fall back to `now` otherwise: the answer
    /// must always equal `at <= self.now()`.
    fn has_passed(&self, at: Instant) -> bool {
        at <= self.now()
    }

    /// A deadline `d` from now, for a deadline set relative to the current time (the per-read
    /// idle-timeout reset): never earlier than `now() + d`, saturating at [`Instant::MAX`].
    ///
    /// The default is exactly `now() + d`. A clock with a cheaper, coarser source may answer
    /// from it and return a later instant, rounded up by at most that source's resolution
    /// plus a margin it documents, but never an earlier one: a deadline set this way may fire
    /// a little late, never early.
    fn deadline_after(&self, d: Duration) -> Instant {
        self.now().saturating_add(d)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn has_passed(&self, at: Instant) -> bool {
        (**self).has_passed(at)
    }
    fn deadline_after(&self, d: Duration) -> Instant {
        (**self).deadline_after(d)
    }
}
