//! Scenarios S1-S5 of the performance issue, as load generator arguments and server entries.

use super::servers::{Entry, ServerSpec};

/// How a scenario's runs are reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Throughput, latency, CPU and syscalls per message, fairness.
    Load,
    /// Like `Load`, each server also with per-I/O deadlines, and the throughput lost to them.
    Deadline,
    /// Connect and hold: memory per connection, idle CPU and idle syscalls.
    Hold,
}

/// One scenario: a load, the servers it runs against, and how to report it.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short id (`S1`, `S3o`, ...).
    pub id: &'static str,
    /// Title for the report.
    pub title: &'static str,
    /// What it measures and which target it checks.
    pub what: &'static str,
    /// Load generator arguments (without `--addr`).
    pub load: Vec<String>,
    /// Servers, in the order runs alternate between them.
    pub entries: Vec<Entry>,
    /// Marks between which syscalls are counted.
    pub perf_window: (&'static str, &'static str),
    /// Report layout.
    pub kind: Kind,
}

/// Scale of the runs.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Warm-up seconds.
    pub warmup: f64,
    /// Measurement seconds.
    pub duration: f64,
    /// Open-loop rate for S3o (messages per second, all connections together).
    pub open_rate: f64,
    /// Connections held in S5.
    pub idle_conns: usize,
    /// S5's idle window in seconds.
    pub idle: f64,
}

/// Ids of the scenarios run by `--scenario all`, in order.
pub const ALL: &[&str] = &["S1", "S2", "S3c", "S3o", "S4", "S4m", "S5", "S6m", "CG"];

fn args(v: &[&str], sc: &Scale) -> Vec<String> {
    let mut a: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    a.extend([
        "--warmup".into(),
        sc.warmup.to_string(),
        "--duration".into(),
        sc.duration.to_string(),
    ]);
    a
}

/// The load scenarios (S4m, S6m and CG are not load scenarios and are run separately).
pub fn load_scenarios(specs: &[ServerSpec], sc: &Scale) -> Vec<Scenario> {
    let plain: Vec<Entry> = specs.iter().map(Entry::plain).collect();
    let mut both = Vec::new();
    for s in specs {
        both.push(Entry::plain(s));
        both.extend(Entry::with_deadline(s));
        both.extend(Entry::with_rw_deadline(s));
    }
    let idle: Vec<Entry> = specs
        .iter()
        .filter(|s| s.idle_scale)
        .filter_map(Entry::with_deadline)
        .collect();
    // perf starts at `connected` and counts through the warm-up: see `measure::start_perf`.
    let measure = ("connected", "measure-end");
    vec![
        Scenario {
            id: "S1",
            title: "S1: 1 connection, 64 B, closed loop",
            what: "Latency of one connection. Target: our p50 and p99 at most tokio's.",
            load: args(&["--mode", "closed", "--conns", "1", "--size", "64"], sc),
            entries: plain.clone(),
            perf_window: measure,
            kind: Kind::Load,
        },
        Scenario {
            id: "S2",
            title: "S2: 100 connections, 64 B, closed loop",
            what:
                "Cost per message. Targets: syscalls per message at most tokio's; server CPU per \
                   message at most 0.95x the cheapest tokio configuration's and 0.8x Go's; \
                   throughput at least tokio's and 1.15x Go's.",
            load: args(&["--mode", "closed", "--conns", "100", "--size", "64"], sc),
            entries: plain.clone(),
            perf_window: measure,
            kind: Kind::Load,
        },
        Scenario {
            id: "S3c",
            title: "S3 (closed): 1,000 connections, 64 B, closed loop",
            what: "Tail latency and fairness at 1,000 connections. Targets: p99 at most tokio's \
                   and 0.7x Go's; p99.9 at most 2x our p99. The fairness columns show the spread \
                   of per-connection message counts.",
            load: args(&["--mode", "closed", "--conns", "1000", "--size", "64"], sc),
            entries: plain.clone(),
            perf_window: measure,
            kind: Kind::Load,
        },
        Scenario {
            id: "S3o",
            title: "S3 (open): 1,000 connections, 1 KiB, open loop below saturation",
            what: "Tail latency at a fixed offered rate (latency counted from each message's \
                   scheduled send time). Targets as S3 closed.",
            load: args(
                &[
                    "--mode",
                    "open",
                    "--conns",
                    "1000",
                    "--size",
                    "1024",
                    "--rate",
                    &sc.open_rate.to_string(),
                ],
                sc,
            ),
            entries: plain,
            perf_window: measure,
            kind: Kind::Load,
        },
        Scenario {
            id: "S4",
            title: "S4: deadline churn, 1,000 connections, 64 B, closed loop",
            what: "Each server without deadlines, with a 30 s read deadline reset before every \
                   read (+deadline: a server's idle timeout) and with a 30 s read and write \
                   deadline reset before every read and every write (+rw-deadline). tokio \
                   expresses them as tokio::time::timeout around the read (and the write); Go \
                   and netpoll-echo set the deadline before the operation. The loss is computed \
                   per iteration from the adjacent runs without and with deadlines; a negative \
                   loss means the run with deadlines was faster, i.e. noise. Target: our \
                   throughput loss at most 10%.",
            load: args(&["--mode", "closed", "--conns", "1000", "--size", "64"], sc),
            entries: both,
            perf_window: measure,
            kind: Kind::Deadline,
        },
        Scenario {
            id: "S5",
            title: "S5: idle scale, 1% active, 30 s read deadlines",
            what: "Connect and hold; 1% of the connections send 64 B every 100 ms during the \
                   measurement window, then nobody sends during the idle window; every server \
                   resets a 30 s read deadline before every read. Memory per connection is \
                   (VmRSS after connecting and the active window - VmRSS before) / connections \
                   and includes each server's read buffer where one is allocated per connection \
                   (tokio and Go: 4 KiB; netpoll-echo's async mode waits for readability without \
                   a buffer and reads into one buffer per worker). Targets: memory per \
                   connection at most 1 KiB in total, idle CPU under 1%, zero timer wake-ups \
                   (idle syscalls/s near zero). Thread-per-connection servers are left out.",
            load: {
                let mut a = args(
                    &[
                        "--mode",
                        "hold",
                        "--conns",
                        &sc.idle_conns.to_string(),
                        "--size",
                        "64",
                        "--active",
                        "0.01",
                        "--interval-ms",
                        "100",
                    ],
                    sc,
                );
                a.extend(["--idle".into(), sc.idle.to_string()]);
                a
            },
            entries: idle,
            perf_window: ("idle-start", "idle-end"),
            kind: Kind::Hold,
        },
    ]
}
