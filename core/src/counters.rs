//! [`Counters`]: the poll loop's 64-bit statistics, written by the loop (while it holds the loop
//! lock) and read by [`Netpoll::stats`](crate::Netpoll::stats) from any context, an interrupt
//! handler included, without waiting.
//!
//! * **wide** (targets with native 64-bit atomics): one `AtomicU64` per counter.
//! * **narrow** (every other target, or `NETPOLL_FORCE_NARROW=1` at build time): portable-atomic would
//!   emulate a 64-bit atomic with a global spin lock, and a handler reading a counter while the
//!   loop it preempted holds that lock would spin forever. Instead the loop keeps two copies of
//!   all counters as 32-bit halves and a sequence number naming the current one: it writes the
//!   other copy, then publishes it by bumping the sequence. A reader reads the copy the
//!   sequence names and retries if the sequence moved meanwhile. A handler that preempts the
//!   loop never retries (the loop cannot move while it runs), and it gets a consistent
//!   snapshot of all counters at once.

#[cfg(netpoll_wide_atomics)]
pub(crate) use wide::Counters;

#[cfg(not(netpoll_wide_atomics))]
pub(crate) use narrow::Counters;

#[cfg(netpoll_wide_atomics)]
mod wide {
    use crate::sync::{AtomicU64, LoopGuard, Ordering};

    pub(crate) struct Counters<const N: usize>([AtomicU64; N]);

    impl<const N: usize> Counters<N> {
        pub(crate) fn new() -> Self {
            Counters(core::array::from_fn(|_| AtomicU64::new(0)))
        }

        #[inline]
        pub(crate) fn add(&self, _loop: &LoopGuard<'_>, delta: [u64; N]) {
            for (c, d) in self.0.iter().zip(delta) {
                c.fetch_add(d, Ordering::Relaxed);
            }
        }

        pub(crate) fn load(&self) -> [u64; N] {
            core::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
        }
    }
}

#[cfg(any(test, not(netpoll_wide_atomics)))]
pub(crate) mod narrow {
    use crate::sync::{fence, AtomicU32, LoopGuard, Ordering};

    /// A counter as two 32-bit halves: `[low, high]`.
    type Halves = [AtomicU32; 2];

    pub(crate) struct Counters<const N: usize> {
        /// Names the current copy (`seq & 1`); bumped once per update.
        seq: AtomicU32,
        copies: [[Halves; N]; 2],
    }

    impl<const N: usize> Counters<N> {
        pub(crate) fn new() -> Self {
            Counters {
                seq: AtomicU32::new(0),
                copies: core::array::from_fn(|_| {
                    core::array::from_fn(|_| [AtomicU32::new(0), AtomicU32::new(0)])
                }),
            }
        }

        fn read(copy: &[Halves; N]) -> [u64; N] {
            core::array::from_fn(|i| {
                let [lo, hi] = &copy[i];
                u64::from(hi.load(Ordering::Relaxed)) << 32 | u64::from(lo.load(Ordering::Relaxed))
            })
        }

        /// Only the loop writes, and `LoopGuard` proves the caller is the loop.
        #[inline]
        pub(crate) fn add(&self, _loop: &LoopGuard<'_>, delta: [u64; N]) {
            let seq = self.seq.load(Ordering::Relaxed);
            let now = Self::read(&self.copies[(seq & 1) as usize]);
            // Orders the previous publication (`seq`) before the writes below: a reader that
            // sees one of them (and fences) then sees the sequence at `seq` or later.
            fence(Ordering::Release);
            for ([lo, hi], (n, d)) in self.copies[(!seq & 1) as usize]
                .iter()
                .zip(now.into_iter().zip(delta))
            {
                let v = n.wrapping_add(d);
                lo.store(v as u32, Ordering::Relaxed);
                hi.store((v >> 32) as u32, Ordering::Relaxed);
            }
            self.seq.store(seq.wrapping_add(1), Ordering::Release);
        }

        /// A consistent snapshot. Retries only while the loop publishes concurrently on another
        /// core; a context that preempted the loop never waits for it. (A reader would have to
        /// stall across 2^32 updates for the sequence to come back to the same value.)
        pub(crate) fn load(&self) -> [u64; N] {
            loop {
                let seq = self.seq.load(Ordering::Acquire);
                let v = Self::read(&self.copies[(seq & 1) as usize]);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == seq {
                    return v;
                }
                crate::sync::spin_hint();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::narrow::Counters;
    use crate::sync::{AtomicBool, LoopGuard};

    #[test]
    fn adds_and_carries_into_the_high_half() {
        let flag = AtomicBool::new(false);
        let guard = LoopGuard::try_acquire(&flag).unwrap();
        let c = Counters::<3>::new();
        assert_eq!(c.load(), [0; 3]);
        c.add(&guard, [1, 0, u64::from(u32::MAX)]);
        c.add(&guard, [2, 5, 1]);
        assert_eq!(c.load(), [3, 5, 1 << 32]);
        c.add(&guard, [0, 0, 1 << 40]);
        assert_eq!(c.load(), [3, 5, (1 << 32) + (1 << 40)]);
    }

    /// A reader on another thread never sees a torn snapshot: every update adds the same
    /// amount to each counter, across the 32-bit carry, so all counters stay equal.
    #[test]
    fn concurrent_reader_sees_consistent_snapshots() {
        use std::sync::atomic::{AtomicBool as Done, Ordering};
        let c = Counters::<3>::new();
        let flag = AtomicBool::new(false);
        let done = Done::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let guard = LoopGuard::try_acquire(&flag).unwrap();
                c.add(&guard, [u64::from(u32::MAX) - 5_000; 3]);
                for _ in 0..20_000 {
                    c.add(&guard, [1; 3]);
                }
                done.store(true, Ordering::Release);
            });
            let mut last = 0;
            let mut reads = 0u32;
            while !done.load(Ordering::Acquire) || reads < 10 {
                let [a, b, d] = c.load();
                assert!(a == b && b == d, "torn snapshot {a} {b} {d}");
                assert!(a >= last, "went backwards");
                last = a;
                reads += 1;
            }
        });
        assert_eq!(c.load(), [u64::from(u32::MAX) + 15_000; 3]);
    }
}
