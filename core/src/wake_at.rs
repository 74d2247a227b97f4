//! [`WakeAt`]: the time by which the poll loop has promised to look at its timers again,
//! shared between the loop and the deadline setters.
//!
//! A setter that moves a deadline earlier than the loop knows about must make sure the loop
//! looks by then: if the loop sleeps past it, the setter wakes the backend. Setters run in any
//! context, interrupt handlers of any priority included, so this word must never make one
//! context wait for another.
//!
//! Two implementations, picked here and nowhere else (`build.rs` sets `netpoll_wide_atomics`):
//!
//! * **wide** (targets with native 64-bit atomics): the promise in nanoseconds, in one
//!   `AtomicU64`. Setters lower it with a compare-exchange; the loop's promise takes the
//!   minimum of its own target and what setters asked for. Exact.
//! * **narrow** (every other target, or with `NETPOLL_FORCE_NARROW=1` at build time, to test
//!   it on a host): one `AtomicU32`. A 64-bit atomic there would come from portable-atomic's
//!   fallback, a global spin lock, and an interrupt that preempted the loop inside it would
//!   spin forever. See [`narrow`] for the encoding.
//!
//! Both keep the same contract: after a setter's `lower(at)` returns `false`, the loop either
//! has not promised yet (and will look at the dirty list before it sleeps) or promised to look
//! no later than `at`; when it returns `true`, the caller wakes the backend.

#[cfg(netpoll_wide_atomics)]
pub(crate) use wide::WakeAt;

#[cfg(not(netpoll_wide_atomics))]
pub(crate) use narrow::WakeAt;

#[cfg(netpoll_wide_atomics)]
mod wide {
    use crate::desc::NEVER;
    use crate::sync::{AtomicU64, Ordering};

    /// Value of an awake loop with no promise pending (even: not asleep).
    const AWAKE: u64 = NEVER & !1;
    /// Low bit: the loop is (about to be) blocked in the backend.
    const ASLEEP: u64 = 1;

    /// The promise in nanoseconds, rounded up to even; the low bit is [`ASLEEP`].
    pub(crate) struct WakeAt(AtomicU64);

    impl WakeAt {
        pub(crate) fn new() -> Self {
            WakeAt(AtomicU64::new(AWAKE))
        }

        /// The loop is awake: forget its promise and what setters asked for.
        #[inline]
        pub(crate) fn awake(&self) {
            self.0.swap(AWAKE, Ordering::AcqRel);
        }

        /// The loop promises to look again by `target` ([`NEVER`]: no deadline), or earlier if
        /// a setter asked since [`awake`](Self::awake). Returns the time promised (`NEVER` if
        /// none). `now` is unused here.
        pub(crate) fn promise(&self, target: u64, _now: u64) -> u64 {
            let target = if target == NEVER {
                AWAKE
            } else {
                target.saturating_add(1) & !1
            };
            let mut s = self.0.load(Ordering::Relaxed);
            loop {
                let t = target.min(s & !1);
                match self.0.compare_exchange_weak(
                    s,
                    t | ASLEEP,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return if t == AWAKE { NEVER } else { t },
                    Err(actual) => s = actual,
                }
            }
        }

        /// A setter: make the loop look no later than `at`. Returns whether the loop promised
        /// to sleep past it (the caller must wake the backend). `now` is unused here.
        #[inline]
        pub(crate) fn lower(&self, at: u64, _now: impl Fn() -> u64) -> bool {
            let want = at.saturating_add(1) & !1;
            let mut s = self.0.load(Ordering::Relaxed);
            loop {
                if want >= s & !1 {
                    return false;
                }
                match self.0.compare_exchange_weak(
                    s,
                    want | (s & ASLEEP),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return s & ASLEEP != 0,
                    Err(actual) => s = actual,
                }
            }
        }
    }
}

/// The 32-bit promise.
///
/// The word holds three flags and a 29-bit time:
///
/// * awake, nothing asked: `0`; awake, a setter asked for an earlier look since the loop
///   drained its dirty list: [`LOWERED`]. The loop then does not sleep at all (its next turn
///   drains the dirty list and sleeps exactly), so an awake word needs no time.
/// * asleep with no deadline: `ASLEEP | FOREVER`; asleep until a time: `ASLEEP | units << 3`,
///   the time in units of 2^[`SHIFT`] ns (65.5 µs), modulo 2^29.
///
/// Only setters read a time, and they read it relative to their own clock reading: the unique
/// value congruent to the stored bits within 2^28 units of now. Every stored time is at most
/// [`HORIZON`] units past the writer's clock reading (the loop caps its sleep there, a setter
/// its request), and a reader's clock reading comes after the writer's (the word's
/// release/acquire orders them; the clock is monotonic), so the value read is never *earlier*
/// than the one stored. A stored time long past can read as later than it was: the setter then
/// wakes a loop that is overdue anyway. So the comparison errs only towards a spurious
/// wake-up, never a missed one. The loop sleeps to its own exact target; rounding (up for the
/// loop's promise, down for a setter's request) also errs towards waking.
#[cfg(any(test, not(netpoll_wide_atomics)))]
pub(crate) mod narrow {
    use crate::desc::NEVER;
    use crate::sync::{AtomicU32, Ordering};

    /// The loop is (about to be) blocked in the backend.
    const ASLEEP: u32 = 1;
    /// With `ASLEEP`: no deadline, the loop sleeps until an event or a wake.
    const FOREVER: u32 = 2;
    /// Without `ASLEEP`: a setter queued an earlier deadline while the loop was awake.
    const LOWERED: u32 = 4;
    /// The time's unit: 2^SHIFT nanoseconds.
    pub(crate) const SHIFT: u32 = 16;
    /// How far past now a stored time may lie, in units (2^43 ns, about 2.4 hours). The loop
    /// wakes at least this often while it has a deadline further away.
    pub(crate) const HORIZON: u64 = 1 << 27;
    const HORIZON_NS: u64 = HORIZON << SHIFT;

    /// See the [module documentation](self).
    pub(crate) struct WakeAt(AtomicU32);

    impl WakeAt {
        pub(crate) fn new() -> Self {
            WakeAt(AtomicU32::new(0))
        }

        /// The loop is awake: forget its promise and what setters asked for.
        #[inline]
        pub(crate) fn awake(&self) {
            self.0.swap(0, Ordering::AcqRel);
        }

        /// The loop promises to look again by `target` ([`NEVER`]: no deadline), capped at
        /// `now` (a clock reading taken before this call) plus the horizon. Returns the time
        /// promised: `now` if a setter asked for an earlier look since [`awake`](Self::awake).
        pub(crate) fn promise(&self, target: u64, now: u64) -> u64 {
            let (word, promised) = if target == NEVER {
                (ASLEEP | FOREVER, NEVER)
            } else {
                let t = target.min(now.saturating_add(HORIZON_NS));
                let units = (t >> SHIFT) + u64::from(t & ((1 << SHIFT) - 1) != 0);
                (ASLEEP | (units as u32) << 3, t)
            };
            // Awake, the word is 0 or LOWERED, and only setters change it (to LOWERED).
            match self
                .0
                .compare_exchange(0, word, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => promised,
                Err(_) => now.min(target),
            }
        }

        /// A setter: make the loop look no later than `at`. Returns whether the loop promised
        /// to sleep past it (the caller must wake the backend). `now` reads the clock; it is
        /// called only while the loop is asleep.
        #[inline]
        pub(crate) fn lower(&self, at: u64, now: impl Fn() -> u64) -> bool {
            let mut s = self.0.load(Ordering::Acquire);
            loop {
                let new = if s & ASLEEP == 0 {
                    if s & LOWERED != 0 {
                        return false;
                    }
                    LOWERED
                } else {
                    // Read after the load above, so it is no earlier than the clock reading
                    // of whoever stored `s`.
                    let now = now();
                    let want = at.min(now.saturating_add(HORIZON_NS)) >> SHIFT;
                    if s & FOREVER == 0 {
                        let now_units = now >> SHIFT;
                        // The stored time minus now, in units, sign-extended from 29 bits.
                        let ahead = ((s & !7).wrapping_sub((now_units as u32) << 3) as i32) >> 3;
                        if want as i64 - now_units as i64 >= i64::from(ahead) {
                            return false;
                        }
                    }
                    ASLEEP | (want as u32) << 3
                };
                match self
                    .0
                    .compare_exchange(s, new, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return s & ASLEEP != 0,
                    Err(actual) => s = actual,
                }
            }
        }
    }

    #[cfg(all(test, not(loom)))]
    mod tests {
        use super::*;

        const U: u64 = 1 << SHIFT;

        #[test]
        fn awake_loop_is_told_to_look_at_once() {
            let w = WakeAt::new();
            assert!(!w.lower(50 * U, || 0), "the loop is awake: no wake-up");
            assert!(!w.lower(40 * U, || 0), "already asked");
            assert_eq!(w.promise(100 * U, 7), 7, "does not sleep");
            w.awake();
            assert_eq!(w.promise(100 * U, 7), 100 * U);
        }

        #[test]
        fn setter_earlier_than_the_promise_wakes_once_it_is_asleep() {
            let w = WakeAt::new();
            assert_eq!(w.promise(100 * U + 5, 10 * U), 100 * U + 5);
            assert!(!w.lower(101 * U, || 10 * U), "later than the promise");
            assert!(
                w.lower(100 * U, || 10 * U),
                "earlier than the promise (rounded up)"
            );
            assert!(w.lower(50 * U, || 10 * U), "earlier again");
            assert!(
                !w.lower(60 * U, || 10 * U),
                "later than the lowered promise"
            );
            w.awake();
            assert!(!w.lower(60 * U, || 10 * U), "awake again");
        }

        #[test]
        fn a_loop_asleep_forever_is_woken_by_any_deadline() {
            let w = WakeAt::new();
            assert_eq!(w.promise(NEVER, 5), NEVER);
            assert!(w.lower(u64::MAX - 1, || 5));
            assert!(
                !w.lower(u64::MAX - 1, || 5),
                "capped at the horizon, then equal"
            );
            assert!(w.lower(3 * U, || 5));
        }

        #[test]
        fn far_targets_are_capped_at_the_horizon() {
            let w = WakeAt::new();
            let now = 1 << 50;
            assert_eq!(w.promise(now * 4, now), now + (HORIZON << SHIFT));
            assert!(w.lower(now + (HORIZON << SHIFT) - U, || now));
        }

        /// The decoding is relative to now: it must keep working when the time bits wrap (every
        /// 2^29 units, about 9.8 hours) and across the whole range of `u64` nanoseconds.
        #[test]
        fn comparisons_hold_across_wrap_points() {
            let wrap = 1u64 << (29 + SHIFT);
            for base in [
                0,
                wrap - 3 * U,
                wrap,
                5 * wrap - 1,
                u64::MAX - 4 * (HORIZON << SHIFT),
            ] {
                let w = WakeAt::new();
                let target = base + 4 * U;
                assert_eq!(w.promise(target, base), target);
                assert!(!w.lower(target + 2 * U, || base + U), "base {base}: later");
                assert!(
                    !w.lower(base + 3 * HORIZON * U, || base + U),
                    "base {base}: far"
                );
                assert!(w.lower(target - 2 * U, || base + U), "base {base}: earlier");
            }
        }

        /// A stored time read long after it was stored reads as later, never earlier: the
        /// setter wakes the (overdue) loop rather than trusting it.
        #[test]
        fn stale_promise_errs_towards_waking() {
            let w = WakeAt::new();
            assert_eq!(w.promise(10 * U, 0), 10 * U);
            let much_later = (1u64 << (28 + SHIFT)) + 20 * U;
            assert!(w.lower(much_later + U, || much_later));
        }
    }
}
