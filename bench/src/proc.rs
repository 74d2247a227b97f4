//! What the runner reads about a server process from `/proc`, and small process helpers.
//!
//! The measurements are Linux's (`/proc`) and the signals Unix's: elsewhere (Windows, where
//! the suite's binaries are built and their command lines tested) they fail with an error.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// User and system CPU time of a whole process (all its threads, live and exited), in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// User time.
    pub user: f64,
    /// System time.
    pub system: f64,
}

impl CpuTimes {
    /// Time spent between `earlier` and `self`.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }

    /// User plus system.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

#[cfg(unix)]
fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a configuration value; it has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Unreached off Unix ([`proc_file`] fails first); Linux's usual value.
#[cfg(not(unix))]
fn clock_ticks_per_sec() -> f64 {
    100.0
}

/// The text of `/proc/<pid>/<name>`. Not on Windows, which has none (under Wine the host's
/// `/proc` shows through, and a Windows process id names some other process there).
fn proc_file(pid: u32, name: &str) -> io::Result<String> {
    if cfg!(windows) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "process measurements come from /proc: Linux only",
        ));
    }
    std::fs::read_to_string(format!("/proc/{pid}/{name}"))
}

/// Parses `utime` and `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line.
pub fn parse_stat(line: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    let rest = &line[line.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// CPU times of process `pid` from `/proc/<pid>/stat`.
pub fn cpu_times(pid: u32) -> io::Result<CpuTimes> {
    let line = proc_file(pid, "stat")?;
    let (u, s) = parse_stat(&line)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))?;
    let hz = clock_ticks_per_sec();
    Ok(CpuTimes {
        user: u as f64 / hz,
        system: s as f64 / hz,
    })
}

/// A `kB` field (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in KiB.
pub fn status_kib(pid: u32, field: &str) -> io::Result<u64> {
    let text = proc_file(pid, "status")?;
    parse_status_kib(&text, field)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {field} in status")))
}

/// Finds `field:   1234 kB` in the text of a `/proc/<pid>/status` file.
pub fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Waits until something accepts TCP connections on `addr`, up to `limit`.
pub fn wait_listening(addr: SocketAddr, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends `sig` to process `pid`.
#[cfg(unix)]
pub fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: kill has no memory-safety preconditions; the pid is one of our own children.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Signals are Unix's: `Unsupported` elsewhere.
#[cfg(not(unix))]
pub fn signal(_pid: u32, _sig: libc::c_int) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "sending a signal to a process is Unix-only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_spaces() {
        let line = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 731 265 0 0 20 0 3 0";
        assert_eq!(parse_stat(line), Some((731, 265)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_fields() {
        let t = "Name:\tx\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(parse_status_kib(t, "VmHWM"), Some(5120));
        assert_eq!(parse_status_kib(t, "VmRSS"), Some(4096));
        assert_eq!(parse_status_kib(t, "VmSwap"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(cpu_times(me).is_ok());
        assert!(status_kib(me, "VmHWM").unwrap() > 0);
    }
}
