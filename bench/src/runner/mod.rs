//! The runner: builds the servers and the load generator, runs every scenario with the servers
//! interleaved (A B C A B C ...), and writes raw JSON results and a markdown report with charts.
//!
//! Pinning: servers run on core 0, the load generator on core 1 (`taskset`). Each run starts a
//! fresh server process on a fresh port.

pub mod callgrind;
pub mod measure;
pub mod micro;
pub mod report;
pub mod scenarios;
pub mod servers;
pub mod switch;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{Cli, Flag, Values};
use measure::{Ctx, Run};
use scenarios::{Scale, Scenario};
use servers::{Entry, ServerSpec};

/// Runner options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds-long CI run: one iteration, tiny scale, output under `target/bench-smoke`.
    pub smoke: bool,
    /// Scenario ids to run.
    pub scenarios: Vec<String>,
    /// Runs per server per scenario.
    pub iterations: usize,
    /// Callgrind runs per server (interleaved).
    pub cg_iterations: usize,
    /// Only these servers (names from the catalogue), if given.
    pub servers: Option<Vec<String>>,
    /// Scale of the load scenarios.
    pub scale: Scale,
    /// Skip building (use what is in the target folder).
    pub no_build: bool,
    /// Raw results folder.
    pub out: Option<PathBuf>,
    /// Markdown report path (charts go into a folder of the same name without `.md`).
    pub report: Option<PathBuf>,
    /// Run nothing: rewrite the report from this earlier `runs.jsonl`.
    pub from: Option<PathBuf>,
}

/// The runner's command line (`runner --help` prints it with every default).
pub fn cli() -> Cli {
    Cli {
        name: "runner",
        about: "The benchmark runner: builds the servers, runs the scenarios interleaved \
                (A B A B ...) and writes the raw results and a Markdown report.",
        flags: vec![
            Flag::switch(
                "smoke",
                "a seconds-long CI run: one iteration, tiny scale (its defaults in parentheses)",
            ),
            Flag::value(
                "scenario",
                "all|S1,S2,...",
                "all",
                "scenarios to run (S1,S2,S3c,S3o,S4,S4m,S5,S6m,CG), any case",
            ),
            Flag::value(
                "iterations",
                "N",
                5,
                "runs per server per scenario (smoke: 1)",
            ),
            Flag::value(
                "cg-iterations",
                "N",
                3,
                "callgrind runs per server, interleaved (smoke: 1)",
            ),
            Flag::optional(
                "servers",
                "LIST",
                "only these (tokio-ct,tokio-mt1,tokio-mt,go,netpoll-async,netpoll-green,\
                 netpoll-blocking); default: all",
            ),
            Flag::value(
                "warmup",
                "SECONDS",
                0.5,
                "load before each window (smoke: 0.05)",
            ),
            Flag::value(
                "duration",
                "SECONDS",
                3,
                "each measurement window (smoke: 0.2)",
            ),
            Flag::value(
                "open-rate",
                "MSG/S",
                5000,
                "the open-loop scenario's rate (smoke: 2000)",
            ),
            Flag::value(
                "idle-conns",
                "N",
                15_000,
                "connections held idle in S5 (smoke: 500)",
            ),
            Flag::value("idle", "SECONDS", 3, "how long S5 holds them (smoke: 0.2)"),
            Flag::switch("no-build", "use the binaries already in the target folder"),
            Flag::optional(
                "out",
                "DIR",
                "raw results folder (default: bench/results/STAMP, smoke: target/bench-smoke)",
            ),
            Flag::optional(
                "report",
                "FILE.md",
                "the Markdown report (default: in the results folder)",
            ),
            Flag::optional(
                "from",
                "RUNS.jsonl",
                "run nothing: rewrite the report from an earlier runs.jsonl",
            ),
        ],
    }
}

impl Options {
    /// Reads the parsed command line.
    pub fn from_args(a: &Values) -> Result<Options, String> {
        let smoke = a.given("smoke");
        let list = |s: String| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .collect::<Vec<_>>()
        };
        let scen: String = a.get("scenario")?;
        let scenarios = if scen.eq_ignore_ascii_case("all") {
            scenarios::ALL.iter().map(|s| s.to_string()).collect()
        } else {
            // Case-insensitive (`s4m` is `S4m`), stored under the catalogue's spelling.
            let mut v = Vec::new();
            for s in list(scen) {
                match scenarios::ALL.iter().find(|k| k.eq_ignore_ascii_case(&s)) {
                    Some(k) => v.push(k.to_string()),
                    None => {
                        return Err(format!(
                            "unknown scenario {s}; known: {}",
                            scenarios::ALL.join(",")
                        ))
                    }
                }
            }
            v
        };
        // With --smoke, a flag not given takes its smoke value instead of its default.
        let pick = |name: &str, smoke_value: f64| -> Result<f64, String> {
            if smoke && !a.given(name) {
                Ok(smoke_value)
            } else {
                a.get(name)
            }
        };
        let o = Options {
            smoke,
            scenarios,
            iterations: if smoke && !a.given("iterations") {
                1
            } else {
                a.get("iterations")?
            },
            cg_iterations: if smoke && !a.given("cg-iterations") {
                1
            } else {
                a.get("cg-iterations")?
            },
            servers: a.opt::<String>("servers")?.map(list),
            scale: Scale {
                warmup: pick("warmup", 0.05)?,
                duration: pick("duration", 0.2)?,
                open_rate: pick("open-rate", 2000.0)?,
                idle_conns: if smoke && !a.given("idle-conns") {
                    500
                } else {
                    a.get("idle-conns")?
                },
                idle: pick("idle", 0.2)?,
            },
            no_build: a.given("no-build"),
            out: a.opt::<String>("out")?.map(PathBuf::from),
            report: a.opt::<String>("report")?.map(PathBuf::from),
            from: a.opt::<String>("from")?.map(PathBuf::from),
        };
        Values::check("iterations", o.iterations >= 1, "at least 1")?;
        Values::check("cg-iterations", o.cg_iterations >= 1, "at least 1")?;
        Ok(o)
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Into::into)
}

fn bin_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("release")
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn sh(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Starts netpoll-echo once to see whether it serves (it may still be a placeholder).
fn netpoll_echo_serves(bin: &Path, log_dir: &Path) -> Result<(), String> {
    let p = bin.join("netpoll-echo");
    if !p.exists() {
        return Err(format!("{} was not built", p.display()));
    }
    let addr = "127.0.0.1:19999";
    let argv = [
        p.display().to_string(),
        "--addr".into(),
        addr.into(),
        "--mode".into(),
        "async".into(),
    ];
    let mut c = servers::spawn_pinned(0, &argv, &log_dir.join("netpoll-echo-probe.log"))
        .map_err(|e| e.to_string())?;
    let ok = crate::proc::wait_listening(
        addr.parse().map_err(|_| "bad address")?,
        Duration::from_secs(3),
    );
    let _ = c.kill();
    let _ = c.wait();
    if ok {
        Ok(())
    } else {
        Err("`netpoll-echo --addr 127.0.0.1:19999 --mode async` did not listen within 3 s".into())
    }
}

/// What was found and built before the runs.
struct Setup {
    specs: Vec<ServerSpec>,
    skipped: Vec<String>,
    deadline_micro: Option<PathBuf>,
    green_switch: Option<PathBuf>,
    go_dir: Option<PathBuf>,
    ctx: Ctx,
    callgrind: bool,
}

fn setup(o: &Options, root: &Path, log_dir: PathBuf) -> Result<Setup, String> {
    let bin = bin_dir(root);
    let mut skipped = Vec::new();
    let io = |e: std::io::Error| e.to_string();
    if !o.no_build
        && !servers::build(
            root,
            "cargo",
            &["build", "--release", "-p", "netpoll-bench", "--bins"],
        )
        .map_err(io)?
    {
        return Err("building netpoll-bench failed".into());
    }
    let go_dir = root.join("bench/go");
    let go_echo = bin.join("go-echo");
    let go = if !have("go", "version") {
        skipped.push("go: the `go` command is not installed (apt-get install golang-go)".into());
        None
    } else if !o.no_build
        && !servers::build(
            &go_dir,
            "go",
            &["build", "-o", &go_echo.display().to_string(), "."],
        )
        .map_err(io)?
    {
        skipped.push("go: `go build` of bench/go failed".into());
        None
    } else if go_echo.exists() {
        Some(go_echo)
    } else {
        skipped.push("go: go-echo not built".into());
        None
    };
    let np_built = o.no_build
        || servers::build(
            root,
            "cargo",
            &[
                "build",
                "--release",
                "-p",
                "netpoll-std",
                "--bin",
                "netpoll-echo",
            ],
        )
        .map_err(io)?;
    let np = match (np_built, netpoll_echo_serves(&bin, &log_dir)) {
        (false, _) => {
            skipped.push(
                "netpoll-async, netpoll-green, netpoll-blocking: netpoll-echo does not build"
                    .into(),
            );
            false
        }
        (true, Err(e)) => {
            skipped.push(format!(
                "netpoll-async, netpoll-green, netpoll-blocking: {e}"
            ));
            false
        }
        (true, Ok(())) => true,
    };
    let micro_built = o.no_build
        || servers::build(
            root,
            "cargo",
            &[
                "build",
                "--release",
                "-p",
                "netpoll-bench",
                "--features",
                "netpoll",
                "--bin",
                "deadline-micro",
                "--bin",
                "green-switch",
            ],
        )
        .map_err(io)?;
    let gs = bin.join("green-switch");
    let green_switch = (micro_built && gs.exists()).then_some(gs);
    if green_switch.is_none() {
        skipped.push("S6m netpoll side: green-switch (netpoll-std) does not build".into());
    }
    let dm = bin.join("deadline-micro");
    let deadline_micro = (micro_built && dm.exists()).then_some(dm);
    if deadline_micro.is_none() {
        skipped.push("S4m netpoll side: deadline-micro (netpoll-std) does not build".into());
    }
    let have_go = go.is_some();
    let mut specs = servers::catalogue(&bin, go, np);
    if let Some(only) = &o.servers {
        specs.retain(|s| only.iter().any(|n| n == s.name));
    }
    let perf = measure::perf_works();
    if !perf {
        skipped.push(
            "syscall counts: `perf stat -e raw_syscalls:sys_enter` does not work here".into(),
        );
    }
    let callgrind = callgrind::available();
    if !callgrind {
        skipped.push("CG: valgrind/callgrind_control not installed".into());
    }
    let loadgen = bin.join("loadgen");
    if !loadgen.exists() {
        return Err(format!(
            "{} is missing (run without --no-build)",
            loadgen.display()
        ));
    }
    Ok(Setup {
        specs,
        skipped,
        go_dir: have_go.then_some(go_dir),
        deadline_micro,
        green_switch,
        ctx: Ctx {
            loadgen,
            log_dir,
            perf,
            port: 20_000,
        },
        callgrind,
    })
}

fn progress(v: &Value) {
    let l = &v["load"];
    if v["ok"] == true {
        eprintln!(
            "  {:<24} it{} {:>10.0} msg/s  p50 {:>9.1} us  p99 {:>9.1} us  cpu/msg {:>6.2} us  sys/msg {}",
            v["server"].as_str().unwrap_or("?"),
            v["iteration"],
            l["throughput"].as_f64().unwrap_or(f64::NAN),
            l["latency_us"]["p50"].as_f64().unwrap_or(f64::NAN),
            l["latency_us"]["p99"].as_f64().unwrap_or(f64::NAN),
            v["metrics"]["cpu_per_msg_us"].as_f64().unwrap_or(f64::NAN),
            v["metrics"]["syscalls_per_msg"].as_f64().map_or("-".into(), |x| format!("{x:.2}")),
        );
    } else {
        eprintln!(
            "  {:<24} FAILED: {}",
            v["server"].as_str().unwrap_or("?"),
            v["error"]
        );
    }
}

/// Rewrites the report from the records of an earlier run (after a change to the report's
/// layout), without running anything.
fn regenerate(o: &Options, from: &Path) -> Result<bool, String> {
    let root = root();
    let text = std::fs::read_to_string(from).map_err(|e| format!("{}: {e}", from.display()))?;
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let bin = bin_dir(&root);
    let specs = servers::catalogue(&bin, Some(bin.join("go-echo")), true);
    let mut scen: Vec<Scenario> = scenarios::load_scenarios(&specs, &o.scale);
    for sc in &mut scen {
        sc.entries.retain(|e| {
            records
                .iter()
                .any(|r| r["scenario"] == sc.id && r["server"] == e.label.as_str())
        });
        if let Some(r) = records.iter().find(|r| r["scenario"] == sc.id) {
            if let Some(a) = r["load_args"].as_str() {
                sc.load = a.split_whitespace().map(String::from).collect();
            }
        }
    }
    scen.retain(|sc| !sc.entries.is_empty());
    let meta_path = from.with_file_name("meta.json");
    let meta: Value = std::fs::read_to_string(&meta_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| format!("{} is missing", meta_path.display()))?;
    let header = report::Header::from_json(&meta)
        .ok_or_else(|| format!("{} is incomplete", meta_path.display()))?;
    let report_path = o
        .report
        .clone()
        .unwrap_or_else(|| root.join("docs/benchmarks-suite.md"));
    report::write(&report_path, &header, &scen, &records).map_err(|e| format!("report: {e}"))?;
    eprintln!("runner: report rewritten in {}", report_path.display());
    Ok(true)
}

/// Runs everything `o` asks for; `Ok(true)` when every run succeeded.
pub fn run(o: &Options) -> Result<bool, String> {
    if let Some(from) = &o.from {
        return regenerate(o, from);
    }
    let started = Instant::now();
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let load_start = loadavg();
    let root = root();
    let stamp = sh("date", &["-u", "+%Y%m%dT%H%M%SZ"]);
    let out = o.out.clone().unwrap_or_else(|| {
        if o.smoke {
            root.join("target/bench-smoke")
        } else {
            root.join("bench/results").join(&stamp)
        }
    });
    let report_path = o.report.clone().unwrap_or_else(|| {
        if o.smoke {
            out.join("report.md")
        } else {
            root.join("docs/benchmarks-suite.md")
        }
    });
    let log_dir = root.join("target/bench-logs");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::create_dir_all(&log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let mut s = setup(o, &root, log_dir)?;
    for m in &s.skipped {
        eprintln!("runner: SKIPPED {m}");
    }
    let raw_path = out.join("runs.jsonl");
    let mut raw =
        std::fs::File::create(&raw_path).map_err(|e| format!("{}: {e}", raw_path.display()))?;
    let mut records: Vec<Value> = Vec::new();
    let mut record = |v: Value, records: &mut Vec<Value>| {
        let _ = writeln!(raw, "{v}");
        records.push(v);
    };
    let wanted = |id: &str| o.scenarios.iter().any(|s| s == id);
    let scen: Vec<Scenario> = scenarios::load_scenarios(&s.specs, &o.scale)
        .into_iter()
        .filter(|sc| wanted(sc.id))
        .collect();
    for sc in &scen {
        eprintln!("runner: [{:.0} s]", started.elapsed().as_secs_f64());
        eprintln!(
            "runner: {} ({} servers x {} iterations)",
            sc.title,
            sc.entries.len(),
            o.iterations
        );
        for it in 0..o.iterations {
            for e in &sc.entries {
                let v = measure::run_one(
                    &mut s.ctx,
                    &Run {
                        scenario: sc.id,
                        entry: e,
                        load: &sc.load,
                        perf_window: sc.perf_window,
                        iteration: it,
                    },
                );
                progress(&v);
                record(v, &mut records);
            }
        }
    }
    if wanted("S4m") {
        eprintln!("runner: [{:.0} s]", started.elapsed().as_secs_f64());
        eprintln!("runner: S4m deadline-reset micro-benchmark");
        let iters = if o.smoke { 20_000 } else { 2_000_000 };
        // Interleaved: Go, ours, Go, ours, ... for each variant in turn, every iteration.
        for it in 0..o.iterations {
            for variant in micro::Variant::ALL {
                if let Some(d) = &s.go_dir {
                    let mut v = micro::go(d, iters, variant);
                    v["scenario"] = "S4m".into();
                    v["server"] = variant.go_label().into();
                    v["iteration"] = it.into();
                    eprintln!("  {:<40} {}", variant.go_label(), v);
                    record(v, &mut records);
                }
                if let Some(b) = &s.deadline_micro {
                    let mut v = micro::netpoll(b, iters, variant);
                    v["scenario"] = "S4m".into();
                    v["server"] = variant.netpoll_label().into();
                    v["iteration"] = it.into();
                    eprintln!("  {:<40} {}", variant.netpoll_label(), v);
                    record(v, &mut records);
                }
            }
        }
    }
    let cg_plan = if o.smoke {
        callgrind::Plan {
            conns: 10,
            size: 64,
            k1: 10,
            k2: 30,
        }
    } else {
        callgrind::Plan {
            conns: 100,
            size: 64,
            k1: 200,
            k2: 1000,
        }
    };
    if wanted("S6m") {
        eprintln!("runner: [{:.0} s]", started.elapsed().as_secs_f64());
        eprintln!("runner: S6m park/resume micro-benchmark");
        let iters = if o.smoke { 20_000 } else { 2_000_000 };
        // Interleaved: Go, ours, Go, ours, ...
        for it in 0..o.iterations {
            if let Some(d) = &s.go_dir {
                let mut v = switch::go(d, iters);
                v["scenario"] = "S6m".into();
                v["server"] = switch::GO_LABEL.into();
                v["iteration"] = it.into();
                eprintln!("  {:<40} {}", switch::GO_LABEL, v);
                record(v, &mut records);
            }
            if let Some(b) = &s.green_switch {
                let mut v = switch::netpoll(b, iters);
                v["scenario"] = "S6m".into();
                v["server"] = switch::NETPOLL_LABEL.into();
                v["iteration"] = it.into();
                eprintln!("  {:<40} {}", switch::NETPOLL_LABEL, v);
                record(v, &mut records);
            }
        }
    }
    if wanted("CG") && s.callgrind {
        eprintln!("runner: [{:.0} s]", started.elapsed().as_secs_f64());
        eprintln!("runner: CG instructions per message under callgrind");
        // Every configuration plain; with deadlines (read, and read + write) all but tokio's
        // default multi-thread runtime (callgrind runs one thread at a time, so its second
        // worker only adds hand-offs) and the thread-per-connection server.
        let mut entries: Vec<Entry> = Vec::new();
        for spec in &s.specs {
            entries.push(Entry::plain(spec));
            if spec.name != "tokio-mt" && spec.name != "netpoll-blocking" {
                entries.extend(Entry::with_deadline(spec));
                entries.extend(Entry::with_rw_deadline(spec));
            }
        }
        if o.smoke {
            entries.truncate(1);
        }
        for it in 0..o.cg_iterations {
            for e in &entries {
                let mut v = callgrind::measure(&mut s.ctx, e, &cg_plan);
                v["iteration"] = it.into();
                eprintln!(
                    "  {:<28} it{} {}",
                    e.label,
                    it,
                    if v["ok"] == true {
                        v["result"]["ir_per_msg"].to_string()
                    } else {
                        v["error"].to_string()
                    }
                );
                record(v, &mut records);
            }
        }
    }
    let header = report::Header {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        stamp,
        commit: sh(
            "git",
            &[
                "-C",
                &root.display().to_string(),
                "rev-parse",
                "--short",
                "HEAD",
            ],
        ),
        kernel: sh("uname", &["-r"]),
        cpu: std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_default(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        go: sh("go", &["version"]),
        rustc: sh("rustc", &["--version"]),
        iterations: o.iterations,
        raw: raw_path
            .strip_prefix(&root)
            .unwrap_or(&raw_path)
            .display()
            .to_string(),
        skipped: s.skipped.clone(),
        elapsed_s: started.elapsed().as_secs_f64(),
        cg: cg_plan,
        load_avg: Some((load_start, loadavg())),
    };
    let meta = out.join("meta.json");
    std::fs::write(&meta, format!("{}\n", header.to_json()))
        .map_err(|e| format!("{}: {e}", meta.display()))?;
    report::write(&report_path, &header, &scen, &records).map_err(|e| format!("report: {e}"))?;
    eprintln!(
        "runner: raw results in {}, report in {}",
        raw_path.display(),
        report_path.display()
    );
    let failed = records.iter().filter(|r| r["ok"] != true).count();
    if failed > 0 {
        eprintln!("runner: {failed} runs FAILED");
    }
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(argv: &[&str]) -> Result<Options, String> {
        match cli().parse(argv.iter().map(std::ffi::OsString::from))? {
            crate::cli::Parsed::Run(v) => Options::from_args(&v),
            crate::cli::Parsed::Help(_) => Err("help".into()),
        }
    }

    #[test]
    fn smoke_values_unless_given() {
        let o = opts(&["--smoke"]).unwrap();
        assert_eq!(o.iterations, 1);
        assert_eq!(o.scale.duration, 0.2);
        let o = opts(&["--smoke", "--duration=1.5", "--iterations", "2"]).unwrap();
        assert_eq!((o.iterations, o.scale.duration), (2, 1.5));
        let o = opts(&[]).unwrap();
        assert_eq!(
            (o.iterations, o.scale.duration, o.scale.idle_conns),
            (5, 3.0, 15_000)
        );
        assert_eq!(
            opts(&["--iterations", "0"]).err(),
            Some("--iterations: at least 1".into())
        );
    }

    #[test]
    fn scenario_names_are_case_insensitive() {
        let o = opts(&["--scenario", "s4m,cg"]).unwrap();
        assert_eq!(o.scenarios, ["S4m", "CG"]);
        let o = opts(&["--scenario", "ALL"]).unwrap();
        assert_eq!(o.scenarios.len(), scenarios::ALL.len());
        assert!(opts(&["--scenario", "s9"]).is_err());
    }
}
