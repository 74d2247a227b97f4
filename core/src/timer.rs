//! The timer queue: an indexed binary min-heap of "look at descriptor *i* at time *t*".
//!
//! Go keeps two `timer`s per `pollDesc` (one when both deadlines are equal) in a per-P heap and
//! modifies them on every deadline change. Here each descriptor has at most one entry, keyed by
//! the earliest deadline that has not expired, and the entry is only a reminder: when it comes
//! due the loop re-reads the descriptor's deadlines under its lock and decides then. So
//!
//! * pushing a deadline later (the per-read idle-timeout reset) does not touch the heap: the old
//!   entry comes due early, finds nothing expired, and is re-keyed (lazily, as Go's sequence
//!   numbers would discard a stale timer);
//! * the loop sleeps no later than the top entry's key, which may stand for a deadline moved
//!   later since: it looks early at most once per deadline still pending at its old time, and
//!   never once per reset (re-validating the top before every sleep cost a heap operation per
//!   reset on a busy server: 270 instructions per echoed message with a deadline per read);
//! * a cleared deadline (or a closed descriptor) goes through the dirty list, and the loop
//!   drops its entry at its next turn: it costs no wake-up;
//! * capacity is exactly one entry per slot, stored in the slots themselves: nothing to size,
//!   nothing that can fill up.
//!
//! Only the poll loop touches the heap, while it holds the loop lock ([`LoopGuard`]).

use crate::desc::{PollDesc, TimerCell, NEVER, NIL};
use crate::sync::{AtomicU32, LoopGuard, Ordering, RawLock};

pub(crate) struct TimerHeap<'a, L: RawLock> {
    slots: &'a [PollDesc<L>],
    len: u32,
    saved_len: &'a AtomicU32,
    // Dropped after `Drop::drop` has saved the length: the next holder sees it.
    guard: LoopGuard<'a>,
}

impl<L: RawLock> Drop for TimerHeap<'_, L> {
    fn drop(&mut self) {
        self.saved_len.store(self.len, Ordering::Relaxed);
    }
}

impl<'a, L: RawLock> TimerHeap<'a, L> {
    pub(crate) fn new(
        slots: &'a [PollDesc<L>],
        guard: LoopGuard<'a>,
        saved_len: &'a AtomicU32,
    ) -> Self {
        TimerHeap {
            slots,
            len: saved_len.load(Ordering::Relaxed),
            saved_len,
            guard,
        }
    }

    /// Proof that the holder of the heap holds the loop lock.
    pub(crate) fn guard(&self) -> &LoopGuard<'a> {
        &self.guard
    }

    fn cell(&self, i: u32) -> TimerCell {
        self.slots[i as usize].timer.get(&self.guard)
    }

    fn put(&mut self, i: u32, cell: TimerCell) {
        self.slots[i as usize].timer.set(&mut self.guard, cell);
    }

    fn entry(&self, pos: u32) -> (u64, u32) {
        let c = self.cell(pos);
        (c.key, c.index)
    }

    fn set_entry(&mut self, pos: u32, key: u64, index: u32) {
        let mut c = self.cell(pos);
        c.key = key;
        c.index = index;
        self.put(pos, c);
        let mut owner = self.cell(index);
        owner.pos = pos;
        self.put(index, owner);
    }

    fn set_pos(&mut self, index: u32, pos: u32) {
        let mut c = self.cell(index);
        c.pos = pos;
        self.put(index, c);
    }

    /// The earliest entry: `(time, slot index)`.
    pub(crate) fn peek(&self) -> Option<(u64, u32)> {
        (self.len > 0).then(|| self.entry(0))
    }

    /// The key slot `index` is queued at, if any.
    #[cfg(test)]
    pub(crate) fn key_of(&self, index: u32) -> Option<u64> {
        let pos = self.cell(index).pos;
        (pos != NIL).then(|| self.entry(pos).0)
    }

    /// Queue slot `index` at `key`, re-key it, or remove it (`key == NEVER`).
    pub(crate) fn set(&mut self, index: u32, key: u64) {
        let pos = self.cell(index).pos;
        if key == NEVER {
            if pos != NIL {
                self.remove_at(pos);
            }
            return;
        }
        if pos == NIL {
            let at = self.len;
            self.len += 1;
            self.set_entry(at, key, index);
            self.sift_up(at);
        } else {
            let (old, _) = self.entry(pos);
            self.set_entry(pos, key, index);
            if key < old {
                self.sift_up(pos);
            } else {
                self.sift_down(pos);
            }
        }
    }

    fn remove_at(&mut self, pos: u32) {
        let (_, index) = self.entry(pos);
        self.set_pos(index, NIL);
        self.len -= 1;
        let last = self.len;
        if pos != last {
            let (k, i) = self.entry(last);
            self.set_entry(pos, k, i);
            self.sift_down(pos);
            self.sift_up(pos);
        }
    }

    fn sift_up(&mut self, mut pos: u32) {
        let (key, index) = self.entry(pos);
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let (pk, pi) = self.entry(parent);
            if pk <= key {
                break;
            }
            self.set_entry(pos, pk, pi);
            pos = parent;
        }
        self.set_entry(pos, key, index);
    }

    fn sift_down(&mut self, mut pos: u32) {
        let (key, index) = self.entry(pos);
        loop {
            let left = 2 * pos + 1;
            if left >= self.len {
                break;
            }
            let right = left + 1;
            let (mut ck, mut ci) = self.entry(left);
            let mut child = left;
            if right < self.len {
                let (rk, ri) = self.entry(right);
                if rk < ck {
                    (ck, ci, child) = (rk, ri, right);
                }
            }
            if key <= ck {
                break;
            }
            self.set_entry(pos, ck, ci);
            pos = child;
        }
        self.set_entry(pos, key, index);
    }
}

#[cfg(test)]
mod tests;
