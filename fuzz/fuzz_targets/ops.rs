//! Fuzz target `ops`: arbitrary operation sequences on `netpoll_core::Netpoll` (a manual clock
//! and a scripted backend), each step checked against the reference model that the core's
//! property test uses (`core/tests/model/`, included below, not copied).
//!
//! Every step compares return values, the wake-ups each counting waker received, `Stats`, the
//! backend's calls and the timeout the loop asked for. A mismatch or a panic is a crash.
//!
//! ## Input format
//! Bytes are read through [`arbitrary::Unstructured`], one operation at a time, so that a
//! mutation of one byte changes one operation and `fuzz/make_seeds.py` can write seeds by hand:
//!
//! * byte 0: where the clock starts (`% 4`: 0 = zero, 1 and 2 = one second, 3 = 10 ms before
//!   the clock saturates);
//! * then, until the input ends (at most [`MAX_OPS`] operations): a tag byte whose value
//!   `% 32` picks the operation through [`KINDS`], followed by that operation's parameter bytes
//!   (see [`FuzzOp::read`]). Missing bytes read as zero.

#![no_main]

#[allow(dead_code)]
#[path = "../../core/tests/model/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../../core/tests/model/reference.rs"]
mod reference;

use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use netpoll_core::testing::Call;
use netpoll_core::{Mode, Readiness};

use harness::{At, Dirs, Op, Target};

/// Longest sequence run from one input; longer inputs are cut, keeping runs fast.
const MAX_OPS: usize = 512;
const MS: u64 = 1_000_000;

/// What a tag byte selects (`tag % 32`); repeated entries weigh an operation up.
#[rustfmt::skip]
const KINDS: [Kind; 32] = {
    use Kind::*;
    [
        Open, Open, Open, Close, Close, Prepare, Prepare, Arm,
        PollWait, PollWait, PollWait, PollWait, RePoll, RePoll, Cancel, Event,
        Event, Event, Event, SetDeadline, SetDeadline, SetDeadline, SetDeadline, SetDeadline,
        Advance, Advance, Advance, Poll, Poll, PollAndSleep, Wake, FailNext,
    ]
};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Open,
    Close,
    Prepare,
    Arm,
    PollWait,
    RePoll,
    Cancel,
    Event,
    SetDeadline,
    Advance,
    Poll,
    PollAndSleep,
    Wake,
    FailNext,
}

/// One decoded input: the clock's start and the operations.
#[derive(Debug)]
struct Input {
    start: u64,
    ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let start = match u8::arbitrary(u)? % 4 {
            0 => 0,
            1 | 2 => 1_000 * MS,
            _ => u64::MAX - 10 * MS,
        };
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(FuzzOp::read(u)?);
        }
        Ok(Input { start, ops })
    }
}

/// Decoding of one operation's bytes into the harness's [`Op`].
struct FuzzOp;

impl FuzzOp {
    fn read(u: &mut Unstructured<'_>) -> arbitrary::Result<Op> {
        let kind = KINDS[usize::from(byte(u)?) % KINDS.len()];
        Ok(match kind {
            Kind::Open => Op::Open,
            Kind::Close => Op::Close(target(u)?),
            Kind::Prepare => Op::Prepare(target(u)?, mode(u)?),
            Kind::Arm => Op::Arm(target(u)?, mode(u)?),
            Kind::PollWait => Op::PollWait(target(u)?, mode(u)?, byte(u)?),
            Kind::RePoll => {
                let which = byte(u)?;
                let w = byte(u)?;
                Op::RePoll {
                    which,
                    waker: (w & 0x80 != 0).then_some(w & 0x7f),
                }
            }
            Kind::Cancel => Op::Cancel(target(u)?, mode(u)?, byte(u)?),
            Kind::Event => Op::Event(target(u)?, readiness(u)?),
            Kind::SetDeadline => Op::SetDeadline(target(u)?, dirs(u)?, at(u)?),
            Kind::Advance => Op::Advance(advance(u)?),
            Kind::Poll => Op::Poll(delay(u)?),
            Kind::PollAndSleep => Op::PollAndSleep(delay(u)?),
            Kind::Wake => Op::Wake,
            Kind::FailNext => Op::FailNext(call(u)?),
        })
    }
}

fn byte(u: &mut Unstructured<'_>) -> arbitrary::Result<u8> {
    u8::arbitrary(u)
}

/// Low 3 bits: 0-4 the newest handle of slot `b >> 3` (current, closed or stale), 5-6 any
/// handle issued so far (often an old generation: events and calls with the wrong generation),
/// 7 a forged handle: outside the pool (bits 3-4 = 0 or 1) or `Handle::default()` (2 or 3).
fn target(u: &mut Unstructured<'_>) -> arbitrary::Result<Target> {
    let b = byte(u)?;
    Ok(match b & 7 {
        0..=4 => Target::Slot(b >> 3),
        5 | 6 => Target::History(b >> 3),
        _ => match (b >> 3) & 3 {
            0 => Target::Forged(false),
            1 => Target::Forged(true),
            _ => Target::Zero,
        },
    })
}

fn mode(u: &mut Unstructured<'_>) -> arbitrary::Result<Mode> {
    Ok(if byte(u)? & 1 == 0 {
        Mode::Read
    } else {
        Mode::Write
    })
}

/// Bit 0 readable, bit 1 writable, bit 2 error, bit 3 read-closed, bit 4 urgent: all
/// thirty-two combinations, the empty one included.
fn readiness(u: &mut Unstructured<'_>) -> arbitrary::Result<Readiness> {
    let b = byte(u)?;
    Ok(Readiness {
        readable: b & 1 != 0,
        writable: b & 2 != 0,
        error: b & 4 != 0,
        read_closed: b & 8 != 0,
        urgent: b & 16 != 0,
    })
}

fn dirs(u: &mut Unstructured<'_>) -> arbitrary::Result<Dirs> {
    Ok(match byte(u)? % 3 {
        0 => Dirs::Read,
        1 => Dirs::Write,
        _ => Dirs::Both,
    })
}

/// Deadlines relative to now: cleared, past, now, future (whole milliseconds, so clock steps
/// land on them exactly, or a few nanoseconds), far future, `Instant::MAX`, or raw offsets.
fn at(u: &mut Unstructured<'_>) -> arbitrary::Result<At> {
    let kind = byte(u)? % 10;
    Ok(match kind {
        0 => At::Clear,
        1 => At::Past((u64::from(byte(u)? % 20) + 1) * MS),
        2 => At::Past(u64::from(byte(u)? % 3) + 1),
        3 => At::Now,
        4 => At::Future((u64::from(byte(u)? % 20) + 1) * MS),
        5 => At::Future(u64::from(byte(u)? % 3) + 1),
        6 => At::Future(1_000_000 * 1_000 * MS),
        7 => At::Max,
        8 => At::Past(u64::arbitrary(u)?),
        _ => At::Future(u64::from(u32::arbitrary(u)?)),
    })
}

/// Clock steps: whole milliseconds (zero included), a nanosecond or two, an hour, a jump that
/// saturates the clock, or a raw step of up to about four seconds.
fn advance(u: &mut Unstructured<'_>) -> arbitrary::Result<u64> {
    Ok(match byte(u)? % 8 {
        0..=3 => u64::from(byte(u)? % 13) * MS,
        4 => u64::from(byte(u)? % 2) + 1,
        5 => 3_600_000 * MS,
        6 => u64::MAX,
        _ => u64::from(u32::arbitrary(u)?),
    })
}

/// `poll` delays and `poll_and_sleep` bounds: zero (mostly), block, whole milliseconds, `Duration::MAX`, raw nanoseconds.
fn delay(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Duration>> {
    Ok(match byte(u)? % 7 {
        0..=2 => Some(Duration::ZERO),
        3 => None,
        4 => Some(Duration::from_millis(u64::from(byte(u)? % 15) + 1)),
        5 => Some(Duration::MAX),
        _ => Some(Duration::from_nanos(u64::from(u32::arbitrary(u)?))),
    })
}

fn call(u: &mut Unstructured<'_>) -> arbitrary::Result<Call> {
    Ok(match byte(u)? % 4 {
        0 => Call::Register,
        1 => Call::Deregister,
        2 => Call::Wait,
        _ => Call::Wake,
    })
}

fuzz_target!(|input: Input| {
    if let Err(e) = harness::run(input.start, &input.ops) {
        panic!("netpoll-core differs from the reference model: {e}");
    }
});
