//! Readiness waits (`readable`, `writable`, `wait_readable`, `wait_writable`) and single
//! non-blocking attempts (`try_read`, `try_write`, UDP's `try_recv*`/`try_send*`), for a
//! server that waits for data without lending a buffer to every idle connection.
//!
//! A readiness wait is a read (or write) of nothing, as in Go's `RawConn.Read`: it takes
//! turns with the other operations in its direction, fails with "use of closed network
//! connection" once the socket is closed (a `close` wakes it), fails with "i/o timeout" when
//! the direction's deadline passes (a new deadline applies to a wait already blocked), and
//! otherwise returns when the direction *may* be ready. The attempt that follows can still
//! say `WouldBlock` (another reader came first, or the socket had not been tried yet): try
//! again after the next wait, which then waits for a readiness edge. The pattern:
//!
//! ```
//! use std::io::{self, Write};
//! use netpoll_std::{TcpListener, TcpStream};
//!
//! futures_lite::future::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let mut client = TcpStream::connect(listener.local_addr()?)?;
//!     let (server, _) = listener.accept()?;
//!     client.write_all(b"ping")?;
//!     let mut buf = [0u8; 64]; // a buffer lent only while a read runs (per worker, say)
//!     let n = loop {
//!         server.readable().await?; // no buffer held while waiting
//!         match server.try_read(&mut buf) {
//!             Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
//!             r => break r?,
//!         }
//!     };
//!     assert_eq!(&buf[..n], b"ping");
//!     Ok::<(), io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! `try_*` never waits: it says `WouldBlock` when the syscall would block or another
//! operation holds the direction, and fails at once on a closed socket or an expired
//! deadline, like the blocking forms.

/// `readable`/`writable` (async), `poll_readable`/`poll_writable`, `wait_readable`/
/// `wait_writable` (blocking) for a type with a `fd: PollFd<_>` field.
macro_rules! readiness_methods {
    ($ty:ty) => {
        impl $ty {
            /// Wait until the socket may be readable (async): see [the module
            /// documentation](crate::net::ready). Fails with "i/o timeout" when the read
            /// deadline passes and with "use of closed network connection" once the socket
            /// is closed. After it returns a read may still say `WouldBlock`; use
            /// `try_read` (or `try_recv*`) and wait again on `WouldBlock`.
            pub fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + '_ {
                std::future::poll_fn(move |cx| self.poll_readable(cx))
            }

            /// Wait until the socket may be writable (async): as [`readable`](Self::readable),
            /// bounded by the write deadline.
            pub fn writable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + '_ {
                std::future::poll_fn(move |cx| self.poll_writable(cx))
            }

            /// Poll for readability: the `poll_*` form of [`readable`](Self::readable).
            pub fn poll_readable(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.fd
                    .poll_ready(cx, netpoll_core::Mode::Read)
                    .map_err(|e| $crate::net::io::op_err("read", self.fd.io(), e))
            }

            /// Poll for writability: the `poll_*` form of [`writable`](Self::writable).
            pub fn poll_writable(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.fd
                    .poll_ready(cx, netpoll_core::Mode::Write)
                    .map_err(|e| $crate::net::io::op_err("write", self.fd.io(), e))
            }

            /// Wait until the socket may be readable, parking the thread (blocking, bounded
            /// by the read deadline): the blocking form of [`readable`](Self::readable).
            pub fn wait_readable(&self) -> std::io::Result<()> {
                self.fd
                    .wait_ready(netpoll_core::Mode::Read)
                    .map_err(|e| $crate::net::io::op_err("read", self.fd.io(), e))
            }

            /// Wait until the socket may be writable, parking the thread (blocking, bounded
            /// by the write deadline): the blocking form of [`writable`](Self::writable).
            pub fn wait_writable(&self) -> std::io::Result<()> {
                self.fd
                    .wait_ready(netpoll_core::Mode::Write)
                    .map_err(|e| $crate::net::io::op_err("write", self.fd.io(), e))
            }
        }
    };
}

/// `try_read`/`try_write` for a stream type (its `std` type reads and writes through `&S`).
macro_rules! try_stream_methods {
    ($ty:ty) => {
        impl $ty {
            /// Read what is queued into `buf` without waiting: `WouldBlock` if nothing is (or
            /// another read is running), `Ok(0)` at end-of-file. Fails at once with "i/o
            /// timeout" past the read deadline and with "use of closed network connection"
            /// once closed. An empty `buf` reads nothing and returns `Ok(0)`.
            #[inline]
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                if buf.is_empty() {
                    return self
                        .fd
                        .check_open()
                        .map(|()| 0)
                        .map_err(|e| $crate::net::io::op_err("read", self.fd.io(), e));
                }
                self.fd
                    .try_read_stream(buf.len(), |s| $crate::sys::net::stream_read(s, buf))
                    .map_err(|e| {
                        $crate::net::ready::op_err_unless_would_block("read", self.fd.io(), e)
                    })
            }

            /// Write what fits of `buf` without waiting: `WouldBlock` if nothing fits (or
            /// another write is running). Fails at once with "i/o timeout" past the write
            /// deadline and with "use of closed network connection" once closed.
            #[inline]
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.fd
                    .try_io(netpoll_core::Mode::Write, |s| {
                        $crate::sys::net::stream_write(s, buf)
                    })
                    .map_err(|e| {
                        $crate::net::ready::op_err_unless_would_block("write", self.fd.io(), e)
                    })
            }
        }
    };
}

pub(crate) use {readiness_methods, try_stream_methods};

/// [`op_err`](super::io::op_err), except that `WouldBlock` stays a plain, cheap error: it is
/// the expected answer of a `try_*` call, not a failure to report.
#[inline]
pub(crate) fn op_err_unless_would_block<S: super::io::Endpoint>(
    op: &'static str,
    s: &S,
    e: std::io::Error,
) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::WouldBlock {
        e
    } else {
        super::io::op_err(op, s, e)
    }
}
