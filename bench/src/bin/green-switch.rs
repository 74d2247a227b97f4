//! Micro-benchmark of one green coroutine park/resume pair, the counterpart of Go's
//! `BenchmarkGoroutineSwitch` in `bench/go/switch_test.go`: two coroutines on one worker
//! thread pass a token back and forth. Each hand-over wakes the other coroutine's waker (its
//! task goes on the worker's queue) and parks the caller (its stack is suspended); the worker
//! then resumes the other. One round trip is two park/resume pairs.
//!
//! ```text
//! green-switch [--iters 1000000]
//! ```
//!
//! Prints `{"ns_per_op": ..., "iters": ...}`, `ns_per_op` being one park/resume pair (half a
//! round trip).

use std::future::poll_fn;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Instant;

use netpoll_bench::cli::{Cli, Flag};
use netpoll_std::green::{self, Scheduler};

/// Whose turn it is, and each side's parked waker.
struct Token {
    turn: AtomicU8,
    wakers: [Mutex<Option<Waker>>; 2],
}

impl Token {
    /// Give the token to `to` and wake it.
    fn pass(&self, to: u8) {
        self.turn.store(to, Ordering::Release);
        if let Some(w) = self.wakers[usize::from(to)].lock().unwrap().take() {
            w.wake();
        }
    }

    /// Park until the token is `me`'s.
    fn wait(&self, me: u8) {
        green::block_on(poll_fn(|cx| {
            if self.turn.load(Ordering::Acquire) == me {
                return Poll::Ready(());
            }
            *self.wakers[usize::from(me)].lock().unwrap() = Some(cx.waker().clone());
            if self.turn.load(Ordering::Acquire) == me {
                return Poll::Ready(());
            }
            Poll::Pending
        }));
    }
}

fn run(iters: u64) -> std::io::Result<f64> {
    let sched = Scheduler::builder().workers(1).build()?;
    let h = sched.spawn(move || -> std::io::Result<f64> {
        let t = Arc::new(Token {
            turn: AtomicU8::new(0),
            wakers: [Mutex::new(None), Mutex::new(None)],
        });
        let t2 = t.clone();
        let total = iters + iters.min(10_000);
        let other = green::spawn(move || {
            for _ in 0..total {
                t2.wait(1);
                t2.pass(0);
            }
        })?;
        let round = |t: &Token| {
            t.pass(1);
            t.wait(0);
        };
        for _ in 0..total - iters {
            round(&t);
        }
        let start = Instant::now();
        for _ in 0..iters {
            round(&t);
        }
        let ns = start.elapsed().as_nanos() as f64 / iters.max(1) as f64 / 2.0;
        other
            .join()
            .map_err(|_| std::io::Error::other("the other coroutine panicked"))?;
        Ok(ns)
    })?;
    h.join()
        .map_err(|_| std::io::Error::other("the benchmark coroutine panicked"))?
}

fn main() -> ExitCode {
    let cli = Cli {
        name: "green-switch",
        about: "Times one green coroutine park/resume pair (the counterpart of Go's \
                BenchmarkGoroutineSwitch); prints one JSON line.",
        flags: vec![Flag::value("iters", "N", 1_000_000, "round trips timed")],
    };
    let iters = match cli.parse_env().and_then(|v| {
        v.get::<u64>("iters").map_err(|e| {
            eprintln!("green-switch: {e}\n(see green-switch --help)");
            2
        })
    }) {
        Ok(n) => n,
        Err(code) => return ExitCode::from(code),
    };
    match run(iters) {
        Ok(ns) => {
            println!("{{\"ns_per_op\": {ns:.2}, \"iters\": {iters}}}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("green-switch: {e}");
            ExitCode::FAILURE
        }
    }
}
