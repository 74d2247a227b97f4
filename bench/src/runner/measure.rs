//! One measured run: start a server pinned to core 0, drive it with the load generator pinned to
//! core 1, and sample the server at the load generator's phase marks.
//!
//! CPU time comes from `/proc/<pid>/stat` (user and system, all threads), memory from
//! `/proc/<pid>/status` (`VmRSS` at each mark, `VmHWM` at the end), syscalls from
//! `perf stat -e raw_syscalls:sys_enter -p <pid>` attached over the measurement window.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::servers::{spawn_pinned, Entry};
use crate::proc::{cpu_times, signal, status_kib, wait_listening, CpuTimes};

/// What every run shares.
#[derive(Debug)]
pub struct Ctx {
    /// The load generator binary.
    pub loadgen: PathBuf,
    /// Where server logs go.
    pub log_dir: PathBuf,
    /// Whether `perf stat` works here.
    pub perf: bool,
    /// Next listen port (one fresh port per run, so no run waits for another's TIME_WAIT).
    pub port: u16,
}

impl Ctx {
    /// A fresh loopback address.
    pub fn next_addr(&mut self) -> String {
        self.port = if self.port >= 30_000 {
            20_000
        } else {
            self.port + 1
        };
        format!("127.0.0.1:{}", self.port)
    }
}

/// One run of one server under one load.
#[derive(Debug)]
pub struct Run<'a> {
    /// Scenario id.
    pub scenario: &'a str,
    /// Server to start.
    pub entry: &'a Entry,
    /// Load generator arguments (without `--addr`).
    pub load: &'a [String],
    /// Marks between which `perf` counts syscalls.
    pub perf_window: (&'a str, &'a str),
    /// Iteration number.
    pub iteration: usize,
}

#[derive(Debug, Clone, Copy)]
struct Snap {
    t: Instant,
    cpu: Option<CpuTimes>,
    rss_kib: Option<u64>,
}

/// Whether `perf stat -e raw_syscalls:sys_enter` works on this machine.
pub fn perf_works() -> bool {
    Command::new("perf")
        .args(["stat", "-e", "raw_syscalls:sys_enter", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Attaches `perf stat` to `pid`. perf takes a while to start counting (longer on a busy
/// machine), so the runner starts it ahead of the window it measures and divides the count by
/// perf's own elapsed time: the result is a rate, syscalls per second, not a window total.
fn start_perf(pid: u32, out: &Path) -> Option<Child> {
    Command::new("perf")
        .args([
            "stat",
            "-e",
            "raw_syscalls:sys_enter",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn stop(child: &mut Child, sig: libc::c_int) {
    let _ = signal(child.id(), sig);
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Parses `perf stat` text output: (syscall count, seconds elapsed). perf reports a counter of a
/// process that never ran during the window as `<not counted>`: that is zero syscalls.
pub fn parse_perf(text: &str) -> Option<(u64, f64)> {
    let line = text
        .lines()
        .find(|l| l.contains("raw_syscalls:sys_enter"))?;
    let count = if line.contains("<not counted>") {
        0
    } else {
        line.split_whitespace()
            .next()?
            .replace([',', '.'], "")
            .parse()
            .ok()?
    };
    let secs = text
        .lines()
        .find(|l| l.contains("seconds time elapsed"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((count, secs))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Runs it; the result always has `ok`, and `error` when not ok.
pub fn run_one(ctx: &mut Ctx, r: &Run<'_>) -> Value {
    let addr = ctx.next_addr();
    let mut out = json!({
        "scenario": r.scenario, "server": r.entry.label, "iteration": r.iteration,
        "server_cmd": r.entry.shown(), "load_args": r.load.join(" "),
    });
    match measured(ctx, r, &addr) {
        Ok((load, server)) => {
            out["ok"] = true.into();
            out["load"] = load;
            out["metrics"] = server;
        }
        Err(e) => {
            out["ok"] = false.into();
            out["error"] = e.into();
        }
    }
    out
}

fn measured(ctx: &Ctx, r: &Run<'_>, addr: &str) -> Result<(Value, Value), String> {
    let log = ctx.log_dir.join(format!(
        "{}-{}-{}.log",
        r.scenario, r.entry.label, r.iteration
    ));
    let _ = std::fs::remove_file(&log);
    let mut server = spawn_pinned(0, &r.entry.argv(addr), &log)
        .map_err(|e| format!("cannot start {}: {e}", r.entry.label))?;
    let result = drive(ctx, r, addr, &mut server, &log);
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn drive(
    ctx: &Ctx,
    r: &Run<'_>,
    addr: &str,
    server: &mut Child,
    log: &Path,
) -> Result<(Value, Value), String> {
    let pid = server.id();
    let sock = addr.parse().map_err(|_| "bad address".to_string())?;
    if !wait_listening(sock, Duration::from_secs(15)) {
        return Err(format!(
            "server did not listen within 15 s; log: {}",
            tail(log)
        ));
    }
    let rss_before = status_kib(pid, "VmRSS").ok();
    let mut lg = Command::new("taskset")
        .args(["-c", *super::servers::CLIENT_CORE])
        .arg(&ctx.loadgen)
        .args(["--addr", addr])
        .args(r.load)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start loadgen: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let stderr = lg.stderr.take().ok_or("no loadgen stderr")?;
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    let perf_out = ctx.log_dir.join(format!("perf-{}.txt", ctx.port));
    let mut perf: Option<Child> = None;
    let mut marks: HashMap<String, Snap> = HashMap::new();
    let mut messages = Vec::new();
    for (line, t) in rx {
        let Some(name) = line.strip_prefix("mark ") else {
            messages.push(line);
            continue;
        };
        let snap = Snap {
            t,
            cpu: cpu_times(pid).ok(),
            rss_kib: status_kib(pid, "VmRSS").ok(),
        };
        if name == r.perf_window.0 && ctx.perf {
            let _ = std::fs::remove_file(&perf_out);
            perf = start_perf(pid, &perf_out);
        }
        if name == r.perf_window.1 {
            if let Some(mut p) = perf.take() {
                stop(&mut p, libc::SIGINT);
            }
        }
        marks.insert(name.to_string(), snap);
    }
    let _ = reader.join();
    if let Some(mut p) = perf.take() {
        stop(&mut p, libc::SIGINT);
    }
    let mut stdout = String::new();
    if let Some(mut s) = lg.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    let status = lg.wait().map_err(|e| format!("loadgen: {e}"))?;
    let hwm = status_kib(pid, "VmHWM").ok();
    let threads = status_kib(pid, "Threads").ok();
    if let Ok(Some(st)) = server.try_wait() {
        return Err(format!(
            "server exited during the run ({st}); log: {}",
            tail(log)
        ));
    }
    let load: Value = serde_json::from_str(stdout.trim()).map_err(|_| {
        format!(
            "loadgen printed no JSON ({status}): {}",
            messages.join(" | ")
        )
    })?;
    if !status.success() {
        return Err(format!(
            "loadgen failed ({status}): {}",
            messages.join(" | ")
        ));
    }
    let perf = if ctx.perf {
        std::fs::read_to_string(&perf_out)
            .ok()
            .and_then(|t| parse_perf(&t))
    } else {
        None
    };
    Ok((
        load.clone(),
        metrics(&load, &marks, rss_before, hwm, threads, perf, r.perf_window),
    ))
}

fn metrics(
    load: &Value,
    marks: &HashMap<String, Snap>,
    rss_before: Option<u64>,
    hwm: Option<u64>,
    threads: Option<u64>,
    perf: Option<(u64, f64)>,
    perf_window: (&str, &str),
) -> Value {
    let window = |a: &str, b: &str| -> Option<(f64, CpuTimes)> {
        let (a, b) = (marks.get(a)?, marks.get(b)?);
        Some((b.t.duration_since(a.t).as_secs_f64(), b.cpu?.since(a.cpu?)))
    };
    let throughput = load["throughput"].as_f64().unwrap_or(0.0);
    let conns = load["conns"].as_f64().unwrap_or(0.0);
    let mut m = json!({
        "threads": threads, "vm_hwm_kib": hwm, "rss_before_kib": rss_before,
    });
    if let Some((secs, cpu)) = window("measure-start", "measure-end") {
        let msgs = throughput * secs;
        m["window_s"] = secs.into();
        m["cpu_user_s"] = cpu.user.into();
        m["cpu_sys_s"] = cpu.system.into();
        m["cpu_util"] = (cpu.total() / secs).into();
        if msgs > 0.0 {
            m["cpu_per_msg_us"] = (cpu.total() / msgs * 1e6).into();
        }
    }
    if let Some((secs, cpu)) = window("idle-start", "idle-end") {
        m["idle_window_s"] = secs.into();
        m["idle_cpu_util"] = (cpu.total() / secs).into();
    }
    if let (Some(before), Some(loaded)) =
        (rss_before, marks.get("idle-start").and_then(|s| s.rss_kib))
    {
        m["rss_loaded_kib"] = loaded.into();
        if conns > 0.0 {
            m["mem_per_conn_bytes"] = ((loaded as f64 - before as f64) * 1024.0 / conns).into();
        }
    }
    if let Some((count, secs)) = perf {
        m["syscalls"] = count.into();
        m["perf_s"] = secs.into();
        let per_s = count as f64 / secs.max(1e-9);
        m["syscalls_per_s"] = per_s.into();
        if perf_window.0 == "connected" && throughput > 0.0 {
            m["syscalls_per_msg"] = (per_s / throughput).into();
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_output() {
        let t = "\n Performance counter stats for process id '7':\n\n         1,234,567      raw_syscalls:sys_enter\n\n       3.001234567 seconds time elapsed\n";
        assert_eq!(parse_perf(t), Some((1_234_567, 3.001234567)));
        assert_eq!(parse_perf("nothing"), None);
        let idle =
            "     <not counted>      raw_syscalls:sys_enter\n\n       0.397 seconds time elapsed\n";
        assert_eq!(parse_perf(idle), Some((0, 0.397)));
    }
}
