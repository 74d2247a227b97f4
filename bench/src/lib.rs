#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

// The command-line helper of netpoll-std's binaries, shared so that every netpoll program
// reads its arguments the same way (this crate is never published, so the path may leave it).
pub mod chart;
#[path = "../../std-adapter/src/bin/common/cli.rs"]
pub mod cli;
pub mod load;
pub mod proc;
pub mod runner;
pub mod stats;
