//! Go-style sockets with deadlines: [`TcpListener`], [`TcpStream`], [`UdpSocket`], and on Unix
//! [`UnixListener`], [`UnixStream`].
//!
//! Every type works both ways at once:
//! * **blocking**: `std::io::Read`/`Write` (also on `&T`, so one thread can read while another
//!   writes), `accept`, `connect`, `connect_timeout`: the calling thread parks while the
//!   socket is not ready;
//! * **async**: `futures_io::AsyncRead`/`AsyncWrite` and `*_async` futures, usable from any
//!   executor: the task's waker is woken by the runtime's poller thread.
//!
//! Deadlines follow Go: absolute, `None` clears, a deadline in the past fails the next
//! operation at once, an operation past its deadline fails with `io::ErrorKind::TimedOut`
//! ("i/o timeout"), and a new deadline applies to operations already blocked. Read deadlines
//! also bound `accept` and `recv`; write deadlines bound `connect`'s wait, `send` and
//! [`TcpStream::send_file`].

mod tcp;
mod udp;
mod unix;

pub use tcp::{ListenerBuilder, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// Deadline setters, `close`, `closer`, `runtime`, `AsFd`/`AsRawFd`, `Debug` for a type with
/// a `fd: PollFd<_>` field.
macro_rules! common_methods {
    ($ty:ty) => {
        impl $ty {
            /// Set the read and write deadlines (Go's `SetDeadline`); `None` clears them.
            /// A deadline in the past makes pending and future operations fail with
            /// "i/o timeout" until it is moved.
            pub fn set_deadline(&self, at: Option<std::time::Instant>) -> std::io::Result<()> {
                self.fd.set_deadline(None, at)
            }
            /// Set the read deadline (reads, `recv`, `accept`); `None` clears it.
            pub fn set_read_deadline(&self, at: Option<std::time::Instant>) -> std::io::Result<()> {
                self.fd.set_deadline(Some(netpoll_core::Mode::Read), at)
            }
            /// Set the write deadline (writes, `send`, `send_file`); `None` clears it.
            pub fn set_write_deadline(
                &self,
                at: Option<std::time::Instant>,
            ) -> std::io::Result<()> {
                self.fd.set_deadline(Some(netpoll_core::Mode::Write), at)
            }
            /// Close the socket now, even while other threads or tasks are blocked on it:
            /// they wake with "use of closed network connection". A second close is an
            /// error. The descriptor itself is released when the value is dropped.
            pub fn close(&self) -> std::io::Result<()> {
                self.fd.close()
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

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&self.fd))
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

/// `Read`/`Write` and `AsyncRead`/`AsyncWrite`, each on `T` and `&T`, for a stream type.
macro_rules! stream_io {
    ($ty:ty) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if buf.is_empty() {
                    return self.fd.check_open().map(|()| 0);
                }
                let cap = buf.len();
                self.fd
                    .blocking_read_stream(cap, |s| crate::sys::net::stream_read(s, buf))
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                if bufs.iter().all(|b| b.is_empty()) {
                    return self.fd.check_open().map(|()| 0);
                }
                let cap = $crate::net::vectored_cap(bufs);
                self.fd
                    .blocking_read_stream(cap, |s| std::io::Read::read_vectored(&mut &*s, bufs))
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.fd.blocking(netpoll_core::Mode::Write, |s| {
                    crate::sys::net::stream_write(s, buf)
                })
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.fd.blocking(netpoll_core::Mode::Write, |s| {
                    std::io::Write::write_vectored(&mut &*s, bufs)
                })
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        $crate::net::stream_async_io!($ty);
        $crate::net::stream_async_io!(&$ty);
    };
}

/// `futures-io` `AsyncRead` + `AsyncWrite` for a stream type `$t`: invoked for the type and
/// for a shared reference to it, so one task can read while another writes (a split through
/// `Arc` or a borrow). Several tasks reading (or writing) at once take turns on the
/// direction's lock; none is lost (see `fd.rs`).
macro_rules! stream_async_io {
    ($t:ty) => {
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                if buf.is_empty() {
                    return std::task::Poll::Ready(self.fd.check_open().map(|()| 0));
                }
                let cap = buf.len();
                self.fd
                    .poll_read_stream(cx, cap, |s| crate::sys::net::stream_read(s, buf))
            }
            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                if bufs.iter().all(|b| b.is_empty()) {
                    return std::task::Poll::Ready(self.fd.check_open().map(|()| 0));
                }
                let cap = $crate::net::vectored_cap(bufs);
                self.fd
                    .poll_read_stream(cx, cap, |s| std::io::Read::read_vectored(&mut &*s, bufs))
            }
        }

        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.fd.poll_io(cx, netpoll_core::Mode::Write, |s| {
                    crate::sys::net::stream_write(s, buf)
                })
            }
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.fd.poll_io(cx, netpoll_core::Mode::Write, |s| {
                    std::io::Write::write_vectored(&mut &*s, bufs)
                })
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            /// Shuts the write side down (the peer reads EOF); the socket stays open.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let r = match self.fd.io().shutdown(std::net::Shutdown::Write) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
                    r => r,
                };
                std::task::Poll::Ready(r)
            }
        }
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

/// The most bytes one `readv` can return for `bufs`: std passes at most `IOV_MAX` buffers to
/// the kernel, so a read that fills those is full, not short (and the socket not drained).
pub(crate) fn vectored_cap(bufs: &[std::io::IoSliceMut<'_>]) -> usize {
    // IOV_MAX on Linux (`UIO_MAXIOV`) and macOS; std caps `readv` at the platform's value.
    const IOV_MAX: usize = 1024;
    bufs.iter().take(IOV_MAX).map(|b| b.len()).sum()
}

pub(crate) use {common_methods, std_conversions, stream_async_io, stream_io};

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
