//! The park/resume micro-benchmark (S6m): Go's goroutine switch (`BenchmarkGoroutineSwitch`,
//! two goroutines on one thread handing a token over unbuffered channels) against a green
//! coroutine park/resume pair (`green-switch`, two coroutines on one worker handing a token
//! over wakers), both pinned to core 0 and alternated in the same run. Both figures are one
//! park/resume pair: Go's round trip is halved here, ours is halved by `green-switch`.

use std::path::Path;

use serde_json::Value;

use super::micro::{go_bench, ns_per_op};

/// The Go benchmark function.
pub const GO_BENCH: &str = "BenchmarkGoroutineSwitch";
/// Record label of Go's side.
pub const GO_LABEL: &str = "go goroutine park/resume (channel)";
/// Record label of our side.
pub const NETPOLL_LABEL: &str = "netpoll green park/resume (waker)";

/// One Go measurement of `iters` round trips (two park/resume pairs each).
pub fn go(go_dir: &Path, iters: u64) -> Value {
    go_bench(go_dir, GO_BENCH, iters, 2.0)
}

/// One netpoll measurement of `iters` round trips (`green-switch` reports per pair).
pub fn netpoll(bin: &Path, iters: u64) -> Value {
    ns_per_op(bin, iters, &[])
}
