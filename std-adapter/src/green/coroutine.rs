//! A coroutine as an executor task: [`GreenTask`] is a future whose `poll` resumes the
//! coroutine's stack, and a blocking call inside the coroutine ([`Here::block_on`]) polls its
//! operation with that `poll`'s context and, on `Pending`, suspends the stack back into
//! `poll`, which returns `Pending`. The waker the operation registered is the task's, so
//! whatever wakes it (an edge, a deadline, a close, a timer) queues the task on its own
//! worker, whose next `poll` resumes the stack where it stopped.
//!
//! ## Which coroutine is running
//! A thread-local ([`CURRENT`]) holds the running coroutine's yielder and the context of the
//! `poll` that resumed it. The coroutine sets it when it starts and again each time it is
//! resumed (another coroutine may have run in between); `poll` clears it when the coroutine
//! suspends or ends. So it is set exactly while a coroutine runs normally: a blocking call
//! made outside a coroutine, or by a destructor while a dropped coroutine's stack unwinds
//! (see `Drop`), takes the thread path instead and never suspends a stack that is not its own.
//!
//! ## Never on another thread
//! A task is polled only by the worker it was spawned on (`executor.rs`), so a started
//! coroutine runs on one thread for its whole life; `poll` checks it. Before its first resume
//! a coroutine holds only its `Send` closure on a fresh stack, so it may be created on one
//! thread (the acceptor) and started on another. If the last reference to a started,
//! unfinished coroutine is dropped on another thread, its stack is leaked rather than
//! unwound there.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::stack;

/// What a coroutine is resumed with: the address of the resuming `poll`'s `Context`.
type Resume = usize;
type Co = Coroutine<Resume, (), (), DefaultStack>;

/// The running coroutine (see the module doc).
#[derive(Clone, Copy)]
struct Current {
    yielder: *const Yielder<Resume, ()>,
    cx: Resume,
    stack_size: usize,
}

thread_local! {
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
    /// Socket operations left before the running coroutine yields (see [`Here::spend`]).
    static BUDGET: Cell<u32> = const { Cell::new(BUDGET_OPS) };
}

/// Socket operations a coroutine may complete in a row without waiting before it yields.
pub(crate) const BUDGET_OPS: u32 = 128;

/// A number for the calling thread (the address of a thread-local; never 0).
fn thread_token() -> usize {
    thread_local! {
        static TOKEN: u8 = const { 0 };
    }
    TOKEN.with(|t| t as *const u8 as usize)
}

/// A coroutine wrapped as a future for the executor.
pub(crate) struct GreenTask {
    co: Option<Co>,
    /// The thread that first resumed it (0: not started).
    owner: usize,
    /// The guard page and size of its stack, for the overflow handler.
    guard: stack::Guard,
}

// SAFETY: before its first resume a coroutine's stack holds only the closure it was made
// from, which `GreenTask::new` requires to be `Send`, so moving it to another thread is a
// plain move of `Send` data. After the first resume the task is touched only by the thread
// that resumed it: `poll` asserts it, the executor polls a task only on its own worker, and
// `Drop` leaks instead of unwinding the stack on any other thread. So no value on the
// coroutine's stack (thread-local references, `Rc`s, guards) is ever used from two threads.
unsafe impl Send for GreenTask {}

impl GreenTask {
    /// A coroutine that will run `body` on a stack of `stack_size` bytes.
    pub(crate) fn new(stack_size: usize, body: impl FnOnce() + Send + 'static) -> io::Result<Self> {
        let st = stack::take(stack_size)?;
        let guard = stack::Guard::of(&st, stack_size);
        let co = Coroutine::with_stack(st, move |y: &Yielder<Resume, ()>, cx: Resume| {
            CURRENT.with(|c| {
                c.set(Some(Current {
                    yielder: y,
                    cx,
                    stack_size,
                }))
            });
            body();
        });
        Ok(GreenTask {
            co: Some(co),
            owner: 0,
            guard,
        })
    }
}

/// Restores the thread-locals `poll` changed, also when the coroutine panicked.
struct Restore {
    current: Option<Current>,
    guard: stack::Guard,
}

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.current));
        stack::set_running(self.guard);
    }
}

impl Future for GreenTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let me = thread_token();
        if this.owner == 0 {
            this.owner = me;
            stack::prepare_thread();
        }
        // Defence in depth: the executor never does this (see the `Send` impl).
        assert_eq!(
            this.owner, me,
            "a green coroutine was polled on another thread"
        );
        let Some(co) = this.co.as_mut() else {
            return Poll::Ready(());
        };
        let _restore = Restore {
            current: CURRENT.with(|c| c.replace(None)),
            guard: stack::set_running(this.guard),
        };
        let cx: *mut Context<'_> = cx;
        // A panic in the coroutine comes out of `resume` (corosensei catches it at the
        // coroutine's root and rethrows it here), after which the coroutine is finished.
        match co.resume(cx as usize) {
            CoroutineResult::Yield(()) => Poll::Pending,
            CoroutineResult::Return(()) => {
                if let Some(co) = this.co.take() {
                    stack::give_back(co.into_stack());
                }
                Poll::Ready(())
            }
        }
    }
}

impl Drop for GreenTask {
    fn drop(&mut self) {
        let Some(co) = self.co.take() else { return };
        if co.done() {
            // Finished by a panic (a normal return gave the stack back in `poll`).
            stack::give_back(co.into_stack());
            return;
        }
        if co.started() && self.owner != thread_token() {
            // Unwinding here would run the stack's destructors on the wrong thread; leak the
            // stack (and what is on it) instead. Only a task outliving its worker gets here.
            std::mem::forget(co);
            return;
        }
        // Unwind the stack here: its destructors run on the owner thread, with no coroutine
        // marked as running (a blocking call in a destructor takes the thread path), and a
        // stack overflow while unwinding is reported as this coroutine's.
        let _restore = Restore {
            current: CURRENT.with(|c| c.replace(None)),
            guard: stack::set_running(self.guard),
        };
        drop(co);
    }
}

/// The running coroutine, seen from a blocking call inside it.
pub(crate) struct Here {
    cur: Current,
}

impl Here {
    /// The coroutine running on this thread, if any.
    #[inline]
    pub(crate) fn current() -> Option<Here> {
        CURRENT.with(Cell::get).map(|cur| Here { cur })
    }

    /// The context of the `poll` that resumed this coroutine: its waker queues the
    /// coroutine's task.
    #[inline]
    pub(crate) fn cx(&mut self) -> &mut Context<'_> {
        // SAFETY: `cx` is the address of the `Context` that `GreenTask::poll` got, which lives
        // until that `poll` returns; `poll` returns only after this coroutine suspends, and
        // `suspend` replaces `cx` with the next `poll`'s. `&mut self` keeps the borrow from
        // outliving a `suspend`.
        unsafe { &mut *(self.cur.cx as *mut Context<'_>) }
    }

    /// Count one socket operation against the worker's budget, and yield (let the worker's
    /// other ready coroutines and its loop run) when [`BUDGET_OPS`] operations in a row have
    /// completed without a suspension. Go preempts a goroutine that keeps running; a
    /// coroutine cannot be preempted, so a loop whose reads or writes never have to wait
    /// (a writer flooding a fast peer) would otherwise keep its worker to itself. Tokio's
    /// cooperative budget does the same for tasks.
    #[inline]
    pub(crate) fn spend(&mut self) {
        let left = BUDGET.with(|b| {
            let left = b.get().saturating_sub(1);
            b.set(left);
            left
        });
        if left == 0 {
            self.cx().waker().wake_by_ref();
            self.suspend();
        }
    }

    /// Suspend this coroutine until its task is polled again (after a wake-up of the waker
    /// in [`cx`](Self::cx), or spuriously).
    #[inline]
    pub(crate) fn suspend(&mut self) {
        BUDGET.with(|b| b.set(BUDGET_OPS));
        CURRENT.with(|c| c.set(None));
        // SAFETY: `yielder` is the running coroutine's own (it was stored by the coroutine
        // itself and `CURRENT` is cleared whenever it stops running), and we are on its
        // stack: `Here` values are made from `CURRENT` and used on the spot.
        let y = unsafe { &*self.cur.yielder };
        // If the coroutine is being dropped, this unwinds (with `CURRENT` still clear).
        self.cur.cx = y.suspend(());
        CURRENT.with(|c| c.set(Some(self.cur)));
    }

    /// Poll `f` until it is ready, suspending in between.
    #[inline]
    pub(crate) fn block_on<R>(&mut self, mut f: impl FnMut(&mut Context<'_>) -> Poll<R>) -> R {
        loop {
            if let Poll::Ready(r) = f(self.cx()) {
                return r;
            }
            self.suspend();
        }
    }

    /// The stack size this coroutine was made with (what coroutines it spawns get).
    pub(crate) fn stack_size(&self) -> usize {
        self.cur.stack_size
    }
}
