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

use netpoll_bench::args::Args;
use netpoll_bench::load::{self, Config, Mode};

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("--{name}: not a duration in seconds: {v}"))
}

fn config() -> Result<(Config, Option<String>), String> {
    let mut a = Args::from_env(&[])?;
    let addr: String = a.get("addr", "127.0.0.1:7000".to_string())?;
    let addr = addr
        .parse()
        .map_err(|_| format!("--addr: not a socket address: {addr}"))?;
    let mode: String = a.get("mode", "closed".to_string())?;
    let mode = match mode.as_str() {
        "closed" => Mode::Closed,
        "open" => Mode::Open {
            rate: a.get("rate", 10_000.0)?,
        },
        "hold" => Mode::Hold {
            active_fraction: a.get("active", 0.01)?,
            interval: Duration::from_millis(a.get("interval-ms", 100)?),
            idle: secs("idle", a.get("idle", 3.0)?)?,
        },
        m => return Err(format!("--mode: closed, open or hold, not `{m}`")),
    };
    let cfg = Config {
        addr,
        mode,
        conns: a.get("conns", 1)?,
        size: a.get("size", 64)?,
        warmup: secs("warmup", a.get("warmup", 0.5)?)?,
        duration: secs("duration", a.get("duration", 3.0)?)?,
        messages: a.opt("messages")?,
    };
    let label = a.opt("label")?;
    a.finish()?;
    Ok((cfg, label))
}

fn main() -> ExitCode {
    let (cfg, label) = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
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
