#![doc = include_str!("../README.md")]
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(feature = "sim")]
extern crate std;

// The logging shim must come first so its macros are visible below.
mod fmt;

pub mod asynch;
pub mod blocking;
mod clock;
mod idle;
mod irq;
mod lock;
mod waker;
#[cfg(any(feature = "cortex-m", feature = "riscv"))]
mod wfi;

#[cfg(feature = "sim")]
pub mod sim;

pub use clock::{ticks_to_nanos, EmbassyClock};
pub use idle::{Idle, NoIdle, SpinIdle};
pub use irq::{IrqError, IrqPoller, IrqStats, Line, Ready};
pub use lock::CsLock;
pub use waker::AtomicWaker;
#[cfg(any(feature = "cortex-m", feature = "riscv"))]
pub use wfi::WfiIdle;
