//! Work in progress: embedded integration (see issue 5).
#![no_std]
