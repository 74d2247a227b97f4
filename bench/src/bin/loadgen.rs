//! Load generator: prints one JSON line per run on stdout, phase marks on stderr.
//!
//! ```text
//! loadgen --addr 127.0.0.1:7000 --mode closed --conns 100 --size 64 --warmup 0.5 --duration 3
//! loadgen --addr ... --mode open --rate 20000 --conns 1000 --size 1024
//! loadgen --addr ... --mode hold --conns 15000 --active 0.01 --interval-ms 100 --idle 3
//! loadgen --addr ... --mode closed --conns 100 --messages 1000
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use netpoll_bench::cli::{Cli, Flag, Values};
use netpoll_bench::load::{self, Config, Mode};

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("--{name}: not a duration in seconds: {v}"))
}

fn cli() -> Cli {
    Cli {
        name: "loadgen",
        about: "Load generator: prints one JSON line per run on stdout, phase marks on stderr.",
        flags: vec![
            Flag::value("addr", "HOST:PORT", "127.0.0.1:7000", "the echo server"),
            Flag::value(
                "mode",
                "closed|open|hold",
                "closed",
                "closed loop, open loop at --rate, or connect-and-hold",
            ),
            Flag::value("conns", "N", 1, "connections"),
            Flag::value("size", "BYTES", 64, "message size"),
            Flag::value(
                "warmup",
                "SECONDS",
                0.5,
                "load before the measurement window",
            ),
            Flag::value("duration", "SECONDS", 3, "the measurement window"),
            Flag::optional(
                "messages",
                "N",
                "stop after this many messages per connection (default: run for --duration)",
            ),
            Flag::value("rate", "MSG/S", 10_000, "open mode: the total send rate"),
            Flag::value(
                "active",
                "FRACTION",
                0.01,
                "hold mode: the share of connections that send",
            ),
            Flag::value(
                "interval-ms",
                "MS",
                100,
                "hold mode: how often an active one sends",
            ),
            Flag::value(
                "idle",
                "SECONDS",
                3,
                "hold mode: how long the connections are held",
            ),
            Flag::optional("label", "TEXT", "copied into the JSON line"),
        ],
    }
}

fn config(a: &Values) -> Result<(Config, Option<String>), String> {
    let addr: String = a.get("addr")?;
    let addr = addr
        .parse()
        .map_err(|_| format!("--addr: not a socket address: {addr}"))?;
    let mode: String = a.get("mode")?;
    let mode = match mode.as_str() {
        "closed" => Mode::Closed,
        "open" => Mode::Open {
            rate: a.get("rate")?,
        },
        "hold" => Mode::Hold {
            active_fraction: a.get("active")?,
            interval: Duration::from_millis(a.get("interval-ms")?),
            idle: secs("idle", a.get("idle")?)?,
        },
        m => return Err(format!("--mode: closed, open or hold, not `{m}`")),
    };
    let cfg = Config {
        addr,
        mode,
        conns: a.get("conns")?,
        size: a.get("size")?,
        warmup: secs("warmup", a.get("warmup")?)?,
        duration: secs("duration", a.get("duration")?)?,
        messages: a.opt("messages")?,
    };
    let label = a.opt("label")?;
    Ok((cfg, label))
}

fn main() -> ExitCode {
    let (cfg, label) = match cli().parse_env().and_then(|v| {
        config(&v).map_err(|e| {
            eprintln!("loadgen: {e}\n(see loadgen --help)");
            2
        })
    }) {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    let mut mark = |name: &str| {
        let mut err = std::io::stderr().lock();
        // A lost mark only degrades what the runner can sample; the run goes on.
        let _ = writeln!(err, "mark {name}");
        let _ = err.flush();
    };
    match load::run(&cfg, &mut mark) {
        Ok(mut v) => {
            if let Some(l) = label {
                v["label"] = l.into();
            }
            println!("{v}");
            let errors = v["errors"].as_u64().unwrap_or(0);
            // Every connection echoed once before the load (a server that serves nothing fails
            // there), so an empty window means a window too short for the server's pace: a
            // number, not an error.
            if v["messages"] == 0 && v["mode"] != "hold" {
                eprintln!("loadgen: warning: no message was echoed in the measurement window");
            }
            if errors > 0 || v["complete"] == false {
                eprintln!(
                    "loadgen: {errors} connection errors; first: {}",
                    v["first_error"]
                );
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}
