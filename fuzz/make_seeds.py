#!/usr/bin/env python3
"""Write the hand-made seeds of fuzz/corpus/ops: one file per named scenario.

The byte format is the one `fuzz_targets/ops.rs` decodes: a start byte, then per operation a
tag byte (the first index of the operation in its KINDS table) and its parameter bytes. Run
from anywhere: `python3 fuzz/make_seeds.py`. Files are named `seed-<scenario>`; inputs that a
fuzzing run found and that were worth keeping are committed beside them under their hashes.
"""

import os
import struct

# Tag bytes: the first index of each operation in KINDS.
OPEN, CLOSE, PREPARE, ARM, POLL_WAIT, REPOLL, CANCEL, EVENT = 0, 3, 5, 7, 8, 12, 14, 15
SET_DEADLINE, ADVANCE, POLL, POLL_AND_SLEEP, WAKE, FAIL_NEXT = 19, 24, 27, 29, 30, 31

# Start byte.
START_ZERO, START_SECOND, START_NEAR_MAX = 0, 1, 3
READ, WRITE = 0, 1
R, W, E = 1, 2, 4  # readiness bits
D_READ, D_WRITE, D_BOTH = 0, 1, 2
REGISTER, DEREGISTER, WAIT_CALL, WAKE_CALL = 0, 1, 2, 3


def slot(n):
    return n << 3


def history(n):
    return (n << 3) | 5


def forged(far):
    return 7 | (8 if far else 0)


def zero():
    """Handle::default(): slot 0, generation 0."""
    return 7 | 16


def op_open():
    return [OPEN]


def op_close(t):
    return [CLOSE, t]


def op_prepare(t, m):
    return [PREPARE, t, m]


def op_arm(t, m):
    return [ARM, t, m]


def op_wait(t, m, waker=0):
    return [POLL_WAIT, t, m, waker]


def op_repoll(which=0, waker=None):
    return [REPOLL, which, 0 if waker is None else 0x80 | waker]


def op_cancel(t, m):
    return [CANCEL, t, m]


def op_event(t, bits):
    return [EVENT, t, bits]


def at_clear():
    return [0]


def at_past_ms(ms):
    return [1, ms - 1]


def at_past_ns(ns):
    return [2, ns - 1]


def at_now():
    return [3]


def at_future_ms(ms):
    return [4, ms - 1]


def at_future_ns(ns):
    return [5, ns - 1]


def at_far():
    return [6]


def at_max():
    return [7]


def at_past_raw(nanos):
    return [8] + list(struct.pack("<Q", nanos))


def at_future_raw(nanos):
    return [9] + list(struct.pack("<I", nanos))


def op_deadline(t, dirs, at):
    return [SET_DEADLINE, t, dirs] + at


def op_advance_ms(ms):
    return [ADVANCE, 0, ms]


def op_advance_ns(ns):
    return [ADVANCE, 4, ns - 1]


def op_advance_hour():
    return [ADVANCE, 5]


def op_advance_saturate():
    return [ADVANCE, 6]


def op_advance_raw(nanos):
    return [ADVANCE, 7] + list(struct.pack("<I", nanos))


def op_poll_zero():
    return [POLL, 0]


def op_poll_block():
    return [POLL, 3]


def op_poll_ms(ms):
    return [POLL, 4, ms - 1]


def op_poll_max():
    return [POLL, 5]


def op_poll_raw(nanos):
    return [POLL, 6] + list(struct.pack("<I", nanos))


def op_sleep_zero():
    return [POLL_AND_SLEEP, 0]


def op_sleep_block():
    return [POLL_AND_SLEEP, 3]


def op_sleep_ms(ms):
    return [POLL_AND_SLEEP, 4, ms - 1]


def op_wake():
    return [WAKE]


def op_fail(call):
    return [FAIL_NEXT, call]


S0 = slot(0)
S1 = slot(1)

SEEDS = {
    "wait-then-edge": (
        START_SECOND,
        [op_open(), op_wait(S0, READ), op_event(S0, R), op_poll_zero(), op_repoll()],
    ),
    "edge-before-wait": (
        START_SECOND,
        [op_open(), op_event(S0, R | W), op_poll_zero(), op_wait(S0, READ), op_wait(S0, WRITE)],
    ),
    "prepare-forgets-edge": (
        START_SECOND,
        [op_open(), op_event(S0, R), op_poll_zero(), op_prepare(S0, READ), op_wait(S0, READ, 2)],
    ),
    "read-deadline-reached-exactly": (
        START_ZERO,
        [
            op_open(),
            op_wait(S0, READ),
            op_deadline(S0, D_READ, at_future_ms(5)),
            op_poll_block(),
            op_advance_ms(5),
            op_poll_zero(),
            op_wait(S0, READ),
        ],
    ),
    "past-deadline-wakes-waiter": (
        START_SECOND,
        [op_open(), op_wait(S0, READ, 1), op_deadline(S0, D_READ, at_past_ms(1)), op_wait(S0, READ)],
    ),
    "deadline-now-and-nanoseconds": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, WRITE, 1),
            op_deadline(S0, D_WRITE, at_future_ns(1)),
            op_poll_raw(1),
            op_advance_ns(1),
            op_poll_zero(),
            op_deadline(S0, D_READ, at_now()),
            op_wait(S0, READ),
            op_deadline(S0, D_READ, at_past_ns(2)),
        ],
    ),
    "clear-expired-deadline-blocks-again": (
        START_SECOND,
        [
            op_open(),
            op_deadline(S0, D_BOTH, at_past_ms(3)),
            op_wait(S0, READ),
            op_wait(S0, WRITE),
            op_deadline(S0, D_BOTH, at_clear()),
            op_wait(S0, READ, 3),
            op_wait(S0, WRITE, 4),
            op_poll_block(),
        ],
    ),
    "combined-deadline-then-split": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, READ, 0),
            op_wait(S0, WRITE, 1),
            op_deadline(S0, D_BOTH, at_future_ms(4)),
            op_poll_block(),
            op_deadline(S0, D_READ, at_future_ms(9)),
            op_advance_ms(4),
            op_poll_block(),
            op_advance_ms(5),
            op_poll_zero(),
        ],
    ),
    "deadline-moved-later-then-earlier": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, READ),
            op_deadline(S0, D_READ, at_future_ms(2)),
            op_poll_block(),
            op_deadline(S0, D_READ, at_future_ms(10)),
            op_advance_ms(2),
            op_poll_block(),
            op_deadline(S0, D_READ, at_future_ms(1)),
            op_poll_block(),
            op_advance_ms(1),
            op_poll_zero(),
        ],
    ),
    "far-future-max-and-saturated-clock": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, READ),
            op_deadline(S0, D_READ, at_far()),
            op_deadline(S0, D_WRITE, at_max()),
            op_poll_block(),
            op_advance_hour(),
            op_poll_max(),
            op_advance_saturate(),
            op_poll_zero(),
            op_wait(S0, WRITE),
        ],
    ),
    "start-near-clock-end": (
        START_NEAR_MAX,
        [
            op_open(),
            op_wait(S0, READ),
            op_deadline(S0, D_READ, at_future_ms(20)),
            op_deadline(S0, D_WRITE, at_future_raw(0xFFFF_FFFF)),
            op_poll_block(),
            op_advance_ms(12),
            op_poll_zero(),
            op_advance_saturate(),
            op_poll_block(),
        ],
    ),
    "raw-offsets": (
        START_SECOND,
        [
            op_open(),
            op_deadline(S0, D_READ, at_past_raw(0xFFFF_FFFF_FFFF_FFFF)),
            op_deadline(S0, D_WRITE, at_future_raw(123_456_789)),
            op_wait(S0, WRITE),
            op_advance_raw(123_456_788),
            op_poll_raw(7),
            op_advance_raw(1),
            op_poll_zero(),
        ],
    ),
    "close-wakes-both-waiters": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, READ, 0),
            op_wait(S0, WRITE, 1),
            op_deadline(S0, D_BOTH, at_future_ms(3)),
            op_close(S0),
            op_wait(S0, READ),
            op_deadline(S0, D_READ, at_now()),
            op_advance_ms(3),
            op_poll_zero(),
        ],
    ),
    "reopen-stale-handle-and-event": (
        START_SECOND,
        [
            op_open(),
            op_event(S0, R),
            op_close(S0),
            op_open(),
            op_wait(history(0), READ),
            op_event(history(0), R | W),
            op_wait(S0, READ, 1),
            op_poll_zero(),
            op_prepare(history(0), READ),
            op_deadline(history(0), D_BOTH, at_now()),
            op_cancel(history(0), READ),
        ],
    ),
    "old-deadline-does-not-fire-after-reopen": (
        START_SECOND,
        [
            op_open(),
            op_deadline(S0, D_READ, at_future_ms(2)),
            op_poll_block(),
            op_close(S0),
            op_open(),
            op_wait(S0, READ),
            op_advance_ms(3),
            op_poll_zero(),
            op_poll_block(),
        ],
    ),
    "double-close": (
        START_SECOND,
        [op_open(), op_close(S0), op_close(S0), op_close(history(0)), op_arm(S0, WRITE)],
    ),
    "forged-handles": (
        START_SECOND,
        [
            op_open(),
            op_wait(forged(False), READ),
            op_wait(forged(True), WRITE),
            op_event(forged(True), R | W | E),
            op_event(forged(False), R),
            op_deadline(forged(True), D_BOTH, at_now()),
            op_close(forged(False)),
            op_prepare(forged(True), READ),
            op_cancel(forged(True), READ),
            op_wait(zero(), READ),
            op_event(zero(), R | E),
            op_deadline(zero(), D_READ, at_now()),
            op_close(zero()),
            op_poll_zero(),
        ],
    ),
    "pool-exhausted": (
        START_SECOND,
        [op_open()] * 5 + [op_close(slot(2)), op_open(), op_open()],
    ),
    "register-fails": (
        START_SECOND,
        [
            op_open(),
            op_close(S0),
            op_fail(REGISTER),
            op_open(),
            op_wait(history(0), READ),
            op_open(),
            op_wait(S0, READ),
        ],
    ),
    "deregister-fails": (
        START_SECOND,
        [op_open(), op_wait(S0, READ), op_fail(DEREGISTER), op_close(S0), op_open()],
    ),
    "wait-fails-with-events-queued": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, READ),
            op_event(S0, R),
            op_deadline(S0, D_WRITE, at_future_ms(1)),
            op_fail(WAIT_CALL),
            op_advance_ms(1),
            op_poll_block(),
            op_poll_zero(),
        ],
    ),
    "wake-dedup-and-failure": (
        START_SECOND,
        [op_wake(), op_wake(), op_poll_zero(), op_fail(WAKE_CALL), op_wake(), op_wake(), op_poll_block()],
    ),
    "error-then-clean-event": (
        START_SECOND,
        [
            op_open(),
            op_event(S0, R | W | E),
            op_poll_zero(),
            op_wait(S0, READ),
            op_wait(S0, WRITE),
            op_event(S0, R),
            op_poll_zero(),
            op_wait(S0, READ),
            op_event(S0, E),
            op_event(S0, 0),
            op_poll_zero(),
            op_arm(S0, READ),
        ],
    ),
    "cancel-then-edge": (
        START_SECOND,
        [op_open(), op_wait(S0, READ, 2), op_cancel(S0, READ), op_event(S0, R), op_poll_zero(), op_wait(S0, READ)],
    ),
    "repoll-newest-waker-wins": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, READ, 0),
            op_repoll(0, 5),
            op_wait(S0, READ, 3),
            op_event(S0, R),
            op_poll_zero(),
        ],
    ),
    "double-wait-same-direction": (
        START_SECOND,
        [op_open(), op_wait(S0, WRITE, 0), op_wait(S0, WRITE, 1), op_event(S0, W), op_poll_ms(3)],
    ),
    "many-deadlines-stepping": (
        START_ZERO,
        [op_open()] * 4
        + [
            op_wait(slot(0), READ, 0),
            op_wait(slot(1), WRITE, 1),
            op_wait(slot(2), READ, 2),
            op_wait(slot(3), WRITE, 3),
            op_deadline(slot(0), D_READ, at_future_ms(3)),
            op_deadline(slot(1), D_WRITE, at_future_ms(1)),
            op_deadline(slot(2), D_BOTH, at_future_ms(2)),
            op_deadline(slot(3), D_WRITE, at_future_ms(2)),
            op_poll_block(),
            op_advance_ms(1),
            op_poll_block(),
            op_deadline(slot(3), D_WRITE, at_clear()),
            op_advance_ms(1),
            op_poll_block(),
            op_advance_ms(1),
            op_poll_block(),
            op_poll_block(),
        ],
    ),
    "read-and-write-independent": (
        START_SECOND,
        [
            op_open(),
            op_wait(S0, READ, 0),
            op_deadline(S0, D_WRITE, at_past_ms(2)),
            op_event(S0, W),
            op_poll_zero(),
            op_wait(S0, WRITE),
            op_repoll(),
        ],
    ),
    "poll-and-sleep-then-earlier-deadline": (
        START_SECOND,
        [
            op_open(),
            op_open(),
            op_wait(S0, READ, 0),
            op_wait(S1, WRITE, 1),
            op_deadline(S0, D_READ, at_future_ms(10)),
            op_sleep_block(),
            op_deadline(S1, D_WRITE, at_future_ms(2)),
            op_sleep_ms(5),
            op_advance_ms(2),
            op_sleep_zero(),
            op_event(S0, R),
            op_sleep_block(),
            op_advance_ms(8),
            op_poll_zero(),
        ],
    ),
    "two-descriptors-events-interleaved": (
        START_SECOND,
        [
            op_open(),
            op_open(),
            op_wait(S0, READ, 0),
            op_wait(S1, READ, 1),
            op_event(S1, R),
            op_event(S0, W),
            op_poll_zero(),
            op_close(S1),
            op_event(history(1), R),
            op_poll_zero(),
        ],
    ),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ops")
    os.makedirs(out, exist_ok=True)
    for name, (start, ops) in SEEDS.items():
        data = bytes([start] + [b for op in ops for b in op])
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
