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
//! | `inline_driver.rs` | reproducer of a bug the suite found on inline runtimes (ignored until fixed) |
//!
//! Each Go test `TestFooBar` becomes `foo_bar` (blocking) and, where an async form applies,
//! `foo_bar_async` (futures-io), each generated once per backend and runtime mode
//! (`tests/util/mode.rs`):
//! * with the runtime's poller thread: `epoll::foo_bar`, `polling::foo_bar`,
//!   `polling_oneshot::foo_bar`;
//! * on an inline runtime (`Builder::drive_inline`, as the async server's workers use),
//!   driven by the thread that runs the test's body, its futures and its blocking calls:
//!   `inline_epoll::foo_bar`, `inline_polling::foo_bar`, `inline_polling_oneshot::foo_bar`.
#![no_std]
