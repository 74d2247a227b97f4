//! [`Async`]: the async face of a socket, kept apart from the blocking one so that each
//! style's traits and methods resolve without ambiguity.
//!
//! Why a separate type: a stream that implemented both `std::io::Read` and
//! `futures_io::AsyncRead` made `stream.read(&mut buf)` ambiguous (E0034) wherever both
//! `std::io::Read` and `futures::AsyncReadExt` were imported, and its Go-style inherent
//! `close()` hid `AsyncWriteExt::close`. Now [`TcpStream`](crate::TcpStream) and (Unix)
//! `UnixStream` implement the `std` traits only, and `Async<TcpStream>`
//! (from [`TcpStream::into_async`](crate::TcpStream::into_async), an async accept or an
//! async connect) implements the async ones only. Converting costs nothing: it is the same
//! registered socket.
//!
//! No `AsyncBufRead`: the streams keep no buffer of their own (a read is one syscall into the
//! caller's buffer), so there is nothing to lend; `BufReader` (futures' or tokio's) adds one.

use std::ops::Deref;

/// An async socket: `futures_io::AsyncRead`/`AsyncWrite` (and, with the `tokio` feature,
/// `tokio::io::AsyncRead`/`AsyncWrite`), for `Async<TcpStream>`, `Async<UnixStream>`, their
/// shared references (one task reads while another writes), borrowed faces
/// (`Async<&TcpStream>` from [`as_async`](crate::TcpStream::as_async)) and split halves.
///
/// It dereferences to the blocking type for everything that does not wait: deadlines,
/// addresses, socket options, [`closer`](crate::TcpStream::closer). Its own
/// [`close`](Async::close) is async and is `AsyncWriteExt::close`: it shuts the write side
/// down (the peer reads end-of-file). The Go-style close that wakes every waiter is
/// `stream.get_ref().close()` (or a [`Closer`](crate::Closer)); dropping the stream closes it
/// too.
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use netpoll_std::{deadline_after, is_timeout, TcpListener, TcpStream};
///
/// futures_lite::future::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let mut client = TcpStream::connect_async(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept()?; // blocking, next to async: fine
///
///     client.write_all(b"ping").await?; // AsyncWriteExt
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf)?; // std::io::Read, no ambiguity
///     server.write_all(b"pong")?;
///     let n = client.read(&mut buf).await?; // AsyncReadExt::read
///     assert_eq!(&buf[..n], b"pong");
///
///     client.set_read_deadline(deadline_after(Duration::from_millis(20)))?; // through Deref
///     assert!(is_timeout(&client.read(&mut buf).await.unwrap_err()));
///
///     client.close().await?; // shuts the write side down: the server reads EOF
///     assert_eq!(server.read(&mut buf)?, 0);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Async<T> {
    io: T,
}

impl<T> Async<T> {
    pub(crate) fn wrap(io: T) -> Async<T> {
        Async { io }
    }

    /// The blocking socket.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The blocking socket, unwrapped (the same registered socket: nothing is re-registered).
    pub fn into_inner(self) -> T {
        self.io
    }
}

impl<T> Deref for Async<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.io
    }
}

impl<T> AsRef<T> for Async<T> {
    fn as_ref(&self) -> &T {
        &self.io
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Async").field(&self.io).finish()
    }
}

super::forward_os_socket!(Async, io);

/// `futures_io::AsyncRead` for `$t`, reading through the `PollFd` that `$fd` (a closure of
/// `&$t`) names. Several tasks reading at once through a shared reference take turns on the
/// direction's lock; none is lost (see `fd.rs`).
macro_rules! async_read {
    ($(ref $lt:lifetime,)? $t:ty, |$s:ident| $fd:expr) => {
        impl$(<$lt>)? futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::io::poll_read({ let $s: &Self = &*self; &$fd }, cx, buf)
            }
            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::io::poll_read_vectored({ let $s: &Self = &*self; &$fd }, cx, bufs)
            }
        }

        #[cfg(feature = "tokio")]
        impl$(<$lt>)? tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::net::io::poll_read_buf({ let $s: &Self = &*self; &$fd }, cx, buf)
            }
        }
    };
}

/// `futures_io::AsyncWrite` (and tokio's) for `$t`; closing (tokio: shutting down) shuts the
/// write side down.
macro_rules! async_write {
    ($(ref $lt:lifetime,)? $t:ty, |$s:ident| $fd:expr) => {
        impl$(<$lt>)? futures_io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::io::poll_write({ let $s: &Self = &*self; &$fd }, cx, buf)
            }
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::io::poll_write_vectored({ let $s: &Self = &*self; &$fd }, cx, bufs)
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
                std::task::Poll::Ready($crate::net::io::shutdown_write({ let $s: &Self = &*self; &$fd }))
            }
        }

        #[cfg(feature = "tokio")]
        impl$(<$lt>)? tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::io::poll_write({ let $s: &Self = &*self; &$fd }, cx, buf)
            }
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::io::poll_write_vectored({ let $s: &Self = &*self; &$fd }, cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                true
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            /// Shuts the write side down (the peer reads EOF); the socket stays open.
            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::io::shutdown_write({ let $s: &Self = &*self; &$fd }))
            }
        }
    };
}

/// Everything async for the stream type `$ty`: the traits on `Async<$ty>`, `&Async<$ty>`
/// and its halves, `From`, `into_async`, and `Async`'s own `close`, `peek` and `into_split`.
macro_rules! async_stream {
    ($ty:ident) => {
        $crate::net::async_io::async_read!($crate::net::Async<$ty>, |s| s.get_ref().fd);
        $crate::net::async_io::async_read!(&$crate::net::Async<$ty>, |s| s.get_ref().fd);
        $crate::net::async_io::async_read!(
            $crate::net::Async<$crate::net::ReadHalf<$ty>>,
            |s| s.get_ref().get_ref().fd
        );
        $crate::net::async_io::async_read!(ref 'a, $crate::net::Async<&'a $ty>, |s| s.get_ref().fd);
        $crate::net::async_io::async_write!($crate::net::Async<$ty>, |s| s.get_ref().fd);
        $crate::net::async_io::async_write!(ref 'a, $crate::net::Async<&'a $ty>, |s| s.get_ref().fd);
        $crate::net::async_io::async_write!(&$crate::net::Async<$ty>, |s| s.get_ref().fd);
        $crate::net::async_io::async_write!(
            $crate::net::Async<$crate::net::WriteHalf<$ty>>,
            |s| s.get_ref().get_ref().fd
        );

        impl From<$ty> for $crate::net::Async<$ty> {
            fn from(s: $ty) -> Self {
                $crate::net::Async::wrap(s)
            }
        }

        impl $ty {
            /// The async face of this stream (no cost: the same registered socket).
            pub fn into_async(self) -> $crate::net::Async<$ty> {
                $crate::net::Async::wrap(self)
            }

            /// A borrowed async face, for async code that reaches a blocking stream through
            /// a reference.
            pub fn as_async(&self) -> $crate::net::Async<&$ty> {
                $crate::net::Async::wrap(self)
            }
        }

        impl $crate::net::Async<$ty> {
            /// Shut the write side down (`AsyncWriteExt::close`, usable without importing
            /// it): the peer reads end-of-file; reading goes on. The Go-style close that wakes
            /// every waiter is `get_ref().close()`.
            pub async fn close(&mut self) -> std::io::Result<()> {
                $crate::net::io::shutdown_write(&self.get_ref().fd)
            }

            /// Read without consuming (async): wait, bounded by the read deadline, until
            /// data is queued, then copy what fits into `buf`.
            pub async fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let fd = &self.get_ref().fd;
                std::future::poll_fn(|cx| $crate::net::io::poll_peek(fd, cx, buf, <$ty>::peek_raw))
                    .await
            }

            /// Split into owned halves that can move to different tasks; see
            /// [`ReadHalf`]($crate::net::ReadHalf).
            pub fn into_split(
                self,
            ) -> (
                $crate::net::Async<$crate::net::ReadHalf<$ty>>,
                $crate::net::Async<$crate::net::WriteHalf<$ty>>,
            ) {
                let (r, w) = self.into_inner().into_split();
                ($crate::net::Async::wrap(r), $crate::net::Async::wrap(w))
            }
        }

        impl<'a> $crate::net::Async<&'a $ty> {
            /// Shut the write side down (`AsyncWriteExt::close`, usable without importing
            /// it); the Go-style close is `get_ref().close()`.
            pub async fn close(&mut self) -> std::io::Result<()> {
                $crate::net::io::shutdown_write(&self.get_ref().fd)
            }
        }

        impl $crate::net::Async<$crate::net::WriteHalf<$ty>> {
            /// Shut the write side down (`AsyncWriteExt::close`): the peer reads end-of-file.
            pub async fn close(&mut self) -> std::io::Result<()> {
                $crate::net::io::shutdown_write(&self.get_ref().get_ref().fd)
            }
        }

        impl $crate::net::Async<$crate::net::ReadHalf<$ty>> {
            /// Read without consuming (async), bounded by the read deadline.
            pub async fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let fd = &self.get_ref().get_ref().fd;
                std::future::poll_fn(|cx| $crate::net::io::poll_peek(fd, cx, buf, <$ty>::peek_raw))
                    .await
            }

            /// Put the halves back together (see [`ReadHalf::reunite`]($crate::net::ReadHalf::reunite)).
            pub fn reunite(
                self,
                w: $crate::net::Async<$crate::net::WriteHalf<$ty>>,
            ) -> Result<$crate::net::Async<$ty>, $crate::net::ReuniteError<$ty>> {
                self.into_inner()
                    .reunite(w.into_inner())
                    .map($crate::net::Async::wrap)
            }
        }
    };
}

pub(crate) use {async_read, async_stream, async_write};
