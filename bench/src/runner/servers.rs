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
    /// Extra arguments that make the server reset a 30 s read deadline before every read (a
    /// server's idle timeout); `None` if it has no such mode.
    pub deadline_args: Option<Vec<String>>,
    /// Extra arguments that make it reset a 30 s read deadline before every read and a 30 s
    /// write deadline before every write; `None` if it has no such mode.
    pub rw_deadline_args: Option<Vec<String>>,
    /// Whether it may run the 15,000-connection idle scenario (a thread per connection may not).
    pub idle_scale: bool,
}

/// Which per-I/O deadlines a run resets. Every server expresses the same thing its own way
/// (tokio: `tokio::time::timeout` around the operation; Go and netpoll: a deadline set before
/// it), so entries with the same `Deadlines` compare like with like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadlines {
    /// None.
    Off,
    /// A read deadline before every read (label suffix `+deadline`).
    Read,
    /// A read deadline before every read and a write deadline before every write (label
    /// suffix `+rw-deadline`).
    ReadWrite,
}

impl Deadlines {
    /// The label suffix of entries with these deadlines.
    pub fn suffix(self) -> &'static str {
        match self {
            Deadlines::Off => "",
            Deadlines::Read => "+deadline",
            Deadlines::ReadWrite => "+rw-deadline",
        }
    }

    /// The deadlines a label's suffix names, and the label without it.
    pub fn of_label(label: &str) -> (&str, Deadlines) {
        for d in [Deadlines::ReadWrite, Deadlines::Read] {
            if let Some(base) = label.strip_suffix(d.suffix()) {
                return (base, d);
            }
        }
        (label, Deadlines::Off)
    }
}

/// A server as started in one run: with or without per-I/O deadlines.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Report label, e.g. `go+deadline`.
    pub label: String,
    /// The server.
    pub spec: ServerSpec,
    /// Which deadline arguments are passed.
    pub deadlines: Deadlines,
}

impl Entry {
    /// `spec` without deadlines.
    pub fn plain(spec: &ServerSpec) -> Entry {
        Entry {
            label: spec.name.to_string(),
            spec: spec.clone(),
            deadlines: Deadlines::Off,
        }
    }

    /// `spec` with a read deadline before every read, if it supports that.
    pub fn with_deadline(spec: &ServerSpec) -> Option<Entry> {
        Entry::with(spec, Deadlines::Read)
    }

    /// `spec` with read and write deadlines before every read and write, if it supports that.
    pub fn with_rw_deadline(spec: &ServerSpec) -> Option<Entry> {
        Entry::with(spec, Deadlines::ReadWrite)
    }

    fn with(spec: &ServerSpec, deadlines: Deadlines) -> Option<Entry> {
        let e = Entry {
            label: format!("{}{}", spec.name, deadlines.suffix()),
            spec: spec.clone(),
            deadlines,
        };
        e.extra().is_some().then_some(e)
    }

    /// The deadline arguments of this entry (empty without deadlines); `None` if the server
    /// has no such mode.
    fn extra(&self) -> Option<&[String]> {
        match self.deadlines {
            Deadlines::Off => Some(&[]),
            Deadlines::Read => self.spec.deadline_args.as_deref(),
            Deadlines::ReadWrite => self.spec.rw_deadline_args.as_deref(),
        }
    }

    /// Full argument vector (program first) for listening on `addr`.
    pub fn argv(&self, addr: &str) -> Vec<String> {
        let mut v = vec![self.spec.program.display().to_string()];
        v.extend(self.spec.args.iter().map(|a| a.replace("{addr}", addr)));
        v.extend(self.extra().unwrap_or_default().iter().cloned());
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
/// `None`; netpoll-echo if `netpoll_echo` is false.
///
/// tokio runs in three configurations: current-thread, multi-thread with one worker (often
/// the cheapest per message: its scheduler has no cross-thread hand-off with one worker) and
/// multi-thread with its default worker count. Reports hold every netpoll entry to the
/// cheapest of them in each scenario.
pub fn catalogue(bin: &Path, go_echo: Option<PathBuf>, netpoll_echo: bool) -> Vec<ServerSpec> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let tokio = bin.join("tokio-echo");
    let tokio_spec = |name, flavor: &[&str]| {
        let mut args = s(&["--addr", "{addr}"]);
        args.extend(s(flavor));
        ServerSpec {
            name,
            program: tokio.clone(),
            args,
            deadline_args: Some(s(&["--timeout-ms", "30000", "--timeout-on", "read"])),
            rw_deadline_args: Some(s(&["--timeout-ms", "30000", "--timeout-on", "both"])),
            idle_scale: true,
        }
    };
    let mut v = vec![
        tokio_spec("tokio-ct", &["--flavor", "current"]),
        tokio_spec("tokio-mt1", &["--flavor", "multi", "--workers", "1"]),
        tokio_spec("tokio-mt", &["--flavor", "multi"]),
    ];
    if let Some(go) = go_echo {
        v.push(ServerSpec {
            name: "go",
            program: go,
            args: s(&["-addr", "{addr}"]),
            deadline_args: Some(s(&["-deadline", "30s", "-deadline-on", "read"])),
            rw_deadline_args: Some(s(&["-deadline", "30s", "-deadline-on", "both"])),
            idle_scale: true,
        });
    }
    if netpoll_echo {
        let p = bin.join("netpoll-echo");
        let read = s(&["--idle-timeout", "30"]);
        let rw = s(&["--idle-timeout", "30", "--write-timeout", "30"]);
        v.push(ServerSpec {
            name: "netpoll-async",
            program: p.clone(),
            args: s(&["--addr", "{addr}", "--mode", "async"]),
            deadline_args: Some(read.clone()),
            rw_deadline_args: Some(rw.clone()),
            idle_scale: true,
        });
        v.push(ServerSpec {
            name: "netpoll-green",
            program: p.clone(),
            args: s(&["--addr", "{addr}", "--mode", "green"]),
            deadline_args: Some(read.clone()),
            rw_deadline_args: Some(rw.clone()),
            idle_scale: true,
        });
        v.push(ServerSpec {
            name: "netpoll-blocking",
            program: p,
            args: s(&["--addr", "{addr}", "--mode", "blocking"]),
            deadline_args: Some(read),
            rw_deadline_args: Some(rw),
            idle_scale: false,
        });
    }
    v
}

/// Whether `name` is one of the tokio configurations.
pub fn is_tokio(name: &str) -> bool {
    name.starts_with("tokio-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_their_deadlines() {
        assert_eq!(Deadlines::of_label("go"), ("go", Deadlines::Off));
        assert_eq!(
            Deadlines::of_label("tokio-mt1+deadline"),
            ("tokio-mt1", Deadlines::Read)
        );
        assert_eq!(
            Deadlines::of_label("netpoll-async+rw-deadline"),
            ("netpoll-async", Deadlines::ReadWrite)
        );
    }

    #[test]
    fn every_server_has_both_deadline_modes() {
        let specs = catalogue(Path::new("/bin"), Some("/bin/go-echo".into()), true);
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "tokio-ct",
                "tokio-mt1",
                "tokio-mt",
                "go",
                "netpoll-async",
                "netpoll-green",
                "netpoll-blocking"
            ]
        );
        for s in &specs {
            let read = Entry::with_deadline(s).unwrap();
            let rw = Entry::with_rw_deadline(s).unwrap();
            assert_eq!(read.label, format!("{}+deadline", s.name));
            assert_eq!(rw.label, format!("{}+rw-deadline", s.name));
            let n = Entry::plain(s).argv("A").len();
            assert!(read.argv("A").len() > n && rw.argv("A").len() > n);
            assert_ne!(read.argv("A"), rw.argv("A"));
        }
        let mt1 = Entry::plain(&specs[1]).shown();
        assert_eq!(mt1, "tokio-echo --addr ADDR --flavor multi --workers 1");
    }
}
