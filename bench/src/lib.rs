#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod args;
pub mod chart;
pub mod load;
pub mod proc;
pub mod runner;
pub mod stats;
