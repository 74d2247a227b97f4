//! The deadline-reset micro-benchmark: Go's `SetReadDeadline` (`go test -bench`) against
//! netpoll-std's `set_read_deadline` (the `deadline-micro` binary), both pinned to core 0,
//! alternated in the same run.
//!
//! Three variants: [`Variant::Now`] computes `now + 30 s` inside the loop (what a server does
//! before every read, so the caller's clock read is part of the figure); [`Variant::Relative`]
//! is the same reset through `set_read_deadline_after(30 s)` on our side (Go has no other way
//! to say it, so its side is `SetReadDeadline(time.Now().Add(30 s))` again);
//! [`Variant::Precomputed`] sets `base + i ns` from one clock read before the loop, so only the
//! deadline operation is timed.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// Which deadline each iteration sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `now + 30 s`, with a clock read per iteration.
    Now,
    /// Ours: `set_read_deadline_after(30 s)`; Go's: as [`Variant::Now`].
    Relative,
    /// `base + i ns`, `base = now + 30 s` read once before the loop.
    Precomputed,
}

impl Variant {
    /// Every variant, in the order the runner alternates them.
    pub const ALL: [Variant; 3] = [Variant::Now, Variant::Relative, Variant::Precomputed];

    /// The variant's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Now => "now+30s",
            Variant::Relative => "relative",
            Variant::Precomputed => "precomputed",
        }
    }

    /// The Go benchmark function.
    pub fn go_bench(self) -> &'static str {
        match self {
            Variant::Now | Variant::Relative => "BenchmarkSetReadDeadline",
            Variant::Precomputed => "BenchmarkSetReadDeadlinePrecomputed",
        }
    }

    /// The record label of Go's side.
    pub fn go_label(self) -> &'static str {
        match self {
            Variant::Now => "go SetReadDeadline(now+30s)",
            // A run of its own, paired with ours of the same variant.
            Variant::Relative => "go SetReadDeadline(now+30s) [vs relative]",
            Variant::Precomputed => "go SetReadDeadline(precomputed)",
        }
    }

    /// The record label of our side.
    pub fn netpoll_label(self) -> &'static str {
        match self {
            Variant::Now => "netpoll set_read_deadline(now+30s)",
            Variant::Relative => "netpoll set_read_deadline_after(30s)",
            Variant::Precomputed => "netpoll set_read_deadline(precomputed)",
        }
    }
}

/// Parses the ns/op of benchmark `name` exactly (`BenchmarkX-2  1000000  185.3 ns/op`, or
/// `BenchmarkX  ...` when GOMAXPROCS is 1) from `go test -bench` output; a benchmark whose
/// name merely starts with `name` does not match.
pub fn parse_go_bench(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let mut it = line.split_whitespace();
        let first = it.next()?;
        let rest = first.strip_prefix(name)?;
        let procs_ok = rest.is_empty()
            || rest
                .strip_prefix('-')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !procs_ok {
            return None;
        }
        let ns = it.nth(1)?;
        (it.next()? == "ns/op").then_some(())?;
        ns.parse().ok()
    })
}

/// One Go measurement of `iters` deadline resets.
pub fn go(go_dir: &Path, iters: u64, variant: Variant) -> Value {
    go_bench(go_dir, variant.go_bench(), iters, 1.0)
}

/// Run Go benchmark `name` for `iters` iterations pinned to core 0; its ns/op divided by
/// `per_op` (how many operations one iteration is), as `{ok, ns_per_op}` or `{ok, error}`.
pub fn go_bench(go_dir: &Path, name: &str, iters: u64, per_op: f64) -> Value {
    let out = Command::new("taskset")
        .args(["-c", "0", "go", "test", "-run", "^$", "-bench"])
        .arg(format!("^{name}$"))
        .args(["-count", "1"])
        .arg(format!("-benchtime={iters}x"))
        .current_dir(go_dir)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            match parse_go_bench(&String::from_utf8_lossy(&o.stdout), name) {
                Some(ns) => json!({ "ok": true, "ns_per_op": ns / per_op }),
                None => json!({ "ok": false, "error": "no benchmark line in go test output" }),
            }
        }
        Ok(o) => json!({ "ok": false, "error": String::from_utf8_lossy(&o.stderr).to_string() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

/// One netpoll measurement of `iters` deadline resets.
pub fn netpoll(bin: &Path, iters: u64, variant: Variant) -> Value {
    let extra: &[&str] = match variant {
        Variant::Now => &[],
        Variant::Relative => &["--relative"],
        Variant::Precomputed => &["--precomputed"],
    };
    ns_per_op(bin, iters, extra)
}

/// Run micro-benchmark binary `bin` (`--iters N` and `extra`) pinned to core 0 and read the
/// `ns_per_op` of the JSON line it prints, as `{ok, ns_per_op}` or `{ok, error}`.
pub fn ns_per_op(bin: &Path, iters: u64, extra: &[&str]) -> Value {
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(bin)
        .args(["--iters", &iters.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .output();
    let name = bin
        .file_name()
        .map_or("the benchmark".into(), |f| f.to_string_lossy());
    match out {
        Ok(o) if o.status.success() => match serde_json::from_slice::<Value>(&o.stdout) {
            Ok(v) if v["ns_per_op"].is_number() => {
                json!({ "ok": true, "ns_per_op": v["ns_per_op"] })
            }
            _ => json!({ "ok": false, "error": format!("{name} printed no ns_per_op") }),
        },
        Ok(o) => json!({ "ok": false, "error": String::from_utf8_lossy(&o.stderr).to_string() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "BenchmarkSetReadDeadline";
    const PRE: &str = "BenchmarkSetReadDeadlinePrecomputed";

    #[test]
    fn go_bench_line() {
        let t = "goos: linux\nBenchmarkSetReadDeadline-2   \t  200000\t       185.3 ns/op\nPASS\n";
        assert_eq!(parse_go_bench(t, NOW), Some(185.3));
        assert_eq!(parse_go_bench(t, PRE), None);
        assert_eq!(parse_go_bench("PASS\n", NOW), None);
    }

    #[test]
    fn prefix_names_do_not_collide() {
        // The longer name comes first, as `go test -bench .` would print it in another order.
        let t = "BenchmarkSetReadDeadlinePrecomputed-2 \t 2000000\t  101.5 ns/op\n\
                 BenchmarkSetReadDeadline-2 \t 2000000\t  150.25 ns/op\nPASS\n";
        assert_eq!(parse_go_bench(t, NOW), Some(150.25));
        assert_eq!(parse_go_bench(t, PRE), Some(101.5));
    }

    #[test]
    fn gomaxprocs_one_and_odd_suffixes() {
        // GOMAXPROCS=1: no `-N` suffix.
        let t = "BenchmarkSetReadDeadline \t 100\t 99 ns/op\n";
        assert_eq!(parse_go_bench(t, NOW), Some(99.0));
        // A suffix that is not `-digits` is another benchmark.
        let t =
            "BenchmarkSetReadDeadline-x \t 100\t 99 ns/op\nBenchmarkSetReadDeadline- 1 2 ns/op\n";
        assert_eq!(parse_go_bench(t, NOW), None);
        // A line without `ns/op` in the right place is not a result.
        let t = "BenchmarkSetReadDeadline-2 \t 100\t 99 B/op\n";
        assert_eq!(parse_go_bench(t, NOW), None);
        // A benchmark that failed prints `--- FAIL: BenchmarkSetReadDeadline-2`: no figure.
        let t = "--- FAIL: BenchmarkSetReadDeadline-2\nFAIL\n";
        assert_eq!(parse_go_bench(t, NOW), None);
    }

    #[test]
    fn labels_are_distinct() {
        let mut l: Vec<&str> = Variant::ALL
            .iter()
            .flat_map(|v| [v.go_label(), v.netpoll_label()])
            .collect();
        l.sort_unstable();
        l.dedup();
        assert_eq!(l.len(), 2 * Variant::ALL.len());
    }
}
