//! The servers under test: how to build them and how to start one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A server the suite can start, with `{addr}` in its arguments standing for the listen address.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Short name used in reports, e.g. `tokio-ct`.
    pub name: &'static str,
    /// Program path.
    pub program: PathBuf,
    /// Arguments; `{addr}` is replaced by the listen address.
    pub args: Vec<String>,
    /// Extra arguments that make the server reset a 30 s read and write deadline before every
    /// I/O; `None` if it has no such mode.
    pub deadline_args: Option<Vec<String>>,
    /// Whether it may run the 15,000-connection idle scenario (a thread per connection may not).
    pub idle_scale: bool,
}

/// A server as started in one run: with or without per-I/O deadlines.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Report label, e.g. `go+deadline`.
    pub label: String,
    /// The server.
    pub spec: ServerSpec,
    /// Whether the deadline arguments are passed.
    pub deadline: bool,
}

impl Entry {
    /// `spec` without deadlines.
    pub fn plain(spec: &ServerSpec) -> Entry {
        Entry {
            label: spec.name.to_string(),
            spec: spec.clone(),
            deadline: false,
        }
    }

    /// `spec` with deadlines, if it supports them.
    pub fn with_deadline(spec: &ServerSpec) -> Option<Entry> {
        spec.deadline_args.as_ref()?;
        Some(Entry {
            label: format!("{}+deadline", spec.name),
            spec: spec.clone(),
            deadline: true,
        })
    }

    /// Full argument vector (program first) for listening on `addr`.
    pub fn argv(&self, addr: &str) -> Vec<String> {
        let mut v = vec![self.spec.program.display().to_string()];
        v.extend(self.spec.args.iter().map(|a| a.replace("{addr}", addr)));
        if self.deadline {
            v.extend(self.spec.deadline_args.iter().flatten().cloned());
        }
        v
    }

    /// The command line as shown in reports (program by file name).
    pub fn shown(&self) -> String {
        let mut v = self.argv("ADDR");
        v[0] = self
            .spec
            .program
            .file_name()
            .map_or(v[0].clone(), |f| f.to_string_lossy().into());
        v.join(" ")
    }
}

/// The CPU the load generator runs on (`taskset -c`); the servers run on CPU 0. The suite needs
/// two cores to mean anything, but a one-core machine can still run the smoke test.
pub static CLIENT_CORE: std::sync::LazyLock<&'static str> =
    std::sync::LazyLock::new(|| match std::thread::available_parallelism() {
        Ok(n) if n.get() >= 2 => "1",
        _ => "0",
    });

/// Starts `argv` pinned to CPU `core` with `taskset`, output appended to `log`.
pub fn spawn_pinned(core: u32, argv: &[String], log: &Path) -> std::io::Result<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .args(argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
}

/// Runs a build command, printing it; `Ok(false)` when it fails (the caller decides if fatal).
pub fn build(root: &Path, program: &str, args: &[&str]) -> std::io::Result<bool> {
    eprintln!("runner: build: {program} {}", args.join(" "));
    let st = Command::new(program)
        .args(args)
        .current_dir(root)
        .status()?;
    Ok(st.success())
}

/// Every server the suite knows, given the build output folder. Go is absent if `go_echo` is
/// `None`; netpoll-echo if `netpoll_echo` is `None`.
pub fn catalogue(bin: &Path, go_echo: Option<PathBuf>, netpoll_echo: bool) -> Vec<ServerSpec> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let tokio = bin.join("tokio-echo");
    let mut v = vec![
        ServerSpec {
            name: "tokio-ct",
            program: tokio.clone(),
            args: s(&["--addr", "{addr}", "--flavor", "current"]),
            deadline_args: Some(s(&["--timeout-ms", "30000"])),
            idle_scale: true,
        },
        ServerSpec {
            name: "tokio-mt",
            program: tokio.clone(),
            args: s(&["--addr", "{addr}", "--flavor", "multi"]),
            deadline_args: Some(s(&["--timeout-ms", "30000"])),
            idle_scale: true,
        },
        // The multi-thread runtime at its cheapest: one worker (the server has one core).
        ServerSpec {
            name: "tokio-mt1",
            program: tokio,
            args: s(&["--addr", "{addr}", "--flavor", "multi", "--workers", "1"]),
            deadline_args: Some(s(&["--timeout-ms", "30000"])),
            idle_scale: true,
        },
    ];
    if let Some(go) = go_echo {
        v.push(ServerSpec {
            name: "go",
            program: go,
            args: s(&["-addr", "{addr}"]),
            deadline_args: Some(s(&["-deadline", "30s"])),
            idle_scale: true,
        });
    }
    if netpoll_echo {
        let p = bin.join("netpoll-echo");
        v.push(ServerSpec {
            name: "netpoll-async",
            program: p.clone(),
            args: s(&["--addr", "{addr}", "--mode", "async"]),
            deadline_args: Some(s(&["--idle-timeout", "30"])),
            idle_scale: true,
        });
        v.push(ServerSpec {
            name: "netpoll-green",
            program: p.clone(),
            args: s(&["--addr", "{addr}", "--mode", "green"]),
            deadline_args: Some(s(&["--idle-timeout", "30"])),
            idle_scale: true,
        });
        v.push(ServerSpec {
            name: "netpoll-blocking",
            program: p,
            args: s(&["--addr", "{addr}", "--mode", "blocking"]),
            deadline_args: Some(s(&["--idle-timeout", "30"])),
            idle_scale: false,
        });
    }
    v
}
