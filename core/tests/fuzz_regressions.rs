//! Regression tests for what the fuzz target `fuzz/fuzz_targets/ops.rs` found, one test per
//! finding, named after it. Each replays the minimised operation sequence through the same
//! harness and reference model as the fuzz target and the property test (`model/`).

#[allow(dead_code)]
#[path = "model/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "model/reference.rs"]
mod reference;

use core::time::Duration;

use harness::{run, Op, Target};
use netpoll_core::{Mode, Readiness};

/// The clock 10 ms before it saturates, where the fuzzer found the first case (the start does
/// not matter for it, but it is kept as found).
const NEAR_MAX: u64 = u64::MAX - 10_000_000;

fn check(start: u64, ops: &[Op]) {
    if let Err(e) = run(start, ops) {
        panic!("{e}");
    }
}

/// Found in the first seconds of fuzzing (input `crash-2c92bfd0...`, minimised): an error
/// event and then an event reporting nothing, applied in one loop turn. Go sets the event-error
/// flag from every event (`setEventErr(ev.events&EPOLLERR != 0)`), so the empty event clears it
/// and a read arm succeeds. Core does this since commit bcc9969; the model's `Deviations::CORE`
/// switch still said the flag was sticky at the time, which is what the fuzzer reported
/// ("arm: real Ok(()), model Err(Poll(EventError))"). The model now follows Go here too.
#[test]
fn event_without_readiness_clears_event_error() {
    let h = Target::Slot(0);
    for start in [0, 1_000_000_000, NEAR_MAX] {
        check(
            start,
            &[
                Op::Open,
                Op::Event(h, Readiness::ERROR),
                Op::Event(h, Readiness::default()),
                Op::Poll(Some(Duration::MAX)),
                Op::Arm(h, Mode::Read),
                Op::PollWait(h, Mode::Read, 0),
            ],
        );
    }
}
