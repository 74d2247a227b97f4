//! Go-style sockets with deadlines: [`TcpListener`], [`TcpStream`], [`UdpSocket`], and on Unix
//! `UnixListener`, `UnixStream`.
//!
//! The socket types implement `AsFd`/`AsRawFd` on Unix and `AsSocket`/`AsRawSocket` on
//! Windows (where sockets are `SOCKET` handles, not file descriptors). Unix-domain sockets
//! and `TcpStream::send_file` exist on Unix only.
//!
//! Every socket works both ways, one face per style so that neither's methods are ambiguous:
//! * **blocking**: the types themselves: `std::io::Read`/`Write` (also on `&T`, so one thread
//!   can read while another writes), `accept`, `connect`, `peek`: the calling thread parks
//!   while the socket is not ready;
//! * **async**: [`Async<TcpStream>`](Async) and [`Async<UnixStream>`](Async) (from
//!   `into_async`, `accept_async`, `connect_async`): `futures_io::AsyncRead`/`AsyncWrite`
//!   (and tokio's with the `tokio` feature), usable from any executor: the task's waker is
//!   woken by the runtime's poller thread. Listeners and UDP sockets have `*_async` methods;
//! * **readiness**: `readable()`/`writable()` (async), `wait_readable()`/`wait_writable()`
//!   (blocking) and the non-blocking `try_read`/`try_write` (`try_recv*`/`try_send*` on UDP),
//!   for a server that waits for data without lending a buffer to the wait (see [`ready`]).
//!
//! A stream can be shared by `&T`, [`try_clone`](TcpStream::try_clone), or split into owned
//! [`ReadHalf`] and [`WriteHalf`] (`into_split`). Errors name the operation and the
//! endpoints ([`OpError`](crate::OpError)).
//!
//! Deadlines follow Go: absolute, `None` clears, a deadline in the past fails the next
//! operation at once, an operation past its deadline fails with `io::ErrorKind::TimedOut`
//! ("i/o timeout"), and a new deadline applies to operations already blocked. Read deadlines
//! also bound `accept` and `recv`; write deadlines bound `connect`'s wait, `send` and (Unix)
//! `TcpStream::send_file`.

pub(crate) mod async_io;
mod dial;
pub(crate) mod io;
mod listener;
mod offload;
pub(crate) mod options;
pub mod ready;
pub(crate) mod split;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use async_io::Async;
pub use dial::Dialer;
pub use listener::Listener;
pub(crate) use listener::Token;
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{ListenerBuilder, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixListener, UnixStream};

/// Deadline setters, `close`, `closer`, `runtime`, `AsFd`/`AsRawFd` (Unix) or
/// `AsSocket`/`AsRawSocket` (Windows), `Debug` for a type with a `fd: PollFd<_>` field.
macro_rules! common_methods {
    ($ty:ty) => {
        impl $ty {
            /// Set the read and write deadlines (Go's `SetDeadline`); `None` clears them.
            /// A deadline in the past makes pending and future operations fail with
            /// "i/o timeout" until it is moved.
            #[inline(always)]
            pub fn set_deadline(&self, at: Option<std::time::Instant>) -> std::io::Result<()> {
                self.fd
                    .set_deadline(None, at)
                    .map_err(|e| $crate::net::io::op_err("set", self.fd.io(), e))
            }
            /// Set the read deadline (reads, `recv`, `accept`); `None` clears it.
            #[inline(always)]
            pub fn set_read_deadline(&self, at: Option<std::time::Instant>) -> std::io::Result<()> {
                self.fd
                    .set_deadline(Some(netpoll_core::Mode::Read), at)
                    .map_err(|e| $crate::net::io::op_err("set", self.fd.io(), e))
            }
            /// Set the write deadline (writes, `send`, `send_file`); `None` clears it.
            #[inline(always)]
            pub fn set_write_deadline(
                &self,
                at: Option<std::time::Instant>,
            ) -> std::io::Result<()> {
                self.fd
                    .set_deadline(Some(netpoll_core::Mode::Write), at)
                    .map_err(|e| $crate::net::io::op_err("set", self.fd.io(), e))
            }
            /// Set the read and write deadlines `d` from now: Go's
            /// `SetDeadline(time.Now().Add(d))`, the cheap way. See
            /// [`set_read_deadline_after`](Self::set_read_deadline_after).
            #[inline(always)]
            pub fn set_deadline_after(&self, d: std::time::Duration) -> std::io::Result<()> {
                self.fd
                    .set_deadline_after(None, d)
                    .map_err(|e| $crate::net::io::op_err("set", self.fd.io(), e))
            }
            /// Set the read deadline `d` from now: Go's
            /// `SetReadDeadline(time.Now().Add(d))`, the way a server resets its idle timeout
            /// before every read. Cheaper than
            /// [`set_read_deadline`](Self::set_read_deadline)`(`[`deadline_after`](crate::deadline_after)`(d))`:
            /// on Linux the deadline comes from the coarse monotonic clock, rounded up (never
            /// down) by at most two clock ticks and a millisecond (9 ms with 4 ms ticks), so it
            /// may fire that much late but never early, and no precise clock read or
            /// conversion is needed (see [`StdClock`](crate::StdClock)). Elsewhere it is exact.
            /// `Duration::ZERO` expires the deadline at once (a deadline of now); a duration too
            /// large to represent clears it.
            #[inline(always)]
            pub fn set_read_deadline_after(&self, d: std::time::Duration) -> std::io::Result<()> {
                self.fd
                    .set_deadline_after(Some(netpoll_core::Mode::Read), d)
                    .map_err(|e| $crate::net::io::op_err("set", self.fd.io(), e))
            }
            /// Set the write deadline `d` from now: Go's
            /// `SetWriteDeadline(time.Now().Add(d))`, the cheap way. See
            /// [`set_read_deadline_after`](Self::set_read_deadline_after).
            #[inline(always)]
            pub fn set_write_deadline_after(&self, d: std::time::Duration) -> std::io::Result<()> {
                self.fd
                    .set_deadline_after(Some(netpoll_core::Mode::Write), d)
                    .map_err(|e| $crate::net::io::op_err("set", self.fd.io(), e))
            }
            /// Close the socket now, even while other threads or tasks are blocked on it:
            /// they wake with "use of closed network connection". A second close is an
            /// error. The descriptor itself is released when the value is dropped.
            pub fn close(&self) -> std::io::Result<()> {
                self.fd
                    .close()
                    .map_err(|e| $crate::net::io::op_err("close", self.fd.io(), e))
            }
            /// A handle that can [`close`](crate::Closer::close) this socket from elsewhere
            /// without keeping it alive.
            pub fn closer(&self) -> crate::Closer {
                self.fd.closer()
            }
            /// The runtime this socket is registered with.
            pub fn runtime(&self) -> &crate::Runtime {
                self.fd.runtime()
            }
        }

        #[cfg(unix)]
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.fd.io())
            }
        }

        #[cfg(unix)]
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.fd.io())
            }
        }

        #[cfg(windows)]
        impl std::os::windows::io::AsSocket for $ty {
            fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                std::os::windows::io::AsSocket::as_socket(self.fd.io())
            }
        }

        #[cfg(windows)]
        impl std::os::windows::io::AsRawSocket for $ty {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                std::os::windows::io::AsRawSocket::as_raw_socket(self.fd.io())
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("io", self.fd.io())
                    .finish()
            }
        }
    };
}

/// `Read`/`Write` on `T` and `&T` for a stream type, everything async (see [`Async`]) and
/// split (see [`ReadHalf`]), readiness waits and `try_read`/`try_write` (see [`ready`]).
macro_rules! stream_io {
    ($ty:ident) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                $crate::net::io::read(&self.fd, buf)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                $crate::net::io::read_vectored(&self.fd, bufs)
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                $crate::net::io::read(&self.fd, buf)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                $crate::net::io::read_vectored(&self.fd, bufs)
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                $crate::net::io::write(&self.fd, buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                $crate::net::io::write_vectored(&self.fd, bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                $crate::net::io::write(&self.fd, buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                $crate::net::io::write_vectored(&self.fd, bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl $ty {
            /// Read without consuming (blocking): wait, bounded by the read deadline, until
            /// data is queued, then copy what fits into `buf`. An empty `buf` returns at once.
            pub fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                $crate::net::io::peek(&self.fd, buf, <$ty>::peek_raw)
            }
        }

        $crate::net::async_io::async_stream!($ty);
        $crate::net::split::split_stream!($ty);
        $crate::net::ready::readiness_methods!($ty);
        $crate::net::ready::try_stream_methods!($ty);
    };
}

/// `TryFrom` both ways between a socket type and its `std` counterpart (through the global
/// runtime; `from_std_in` picks another).
macro_rules! std_conversions {
    ($ty:ty, $std:ty) => {
        impl TryFrom<$std> for $ty {
            type Error = std::io::Error;
            /// [`from_std`](Self::from_std): register with the global runtime.
            fn try_from(s: $std) -> std::io::Result<Self> {
                <$ty>::from_std(s)
            }
        }

        impl TryFrom<$ty> for $std {
            type Error = std::io::Error;
            /// [`into_std`]($ty::into_std): a blocking `std` socket for the same endpoint.
            fn try_from(s: $ty) -> std::io::Result<Self> {
                s.into_std()
            }
        }
    };
}

/// `AsFd`/`AsRawFd` (Unix) or `AsSocket`/`AsRawSocket` (Windows) for a wrapper `$w<T>`
/// ([`Async`], the split halves), forwarding to its field `$field: T` wherever `T` has them.
macro_rules! forward_os_socket {
    ($w:ident, $field:ident) => {
        #[cfg(unix)]
        impl<T: std::os::fd::AsFd> std::os::fd::AsFd for $w<T> {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.$field.as_fd()
            }
        }

        #[cfg(unix)]
        impl<T: std::os::fd::AsRawFd> std::os::fd::AsRawFd for $w<T> {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.$field.as_raw_fd()
            }
        }

        #[cfg(windows)]
        impl<T: std::os::windows::io::AsSocket> std::os::windows::io::AsSocket for $w<T> {
            fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                self.$field.as_socket()
            }
        }

        #[cfg(windows)]
        impl<T: std::os::windows::io::AsRawSocket> std::os::windows::io::AsRawSocket for $w<T> {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                self.$field.as_raw_socket()
            }
        }
    };
}

pub(crate) use {common_methods, forward_os_socket, std_conversions, stream_io};

/// The runtime to use: the given one, else (inside a green coroutine) its worker's, else the
/// global one.
pub(crate) fn pick(rt: Option<&crate::Runtime>) -> std::io::Result<crate::Runtime> {
    match rt {
        Some(rt) => Ok(rt.clone()),
        None => {
            #[cfg(unix)]
            if let Some(rt) = crate::green::current_runtime() {
                return Ok(rt);
            }
            crate::Runtime::global().cloned()
        }
    }
}
