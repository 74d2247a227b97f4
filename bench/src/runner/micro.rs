//! The deadline-reset micro-benchmark: Go's `SetReadDeadline` (`go test -bench`) against
//! netpoll-std's `set_read_deadline` (the `deadline-micro` binary), both pinned to core 0,
//! alternated in the same run.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// Parses `BenchmarkSetReadDeadline-2   1000000   185.3 ns/op` from `go test -bench` output.
pub fn parse_go_bench(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("BenchmarkSetReadDeadline"))?;
    let mut it = line.split_whitespace();
    let ns = it.nth(2)?;
    (it.next()? == "ns/op").then_some(())?;
    ns.parse().ok()
}

/// One Go measurement of `iters` deadline resets.
pub fn go(go_dir: &Path, iters: u64) -> Value {
    let out = Command::new("taskset")
        .args([
            "-c",
            "0",
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            "SetReadDeadline",
            "-count",
            "1",
        ])
        .arg(format!("-benchtime={iters}x"))
        .current_dir(go_dir)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => match parse_go_bench(&String::from_utf8_lossy(&o.stdout)) {
            Some(ns) => json!({ "ok": true, "ns_per_op": ns }),
            None => json!({ "ok": false, "error": "no benchmark line in go test output" }),
        },
        Ok(o) => json!({ "ok": false, "error": String::from_utf8_lossy(&o.stderr).to_string() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

/// One netpoll measurement of `iters` deadline resets.
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
            _ => json!({ "ok": false, "error": "deadline-micro printed no ns_per_op" }),
        },
        Ok(o) => json!({ "ok": false, "error": String::from_utf8_lossy(&o.stderr).to_string() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bench_line() {
        let t = "goos: linux\nBenchmarkSetReadDeadline-2   \t  200000\t       185.3 ns/op\nPASS\n";
        assert_eq!(parse_go_bench(t), Some(185.3));
        assert_eq!(parse_go_bench("PASS\n"), None);
    }
}
