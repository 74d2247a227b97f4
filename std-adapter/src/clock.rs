//! [`StdClock`]: the core's [`Clock`] over `std::time::Instant`, and the conversion of
//! user deadlines into core instants.
//!
//! The core counts nanoseconds from the clock's epoch in a `u64` (585 years). Converting a
//! `std::time::Instant` saturates both ways, so no deadline can overflow: one before the epoch
//! is already expired, one more than 585 years away never fires ([`Instant::MAX`]).

use std::time::Duration;

use netpoll_core::{Clock, Instant};

/// A monotonic clock: nanoseconds since the moment it was created.
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    epoch: std::time::Instant,
}

impl StdClock {
    /// A clock whose epoch is now.
    pub fn new() -> StdClock {
        StdClock {
            epoch: std::time::Instant::now(),
        }
    }

    /// The `std` instant this clock calls zero.
    pub fn epoch(&self) -> std::time::Instant {
        self.epoch
    }

    /// `at` on this clock, saturating: before the epoch becomes [`Instant::ZERO`] (always
    /// expired), beyond `u64` nanoseconds becomes [`Instant::MAX`] (never fires).
    pub fn instant(&self, at: std::time::Instant) -> Instant {
        match at.checked_duration_since(self.epoch) {
            None => Instant::ZERO,
            Some(d) => Instant::ZERO.saturating_add(d),
        }
    }

    /// A user deadline (`None`: no deadline) as the core's deadline.
    pub fn deadline(&self, at: Option<std::time::Instant>) -> Option<Instant> {
        at.map(|t| self.instant(t))
    }

    /// The `std` instant of a core instant, if it is representable.
    pub fn to_std(&self, at: Instant) -> Option<std::time::Instant> {
        if at == Instant::MAX {
            return None;
        }
        self.epoch.checked_add(Duration::from_nanos(at.as_nanos()))
    }
}

impl Default for StdClock {
    fn default() -> Self {
        StdClock::new()
    }
}

impl Clock for StdClock {
    fn now(&self) -> Instant {
        self.instant(std::time::Instant::now())
    }
}

/// The deadline `d` from now, or `None` (no deadline) if that is too far in the future to
/// represent: a convenience for Go's `SetDeadline(time.Now().Add(d))`.
pub fn deadline_after(d: Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate() {
        let c = StdClock::new();
        let before = c.epoch().checked_sub(Duration::from_secs(1));
        if let Some(b) = before {
            assert_eq!(c.instant(b), Instant::ZERO);
        }
        let far = c
            .epoch()
            .checked_add(Duration::from_secs(600 * 365 * 24 * 3600));
        if let Some(f) = far {
            assert_eq!(c.instant(f), Instant::MAX);
        }
        let soon = c.epoch() + Duration::from_millis(5);
        assert_eq!(c.instant(soon), Instant::from_nanos(5_000_000));
        assert_eq!(c.to_std(Instant::from_nanos(5_000_000)), Some(soon));
        assert_eq!(c.to_std(Instant::MAX), None);
        assert_eq!(c.deadline(None), None);
    }

    #[test]
    fn never_goes_backwards() {
        let c = StdClock::new();
        let mut last = c.now();
        for _ in 0..1000 {
            let n = c.now();
            assert!(n >= last);
            last = n;
        }
    }
}
