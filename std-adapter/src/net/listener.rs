//! [`Listener`]: what [`Server`](crate::Server) needs from a listening socket, so that TCP
//! and (on Unix) Unix-domain listeners are both servable.

use std::io;

use super::Async;
use crate::{Closer, Runtime, TcpListener, TcpStream};

mod sealed {
    /// Only this crate's listeners are servable (the server relies on their close semantics).
    pub trait Sealed {}

    /// A value only this crate can make: the hidden methods take one, so only it can call them.
    #[derive(Clone, Copy, Debug)]
    pub struct Token;
}

pub(crate) use sealed::Token;

/// A listening socket a [`Server`](crate::Server) can serve: [`TcpListener`] and, on Unix,
/// `UnixListener`. Sealed: the server relies on their accept and close semantics.
pub trait Listener: sealed::Sealed + Send + 'static {
    /// The connections it accepts.
    type Stream: Send + 'static;
    /// The address it listens on.
    type Addr: Clone + std::fmt::Debug + Send + Sync + 'static;

    #[doc(hidden)]
    fn accept_stream(&self, rt: Option<&Runtime>, _: Token) -> io::Result<Self::Stream>;
    #[doc(hidden)]
    fn listen_addr(&self, _: Token) -> io::Result<Self::Addr>;
    #[doc(hidden)]
    fn listener_closer(&self, _: Token) -> Closer;
    #[doc(hidden)]
    fn listener_runtime(&self, _: Token) -> &Runtime;
    #[doc(hidden)]
    fn stream_closer(s: &Self::Stream, _: Token) -> Closer;
    #[doc(hidden)]
    fn stream_async(s: Self::Stream, _: Token) -> Async<Self::Stream>;
}

/// The impl for a listener type `$l` accepting `$s`, addressed by `$a`.
macro_rules! listener {
    ($l:ty, $s:ty, $a:ty) => {
        impl sealed::Sealed for $l {}

        impl Listener for $l {
            type Stream = $s;
            type Addr = $a;

            fn accept_stream(&self, rt: Option<&Runtime>, _: Token) -> io::Result<$s> {
                match rt {
                    Some(rt) => self.accept_in(rt).map(|(s, _)| s),
                    None => self.accept().map(|(s, _)| s),
                }
            }
            fn listen_addr(&self, _: Token) -> io::Result<$a> {
                self.local_addr()
            }
            fn listener_closer(&self, _: Token) -> Closer {
                self.closer()
            }
            fn listener_runtime(&self, _: Token) -> &Runtime {
                self.runtime()
            }
            fn stream_closer(s: &$s, _: Token) -> Closer {
                s.closer()
            }
            fn stream_async(s: $s, _: Token) -> Async<$s> {
                s.into_async()
            }
        }
    };
}

listener!(TcpListener, TcpStream, std::net::SocketAddr);
#[cfg(unix)]
listener!(
    crate::UnixListener,
    crate::UnixStream,
    std::os::unix::net::SocketAddr
);
