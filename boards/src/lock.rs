//! [`CsLock`]: the core's descriptor lock over `critical-section`.
//!
//! On a single-core microcontroller a deadline may be set from thread mode and from an
//! interrupt (or an interrupt-priority executor). A spin lock would deadlock there: the
//! interrupt would spin on a lock that the code it preempted can never release. A critical
//! section masks the other contexts instead, so the holder always finishes first. The library
//! does not choose how critical sections are implemented; the binary does (a HAL's
//! implementation, `critical-section/std` on a host).

use netpoll_core::RawLock;

/// A [`RawLock`] that runs its body inside `critical_section::with`.
///
/// Zero-sized: the exclusion is global (every `CsLock` shares the one critical section), which
/// is fine because the core holds it only for a few field updates and never nests two.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CsLock;

// SAFETY: `critical_section::with` runs `f` inside a critical section and returns only after
// `f` has returned. The critical-section crate's contract is that no other code that also
// runs inside a critical section can run concurrently with it: the implementation the binary
// links masks interrupts on a single core, or additionally takes a global spin lock on
// several cores, or (the `std` implementation) holds a global mutex. Every `CsLock::lock`
// body runs inside one, so two bodies that are not nested in each other never overlap, which
// is the mutual exclusion `RawLock` requires. A nested `lock` inside a body is allowed by
// critical-section (it re-enters) and by `RawLock` (it only excludes non-nested calls).
unsafe impl RawLock for CsLock {
    const INIT: Self = CsLock;

    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        critical_section::with(|_| f())
    }
}
