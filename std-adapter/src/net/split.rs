//! Owned read and write halves of a stream, to move into different threads or tasks
//! (tokio's `into_split`), and `try_clone`.
//!
//! Both halves are handles to the one registered socket: deadlines, the per-direction locks
//! and a Go-style close are shared, and the socket is released when the last handle goes.
//! `&TcpStream` (and `&Async<TcpStream>`) keep working for the same purpose through an `Arc`
//! or a borrow; halves only add ownership and a type that can do one direction.

use std::fmt;

/// The reading half of a stream, from [`TcpStream::into_split`](crate::TcpStream::into_split)
/// or (Unix) `UnixStream::into_split`: `std::io::Read` (blocking),
/// or as `Async<ReadHalf<_>>` `AsyncRead`.
///
/// ```
/// use std::io::{Read, Write};
/// use netpoll_std::{TcpListener, TcpStream};
///
/// let l = TcpListener::bind("127.0.0.1:0")?;
/// let client = TcpStream::connect(l.local_addr()?)?;
/// let (mut server, _) = l.accept()?;
/// let (mut rd, mut wr) = client.into_split();
/// let writer = std::thread::spawn(move || wr.write_all(b"hello"));
/// let mut got = [0; 5];
/// server.read_exact(&mut got)?;
/// server.write_all(&got)?;
/// rd.read_exact(&mut got)?;
/// assert_eq!(&got, b"hello");
/// writer.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ReadHalf<T> {
    stream: T,
}

/// The writing half of a stream: `std::io::Write` (blocking), or as `Async<WriteHalf<_>>`
/// `AsyncWrite`. Dropping it shuts the write side down, so the peer reads end-of-file (as
/// tokio's `OwnedWriteHalf` does), unless it was [`reunite`](ReadHalf::reunite)d.
pub struct WriteHalf<T> {
    stream: T,
    /// Shut the write side down on drop (cleared by `reunite`).
    shutdown: Option<fn(&T)>,
}

impl<T> ReadHalf<T> {
    pub(crate) fn new(stream: T) -> ReadHalf<T> {
        ReadHalf { stream }
    }

    /// The whole stream (for its addresses, options, or a Go-style close of both halves).
    pub fn get_ref(&self) -> &T {
        &self.stream
    }

    pub(crate) fn into_stream(self) -> T {
        self.stream
    }
}

impl<T> WriteHalf<T> {
    pub(crate) fn new(stream: T, shutdown: fn(&T)) -> WriteHalf<T> {
        WriteHalf {
            stream,
            shutdown: Some(shutdown),
        }
    }

    /// The whole stream (for its addresses, options, or a Go-style close of both halves).
    pub fn get_ref(&self) -> &T {
        &self.stream
    }

    pub(crate) fn disarm(mut self) {
        self.shutdown = None;
    }
}

impl<T> Drop for WriteHalf<T> {
    fn drop(&mut self) {
        if let Some(f) = self.shutdown.take() {
            f(&self.stream);
        }
    }
}

impl<T> AsRef<T> for ReadHalf<T> {
    fn as_ref(&self) -> &T {
        &self.stream
    }
}

impl<T> AsRef<T> for WriteHalf<T> {
    fn as_ref(&self) -> &T {
        &self.stream
    }
}

super::forward_os_socket!(ReadHalf, stream);
super::forward_os_socket!(WriteHalf, stream);

impl<T: fmt::Debug> fmt::Debug for ReadHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(&self.stream).finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for WriteHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(&self.stream).finish()
    }
}

/// [`ReadHalf::reunite`] was given halves of two different streams; here they are back.
pub struct ReuniteError<T>(pub ReadHalf<T>, pub WriteHalf<T>);

impl<T> fmt::Debug for ReuniteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<T> fmt::Display for ReuniteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same stream")
    }
}

impl<T> std::error::Error for ReuniteError<T> {}

/// `try_clone`, `into_split`, and the halves' `Read`/`Write` and accessors for the stream
/// type `$ty` (whose `fd` field is a `PollFd`).
macro_rules! split_stream {
    ($ty:ident) => {
        impl $ty {
            /// A second handle to this connection, for another thread or task, like copying a
            /// Go `net.Conn`: deadlines and a Go-style [`close`](Self::close) are shared, and
            /// the socket is released when the last handle is dropped. Fails only if the
            /// socket was closed.
            pub fn try_clone(&self) -> std::io::Result<$ty> {
                self.fd
                    .check_open()
                    .map_err(|e| $crate::net::io::op_err("clone", self.fd.io(), e))?;
                Ok($ty {
                    fd: self.fd.share(),
                })
            }

            /// Split into an owned read half and write half that can move to different
            /// threads (or, through [`Async::into_split`]($crate::net::Async), tasks).
            pub fn into_split(self) -> ($crate::net::ReadHalf<$ty>, $crate::net::WriteHalf<$ty>) {
                let r = $ty {
                    fd: self.fd.share(),
                };
                (
                    $crate::net::ReadHalf::new(r),
                    $crate::net::WriteHalf::new(self, |s: &$ty| {
                        let _ = $crate::net::io::shutdown_write(&s.fd);
                    }),
                )
            }
        }

        impl $crate::net::ReadHalf<$ty> {
            /// Set the read deadline (`None` clears it); shared with the whole stream.
            pub fn set_read_deadline(&self, at: Option<std::time::Instant>) -> std::io::Result<()> {
                self.get_ref().set_read_deadline(at)
            }

            /// Read without consuming (blocking), bounded by the read deadline.
            pub fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.get_ref().peek(buf)
            }

            /// Put the halves back together into the stream they came from; `Err` with both
            /// halves if they belong to different streams.
            pub fn reunite(
                self,
                w: $crate::net::WriteHalf<$ty>,
            ) -> Result<$ty, $crate::net::ReuniteError<$ty>> {
                if !self.get_ref().fd.same_as(&w.get_ref().fd) {
                    return Err($crate::net::ReuniteError(self, w));
                }
                w.disarm();
                Ok(self.into_stream())
            }

            /// The async face of this half.
            pub fn into_async(self) -> $crate::net::Async<$crate::net::ReadHalf<$ty>> {
                $crate::net::Async::wrap(self)
            }
        }

        impl $crate::net::WriteHalf<$ty> {
            /// Set the write deadline (`None` clears it); shared with the whole stream.
            pub fn set_write_deadline(
                &self,
                at: Option<std::time::Instant>,
            ) -> std::io::Result<()> {
                self.get_ref().set_write_deadline(at)
            }

            /// The async face of this half.
            pub fn into_async(self) -> $crate::net::Async<$crate::net::WriteHalf<$ty>> {
                $crate::net::Async::wrap(self)
            }
        }

        impl std::io::Read for $crate::net::ReadHalf<$ty> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                $crate::net::io::read(&self.get_ref().fd, buf)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                $crate::net::io::read_vectored(&self.get_ref().fd, bufs)
            }
        }

        impl std::io::Write for $crate::net::WriteHalf<$ty> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                $crate::net::io::write(&self.get_ref().fd, buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                $crate::net::io::write_vectored(&self.get_ref().fd, bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use split_stream;
