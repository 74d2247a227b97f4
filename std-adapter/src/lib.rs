#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod clock;
mod error;
mod executor;
mod fd;
mod park;
mod runtime;
mod sys;

#[cfg(unix)]
pub mod green;
pub mod net;
pub mod server;
pub mod trace;

pub use clock::{deadline_after, StdClock};
pub use error::{is_closed, is_timeout, NetError, OpError};
pub use fd::Closer;
pub use net::{
    Async, Dialer, ReadHalf, ReuniteError, TcpListener, TcpStream, UdpSocket, WriteHalf,
};
#[cfg(unix)]
pub use net::{UnixListener, UnixStream};
pub use runtime::{Builder, Runtime, RuntimeStats, DEFAULT_CAPACITY};
pub use server::{Server, ServerHandle, ServerStats, ShutdownReport, DEFAULT_STACK_SIZE};
#[cfg(feature = "fault-injection")]
pub use sys::fault;
pub use sys::BackendKind;
