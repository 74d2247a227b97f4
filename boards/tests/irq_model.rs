//! Random operation sequences on an `IrqPoller` against a plain reference model: every
//! registration error, every kept or dropped mark, and every event (token and readiness) must
//! match.

use std::time::Duration;

use netpoll_boards::{IrqError, IrqPoller, Line, NoIdle};
use netpoll_core::{Event, Poller, Readiness, Token};
use proptest::prelude::*;

const LINES: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    Register(u16, u64),
    Deregister(u16, u64),
    Mark(u16, u8),
    Wait,
}

fn op() -> impl Strategy<Value = Op> {
    // Line 2 is out of range on purpose; tokens collide on purpose.
    prop_oneof![
        (0u16..3, 0u64..3).prop_map(|(l, t)| Op::Register(l, t)),
        (0u16..3, 0u64..3).prop_map(|(l, t)| Op::Deregister(l, t)),
        (0u16..3, 0u8..3).prop_map(|(l, k)| Op::Mark(l, k)),
        Just(Op::Wait),
    ]
}

#[derive(Default)]
struct Model {
    token: [Option<Token>; LINES],
    pending: [Readiness; LINES],
    marks: u32,
    dropped: u32,
    events: u32,
}

fn token(t: u64) -> Token {
    Token((t << 32) | 5)
}

impl Model {
    fn register(&mut self, l: usize, t: Token) -> Result<(), IrqError> {
        if l >= LINES {
            return Err(IrqError::NoSuchLine);
        }
        if self.token[l].is_some() {
            return Err(IrqError::AlreadyRegistered);
        }
        self.token[l] = Some(t);
        self.pending[l] = Readiness::default();
        Ok(())
    }

    fn deregister(&mut self, l: usize, t: Token) -> Result<(), IrqError> {
        if l >= LINES {
            return Err(IrqError::NoSuchLine);
        }
        if self.token[l] != Some(t) {
            return Err(IrqError::NotRegistered);
        }
        self.token[l] = None;
        Ok(())
    }

    fn mark(&mut self, l: usize, kind: u8) -> bool {
        if l >= LINES || self.token[l].is_none() {
            self.dropped += 1;
            return false;
        }
        self.marks += 1;
        let p = &mut self.pending[l];
        match kind {
            0 => p.readable = true,
            1 => p.writable = true,
            _ => p.error = true,
        }
        true
    }

    fn wait(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        for l in 0..LINES {
            if let Some(t) = self.token[l] {
                let r = std::mem::take(&mut self.pending[l]);
                if r != Readiness::default() {
                    out.push(Event {
                        token: t,
                        readiness: r,
                    });
                }
            }
        }
        self.events += out.len() as u32;
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    #[test]
    fn irq_poller_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let p = IrqPoller::<LINES, NoIdle>::new(NoIdle);
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Register(l, t) => {
                    prop_assert_eq!(p.register(&Line(l), token(t)), m.register(l.into(), token(t)));
                }
                Op::Deregister(l, t) => {
                    prop_assert_eq!(p.deregister(&Line(l), token(t)), m.deregister(l.into(), token(t)));
                }
                Op::Mark(l, k) => {
                    let kept = match k {
                        0 => p.mark_readable(Line(l)),
                        1 => p.mark_writable(Line(l)),
                        _ => p.mark_error(Line(l)),
                    };
                    prop_assert_eq!(kept, m.mark(l.into(), k));
                }
                Op::Wait => {
                    let mut got = Vec::new();
                    p.wait(Some(Duration::ZERO), &mut |e| got.push(e)).unwrap();
                    prop_assert_eq!(got, m.wait());
                }
            }
        }
        let s = p.stats();
        prop_assert_eq!((s.marks, s.dropped_marks, s.events), (m.marks, m.dropped, m.events));
    }
}
