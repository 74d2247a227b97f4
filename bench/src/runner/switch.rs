//! The park/resume micro-benchmark (S6m): Go's goroutine switch (`BenchmarkGoroutineSwitch`,
//! two goroutines on one thread handing a token over unbuffered channels) against a green
//! coroutine park/resume pair (`green-switch`, two coroutines on one worker handing a token
//! over wakers), both pinned to core 0 and alternated in the same run. Both figures are one
//! park/resume pair: Go's round trip is halved here, ours is halved by `green-switch`.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::micro::parse_go_bench;

/// The Go benchmark function.
pub const GO_BENCH: &str = "BenchmarkGoroutineSwitch";
/// Record label of Go's side.
pub const GO_LABEL: &str = "go goroutine park/resume (channel)";
/// Record label of our side.
pub const NETPOLL_LABEL: &str = "netpoll green park/resume (waker)";

/// One Go measurement of `iters` round trips.
pub fn go(go_dir: &Path, iters: u64) -> Value {
    let out = Command::new("taskset")
        .args(["-c", "0", "go", "test", "-run", "^$", "-bench"])
        .arg(format!("^{GO_BENCH}$"))
        .args(["-count", "1"])
        .arg(format!("-benchtime={iters}x"))
        .current_dir(go_dir)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            match parse_go_bench(&String::from_utf8_lossy(&o.stdout), GO_BENCH) {
                // One iteration is a round trip: two park/resume pairs.
                Some(ns) => json!({ "ok": true, "ns_per_op": ns / 2.0 }),
                None => json!({ "ok": false, "error": "no benchmark line in go test output" }),
            }
        }
        Ok(o) => json!({ "ok": false, "error": String::from_utf8_lossy(&o.stderr).to_string() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

/// One netpoll measurement of `iters` round trips.
pub fn netpoll(bin: &Path, iters: u64) -> Value {
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(bin)
        .args(["--iters", &iters.to_string()])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => match serde_json::from_slice::<Value>(&o.stdout) {
            Ok(v) if v["ns_per_op"].is_number() => {
                json!({ "ok": true, "ns_per_op": v["ns_per_op"] })
            }
            _ => json!({ "ok": false, "error": "green-switch printed no ns_per_op" }),
        },
        Ok(o) => json!({ "ok": false, "error": String::from_utf8_lossy(&o.stderr).to_string() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}
