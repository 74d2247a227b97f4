//! The conformance suite of netpoll: every scenario of Go's `net/timeout_test.go` (Go 1.19,
//! `TestDialTimeout` to `TestConcurrentSetDeadline`) ported to `netpoll-std`, in blocking
//! and async forms, run over every backend (epoll, `polling`, `polling` in oneshot mode).
//!
//! This library is empty on purpose; the tests live in `tests/` (run them with
//! `cargo test -p netpoll-tests`), with shared helpers in `tests/util/mod.rs`:
//!
//! | file | Go tests |
//! |------|----------|
//! | `dial.rs` | `TestDialTimeout`, `TestDialTimeoutMaxDuration` |
//! | `accept.rs` | `TestAcceptTimeout`, `TestAcceptTimeoutMustReturn`, `TestAcceptTimeoutMustNotReturn` |
//! | `read_write.rs` | `TestReadTimeout`, `TestReadTimeoutMustNotReturn`, `TestReadFromTimeout`, `TestWriteTimeout`, `TestWriteTimeoutMustNotReturn`, `TestWriteToTimeout` |
//! | `fluctuation.rs` | `TestReadTimeoutFluctuation`, `TestReadFromTimeoutFluctuation`, `TestWriteTimeoutFluctuation` |
//! | `various_deadlines.rs` | `TestVariousDeadlines`, `TestVariousDeadlines1Proc`, `TestVariousDeadlines4Proc` |
//! | `races.rs` | `TestReadWriteProlongedTimeout`, `TestReadWriteDeadlineRace`, `TestConcurrentSetDeadline` |
//! | `unix.rs` | the accept, read and write timeout scenarios again, over Unix-domain sockets |
//!
//! Each Go test `TestFooBar` becomes `foo_bar` (blocking) and, where an async form applies,
//! `foo_bar_async` (futures-io, driven by `futures_lite::future::block_on`), each generated
//! once per backend: `epoll::foo_bar`, `polling::foo_bar`, `polling_oneshot::foo_bar`.
#![no_std]
