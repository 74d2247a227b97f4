//! Goroutine mode: blocking-style code on stackful coroutines ("green threads") that the
//! poller parks and resumes, at the cost of async code.
//!
//! Code written for threads (`read`, `write_all`, `accept`, `connect`, deadlines, loops)
//! runs unchanged inside a coroutine. When it would block on a netpoll socket, the coroutine
//! is parked (with the socket's deadline, exactly as a thread would be) and its worker thread
//! runs other coroutines; the readiness edge, deadline or close that would have woken the
//! thread resumes the coroutine instead. Outside a coroutine the same calls block the thread
//! as before: there is no second API and no `async` colouring.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use netpoll_std::{Server, TcpListener, TcpStream};
//!
//! // A thread-per-connection handler, served by coroutines on 2 worker threads.
//! let server = Server::new().workers(2).green(TcpListener::bind("127.0.0.1:0")?, |mut s| {
//!     let mut buf = [0; 4096];
//!     while let Ok(n @ 1..) = s.read(&mut buf) {
//!         if s.write_all(&buf[..n]).is_err() {
//!             break;
//!         }
//!     }
//! })?;
//! let mut c = TcpStream::connect(server.local_addr())?;
//! c.write_all(b"ping")?;
//! let mut back = [0; 4];
//! c.read_exact(&mut back)?;
//! assert_eq!(&back, b"ping");
//! server.shutdown(Duration::from_secs(1));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Which thread runs what
//! * **Worker threads** (a [`Server`](crate::Server) in green mode, or a [`Scheduler`]): each
//!   owns an inline runtime (its own epoll instance and descriptor pool, no poller thread)
//!   and a queue of ready coroutines. It resumes ready coroutines one after another; each runs
//!   until it blocks, yields or returns. When none is ready, the worker runs its runtime's
//!   loop, sleeping in `epoll_wait` until an edge, a deadline, a timer ([`sleep`]) or a wake
//!   from another thread. This is the async executor (`executor.rs`): a coroutine is a task
//!   whose `poll` resumes its stack, so async tasks and coroutines share the workers.
//! * **A coroutine** is made with its own stack ([`DEFAULT_STACK_SIZE`] unless configured) on
//!   one worker and runs only there, from its first instruction to its last: nothing moves a
//!   coroutine to another worker (a server deals connections to workers in turn when they
//!   are accepted, and [`spawn`] places the new coroutine on the current worker).
//! * **The acceptor thread** of a server accepts connections, registers each with the runtime
//!   of the worker it picks, and queues the connection's coroutine there.
//! * **Helper threads** ([`unblock`]) run calls that block in the kernel while the calling
//!   coroutine is parked.
//! * A socket used from several places at once (a coroutine on another worker, a plain thread,
//!   an async task) works as before: a wake-up from another thread queues the coroutine on
//!   its own worker and interrupts that worker's `epoll_wait`.
//!
//! ## Thread-locals and `!Send` values stay sound
//! Stackful coroutines that migrate between threads (the `may` crate) break two things Rust
//! relies on: a thread-local read before a blocking call and after it may belong to two
//! different threads, and a `!Send` value (an `Rc`, a `MutexGuard`, a `RefCell` borrow) held
//! across a blocking call would be used from a second thread. Here neither can happen: a
//! started coroutine is resumed only by its own worker (the task is only ever queued on that
//! worker, and the resume asserts the thread), and a coroutine that is dropped unfinished is
//! unwound on that thread, or leaked, never unwound elsewhere. So everything on its stack is
//! only ever touched by one thread, as for code on a plain thread; the `'static + Send` bound
//! on what is *spawned* covers the one move, from the spawning thread before the first
//! resume, when the new stack holds nothing but the closure.
//!
//! What a coroutine does share with the other coroutines of its worker is the thread: its
//! thread-locals are per worker, not per coroutine (a `RefCell` in a thread-local borrowed
//! across a blocking call can be seen borrowed by another coroutine), exactly as Go's
//! goroutines share an OS thread's state.
//!
//! ## What must not be called inside a coroutine
//! Anything that blocks the *thread* stalls every coroutine of the worker until it returns,
//! and deadlocks if what it waits for needs one of those coroutines:
//! * blocking I/O that is not a netpoll socket: `std::net`, `std::fs`, pipes, a database
//!   driver, DNS resolution, `std::process::Command::output`: run it with [`unblock`];
//! * `std::thread::sleep`: use [`sleep`]; busy loops: call [`yield_now`] in them;
//! * waiting on a `std::sync::Mutex`, `Condvar`, `mpsc` channel or a `JoinHandle` of a thread
//!   that another coroutine of the same worker must release or feed; in particular, holding
//!   a `Mutex` guard across a blocking netpoll call while another coroutine of the worker
//!   locks it deadlocks the worker (use short critical sections, or [`unblock`]);
//! * another executor's `block_on`: use [`block_on`] here, which parks the coroutine
//!   between polls of the future.
//!
//! Calls that are fine: every blocking call on netpoll sockets, [`JoinHandle::join`],
//! [`sleep`], [`yield_now`], [`unblock`], [`block_on`], short `Mutex` sections, CPU work (but
//! a long computation delays the worker's other coroutines: move it to a thread, with
//! [`unblock`]).
//!
//! ## Escaping to a thread
//! [`unblock`] runs a closure on a pool of helper threads and parks the coroutine until it
//! returns; the closure may borrow from the coroutine's stack. For long-lived work, start a
//! `std::thread` and hand results back through a netpoll socket pair, or join it from the
//! coroutine with `unblock(|| handle.join())`.
//!
//! ## Stacks
//! Each coroutine has a stack of fixed size with a guard page below it: an overflow hits the
//! guard page and ends the process with a message naming the stack size (see `stack.rs`),
//! never corrupts memory. Only touched pages take memory, so the reserve can be generous;
//! [`DEFAULT_STACK_SIZE`] explains the default. Panics unwind the coroutine's stack: in a
//! server, the handler's connection is closed and the server goes on.
//!
//! Green mode is available on Unix (Linux is built and tested).

mod coroutine;
mod join;
mod scheduler;
mod stack;
mod unblock;

use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

pub(crate) use coroutine::{GreenTask, Here};
pub use join::JoinHandle;
pub use scheduler::{Builder, Scheduler};
pub use unblock::{unblock, KEEP_ALIVE, MAX_THREADS};

use crate::executor;
use crate::Runtime;

/// Stack size of a coroutine unless configured ([`Builder::stack_size`],
/// [`Server::stack_size`](crate::Server::stack_size)): 256 KiB.
///
/// Large enough for real handlers (TLS handshakes, JSON parsing, a few hundred levels of
/// recursion), and a reserve only: a coroutine's resident memory is the pages it touched,
/// typically two (8 KiB) for an echo handler with a 4 KiB buffer. It is smaller than a
/// thread's 2 MiB because each coroutine stack needs its own page-table page per 2 MiB of
/// address space it spans: at 256 KiB, eight stacks share one (512 bytes each); at 2 MiB each
/// would cost a 4 KiB page-table page of its own.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Whether the caller runs inside a green coroutine.
pub fn in_coroutine() -> bool {
    Here::current().is_some()
}

/// The runtime of the worker running the calling coroutine (`None` outside a coroutine).
/// Sockets made inside a coroutine without naming a runtime are registered with it, so their
/// wake-ups need no other thread.
pub fn current_runtime() -> Option<Runtime> {
    Here::current()?;
    executor::current_runtime()
}

/// A coroutine task and the handle that joins it.
pub(crate) fn spawn_task<F, T>(stack_size: usize, f: F) -> io::Result<(GreenTask, JoinHandle<T>)>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = join::Shared::new();
    let done = join::FinishOnDrop {
        shared: shared.clone(),
    };
    let task = GreenTask::new(stack_size, move || {
        let done = done;
        let r = catch_unwind(AssertUnwindSafe(f));
        done.shared.finish(r);
    })?;
    Ok((task, JoinHandle { shared }))
}

/// Run `f` as a new coroutine on the current worker (Go's `go f()`), with the same stack
/// size as the calling coroutine. It starts once the caller blocks or yields.
///
/// Fails if the calling thread is not a worker (use [`Scheduler::spawn`] there), or if no
/// stack can be mapped (the process is out of memory or of mappings, see
/// [`DEFAULT_STACK_SIZE`]).
pub fn spawn<F, T>(f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let size = Here::current().map_or(DEFAULT_STACK_SIZE, |h| h.stack_size());
    let (task, handle) = spawn_task(size, f)?;
    match executor::spawn_local(task) {
        Ok(()) => Ok(handle),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "green::spawn outside a worker thread (use Scheduler::spawn)",
        )),
    }
}

/// Park the calling coroutine until `at` (its worker runs others meanwhile); outside a
/// coroutine, sleep the thread. An instant already past still lets the worker's other ready
/// coroutines run once (as [`yield_now`]), so a loop that sleeps is never a busy loop.
pub fn sleep_until(at: Instant) {
    let Some(mut here) = Here::current() else {
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        return;
    };
    if Instant::now() >= at {
        return yield_now();
    }
    let mut armed = false;
    here.block_on(|cx| {
        if Instant::now() >= at {
            return Poll::Ready(());
        }
        if !armed {
            armed = executor::add_timer(at, cx.waker().clone());
            if !armed {
                // Not on a worker (cannot happen: coroutines run on workers): do not spin.
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                return Poll::Ready(());
            }
        }
        Poll::Pending
    });
}

/// Park the calling coroutine for `d` (see [`sleep_until`]).
pub fn sleep(d: Duration) {
    match Instant::now().checked_add(d) {
        Some(at) => sleep_until(at),
        // Beyond what `Instant` can represent: park for the longest it can.
        None => loop {
            sleep_until(Instant::now() + Duration::from_secs(u64::from(u32::MAX)));
        },
    }
}

/// Let the worker's other ready coroutines run before the caller goes on; outside a
/// coroutine, [`std::thread::yield_now`].
pub fn yield_now() {
    let Some(mut here) = Here::current() else {
        std::thread::yield_now();
        return;
    };
    let mut yielded = false;
    here.block_on(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    });
}

/// Run a future to completion from blocking-style code: inside a coroutine, the coroutine is
/// parked whenever the future is pending (its waker resumes it); outside one, the thread is.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    crate::park::wait(|cx| fut.as_mut().poll(cx))
}
