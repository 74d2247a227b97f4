#![doc = include_str!("../README.md")]
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
// `unsafe` is confined to two modules: `sync` (the cells and locks) and `slot` (the waiter-slot
// protocol that decides who owns a waker cell). Everything else is safe code.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(loom, test))]
extern crate std;

#[cfg(test)]
mod test_util;

// The logging shim must come first so its macros are visible below.
mod fmt;

mod counters;
mod desc;
mod error;
mod handle;
mod lifecycle;
mod netpoll;
mod poller;
#[allow(unsafe_code)]
mod slot;
#[allow(unsafe_code)]
mod sync;
mod time;
mod timer;
mod wake_at;

pub mod testing;

pub use desc::PollDesc;
pub use error::{Error, PollError, StorageInUse};
pub use handle::{Generation, Handle, Token};
pub use netpoll::{IoLock, Netpoll, Stats, Wait};
pub use poller::{Event, Mode, Poller, Readiness};
pub use sync::{RawLock, SpinLock};
pub use time::{Clock, Instant};
