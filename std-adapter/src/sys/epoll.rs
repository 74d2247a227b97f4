//! Native epoll (Go's `netpoll_epoll.go`), through libc.
//!
//! * One epoll instance (`EPOLL_CLOEXEC`); every descriptor is added once with
//!   `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET` and the core's token as `data.u64`,
//!   so `arm` is never needed and an event whose generation is stale is dropped by the core.
//!   `EPOLLPRI` is there for TCP's urgent data: a read stops short at the urgent mark, and the
//!   edge tells readers that a short read is no proof of an empty queue (see `fd.rs`).
//! * The break is an eventfd, registered level-triggered under a token no descriptor can have;
//!   the core deduplicates wakes, this file only drains the counter when it fires.
//! * Up to [`EVENTS`] events per wait, in a stack buffer: `wait` runs on one thread at a time
//!   (the core's loop lock), and a full buffer only means the next wait returns at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use netpoll_core::{Event, Readiness, Token};

use super::{timeout_ms, Source};

/// Events taken from the kernel per `epoll_wait`.
pub(crate) const EVENTS: usize = 256;

/// The cookie of the eventfd: generation bits a descriptor token never has (the core's
/// generation is 28 bits wide).
const WAKE_TOKEN: u64 = u64::MAX;

pub(crate) struct Epoll {
    epfd: OwnedFd,
    wakefd: OwnedFd,
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall with a flag argument; no pointers.
        let epfd = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epfd` is a fresh descriptor that nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        // SAFETY: plain syscall with integer arguments.
        let wakefd = syscall!(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `wakefd` is a fresh descriptor that nothing else owns.
        let wakefd = unsafe { OwnedFd::from_raw_fd(wakefd) };
        let this = Epoll { epfd, wakefd };
        this.ctl(
            libc::EPOLL_CTL_ADD,
            this.wakefd.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE_TOKEN,
        )?;
        Ok(this)
    }

    fn ctl(&self, op: libc::c_int, fd: libc::c_int, events: u32, cookie: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events,
            u64: cookie,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call (kernels before
        // 2.6.9 require it even for EPOLL_CTL_DEL).
        syscall!(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    pub(crate) fn register(&self, source: &Source, token: Token) -> io::Result<()> {
        let events =
            libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET;
        self.ctl(
            libc::EPOLL_CTL_ADD,
            source.raw_source(),
            events as u32,
            token.0,
        )
    }

    pub(crate) fn deregister(&self, source: &Source, _token: Token) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, source.raw_source(), 0, 0)
    }

    pub(crate) fn arm(&self, _: &Source, _: Token, _: netpoll_core::Mode) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn wait(
        &self,
        timeout: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> io::Result<()> {
        // Not zeroed: the kernel writes the first `n` entries and only those are read (zeroing
        // 3 KiB per wait cost more than the rest of a wait's user-space work).
        let mut events = [std::mem::MaybeUninit::<libc::epoll_event>::uninit(); EVENTS];
        // SAFETY: the buffer holds `EVENTS` writable entries (epoll_event is plain data, so
        // uninitialised storage is fine to hand to the kernel) and outlives the call.
        let n = match syscall!(unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                events.as_mut_ptr().cast(),
                EVENTS as libc::c_int,
                timeout_ms(timeout),
            )
        }) {
            Ok(n) => (n as usize).min(EVENTS),
            // A signal: return so the core recomputes its deadlines and calls again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        };
        for ev in &events[..n] {
            // SAFETY: epoll_wait initialised the first `n` entries.
            let ev = unsafe { ev.assume_init_read() };
            let (flags, cookie) = (ev.events, ev.u64);
            if cookie == WAKE_TOKEN {
                self.drain_wake();
                continue;
            }
            on_event(Event {
                token: Token(cookie),
                readiness: readiness(flags),
            });
        }
        Ok(())
    }

    fn drain_wake(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: `buf` is 8 writable bytes, what an eventfd read needs. A failure (EAGAIN: a
        // racing wait drained it) leaves nothing to do.
        let _ = syscall!(unsafe {
            libc::read(self.wakefd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
        });
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is 8 readable bytes, what an eventfd write needs.
        match syscall!(unsafe {
            libc::write(self.wakefd.as_raw_fd(), one.as_ptr().cast(), one.len())
        }) {
            Ok(_) => Ok(()),
            // The counter is saturated: a wake is already pending.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Map epoll flags to the core's readiness (Go's `netpoll` switch): a hang-up wakes readers
/// (they read EOF or the error) and, for a full hang-up, writers; `EPOLLERR` wakes both, and
/// the syscall they retry reports the precise error (`ECONNRESET`, `ECONNREFUSED`, ...).
///
/// `EPOLLRDHUP` (or a full hang-up) also sets the descriptor's sticky read-closed mark, and
/// `EPOLLPRI` (urgent data) its sticky urgent mark; either stops readers from skipping the
/// read after a short one.
///
/// Only an `EPOLLERR` that comes alone marks the descriptor's event-error flag, as in Go since
/// 1.20: combined with readiness (an ICMP error on a UDP socket that is still writable) it
/// would otherwise fail every later read of a socket that works.
fn readiness(flags: u32) -> Readiness {
    let has = |f: libc::c_int| flags & f as u32 != 0;
    let err = libc::EPOLLERR;
    Readiness {
        readable: has(libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLPRI | err),
        writable: has(libc::EPOLLOUT | libc::EPOLLHUP | err),
        error: flags == err as u32,
        read_closed: has(libc::EPOLLRDHUP | libc::EPOLLHUP),
        urgent: has(libc::EPOLLPRI),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_like_go() {
        let r = readiness(libc::EPOLLRDHUP as u32);
        assert!(r.readable && !r.writable && !r.error);
        let r = readiness(libc::EPOLLHUP as u32);
        assert!(r.readable && r.writable && !r.error);
        let r = readiness(libc::EPOLLERR as u32);
        assert!(r.error && r.readable && r.writable);
        let r = readiness((libc::EPOLLERR | libc::EPOLLOUT) as u32);
        assert!(
            !r.error && r.readable && r.writable,
            "error with readiness: the syscall says"
        );
        let r = readiness(libc::EPOLLOUT as u32);
        assert!(!r.readable && r.writable);
        let r = readiness((libc::EPOLLIN | libc::EPOLLPRI) as u32);
        assert!(r.readable && r.urgent && !r.read_closed);
    }

    #[test]
    fn wake_interrupts_a_blocking_wait() {
        let ep = Epoll::new().unwrap();
        ep.wake().unwrap();
        ep.wake().unwrap();
        let mut seen = 0;
        ep.wait(None, &mut |_| seen += 1).unwrap();
        assert_eq!(seen, 0, "the wake is not reported as a descriptor event");
        // Drained: a zero-timeout wait now finds nothing and returns at once.
        ep.wait(Some(Duration::ZERO), &mut |_| seen += 1).unwrap();
        assert_eq!(seen, 0);
    }

    #[test]
    fn a_signal_returns_from_a_blocking_wait() {
        extern "C" fn ignore(_: libc::c_int) {}
        // SAFETY: zeroed is a valid sigaction (empty mask, no flags); the handler does nothing,
        // and no SA_RESTART, so epoll_wait fails with EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
        let ep = std::sync::Arc::new(Epoll::new().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            // SAFETY: pthread_self has no preconditions.
            tx.send(unsafe { libc::pthread_self() }).unwrap();
            let start = std::time::Instant::now();
            ep.wait(Some(Duration::from_secs(60)), &mut |_| {}).unwrap();
            start.elapsed()
        });
        let tid = rx.recv().unwrap();
        let start = std::time::Instant::now();
        // The thread may not be inside epoll_wait yet: signal until it returns (bounded).
        while !waiter.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "wait not interrupted"
            );
            // SAFETY: `tid` is a live thread of this process (it has not been joined).
            unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(waiter.join().unwrap() < Duration::from_secs(30));
    }
}
