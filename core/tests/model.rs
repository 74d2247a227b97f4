//! Property test: random operation sequences on `Netpoll` (a [`ManualClock`] and a
//! [`ScriptedPoller`]) against the reference model in `model/reference.rs`.
//!
//! After every step the harness compares return values, the wake-ups each waker received,
//! `Stats`, the backend's calls (including the wake-ups deadline setters send a loop that
//! sleeps after `poll_and_sleep`) and the timeout the loop asked for (see `model/harness.rs`).
//! Exact wake-up counts are what rule out a lost wake-up (a parked waiter whose edge, deadline
//! or close came and went unseen) and a double wake-up; the model's own invariants check that
//! it never keeps a waiter parked whose wait could complete.
//!
//! Cases: `PROPTEST_CASES` (default 512); CI runs 10,000 in release mode.
//!
//! [`ManualClock`]: netpoll_core::testing::ManualClock
//! [`ScriptedPoller`]: netpoll_core::testing::ScriptedPoller

#[path = "model/harness.rs"]
mod harness;
#[path = "model/reference.rs"]
mod reference;

use core::time::Duration;

use netpoll_core::testing::Call;
use netpoll_core::{Mode, Readiness};
use proptest::prelude::*;

use harness::{decode, run, At, Dirs, Op, Target, SLOTS, WAKERS};

const MS: u64 = 1_000_000;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    ProptestConfig::with_cases(cases)
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        8 => (0..SLOTS as u8).prop_map(Target::Slot),
        3 => any::<u8>().prop_map(Target::History),
        1 => any::<bool>().prop_map(Target::Forged),
        1 => Just(Target::Zero),
    ]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Read), Just(Mode::Write)]
}

fn waker() -> impl Strategy<Value = u8> {
    0..WAKERS as u8
}

fn readiness() -> impl Strategy<Value = Readiness> {
    prop_oneof![
        3 => Just(Readiness::READABLE),
        3 => Just(Readiness::WRITABLE),
        2 => Just(Readiness::BOTH),
        1 => Just(Readiness::ERROR),
        1 => Just(Readiness::READ_CLOSED),
        1 => (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(readable, writable, error, read_closed, urgent)| Readiness {
                readable,
                writable,
                error,
                read_closed,
                urgent,
            }
        ),
    ]
}

fn dirs() -> impl Strategy<Value = Dirs> {
    prop_oneof![Just(Dirs::Read), Just(Dirs::Write), Just(Dirs::Both)]
}

/// Deadlines in whole milliseconds mostly, so that clock steps land exactly on them, plus
/// a few nanoseconds either side of now.
fn at() -> impl Strategy<Value = At> {
    prop_oneof![
        2 => Just(At::Clear),
        1 => (1..=20u64).prop_map(|ms| At::Past(ms * MS)),
        1 => (1..=2u64).prop_map(At::Past),
        2 => Just(At::Now),
        5 => (1..=20u64).prop_map(|ms| At::Future(ms * MS)),
        1 => (1..=2u64).prop_map(At::Future),
        1 => Just(At::Future(1_000_000 * 1_000 * MS)),
        1 => Just(At::Max),
    ]
}

/// Clock steps: mostly whole milliseconds (zero included), sometimes a nanosecond, an hour,
/// or a jump that saturates the clock at its end.
fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        20 => (0..=12u64).prop_map(|ms| ms * MS),
        3 => 1..=2u64,
        1 => Just(3_600_000 * MS),
        1 => Just(u64::MAX),
    ]
}

fn delay() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        6 => Just(Some(Duration::ZERO)),
        2 => Just(None),
        2 => (1..=15u64).prop_map(|ms| Some(Duration::from_millis(ms))),
        1 => Just(Some(Duration::MAX)),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        Just(Call::Register),
        Just(Call::Deregister),
        Just(Call::Wait),
        Just(Call::Wake)
    ]
}

/// Relative weights of the operations, in the order of [`op`]'s arms.
type Weights = [u32; 14];

/// A bit of everything.
const GENERAL: Weights = [6, 3, 4, 1, 8, 3, 1, 6, 8, 5, 6, 2, 1, 1];
/// Many descriptors with deadlines, time moving, the loop running: exercises the timer heap
/// (lazy re-keying, removal, several entries).
const DEADLINES: Weights = [6, 1, 2, 0, 6, 2, 0, 2, 16, 8, 6, 4, 1, 1];
/// Opens, closes, stale handles and stale events, cancelled waits.
const CHURN: Weights = [8, 6, 3, 1, 6, 2, 4, 8, 3, 2, 5, 1, 1, 2];

fn op(w: Weights) -> impl Strategy<Value = Op> {
    let arms: [BoxedStrategy<Op>; 14] = [
        Just(Op::Open).boxed(),
        target().prop_map(Op::Close).boxed(),
        (target(), mode())
            .prop_map(|(t, m)| Op::Prepare(t, m))
            .boxed(),
        (target(), mode()).prop_map(|(t, m)| Op::Arm(t, m)).boxed(),
        (target(), mode(), waker())
            .prop_map(|(t, m, w)| Op::PollWait(t, m, w))
            .boxed(),
        (any::<u8>(), proptest::option::of(waker()))
            .prop_map(|(which, waker)| Op::RePoll { which, waker })
            .boxed(),
        (target(), mode(), waker())
            .prop_map(|(t, m, w)| Op::Cancel(t, m, w))
            .boxed(),
        (target(), readiness())
            .prop_map(|(t, r)| Op::Event(t, r))
            .boxed(),
        (target(), dirs(), at())
            .prop_map(|(t, d, a)| Op::SetDeadline(t, d, a))
            .boxed(),
        advance().prop_map(Op::Advance).boxed(),
        delay().prop_map(Op::Poll).boxed(),
        delay().prop_map(Op::PollAndSleep).boxed(),
        Just(Op::Wake).boxed(),
        call().prop_map(Op::FailNext).boxed(),
    ];
    let weighted = w.into_iter().zip(arms).filter(|(w, _)| *w > 0).collect();
    proptest::strategy::Union::new_weighted(weighted)
}

/// Up to 60 operations drawn from one of the profiles.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop_oneof![
        2 => proptest::collection::vec(op(GENERAL), 1..=60),
        1 => proptest::collection::vec(op(DEADLINES), 1..=60),
        1 => proptest::collection::vec(op(CHURN), 1..=60),
    ]
}

/// Most runs start at 1 s so that "past" deadlines are really in the past; some at zero.
fn start() -> impl Strategy<Value = u64> {
    prop_oneof![4 => Just(1_000 * MS), 1 => Just(0u64)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn netpoll_matches_reference_model(
        start in start(),
        ops in ops(),
    ) {
        if let Err(e) = run(start, &ops) {
            return Err(TestCaseError::fail(e));
        }
    }

    /// The same check over operations decoded from random bytes, the way a fuzzer builds
    /// them: a differently shaped distribution, and a test of the decoder.
    #[test]
    fn decoded_bytes_match_reference_model(
        start in start(),
        bytes in proptest::collection::vec(any::<u8>(), 0..=160),
    ) {
        if let Err(e) = run(start, &decode(&bytes)) {
            return Err(TestCaseError::fail(e));
        }
    }
}

// ------------------------------------------------------------------ named regressions

fn check(ops: &[Op]) -> harness::Harness {
    match run(1_000 * MS, ops) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Go sets the event-error bit from every event (`setEventErr(ev.events&EPOLLERR != 0)`), so
/// a clean readable edge after an error edge lets the next read wait succeed. Core used to
/// keep the bit until the slot was reopened (fixed in bcc9969; the first proptest run here
/// found it too).
#[test]
fn event_error_clears_on_next_clean_event() {
    let h = Target::Slot(0);
    check(&[
        Op::Open,
        Op::Event(h, Readiness::ERROR),
        Op::Poll(Some(Duration::ZERO)),
        Op::PollWait(h, Mode::Read, 0),
        Op::Event(h, Readiness::READABLE),
        Op::Poll(Some(Duration::ZERO)),
        Op::PollWait(h, Mode::Read, 0),
    ]);
}

/// A parked reader, a deadline in the future, the clock stepping exactly onto it: the loop
/// must fire it and wake the reader once.
#[test]
fn deadline_reached_exactly_wakes_parked_reader() {
    let h = Target::Slot(0);
    let harness = check(&[
        Op::Open,
        Op::PollWait(h, Mode::Read, 0),
        Op::SetDeadline(h, Dirs::Read, At::Future(5 * MS)),
        Op::Poll(None),
        Op::Advance(5 * MS),
        Op::Poll(Some(Duration::ZERO)),
        Op::PollWait(h, Mode::Read, 0),
    ]);
    assert_eq!(harness.model().woken[0], 1);
}

/// After `poll_and_sleep` the loop sleeps outside the backend until the promised instant. A
/// deadline set earlier than that must wake the backend, once until the next turn; a deadline
/// set later must not.
#[test]
fn earlier_deadline_wakes_loop_sleeping_after_poll_and_sleep_once() {
    let (a, b) = (Target::Slot(0), Target::Slot(1));
    let harness = check(&[
        Op::Open,
        Op::Open,
        Op::SetDeadline(a, Dirs::Read, At::Future(10 * MS)),
        Op::PollAndSleep(None),
        Op::SetDeadline(b, Dirs::Write, At::Future(20 * MS)),
        Op::SetDeadline(b, Dirs::Read, At::Future(5 * MS)),
        Op::SetDeadline(a, Dirs::Write, At::Future(2 * MS)),
        Op::Poll(None),
        Op::SetDeadline(b, Dirs::Both, At::Future(MS)),
    ]);
    assert_eq!(harness.model().backend.wakes, 1);
}
