//! The markdown report and its charts, computed from the raw run records only.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::callgrind::Plan;
use super::scenarios::{Kind, Scenario};
use super::servers::{is_tokio, Deadlines};
use crate::chart::{self, Panel, Row};
use crate::stats::Summary;

/// Facts about the run printed at the top of the report.
#[derive(Debug)]
pub struct Header {
    /// The runner's command line.
    pub command: String,
    /// UTC time stamp of the run.
    pub stamp: String,
    /// Git commit measured.
    pub commit: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPU model.
    pub cpu: String,
    /// Cores available.
    pub cores: usize,
    /// `go version`.
    pub go: String,
    /// `rustc --version`.
    pub rustc: String,
    /// Runs per server per scenario.
    pub iterations: usize,
    /// Raw results file, relative to the repository root.
    pub raw: String,
    /// What was skipped and why.
    pub skipped: Vec<String>,
    /// Wall time of the whole run.
    pub elapsed_s: f64,
    /// The callgrind measurement's parameters.
    pub cg: Plan,
    /// `/proc/loadavg` at the start and at the end of the run (other work on the machine).
    pub load_avg: Option<(String, String)>,
}

impl Header {
    /// The header as JSON, saved beside the raw results so that the report can be rewritten.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "command": self.command, "stamp": self.stamp, "commit": self.commit,
            "kernel": self.kernel, "cpu": self.cpu, "cores": self.cores, "go": self.go,
            "rustc": self.rustc, "iterations": self.iterations, "raw": self.raw,
            "skipped": self.skipped, "elapsed_s": self.elapsed_s,
            "cg": { "conns": self.cg.conns, "size": self.cg.size, "k1": self.cg.k1, "k2": self.cg.k2 },
            "load_avg": self.load_avg.as_ref().map(|(a, b)| [a, b]),
        })
    }

    /// Reads what [`Header::to_json`] wrote.
    pub fn from_json(v: &Value) -> Option<Header> {
        let s = |k: &str| v[k].as_str().map(String::from);
        Some(Header {
            command: s("command")?,
            stamp: s("stamp")?,
            commit: s("commit")?,
            kernel: s("kernel")?,
            cpu: s("cpu")?,
            cores: v["cores"].as_u64()? as usize,
            go: s("go")?,
            rustc: s("rustc")?,
            iterations: v["iterations"].as_u64()? as usize,
            raw: s("raw")?,
            skipped: v["skipped"]
                .as_array()?
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            elapsed_s: v["elapsed_s"].as_f64()?,
            cg: Plan {
                conns: v["cg"]["conns"].as_u64()? as usize,
                size: v["cg"]["size"].as_u64()? as usize,
                k1: v["cg"]["k1"].as_u64()?,
                k2: v["cg"]["k2"].as_u64()?,
            },
            load_avg: match (v["load_avg"][0].as_str(), v["load_avg"][1].as_str()) {
                (Some(a), Some(b)) => Some((a.to_string(), b.to_string())),
                _ => None,
            },
        })
    }
}

type Get = fn(&Value) -> Option<f64>;

fn ok_runs<'a>(records: &'a [Value], scenario: &str, server: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["scenario"] == scenario && r["server"] == server && r["ok"] == true)
        .collect()
}

fn values(records: &[Value], scenario: &str, server: &str, get: Get) -> Vec<f64> {
    ok_runs(records, scenario, server)
        .into_iter()
        .filter_map(get)
        .collect()
}

fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `median [min-max]`, or `-` without values.
fn spread(v: &[f64]) -> String {
    match Summary::of(v) {
        None => "-".into(),
        Some(s) if s.n == 1 => num(s.median),
        Some(s) => format!("{} [{}-{}]", num(s.median), num(s.min), num(s.max)),
    }
}

fn median(v: &[f64]) -> String {
    Summary::of(v).map_or("-".into(), |s| num(s.median))
}

const THROUGHPUT: Get = |r| r["load"]["throughput"].as_f64();
const P50: Get = |r| r["load"]["latency_us"]["p50"].as_f64();
const P99: Get = |r| r["load"]["latency_us"]["p99"].as_f64();
const P999: Get = |r| r["load"]["latency_us"]["p999"].as_f64();
const CPU_MSG: Get = |r| r["metrics"]["cpu_per_msg_us"].as_f64();
const SYS_MSG: Get = |r| r["metrics"]["syscalls_per_msg"].as_f64();
const FAIR_MM: Get = |r| r["load"]["fairness"]["max_over_min"].as_f64();
const FAIR_P: Get = |r| r["load"]["fairness"]["p90_over_p10"].as_f64();
const HWM_MIB: Get = |r| Some(r["metrics"]["vm_hwm_kib"].as_f64()? / 1024.0);
const THREADS: Get = |r| r["metrics"]["threads"].as_f64();
const CONNECT: Get = |r| r["load"]["connect_s"].as_f64();
const MEM_CONN: Get = |r| r["metrics"]["mem_per_conn_bytes"].as_f64();
const CPU_PCT: Get = |r| Some(r["metrics"]["cpu_util"].as_f64()? * 100.0);
const IDLE_CPU_PCT: Get = |r| Some(r["metrics"]["idle_cpu_util"].as_f64()? * 100.0);
const IDLE_SYS: Get = |r| r["metrics"]["syscalls_per_s"].as_f64();
const NS_OP: Get = |r| r["ns_per_op"].as_f64();
const IR_MSG: Get = |r| r["result"]["ir_per_msg"].as_f64();

fn labels(records: &[Value], scenario: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| r["scenario"] == scenario) {
        if let Some(s) = r["server"].as_str() {
            if !v.iter().any(|x| x == s) {
                v.push(s.to_string());
            }
        }
    }
    v
}

/// Per-iteration throughput lost by `label` (`x+deadline` or `x+rw-deadline`) against `x`, in
/// percent.
fn loss(records: &[Value], scenario: &str, label: &str) -> Vec<f64> {
    let (base, deadlines) = Deadlines::of_label(label);
    if deadlines == Deadlines::Off {
        return Vec::new();
    }
    let with = ok_runs(records, scenario, label);
    let without = ok_runs(records, scenario, base);
    with.iter()
        .filter_map(|w| {
            let p = without.iter().find(|p| p["iteration"] == w["iteration"])?;
            Some((1.0 - THROUGHPUT(w)? / THROUGHPUT(p)?) * 100.0)
        })
        .collect()
}

fn panel(records: &[Value], scenario: &str, title: &str, lower: bool, get: Get) -> Panel {
    Panel {
        title: title.into(),
        lower_is_better: lower,
        rows: labels(records, scenario)
            .into_iter()
            .map(|l| Row {
                values: values(records, scenario, &l, get),
                label: l,
            })
            .collect(),
    }
}

fn table(md: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    let _ = writeln!(md, "| {} |", head.join(" | "));
    let _ = writeln!(md, "|{}", head.iter().map(|_| "---|").collect::<String>());
    for r in rows {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    md.push('\n');
}

fn load_section(md: &mut String, records: &[Value], sc: &Scenario) -> Vec<Panel> {
    let deadline = sc.kind == Kind::Deadline;
    let mut head = vec![
        "server",
        "runs",
        "msg/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "CPU µs/msg",
        "syscalls/msg",
        "fairness max/min",
        "fairness p90/p10",
        "VmHWM MiB",
        "threads",
    ];
    if deadline {
        head.push("throughput loss %");
    }
    let rows = labels(records, sc.id)
        .iter()
        .map(|l| {
            let g = |f: Get| values(records, sc.id, l, f);
            let mut row = vec![
                l.clone(),
                ok_runs(records, sc.id, l).len().to_string(),
                spread(&g(THROUGHPUT)),
                spread(&g(P50)),
                spread(&g(P99)),
                median(&g(P999)),
                spread(&g(CPU_MSG)),
                spread(&g(SYS_MSG)),
                median(&g(FAIR_MM)),
                median(&g(FAIR_P)),
                median(&g(HWM_MIB)),
                whole(&g(THREADS)),
            ];
            if deadline {
                row.push(spread(&loss(records, sc.id, l)));
            }
            row
        })
        .collect();
    table(md, &head, rows);
    ratios(
        md,
        records,
        sc.id,
        ("CPU/msg", CPU_MSG),
        &[
            ("msg/s", THROUGHPUT),
            ("p50", P50),
            ("p99", P99),
            ("p99.9", P999),
            ("CPU/msg", CPU_MSG),
            ("syscalls/msg", SYS_MSG),
        ],
    );
    vec![
        panel(records, sc.id, "throughput (msg/s)", false, THROUGHPUT),
        panel(records, sc.id, "p99 latency (µs)", true, P99),
        panel(records, sc.id, "server CPU per message (µs)", true, CPU_MSG),
        panel(records, sc.id, "syscalls per message", true, SYS_MSG),
    ]
}

fn hold_section(md: &mut String, records: &[Value], sc: &Scenario) -> Vec<Panel> {
    let head = [
        "server",
        "runs",
        "connect s",
        "memory/conn B",
        "VmHWM MiB",
        "active p99 µs",
        "CPU % (active window)",
        "idle CPU %",
        "idle syscalls/s",
    ];
    let rows = labels(records, sc.id)
        .iter()
        .map(|l| {
            let g = |f: Get| values(records, sc.id, l, f);
            vec![
                l.clone(),
                ok_runs(records, sc.id, l).len().to_string(),
                median(&g(CONNECT)),
                spread(&g(MEM_CONN)),
                median(&g(HWM_MIB)),
                spread(&g(P99)),
                median(&g(CPU_PCT)),
                spread(&g(IDLE_CPU_PCT)),
                spread(&g(IDLE_SYS)),
            ]
        })
        .collect();
    table(md, &head, rows);
    ratios(
        md,
        records,
        sc.id,
        ("memory/conn", MEM_CONN),
        &[
            ("memory/conn", MEM_CONN),
            ("idle CPU", IDLE_CPU_PCT),
            ("idle syscalls/s", IDLE_SYS),
        ],
    );
    vec![
        panel(records, sc.id, "memory per connection (B)", true, MEM_CONN),
        panel(records, sc.id, "idle CPU (% of a core)", true, IDLE_CPU_PCT),
        panel(records, sc.id, "idle syscalls per second", true, IDLE_SYS),
    ]
}

/// The tokio configuration with the lowest median `cost` among the entries of `scenario` with
/// `deadlines`: the peer every netpoll entry is held to.
fn cheapest_tokio(
    records: &[Value],
    scenario: &str,
    deadlines: Deadlines,
    cost: Get,
) -> Option<String> {
    labels(records, scenario)
        .into_iter()
        .filter(|l| {
            let (base, d) = Deadlines::of_label(l);
            is_tokio(base) && d == deadlines
        })
        .filter_map(|l| Some((Summary::of(&values(records, scenario, &l, cost))?.median, l)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, l)| l)
}

/// One line per netpoll entry and peer: each metric's median divided by the peer's median.
/// The peers are the cheapest tokio configuration by `cost` (`cost_name`) and Go, each with
/// the same deadlines as the netpoll entry.
fn ratios(
    md: &mut String,
    records: &[Value],
    scenario: &str,
    (cost_name, cost): (&str, Get),
    metrics: &[(&str, Get)],
) {
    let all = labels(records, scenario);
    let med = |l: &str, g: Get| Summary::of(&values(records, scenario, l, g)).map(|s| s.median);
    let mut any = false;
    for ours in all.iter().filter(|l| l.starts_with("netpoll")) {
        let (base, deadlines) = Deadlines::of_label(ours);
        let tokio = cheapest_tokio(records, scenario, deadlines, cost);
        let go = format!("go{}", deadlines.suffix());
        // Green mode is held to our async mode with the same deadlines too (issue 13).
        let async_peer = format!("netpoll-async{}", deadlines.suffix());
        let ours_async =
            (base == "netpoll-green" && all.contains(&async_peer)).then_some(async_peer);
        for (peer, why) in [
            (ours_async, String::new()),
            (tokio, format!(" (the cheapest tokio here by {cost_name})")),
            (all.contains(&go).then_some(go), String::new()),
        ] {
            let Some(peer) = peer else { continue };
            let parts: Vec<String> = metrics
                .iter()
                .filter_map(|(name, g)| {
                    let (a, b) = (med(ours, *g)?, med(&peer, *g)?);
                    (b != 0.0).then(|| format!("{name} {:.2}x", a / b))
                })
                .collect();
            if !parts.is_empty() {
                let _ = writeln!(
                    md,
                    "- {ours} / {peer}{why} (ratio of medians): {}",
                    parts.join(", ")
                );
                any = true;
            }
        }
    }
    if any {
        md.push('\n');
    }
}

fn failures(md: &mut String, records: &[Value], scenario: &str) {
    let failed: Vec<&Value> = records
        .iter()
        .filter(|r| r["scenario"] == scenario && r["ok"] != true)
        .collect();
    for r in &failed {
        let _ = writeln!(
            md,
            "- FAILED: {} iteration {}: {}",
            r["server"], r["iteration"], r["error"]
        );
    }
    if !failed.is_empty() {
        md.push('\n');
    }
}

fn whole(v: &[f64]) -> String {
    Summary::of(v).map_or("-".into(), |s| format!("{:.0}", s.median))
}

fn svg(
    dir: &Path,
    md: &mut String,
    id: &str,
    title: &str,
    panels: &[Panel],
) -> std::io::Result<()> {
    if panels.iter().all(|p| p.rows.is_empty()) {
        return Ok(());
    }
    std::fs::write(dir.join(format!("{id}.svg")), chart::render(title, panels))?;
    let folder = dir
        .file_name()
        .map_or(String::new(), |f| f.to_string_lossy().into());
    let _ = writeln!(md, "![{id} chart]({folder}/{id}.svg)\n");
    Ok(())
}

/// Writes the report to `path` and its charts into the folder `path` without `.md`.
pub fn write(path: &Path, h: &Header, scen: &[Scenario], records: &[Value]) -> std::io::Result<()> {
    let dir = path.with_extension("");
    std::fs::create_dir_all(&dir)?;
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark suite: netpoll-echo against tokio and Go\n");
    let _ = writeln!(
        md,
        "Generated by `{}` from `{}` ({} runs per server per scenario, servers interleaved). \
         Do not edit by hand: rerun the suite.\n",
        h.command, h.raw, h.iterations
    );
    let _ = writeln!(
        md,
        "- run: {} at commit {}, {:.0} s",
        h.stamp, h.commit, h.elapsed_s
    );
    let _ = writeln!(
        md,
        "- machine: {} core(s), {}, Linux {}",
        h.cores, h.cpu, h.kernel
    );
    let _ = writeln!(
        md,
        "- {}; {}",
        h.rustc,
        if h.go.is_empty() { "no Go" } else { &h.go }
    );
    md.push_str(
        "- method: each run starts a fresh server pinned to core 0 (`taskset -c 0`) and the load \
         generator (`loadgen`) pinned to core 1. After the warm-up the runner samples the \
         server's user+system CPU (`/proc/<pid>/stat`) at the start and end of the measurement \
         window. Syscalls are counted with `perf stat -e raw_syscalls:sys_enter -p <pid>`, attached \
         when all connections are up and stopped at the end of the window (it needs part of the \
         warm-up to start counting); syscalls per message = (syscalls per second over perf's \
         own elapsed time) / (messages per second in the window). VmHWM is the server's peak RSS. Latency is in \
         microseconds from the send (open loop: from the scheduled send) to the full echo. Cells \
         read `median [min-max]` over the runs.\n",
    );
    md.push_str(
        "- caution: this VM has 2 cores and other work may have run at the same time; compare \
         servers within this run only.\n",
    );
    match &h.load_avg {
        Some((a, b)) => {
            let _ = writeln!(
                md,
                "- `/proc/loadavg` at the start: `{a}`; at the end: `{b}`"
            );
        }
        None => md.push_str("- `/proc/loadavg` was not recorded for this run\n"),
    }
    for s in &h.skipped {
        let _ = writeln!(md, "- skipped: {s}");
    }
    md.push('\n');
    for sc in scen {
        let _ = writeln!(md, "## {}\n\n{}\n", sc.title, sc.what);
        let _ = writeln!(
            md,
            "Load: `loadgen --addr ADDR {}`. Servers:\n",
            sc.load.join(" ")
        );
        for e in &sc.entries {
            let _ = writeln!(md, "- {}: `{}`", e.label, e.shown());
        }
        md.push('\n');
        let panels = match sc.kind {
            Kind::Hold => hold_section(&mut md, records, sc),
            Kind::Load | Kind::Deadline => load_section(&mut md, records, sc),
        };
        failures(&mut md, records, sc.id);
        svg(&dir, &mut md, sc.id, sc.title, &panels)?;
    }
    if records.iter().any(|r| r["scenario"] == "S4m") {
        let _ = writeln!(
            md,
            "## S4 micro-benchmark: one read-deadline reset\n\nGo: `go test -bench` \
             (bench/go/deadline_test.go); netpoll: `deadline-micro` (a connected netpoll-std \
             TcpStream). Three variants: **now+30s** (`BenchmarkSetReadDeadline`, \
             `deadline-micro`) reads the clock in every iteration and sets `now + 30 s`, as a \
             server does before every read, so the caller's own clock read (tens of ns in either \
             language) is part of both figures; **relative** is the same reset written \
             `set_read_deadline_after(30 s)` on our side (`deadline-micro --relative`; Go's side \
             is `BenchmarkSetReadDeadline` again, run separately so that each pair is adjacent); \
             **precomputed** (`BenchmarkSetReadDeadlinePrecomputed`, `deadline-micro \
             --precomputed`) reads the clock once and sets `base + i ns`, a new and strictly later \
             deadline each iteration, so only the deadline operation is timed. All pinned to core \
             0, run interleaved (Go, ours, Go, ours per variant, every iteration). Target (issue \
             12): ours at most 0.2x Go's, absolute (now+30s) and relative. Cells read `median \
             [min-max]`; the per-run ratio pairs the runs of the same iteration.\n"
        );
        let rows = labels(records, "S4m")
            .iter()
            .map(|l| vec![l.clone(), spread(&values(records, "S4m", l, NS_OP))])
            .collect();
        table(&mut md, &["implementation", "ns per reset"], rows);
        let mut ratio_rows = Vec::new();
        for v in super::micro::Variant::ALL {
            let (name, go, ours) = (v.name(), v.go_label(), v.netpoll_label());
            if let Some(mut row) = versus_go(records, "S4m", go, ours) {
                row.insert(0, name.to_string());
                ratio_rows.push(row);
            }
        }
        if !ratio_rows.is_empty() {
            table(
                &mut md,
                &[
                    "variant",
                    "Go ns",
                    "netpoll ns",
                    "netpoll / Go (medians)",
                    "netpoll / Go per run",
                ],
                ratio_rows,
            );
        }
        failures(&mut md, records, "S4m");
        let p = panel(records, "S4m", "ns per deadline reset", true, NS_OP);
        svg(
            &dir,
            &mut md,
            "S4m",
            "S4 micro-benchmark: deadline reset",
            &[p],
        )?;
    }
    if records.iter().any(|r| r["scenario"] == "S6m") {
        s6m_section(&mut md, &dir, records)?;
    }
    if records.iter().any(|r| r["scenario"] == "CG") {
        cg_section(&mut md, &dir, h, records)?;
    }
    std::fs::write(path, md)
}

/// S6m: one park/resume pair, Go's goroutines against green coroutines.
fn s6m_section(md: &mut String, dir: &Path, records: &[Value]) -> std::io::Result<()> {
    use super::switch::{GO_LABEL, NETPOLL_LABEL};
    let _ = writeln!(
        md,
        "## S6 micro-benchmark: one park/resume pair\n\nGo: `go test -bench \
         BenchmarkGoroutineSwitch` (bench/go/switch_test.go: two goroutines on one thread, \
         GOMAXPROCS=1, hand a token over unbuffered channels); netpoll: `green-switch` (two \
         green coroutines on one worker hand a token over: wake the other's waker, park). One \
         round trip is two park/resume pairs; both figures are per pair. Pinned to core 0, \
         interleaved (Go, ours, Go, ours). Cells read `median [min-max]`; the per-run ratio \
         pairs the runs of the same iteration.\n"
    );
    let row = versus_go(records, "S6m", GO_LABEL, NETPOLL_LABEL);
    table(
        md,
        &[
            "Go ns per pair",
            "netpoll ns per pair",
            "netpoll / Go (medians)",
            "netpoll / Go per run",
        ],
        row.into_iter().collect(),
    );
    failures(md, records, "S6m");
    let p = panel(records, "S6m", "ns per park/resume pair", true, NS_OP);
    svg(dir, md, "S6m", "S6 micro-benchmark: park/resume", &[p])
}

/// A micro-benchmark's Go and netpoll figures (ns per operation): `[Go, netpoll, netpoll / Go
/// of the medians, netpoll / Go per run (runs of the same iteration paired)]`; `None` if
/// either side has no result.
fn versus_go(records: &[Value], scenario: &str, go: &str, ours: &str) -> Option<Vec<String>> {
    let g = values(records, scenario, go, NS_OP);
    let n = values(records, scenario, ours, NS_OP);
    if g.is_empty() || n.is_empty() {
        return None;
    }
    Some(vec![
        spread(&g),
        spread(&n),
        ratio_of_medians(&n, &g),
        per_run_ratio(records, scenario, ours, go, NS_OP),
    ])
}

/// Ratio of medians `a / b` as `0.00`, or `-`.
fn ratio_of_medians(a: &[f64], b: &[f64]) -> String {
    match (Summary::of(a), Summary::of(b)) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}", a.median / b.median),
        _ => "-".into(),
    }
}

/// The per-iteration ratios `ours / peer` (runs of the same iteration paired), as
/// `median [min-max]`.
fn per_run_ratio(records: &[Value], scenario: &str, ours: &str, peer: &str, get: Get) -> String {
    let peer_runs = ok_runs(records, scenario, peer);
    let v: Vec<f64> = ok_runs(records, scenario, ours)
        .iter()
        .filter_map(|o| {
            let p = peer_runs
                .iter()
                .find(|p| p["iteration"] == o["iteration"])?;
            let (a, b) = (get(o)?, get(p)?);
            (b > 0.0).then(|| a / b)
        })
        .collect();
    match Summary::of(&v) {
        None => "-".into(),
        Some(s) if s.n == 1 => format!("{:.2}", s.median),
        Some(s) => format!("{:.2} [{:.2}-{:.2}]", s.median, s.min, s.max),
    }
}

/// CG: instructions per message, each netpoll entry against the cheapest tokio configuration
/// with the same deadlines and, with deadlines, against its own plain run.
fn cg_section(md: &mut String, dir: &Path, h: &Header, records: &[Value]) -> std::io::Result<()> {
    let _ = writeln!(
        md,
        "## User-space instructions per echoed message (callgrind)\n\nServer under `valgrind \
         --tool=callgrind` on core 0; closed loop, {} connections x {} B. Counters are zeroed, \
         {} messages per connection are echoed and dumped, then again with {}; Ir per message \
         = (Ir2 - Ir1) / (messages2 - messages1), so connection set-up cancels out. The count is \
         deterministic for a given interleaving, but how many connections each `epoll_wait` \
         returns depends on how the two cores interleave (other work on the machine moves it \
         by up to 15%), so every server runs once per iteration, interleaved, and cells read \
         `median [min-max]`. Each netpoll entry is held to the cheapest tokio configuration \
         with the same deadlines (lowest median Ir per message); per-run ratios pair the runs \
         of one iteration. Targets: netpoll-async at most 0.75x the cheapest tokio; \
         netpoll-async+deadline (a read deadline reset before every read) at most 1.10x \
         netpoll-async.\n",
        h.cg.conns, h.cg.size, h.cg.k1, h.cg.k2
    );
    let all = labels(records, "CG");
    let ir = |l: &str| values(records, "CG", l, IR_MSG);
    let rows = all
        .iter()
        .map(|l| {
            let v = ir(l);
            let (base, deadlines) = Deadlines::of_label(l);
            let mut row = vec![l.clone(), v.len().to_string(), spread(&v)];
            if l.starts_with("netpoll") {
                match cheapest_tokio(records, "CG", deadlines, IR_MSG) {
                    Some(t) => {
                        row.push(format!("{t}: {}", ratio_of_medians(&v, &ir(&t))));
                        row.push(per_run_ratio(records, "CG", l, &t, IR_MSG));
                    }
                    None => row.extend(["-".to_string(), "-".to_string()]),
                }
                row.push(if deadlines == Deadlines::Off {
                    "-".into()
                } else {
                    format!(
                        "{} [per run {}]",
                        ratio_of_medians(&v, &ir(base)),
                        per_run_ratio(records, "CG", l, base, IR_MSG)
                    )
                });
            } else {
                row.extend(["-".to_string(), "-".to_string(), "-".to_string()]);
            }
            row
        })
        .collect();
    table(
        md,
        &[
            "server",
            "runs",
            "Ir per message",
            "/ cheapest tokio (medians)",
            "/ that tokio per run",
            "/ own plain run",
        ],
        rows,
    );
    failures(md, records, "CG");
    let p = panel(records, "CG", "instructions per message", true, IR_MSG);
    svg(
        dir,
        md,
        "CG",
        "User-space instructions per echoed message",
        &[p],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cg(server: &str, it: u64, ir: f64) -> Value {
        json!({ "scenario": "CG", "server": server, "iteration": it, "ok": true,
                "result": { "ir_per_msg": ir } })
    }

    #[test]
    fn the_cheapest_tokio_has_the_same_deadlines() {
        let r = vec![
            cg("tokio-ct", 0, 1300.0),
            cg("tokio-mt1", 0, 1100.0),
            cg("tokio-ct+deadline", 0, 1500.0),
            cg("tokio-mt1+deadline", 0, 1600.0),
            cg("go", 0, 900.0),
            cg("netpoll-async", 0, 800.0),
        ];
        assert_eq!(
            cheapest_tokio(&r, "CG", Deadlines::Off, IR_MSG).as_deref(),
            Some("tokio-mt1")
        );
        assert_eq!(
            cheapest_tokio(&r, "CG", Deadlines::Read, IR_MSG).as_deref(),
            Some("tokio-ct+deadline")
        );
        assert_eq!(cheapest_tokio(&r, "CG", Deadlines::ReadWrite, IR_MSG), None);
        assert_eq!(
            per_run_ratio(&r, "CG", "netpoll-async", "tokio-mt1", IR_MSG),
            "0.73"
        );
    }

    #[test]
    fn ratios_name_the_peer() {
        let r = vec![
            cg("tokio-ct", 0, 1300.0),
            cg("tokio-mt1", 0, 1000.0),
            cg("go", 0, 2000.0),
            cg("netpoll-async", 0, 750.0),
        ];
        let mut md = String::new();
        ratios(&mut md, &r, "CG", ("Ir", IR_MSG), &[("Ir", IR_MSG)]);
        assert!(md.contains(
            "netpoll-async / tokio-mt1 (the cheapest tokio here by Ir) (ratio of medians): Ir 0.75x"
        ));
        assert!(md.contains("netpoll-async / go (ratio of medians): Ir 0.38x"));
    }
}
