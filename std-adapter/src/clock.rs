//! [`StdClock`]: the core's [`Clock`] over `std::time::Instant`, and the conversion of
//! user deadlines into core instants.
//!
//! The core counts nanoseconds from the clock's epoch in a `u64` (585 years). Converting a
//! `std::time::Instant` saturates both ways, so no deadline can overflow: one before the epoch
//! is already expired, one more than 585 years away never fires ([`Instant::MAX`]).

use std::time::Duration;

use netpoll_core::{Clock, Instant};

/// A monotonic clock: nanoseconds since the moment it was created.
///
/// Setting a deadline asks the clock whether it has already passed. A precise reading costs a
/// `clock_gettime(CLOCK_MONOTONIC)` (about 45 ns on the 2-core VM this was measured on, see
/// docs/benchmarks.md); on
/// Linux the answer for a deadline more than a few milliseconds away comes from
/// `CLOCK_MONOTONIC_COARSE` instead (about 13 ns there), which lags the precise clock by less
/// than one kernel tick. Only deadlines within that margin pay for the precise reading.
///
/// A deadline set *relative* to now ([`Clock::deadline_after`], behind the sockets'
/// `set_read_deadline_after`) is computed from the coarse clock alone on Linux: the coarse
/// reading plus that margin (two ticks plus a millisecond) plus the duration. It is never
/// earlier than the precise `now + d` and at most the margin later (9 ms with the common
/// 4 ms tick, 3 ms with a 1 ms tick), which is what an idle timeout of seconds wants: no
/// precise clock read, no conversion from `std::time::Instant`, and no question whether the
/// deadline has passed. Elsewhere it is the precise `now + d`.
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    epoch: std::time::Instant,
    #[cfg(target_os = "linux")]
    coarse: Coarse,
}

/// The coarse monotonic clock, mapped onto [`StdClock`]'s epoch (Linux only).
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug)]
struct Coarse {
    /// `CLOCK_MONOTONIC_COARSE`; `CLOCK_MONOTONIC` itself (exact, and dearer) with no slack
    /// if the coarse clock's resolution cannot be read; an invalid id, which every read
    /// refuses (the precise path then answers), if not even `CLOCK_MONOTONIC` could be read.
    /// A field rather than an `Option`, so a read costs no test of which.
    clock: libc::clockid_t,
    /// `slack - epoch_ns`, wrapping, where `epoch_ns` is `CLOCK_MONOTONIC` read just
    /// *before* the epoch (`std::time::Instant`, the same clock on Linux), so that the time
    /// since the epoch is at most the time since `epoch_ns` however long the thread was
    /// preempted between the two reads, and `slack` is how far a coarse reading may lag
    /// behind the precise clock, with room to spare. A coarse reading plus this is an upper
    /// bound of the precise time since the epoch: one addition. (The true sum is positive: a
    /// coarse reading taken after `epoch_ns` lags it by less than a tick, and `slack` is two
    /// ticks and more; so the wrapping sum is it.)
    upper_offset: u64,
}

impl StdClock {
    /// A clock whose epoch is now.
    pub fn new() -> StdClock {
        // The coarse mapping first: it reads `CLOCK_MONOTONIC` before the epoch (see
        // `Coarse::upper_offset`).
        #[cfg(target_os = "linux")]
        let coarse = Coarse::new();
        let epoch = std::time::Instant::now();
        StdClock {
            epoch,
            #[cfg(target_os = "linux")]
            coarse,
        }
    }

    /// The `std` instant this clock calls zero.
    pub fn epoch(&self) -> std::time::Instant {
        self.epoch
    }

    /// `at` on this clock, saturating: before the epoch becomes [`Instant::ZERO`] (always
    /// expired), beyond `u64` nanoseconds becomes [`Instant::MAX`] (never fires).
    #[inline]
    pub fn instant(&self, at: std::time::Instant) -> Instant {
        match at.checked_duration_since(self.epoch) {
            None => Instant::ZERO,
            Some(d) => Instant::from_nanos(duration_nanos(d)),
        }
    }

    /// A user deadline (`None`: no deadline) as the core's deadline.
    #[inline]
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

    #[inline]
    fn has_passed(&self, at: Instant) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(upper) = self.coarse.upper_now() {
            // The precise time since the epoch is below this bound: a deadline beyond it is
            // certainly ahead.
            if at.as_nanos() > upper {
                return false;
            }
        }
        self.precise_has_passed(at)
    }

    #[inline]
    fn deadline_after(&self, d: Duration) -> Instant {
        #[cfg(target_os = "linux")]
        if let Some(upper) = self.coarse.upper_now() {
            // Never earlier than the precise `now + d` (see `has_passed`).
            return Instant::from_nanos(upper.saturating_add(duration_nanos(d)));
        }
        self.precise_after(d)
    }
}

impl StdClock {
    /// `has_passed` by the precise clock: a deadline within the coarse clock's margin, or no
    /// coarse clock.
    #[cold]
    #[inline(never)]
    fn precise_has_passed(&self, at: Instant) -> bool {
        at <= self.now()
    }

    /// `deadline_after` by the precise clock, where there is no coarse one.
    #[inline(never)]
    fn precise_after(&self, d: Duration) -> Instant {
        self.now().saturating_add(d)
    }
}

/// `d` in nanoseconds, saturating (in `u64` arithmetic: `Duration::as_nanos` goes through
/// `u128`). Below 2^32 seconds (136 years) neither step can overflow, so the usual case is a
/// compare, a multiply and an add.
#[inline]
fn duration_nanos(d: Duration) -> u64 {
    let secs = d.as_secs();
    if secs < 1 << 32 {
        secs * 1_000_000_000 + u64::from(d.subsec_nanos())
    } else {
        secs.saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos()))
    }
}

#[cfg(target_os = "linux")]
impl Coarse {
    fn new() -> Coarse {
        Self::from_reads(monotonic_ns(libc::CLOCK_MONOTONIC), Self::slack())
    }

    /// The mapping from `CLOCK_MONOTONIC` read just before the epoch (`epoch_ns`) and the
    /// coarse clock's slack, either of which may have failed.
    fn from_reads(epoch_ns: Option<u64>, slack: Option<u64>) -> Coarse {
        let Some(epoch_ns) = epoch_ns else {
            return Coarse {
                clock: libc::clockid_t::MAX,
                upper_offset: 0,
            };
        };
        match slack {
            Some(slack_ns) => Coarse {
                clock: libc::CLOCK_MONOTONIC_COARSE,
                upper_offset: slack_ns.wrapping_sub(epoch_ns),
            },
            // The precise clock needs no slack: its reading less `epoch_ns` bounds the time
            // since the epoch already.
            None => Coarse {
                clock: libc::CLOCK_MONOTONIC,
                upper_offset: 0u64.wrapping_sub(epoch_ns),
            },
        }
    }

    /// How far a coarse reading may lag the precise clock, with room to spare: two ticks
    /// plus a millisecond (the lag is under one tick).
    fn slack() -> Option<u64> {
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `res` is a valid, writable timespec for the duration of the call.
        if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } != 0 {
            return None;
        }
        let tick = u64::try_from(res.tv_sec)
            .ok()?
            .checked_mul(1_000_000_000)?
            .checked_add(u64::try_from(res.tv_nsec).ok()?)?;
        tick.checked_mul(2)?.checked_add(1_000_000)
    }

    /// An upper bound of the precise time since the epoch, in nanoseconds: one read of
    /// `clock` and one addition. `None` if the read fails.
    #[inline]
    fn upper_now(&self) -> Option<u64> {
        monotonic_ns(self.clock).map(|ns| ns.wrapping_add(self.upper_offset))
    }
}

#[cfg(target_os = "linux")]
#[inline]
fn monotonic_ns(clock: libc::clockid_t) -> Option<u64> {
    // Not zeroed first: this runs twice per message on a server that resets a deadline
    // before every read, and a successful call (the vDSO's or the kernel's) writes both
    // fields.
    let mut ts = std::mem::MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: `ts` is valid for writes of one timespec for the duration of the call.
    if unsafe { libc::clock_gettime(clock, ts.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: clock_gettime returned 0, so it wrote both fields of `ts`.
    let ts = unsafe { ts.assume_init() };
    // A monotonic clock's seconds are non-negative and far from overflowing u64 nanoseconds
    // (584 years of uptime); the nanoseconds are below 10^9.
    Some(
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64),
    )
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
    fn has_passed_agrees_with_now() {
        let c = StdClock::new();
        // Far enough ahead that no descheduling of this thread can make them past: the coarse
        // path answers these.
        for ahead in [
            Duration::from_secs(1),
            Duration::from_secs(30),
            Duration::MAX,
        ] {
            assert!(!c.has_passed(c.now().saturating_add(ahead)));
        }
        // At or before now: the precise path answers.
        assert!(c.has_passed(c.now()));
        assert!(c.has_passed(Instant::ZERO));
        // Inside the coarse clock's margin: not past until the precise clock reaches it.
        let soon = c.now().saturating_add(Duration::from_micros(200));
        while c.now() < soon {
            std::hint::spin_loop();
        }
        assert!(c.has_passed(soon));
    }

    #[test]
    fn relative_deadlines_are_never_early() {
        relative_deadlines_are_never_early_on(&StdClock::new());
    }

    /// The fallbacks of the coarse mapping (no coarse resolution: `CLOCK_MONOTONIC` with no
    /// slack; no clock at all: the precise path) keep the same bounds.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_coarse_clock_fallbacks_are_never_early_either() {
        for slack in [None, Coarse::slack()] {
            let epoch_ns = monotonic_ns(libc::CLOCK_MONOTONIC);
            let c = StdClock {
                epoch: std::time::Instant::now(),
                coarse: Coarse::from_reads(epoch_ns, slack),
            };
            assert!(c.coarse.upper_now().is_some());
            relative_deadlines_are_never_early_on(&c);
        }
        let c = StdClock {
            epoch: std::time::Instant::now(),
            coarse: Coarse::from_reads(None, None),
        };
        assert_eq!(c.coarse.upper_now(), None, "every read is refused");
        relative_deadlines_are_never_early_on(&c);
        assert!(c.has_passed(c.now()));
    }

    fn relative_deadlines_are_never_early_on(c: &StdClock) {
        for d in [
            Duration::from_nanos(1),
            Duration::from_millis(1),
            Duration::from_secs(30),
        ] {
            let before = c.now();
            let t = c.deadline_after(d);
            let after = c.now();
            // Never earlier than the precise now + d (the now taken before is a lower bound).
            assert!(
                t >= before.saturating_add(d),
                "{d:?}: {t:?} < {before:?} + d"
            );
            // At most the coarse margin (two ticks and a millisecond; 4 ms ticks here would
            // make 9 ms, so 50 ms is generous even for a 10 ms tick) later than now + d.
            let late = t.saturating_duration_since(after.saturating_add(d));
            assert!(late < Duration::from_millis(50), "{d:?}: {late:?} late");
            // Only a deadline well ahead is certainly still ahead now: where the answer is
            // the precise `now + d` (off Linux), a nanosecond or a millisecond may already
            // have passed by the time this asks (it did under Wine).
            if d >= Duration::from_secs(1) {
                assert!(!c.has_passed(t), "{d:?}: passed at once");
            }
        }
        assert_eq!(c.deadline_after(Duration::MAX), Instant::MAX);
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
