//! [`Dialer`]: connecting by name with a timeout and a deadline, as Go's `net.Dialer` does.
//!
//! * **Timeout and deadline**: both may be set; the dial gives up at the earlier of "now +
//!   timeout" and the deadline. A timeout of zero means none (Go's rule). A deadline already
//!   past fails at once with "i/o timeout", before any connect.
//! * **Each address in turn**: a name may resolve to several addresses; they are tried in
//!   the resolver's order until one connects. With a deadline, each attempt gets an equal
//!   share of the time left, but at least two seconds (or all that is left), so a dead first
//!   address cannot use up the whole budget. When every attempt fails, the first error is
//!   returned (Go's choice: it is usually the most telling).
//! * **Resolution** uses the system resolver (`getaddrinfo` via `ToSocketAddrs`), which
//!   cannot be interrupted, so the deadline bounds the connects, not the lookup (Go bounds
//!   both). The async form looks names up on a helper thread so the executor is not blocked.

use std::any::Any;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{pick, Async};
use crate::error::with_op;
use crate::{NetError, Runtime, TcpStream};

/// Unix-domain dialing (`dial_unix`, `dial_unix_async`): Unix only.
#[cfg(unix)]
mod unix;

/// Connects TCP streams (and, on Unix, Unix-domain streams: `dial_unix`, `dial_unix_async`)
/// with Go's `net.Dialer` semantics (see the module docs): a timeout and a deadline (the
/// earlier wins), every resolved address in turn, keep-alive and the runtime to register
/// with.
///
/// ```
/// use std::time::{Duration, Instant};
/// use netpoll_std::{is_timeout, Dialer, TcpListener};
///
/// let l = TcpListener::bind("127.0.0.1:0")?;
/// let port = l.local_addr()?.port();
/// // By name, every address "localhost" resolves to in turn, within 5 s.
/// let c = Dialer::new().timeout(Duration::from_secs(5)).dial(("localhost", port))?;
/// assert_eq!(c.peer_addr()?, l.local_addr()?);
///
/// // A deadline in the past fails at once, whatever the timeout.
/// let past = Instant::now() - Duration::from_millis(1);
/// let err = Dialer::new()
///     .timeout(Duration::from_secs(5))
///     .deadline(past)
///     .dial(l.local_addr()?)
///     .unwrap_err();
/// assert!(is_timeout(&err));
/// assert_eq!(err.to_string(), format!("dial tcp {}: i/o timeout", l.local_addr()?));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Dialer {
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    keepalive: Option<Duration>,
    runtime: Option<Runtime>,
}

impl Dialer {
    /// No timeout, no deadline, keep-alive off, the global runtime.
    pub fn new() -> Dialer {
        Dialer::default()
    }

    /// Give up this long after the dial starts (Go's `Dialer.Timeout`); zero means no
    /// timeout, as in Go.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// Give up at `at` (Go's `Dialer.Deadline`). With a timeout too, the earlier wins.
    pub fn deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(at);
        self
    }

    /// Keep-alive for the connections it makes (see
    /// [`TcpStream::set_keepalive`](crate::TcpStream::set_keepalive); off by default, unlike
    /// Go's 15 s).
    pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
        self.keepalive = idle;
        self
    }

    /// Register the connections with `rt` instead of the global runtime.
    pub fn runtime(mut self, rt: &Runtime) -> Self {
        self.runtime = Some(rt.clone());
        self
    }

    /// When a dial starting at `now` gives up: the earlier of `now + timeout` and the
    /// deadline (`None`: never).
    pub fn deadline_from(&self, now: Instant) -> Option<Instant> {
        // A timeout too large for an Instant is no limit.
        let by_timeout = self.timeout.and_then(|t| now.checked_add(t));
        match (by_timeout, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Connect a TCP stream (blocking) to `addr`, trying each address it resolves to.
    pub fn dial(&self, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let deadline = self.deadline_from(Instant::now());
        let rt = pick(self.runtime.as_ref())?;
        let addrs = resolve(&addr)?;
        let s = each_address(&addrs, deadline, |a, d| TcpStream::dial_one(&rt, a, d))?;
        Ok(self.configure(s))
    }

    /// Connect a TCP stream (async). A host name (given as `String`, `&'static str`, or
    /// either with a port) is looked up on a helper thread; addresses need no lookup.
    pub async fn dial_async<A>(&self, addr: A) -> io::Result<Async<TcpStream>>
    where
        A: ToSocketAddrs + Send + 'static,
    {
        let deadline = self.deadline_from(Instant::now());
        let rt = pick(self.runtime.as_ref())?;
        let addrs = match without_lookup(&addr) {
            Some(r) => r?,
            None => super::offload::run("netpoll-resolve", move || resolve(&addr))?.await?,
        };
        let mut first = None;
        for (i, a) in addrs.iter().enumerate() {
            let part = match slice(Instant::now(), deadline, addrs.len() - i) {
                Some(p) => p,
                None => return Err(timeout("tcp", &a.to_string())),
            };
            match TcpStream::dial_one_async(&rt, a, part).await {
                Ok(s) => return Ok(self.configure(s).into_async()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or_else(no_addresses))
    }

    fn configure(&self, s: TcpStream) -> TcpStream {
        if self.keepalive.is_some() {
            // Like TCP_NODELAY: a refused option does not fail the dial.
            let _ = s.set_keepalive(self.keepalive);
        }
        s
    }
}

/// The deadline of one attempt with `left` addresses still to try (Go's `partialDeadline`):
/// an equal share of the time left, at least two seconds, or all of it if less is left.
/// `None` when the time is up.
fn slice(now: Instant, deadline: Option<Instant>, left: usize) -> Option<Option<Instant>> {
    const SANE_MINIMUM: Duration = Duration::from_secs(2);
    let Some(deadline) = deadline else {
        return Some(None);
    };
    let remaining = deadline
        .checked_duration_since(now)
        .filter(|d| !d.is_zero())?;
    let share = remaining / u32::try_from(left.max(1)).unwrap_or(u32::MAX);
    let share = if share >= SANE_MINIMUM {
        share
    } else {
        remaining.min(SANE_MINIMUM)
    };
    Some(Some(now + share))
}

/// Try `one` on each address with its share of the time; the first success, or the first
/// error (a timeout naming the address if the time ran out before it).
fn each_address<T>(
    addrs: &[SocketAddr],
    deadline: Option<Instant>,
    mut one: impl FnMut(&SocketAddr, Option<Instant>) -> io::Result<T>,
) -> io::Result<T> {
    let mut first = None;
    for (i, a) in addrs.iter().enumerate() {
        let Some(part) = slice(Instant::now(), deadline, addrs.len() - i) else {
            return Err(timeout("tcp", &a.to_string()));
        };
        match one(a, part) {
            Ok(s) => return Ok(s),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or_else(no_addresses))
}

/// "dial `net` `addr`: i/o timeout".
pub(crate) fn timeout(net: &'static str, addr: &str) -> io::Error {
    dial_err(net, addr, NetError::Timeout.into())
}

/// Name a dial of `addr` in a netpoll error.
pub(crate) fn dial_err(net: &'static str, addr: &str, e: io::Error) -> io::Error {
    with_op(e, "dial", net, || (None, Some(addr.to_string())))
}

fn no_addresses() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to")
}

/// Resolve `addr` (a lookup for a name), refusing an empty result.
pub(crate) fn resolve(addr: &impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(no_addresses());
    }
    Ok(addrs)
}

/// The addresses of `addr` if they need no name lookup (`None` for a host name given as a
/// `String` or `&'static str`, with or without a port). Other `ToSocketAddrs` types are
/// addresses already (a user type that looks names up is resolved on the calling thread).
fn without_lookup<A: ToSocketAddrs + 'static>(addr: &A) -> Option<io::Result<Vec<SocketAddr>>> {
    let any = addr as &dyn Any;
    let whole = any
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| any.downcast_ref::<&'static str>().copied());
    if let Some(s) = whole {
        return s.parse::<SocketAddr>().ok().map(|a| Ok(vec![a]));
    }
    let host = any
        .downcast_ref::<(String, u16)>()
        .map(|(h, _)| h.as_str())
        .or_else(|| any.downcast_ref::<(&'static str, u16)>().map(|(h, _)| *h));
    if let Some(h) = host {
        h.parse::<IpAddr>().ok()?;
    }
    Some(resolve(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_of_timeout_and_deadline_wins() {
        let now = Instant::now();
        let s = Duration::from_secs(1);
        let d = Dialer::new().timeout(s).deadline(now + 2 * s);
        assert_eq!(d.deadline_from(now), Some(now + s));
        let d = Dialer::new().timeout(3 * s).deadline(now + 2 * s);
        assert_eq!(d.deadline_from(now), Some(now + 2 * s));
        assert_eq!(Dialer::new().timeout(s).deadline_from(now), Some(now + s));
        assert_eq!(Dialer::new().deadline(now).deadline_from(now), Some(now));
        // Zero is no timeout (Go); a timeout beyond what an Instant holds is none either.
        assert_eq!(
            Dialer::new().timeout(Duration::ZERO).deadline_from(now),
            None
        );
        assert_eq!(
            Dialer::new().timeout(Duration::MAX).deadline_from(now),
            None
        );
        assert_eq!(Dialer::new().deadline_from(now), None);
    }

    #[test]
    fn each_address_gets_a_share_of_at_least_two_seconds() {
        let now = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(slice(now, None, 3), Some(None));
        assert_eq!(slice(now, Some(now), 1), None, "time is up");
        assert_eq!(slice(now + s, Some(now), 1), None, "time is up");
        // 60 s over 3 addresses: 20 s for the first.
        assert_eq!(slice(now, Some(now + 60 * s), 3), Some(Some(now + 20 * s)));
        // 3 s over 3 addresses: 2 s (the minimum), not 1 s.
        assert_eq!(slice(now, Some(now + 3 * s), 3), Some(Some(now + 2 * s)));
        // Less than 2 s left: all of it.
        let soon = now + Duration::from_millis(500);
        assert_eq!(slice(now, Some(soon), 3), Some(Some(soon)));
    }

    #[test]
    fn names_are_told_from_addresses() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(without_lookup(&a).unwrap().unwrap(), vec![a]);
        assert_eq!(without_lookup(&"127.0.0.1:80").unwrap().unwrap(), vec![a]);
        assert_eq!(
            without_lookup(&("127.0.0.1".to_string(), 80))
                .unwrap()
                .unwrap(),
            vec![a]
        );
        assert!(without_lookup(&"localhost:80").is_none());
        assert!(without_lookup(&("example.invalid", 80)).is_none());
        assert!(without_lookup(&"localhost:80".to_string()).is_none());
    }
}
