//! Dialing Unix-domain sockets (Unix only; the parent module is TCP's and every OS's):
//! [`Dialer::dial_unix`] and [`Dialer::dial_unix_async`], which `UnixStream::connect*` use.
//!
//! A Unix connect has no "in progress" state to wait on, so a full backlog is waited out in
//! a blocking `connect` bounded by `SO_SNDTIMEO` (see `unix_connect`).

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{dial_err, Dialer};
use crate::net::{pick, Async};
use crate::{NetError, Runtime, UnixStream};

impl Dialer {
    /// Connect to the Unix socket at `path` (blocking). A listener whose backlog is full makes
    /// the connect wait, bounded by the dial's deadline.
    pub fn dial_unix(&self, path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let deadline = self.deadline_from(Instant::now());
        let rt = pick(self.runtime.as_ref())?;
        UnixStream::dial(&rt, path.as_ref(), deadline)
    }

    /// Connect to the Unix socket at `path` (async): at once if the listener has room, else
    /// on a helper thread that waits (bounded by the deadline) for room in its backlog.
    pub async fn dial_unix_async(&self, path: impl AsRef<Path>) -> io::Result<Async<UnixStream>> {
        let deadline = self.deadline_from(Instant::now());
        let rt = pick(self.runtime.as_ref())?;
        UnixStream::dial_async(&rt, path.as_ref(), deadline)
            .await
            .map(UnixStream::into_async)
    }
}

impl UnixStream {
    /// Connect (blocking) to `path` in `rt`, waiting for room in a full backlog until
    /// `deadline`.
    pub(crate) fn dial(
        rt: &Runtime,
        path: &Path,
        deadline: Option<Instant>,
    ) -> io::Result<UnixStream> {
        let name = path.display().to_string();
        let s = unix_connect(path, deadline).map_err(|e| dial_err("unix", &name, e))?;
        UnixStream::from_std_in(s, rt).map_err(|e| dial_err("unix", &name, e))
    }

    pub(crate) async fn dial_async(
        rt: &Runtime,
        path: &Path,
        deadline: Option<Instant>,
    ) -> io::Result<UnixStream> {
        let name = path.display().to_string();
        let s = match unix_try_connect(path, deadline) {
            Ok(Some(s)) => s,
            Ok(None) => {
                let owned = path.to_path_buf();
                crate::net::offload::run("netpoll-dial", move || unix_connect(&owned, deadline))?
                    .await
                    .map_err(|e| dial_err("unix", &name, e))?
            }
            Err(e) => return Err(dial_err("unix", &name, e)),
        };
        UnixStream::from_std_in(s, rt).map_err(|e| dial_err("unix", &name, e))
    }
}

/// `Err(Timeout)` if `deadline` has passed.
fn check(deadline: Option<Instant>) -> io::Result<()> {
    match deadline {
        Some(d) if d <= Instant::now() => Err(NetError::Timeout.into()),
        _ => Ok(()),
    }
}

/// A non-blocking connect: `Ok(None)` if the listener's backlog is full.
fn unix_try_connect(
    path: &Path,
    deadline: Option<Instant>,
) -> io::Result<Option<std::os::unix::net::UnixStream>> {
    use socket2::{Domain, SockAddr, Socket, Type};
    check(deadline)?;
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    loop {
        match sock.connect(&SockAddr::unix(path)?) {
            Ok(()) => return Ok(Some(sock.into())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// A blocking connect to `path` that waits for room in a full backlog until `deadline`.
///
/// Why a blocking socket: a non-blocking Unix connect into a full backlog fails with `EAGAIN`
/// and leaves nothing to wait on (the socket is not connecting, and it polls writable at
/// once). A blocking connect waits in the kernel for the listener to accept, and
/// `SO_SNDTIMEO` bounds that wait (Linux then says `EAGAIN`).
fn unix_connect(
    path: &Path,
    deadline: Option<Instant>,
) -> io::Result<std::os::unix::net::UnixStream> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let addr = SockAddr::unix(path)?;
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    loop {
        check(deadline)?;
        if let Some(d) = deadline {
            // At least a microsecond: zero would mean "no timeout".
            let left = d.saturating_duration_since(Instant::now());
            sock.set_write_timeout(Some(left.max(Duration::from_micros(1))))?;
        }
        match sock.connect(&addr) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && deadline.is_some() => {
                return Err(NetError::Timeout.into())
            }
            Err(e) => return Err(e),
        }
    }
    if deadline.is_some() {
        sock.set_write_timeout(None)?;
    }
    Ok(sock.into())
}
