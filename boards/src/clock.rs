//! [`EmbassyClock`]: the core's [`Clock`] over embassy-time.
//!
//! embassy-time counts ticks at `TICK_HZ` (a build-time constant the time driver picks);
//! the core counts nanoseconds. embassy's own `Instant::as_nanos` multiplies in 64 bits and
//! overflows for a fast tick rate after a few centuries of uptime (earlier at GHz tick rates);
//! here the conversion is done in 128 bits and saturates at [`Instant::MAX`], which the core
//! treats as "never", so an absurd tick count can only make a deadline late, never early.

use netpoll_core::{Clock, Instant};

/// Convert an embassy-time tick count at `tick_hz` to nanoseconds, saturating.
///
/// A `tick_hz` of zero (no such driver exists) gives [`Instant::MAX`].
pub const fn ticks_to_nanos(ticks: u64, tick_hz: u64) -> u64 {
    if tick_hz == 0 {
        return u64::MAX;
    }
    let nanos = ticks as u128 * 1_000_000_000 / tick_hz as u128;
    if nanos > u64::MAX as u128 {
        u64::MAX
    } else {
        nanos as u64
    }
}

/// The core's [`Clock`] over `embassy_time::Instant::now()`.
///
/// The binary must link an embassy-time driver (a HAL's, or embassy-time's `mock-driver` in
/// tests). Monotonic because embassy-time's tick counter is.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EmbassyClock;

impl EmbassyClock {
    /// The clock.
    pub const fn new() -> Self {
        EmbassyClock
    }

    /// Convert an embassy-time instant to the core's.
    pub fn to_core(t: embassy_time::Instant) -> Instant {
        Instant::from_nanos(ticks_to_nanos(t.as_ticks(), embassy_time::TICK_HZ))
    }
}

impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        Self::to_core(embassy_time::Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::ticks_to_nanos;

    #[test]
    fn converts_common_tick_rates() {
        assert_eq!(ticks_to_nanos(1, 1_000_000), 1_000);
        assert_eq!(ticks_to_nanos(32_768, 32_768), 1_000_000_000);
        assert_eq!(ticks_to_nanos(1, 32_768), 30_517); // rounds down: never early
        assert_eq!(ticks_to_nanos(3, 1_000_000_000), 3);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert_eq!(ticks_to_nanos(u64::MAX, 1_000_000), u64::MAX);
        assert_eq!(ticks_to_nanos(u64::MAX, 1_000_000_000), u64::MAX);
        assert_eq!(ticks_to_nanos(u64::MAX / 1_000 + 1, 1_000_000), u64::MAX);
        assert_eq!(ticks_to_nanos(5, 0), u64::MAX);
        // Largest tick count that still fits at 1 MHz.
        let max_ok = u64::MAX / 1_000;
        assert_eq!(ticks_to_nanos(max_ok, 1_000_000), max_ok * 1_000);
    }
}
