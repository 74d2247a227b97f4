//! The platform layer: everything that talks to the operating system lives below this module.
//!
//! ## What every backend provides
//!
//! A backend is a [`netpoll_core::Poller`] whose `Source` is [`Source`] (a borrowed socket: a
//! file descriptor on Unix, a `SOCKET` on Windows, see [`AsSource`]) and whose `Error` is
//! [`std::io::Error`]:
//!
//! * `register` once per descriptor, for reads and writes, edge-triggered where the OS can,
//!   storing the core's 64-bit [`Token`](netpoll_core::Token) (`generation << 32 | index`) as
//!   the kernel cookie so that stale events are recognised on every backend;
//! * `deregister` before the descriptor is closed;
//! * `arm` for a direction before a wait, only if the backend is oneshot (the default no-op
//!   otherwise);
//! * `wait(timeout)`: `None` blocks, zero polls, any other timeout is an upper bound rounded
//!   *up* to the backend's resolution (rounding down would wake before the deadline and spin);
//!   an interrupted wait (`EINTR`) returns `Ok` so the core recomputes its deadlines;
//! * `wake`: make a concurrent `wait` return (the core deduplicates calls with an atomic flag).
//!
//! Besides the poller, [`net`] holds the socket calls the front-end needs (non-blocking
//! socket, connect and accept, listeners, `sendfile`), over `socket2` on every OS.
//!
//! ## Which backend
//!
//! The backend file is chosen here and nowhere else:
//!
//! | OS | backends compiled | default |
//! |----|-------------------|---------|
//! | Linux, Android | [`epoll`] (native, through libc) and [`portable`] (the `polling` crate) | epoll, or portable with the `portable` feature |
//! | macOS, iOS, the BSDs | [`portable`] (kqueue) | portable |
//! | illumos, Solaris | [`portable`] (event ports) | portable |
//! | Windows | [`portable`] (IOCP with AFD polls; oneshot only, see below) | portable |
//!
//! CI runs the whole suite on Linux (both backends) and on Windows under Wine, and
//! cross-compiles (tests included, warnings denied) for FreeBSD and for macOS on x86-64 and
//! arm64; see the support table in the README.
//!
//! ## Windows
//!
//! * Sockets are `SOCKET` handles, not file descriptors: the socket types implement
//!   `AsSocket`/`AsRawSocket` there instead of `AsFd`/`AsRawFd`, and [`AsSource`] names
//!   whichever the OS has.
//! * `polling` drives IOCP through AFD poll requests, which have no edge-triggered mode:
//!   [`BackendKind::Polling`] falls back to oneshot there, so every wait arms its direction
//!   first (Go's `netpollarm`), as [`BackendKind::PollingOneshot`] does everywhere.
//! * "Would block" is `WSAEWOULDBLOCK`, which the standard library and `socket2` report as
//!   `io::ErrorKind::WouldBlock`, the same kind as `EAGAIN`; a connect in progress is also
//!   `WSAEWOULDBLOCK` (Unix says `EINPROGRESS`), see [`net::start_connect`].
//! * A socket is deregistered before it is closed (`closesocket` when the value is
//!   dropped), as on Unix; `close` only shuts it down and wakes its waiters.
//! * Unix-domain sockets and `sendfile` are Unix-only (`cfg(unix)`).
//!
//! At run time [`BackendKind`] picks among the compiled ones (`Builder::backend`, or the
//! `NETPOLL_BACKEND` environment variable: `epoll`, `polling`, `polling-oneshot`), so the
//! whole test suite runs over both backends on one Linux machine.

use std::io;
use std::time::Duration;

use netpoll_core::{Event, Mode, Poller, Token};

/// Run one libc call that reports failure with `-1` and `errno`; yields `io::Result` of the
/// call's return value. The caller writes the `unsafe` block (with its `// SAFETY:` comment)
/// inside the macro argument. (Only the epoll backend makes libc calls of its own.)
#[cfg(any(target_os = "linux", target_os = "android"))]
macro_rules! syscall {
    ($call:expr) => {{
        let res = $call;
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

#[cfg(not(any(unix, windows)))]
compile_error!("netpoll-std supports Unix and Windows");

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod epoll;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub(crate) mod net;
pub(crate) mod portable;

/// What the backend registers: a borrowed socket.
pub(crate) type Source = dyn AsSource;

/// A socket that a backend can register: anything `AsFd` on Unix, anything `AsSocket` on
/// Windows (where sockets are not file descriptors). The rest of the crate names sockets
/// through this trait only, so that no `cfg` leaks out of this module.
pub(crate) trait AsSource {
    /// The socket, borrowed.
    fn as_source(&self) -> BorrowedSource<'_>;
    /// Its OS number (descriptor or `SOCKET`), for traces.
    fn raw_source(&self) -> RawSource;
}

/// A borrowed socket: `BorrowedFd` on Unix.
#[cfg(unix)]
pub(crate) type BorrowedSource<'a> = std::os::fd::BorrowedFd<'a>;
/// A socket's OS number: `RawFd` on Unix.
#[cfg(unix)]
pub(crate) type RawSource = std::os::fd::RawFd;

#[cfg(unix)]
impl<T: std::os::fd::AsFd> AsSource for T {
    fn as_source(&self) -> BorrowedSource<'_> {
        self.as_fd()
    }
    fn raw_source(&self) -> RawSource {
        std::os::fd::AsRawFd::as_raw_fd(&self.as_fd())
    }
}

/// A borrowed socket: `BorrowedSocket` on Windows.
#[cfg(windows)]
pub(crate) type BorrowedSource<'a> = std::os::windows::io::BorrowedSocket<'a>;
/// A socket's OS number: `RawSocket` (a `SOCKET` handle) on Windows.
#[cfg(windows)]
pub(crate) type RawSource = std::os::windows::io::RawSocket;

#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> AsSource for T {
    fn as_source(&self) -> BorrowedSource<'_> {
        self.as_socket()
    }
    fn raw_source(&self) -> RawSource {
        std::os::windows::io::AsRawSocket::as_raw_socket(&self.as_socket())
    }
}

/// Which event backend a runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Native epoll (Linux and Android only), edge-triggered.
    Epoll,
    /// The `polling` crate (epoll, kqueue, event ports, IOCP), edge mode where it has one;
    /// on Windows (IOCP, no edge mode) the same as [`PollingOneshot`](Self::PollingOneshot).
    Polling,
    /// The `polling` crate in oneshot mode: every wait re-arms its direction through the core's
    /// `arm` hook (what a backend without edge mode does). Mainly for testing that path.
    PollingOneshot,
}

impl BackendKind {
    /// The default: `NETPOLL_BACKEND` if set and valid, otherwise epoll where it exists (unless
    /// the `portable` feature is on), otherwise polling.
    pub fn from_env() -> BackendKind {
        std::env::var("NETPOLL_BACKEND")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|k: &BackendKind| k.is_available())
            .unwrap_or_else(BackendKind::compiled_default)
    }

    fn compiled_default() -> BackendKind {
        if cfg!(all(
            any(target_os = "linux", target_os = "android"),
            not(feature = "portable")
        )) {
            BackendKind::Epoll
        } else {
            BackendKind::Polling
        }
    }

    /// Whether this OS has the backend.
    pub fn is_available(self) -> bool {
        match self {
            BackendKind::Epoll => cfg!(any(target_os = "linux", target_os = "android")),
            BackendKind::Polling | BackendKind::PollingOneshot => true,
        }
    }

    /// Every backend this OS has (what the tests iterate over).
    pub fn all() -> Vec<BackendKind> {
        [
            BackendKind::Epoll,
            BackendKind::Polling,
            BackendKind::PollingOneshot,
        ]
        .into_iter()
        .filter(|k| k.is_available())
        .collect()
    }

    /// The name accepted by `NETPOLL_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Epoll => "epoll",
            BackendKind::Polling => "polling",
            BackendKind::PollingOneshot => "polling-oneshot",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<BackendKind> {
        match s {
            "epoll" => Ok(BackendKind::Epoll),
            "polling" => Ok(BackendKind::Polling),
            "polling-oneshot" => Ok(BackendKind::PollingOneshot),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unknown netpoll backend",
            )),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The backend a runtime drives: one of the compiled ones, picked at start-up.
#[allow(
    clippy::large_enum_variant,
    reason = "one per runtime, so its size does not matter; `polling`'s IOCP poller (Windows) \
              is 1 KiB next to the boxed fault injector, and boxing it would add an \
              indirection to every call"
)]
pub(crate) enum Selector {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Epoll(epoll::Epoll),
    Portable(portable::Portable),
    /// A real backend behind the fault injector (tests only).
    #[cfg(feature = "fault-injection")]
    Faulty(Box<fault::Faulty>),
}

impl Selector {
    /// Whether [`Poller::arm`](netpoll_core::Poller::arm) can be skipped: true only for
    /// epoll, whose `arm` is a no-op (edge-triggered, registered once for both directions).
    pub(crate) fn arm_is_noop(&self) -> bool {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Selector::Epoll(_) => true,
            _ => false,
        }
    }

    pub(crate) fn new(kind: BackendKind, capacity: usize) -> io::Result<Selector> {
        let selector = Selector::native(kind, capacity)?;
        #[cfg(feature = "fault-injection")]
        let selector = fault::wrap(selector);
        Ok(selector)
    }

    fn native(kind: BackendKind, capacity: usize) -> io::Result<Selector> {
        match kind {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            BackendKind::Epoll => Ok(Selector::Epoll(epoll::Epoll::new()?)),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            BackendKind::Epoll => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "epoll is Linux-only",
            )),
            BackendKind::Polling => {
                Ok(Selector::Portable(portable::Portable::new(true, capacity)?))
            }
            BackendKind::PollingOneshot => Ok(Selector::Portable(portable::Portable::new(
                false, capacity,
            )?)),
        }
    }
}

impl Poller for Selector {
    type Source = Source;
    type Error = io::Error;

    fn register(&self, source: &Source, token: Token) -> io::Result<()> {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Selector::Epoll(p) => p.register(source, token),
            Selector::Portable(p) => p.register(source, token),
            #[cfg(feature = "fault-injection")]
            Selector::Faulty(p) => p.register(source, token),
        }
    }

    fn deregister(&self, source: &Source, token: Token) -> io::Result<()> {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Selector::Epoll(p) => p.deregister(source, token),
            Selector::Portable(p) => p.deregister(source, token),
            #[cfg(feature = "fault-injection")]
            Selector::Faulty(p) => p.deregister(source, token),
        }
    }

    fn arm(&self, source: &Source, token: Token, mode: Mode) -> io::Result<()> {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Selector::Epoll(p) => p.arm(source, token, mode),
            Selector::Portable(p) => p.arm(source, token, mode),
            #[cfg(feature = "fault-injection")]
            Selector::Faulty(p) => p.arm(source, token, mode),
        }
    }

    fn wait(&self, timeout: Option<Duration>, on_event: &mut dyn FnMut(Event)) -> io::Result<()> {
        let tracing = crate::trace::enabled();
        let mut each = |ev: Event| {
            if tracing {
                crate::trace::ready(ev);
            }
            on_event(ev)
        };
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Selector::Epoll(p) => p.wait(timeout, &mut each),
            Selector::Portable(p) => p.wait(timeout, &mut each),
            #[cfg(feature = "fault-injection")]
            Selector::Faulty(p) => p.wait(timeout, &mut each),
        }
    }

    fn wake(&self) -> io::Result<()> {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Selector::Epoll(p) => p.wake(),
            Selector::Portable(p) => p.wake(),
            #[cfg(feature = "fault-injection")]
            Selector::Faulty(p) => p.wake(),
        }
    }
}

/// Milliseconds for a timeout, rounded up (a sub-millisecond timeout must not become a busy
/// poll of zero), capped at `i32::MAX`; `-1` for none. (Only epoll needs it: `polling` takes a
/// `Duration` and rounds up itself.)
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn sub_millisecond_timeouts_round_up() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_millis(7))), 7);
        assert_eq!(timeout_ms(Some(Duration::MAX)), i32::MAX);
    }

    #[test]
    fn backend_names_round_trip() {
        for k in BackendKind::all() {
            assert_eq!(k.name().parse::<BackendKind>().unwrap(), k);
        }
        assert!("kqueue2".parse::<BackendKind>().is_err());
    }
}
