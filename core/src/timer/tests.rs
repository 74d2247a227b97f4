//! The indexed heap against a sorted reference, driven by a fixed pseudo-random sequence.

use std::vec::Vec;

use super::*;
use crate::sync::AtomicBool;
use crate::SpinLock;

/// xorshift64*: deterministic and good enough to shuffle operations.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn heap_orders_inserts_rekeys_and_removals_like_a_sorted_list() {
    const N: usize = 64;
    let slots: Vec<PollDesc<SpinLock>> = (0..N).map(|_| PollDesc::new()).collect();
    let flag = AtomicBool::new(false);
    let len = AtomicU32::new(0);
    let mut heap = TimerHeap::new(&slots, LoopGuard::try_acquire(&flag).unwrap(), &len);
    let mut reference: [Option<u64>; N] = [None; N];
    let mut seed = 0x9E37_79B9_7F4A_7C15;
    for step in 0..20_000 {
        let index = (rng(&mut seed) % N as u64) as u32;
        let key = match rng(&mut seed) % 4 {
            0 => NEVER,
            _ => rng(&mut seed) % 1_000,
        };
        heap.set(index, key);
        reference[index as usize] = (key != NEVER).then_some(key);
        let expected_len = reference.iter().flatten().count() as u32;
        assert_eq!(heap.len, expected_len, "step {step}");
        let min = reference.iter().flatten().min().copied();
        assert_eq!(heap.peek().map(|(k, _)| k), min, "step {step}");
        if let Some((k, i)) = heap.peek() {
            assert_eq!(reference[i as usize], Some(k), "top entry names its slot");
        }
        assert_eq!(heap.key_of(index), reference[index as usize]);
    }
    // Drain: keys come out in order.
    let mut last = 0;
    while let Some((k, i)) = heap.peek() {
        assert!(k >= last);
        last = k;
        heap.set(i, NEVER);
    }
    drop(heap);
    assert_eq!(
        len.load(Ordering::Relaxed),
        0,
        "length saved for the next loop holder"
    );
}

#[test]
fn length_survives_across_loop_holders() {
    let slots: Vec<PollDesc<SpinLock>> = (0..4).map(|_| PollDesc::new()).collect();
    let flag = AtomicBool::new(false);
    let len = AtomicU32::new(0);
    {
        let mut heap = TimerHeap::new(&slots, LoopGuard::try_acquire(&flag).unwrap(), &len);
        heap.set(2, 7);
        heap.set(3, 5);
    }
    let heap = TimerHeap::new(&slots, LoopGuard::try_acquire(&flag).unwrap(), &len);
    assert_eq!(heap.peek(), Some((5, 3)));
    assert_eq!(heap.len, 2);
}
