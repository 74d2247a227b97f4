//! User-space instructions per echoed message, counted by callgrind.
//!
//! The server runs under `valgrind --tool=callgrind` pinned to core 0. After a warm-up load, the
//! counters are zeroed and a closed-loop load of `k1` messages per connection is run and dumped;
//! then again with `k2`. The difference of the two totals divided by the difference in messages
//! is the cost of one echoed message: connection set-up and tear-down, the same in both loads,
//! cancel out, and so does everything the server did before.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::measure::Ctx;
use super::servers::{spawn_pinned, Entry};
use crate::proc::wait_listening;

/// Parameters of the measurement.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Connections per load.
    pub conns: usize,
    /// Message size.
    pub size: usize,
    /// Messages per connection in the warm-up and the short load.
    pub k1: u64,
    /// Messages per connection in the long load.
    pub k2: u64,
}

/// Whether valgrind and callgrind_control are installed.
pub fn available() -> bool {
    ["valgrind", "callgrind_control"].iter().all(|p| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

fn control(pid: u32, what: &str) -> Result<(), String> {
    let st = Command::new("callgrind_control")
        .args([what, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("callgrind_control: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("callgrind_control {what} failed ({st})"))
    }
}

/// The `totals:` (or `summary:`) instruction count of the newest dump `cg.<pid>.<n>` in `dir`.
fn latest_total(dir: &Path, pid: u32) -> Result<u64, String> {
    let prefix = format!("cg.{pid}.");
    let newest = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| Some((n.strip_prefix(&prefix)?.parse::<u32>().ok()?, n.clone())))
        .max()
        .ok_or("no callgrind dump written")?;
    let text = std::fs::read_to_string(dir.join(&newest.1)).map_err(|e| e.to_string())?;
    parse_total(&text).ok_or_else(|| format!("no totals in {}", newest.1))
}

/// Reads the instruction total of a callgrind output file.
pub fn parse_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn load(ctx: &Ctx, addr: &str, plan: &Plan, k: u64) -> Result<f64, String> {
    let out = Command::new("taskset")
        .args(["-c", *super::servers::CLIENT_CORE])
        .arg(&ctx.loadgen)
        .args(["--addr", addr, "--mode", "closed", "--duration", "600"])
        .args([
            "--conns",
            &plan.conns.to_string(),
            "--size",
            &plan.size.to_string(),
        ])
        .args(["--messages", &k.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("loadgen: {e}"))?;
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("loadgen: {}", String::from_utf8_lossy(&out.stderr)))?;
    if !out.status.success() {
        return Err(format!("loadgen failed: {}", v["first_error"]));
    }
    Ok(v["messages"].as_f64().unwrap_or(0.0))
}

/// Measures one server; the result has `ok`, and `ir_per_msg` or `error`.
pub fn measure(ctx: &mut Ctx, entry: &Entry, plan: &Plan) -> Value {
    let addr = ctx.next_addr();
    let dir = ctx.log_dir.join(format!("callgrind-{}", entry.label));
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = json!({ "scenario": "CG", "server": entry.label, "server_cmd": entry.shown(),
        "conns": plan.conns, "size": plan.size, "k1": plan.k1, "k2": plan.k2 });
    let r = (|| -> Result<Value, String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut argv = vec![
            "valgrind".to_string(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}/cg.%p", dir.display()),
            "--dump-instr=no".into(),
        ];
        argv.extend(entry.argv(&addr));
        let log = dir.join("server.log");
        let mut server = spawn_pinned(0, &argv, &log).map_err(|e| e.to_string())?;
        let pid = server.id();
        let res = (|| {
            let sock = addr.parse().map_err(|_| "bad address".to_string())?;
            if !wait_listening(sock, Duration::from_secs(60)) {
                return Err("server did not listen under valgrind within 60 s".to_string());
            }
            load(ctx, &addr, plan, plan.k1)?;
            control(pid, "-z")?;
            let m1 = load(ctx, &addr, plan, plan.k1)?;
            control(pid, "-d")?;
            let ir1 = latest_total(&dir, pid)?;
            control(pid, "-z")?;
            let m2 = load(ctx, &addr, plan, plan.k2)?;
            control(pid, "-d")?;
            let ir2 = latest_total(&dir, pid)?;
            if m2 <= m1 {
                return Err("the long load echoed no more than the short one".to_string());
            }
            Ok(
                json!({ "ir1": ir1, "ir2": ir2, "messages1": m1, "messages2": m2,
                       "ir_per_msg": (ir2 as f64 - ir1 as f64) / (m2 - m1) }),
            )
        })();
        let _ = server.kill();
        let _ = server.wait();
        res
    })();
    match r {
        Ok(v) => {
            out["ok"] = true.into();
            out["result"] = v;
        }
        Err(e) => {
            out["ok"] = false.into();
            out["error"] = e.into();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_line() {
        assert_eq!(
            parse_total("events: Ir\nsummary: 28033325\ntotals: 28033437\n"),
            Some(28033325)
        );
        assert_eq!(parse_total("events: Ir\n"), None);
    }
}
