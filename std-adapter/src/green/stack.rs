//! Coroutine stacks: allocation, a small cache of finished ones, and the guard-page check that
//! turns a stack overflow into a clear message.
//!
//! ## Memory
//! A stack is corosensei's `DefaultStack`: an anonymous private mapping with a `PROT_NONE`
//! guard page at its low end. The mapping reserves address space only; a page takes memory
//! when a coroutine first touches it, so a coroutine that never goes deeper than 8 KiB costs
//! 8 KiB of resident memory whatever the stack size (plus its share of a page-table page:
//! stacks are mapped next to each other, so one 4 KiB page-table page serves 2 MiB of them,
//! 8 default stacks). Each stack is two kernel mappings (guard + stack), so the default
//! `vm.max_map_count` of 65,530 allows about 32,000 coroutines per process.
//!
//! Stacks of finished coroutines go to a process-wide cache (at most [`CACHE`] of them) and
//! are reused, so a server that accepts and closes connections does not `mmap`, `mprotect`
//! and `munmap` per connection. A reused stack keeps the pages its last coroutine touched.
//!
//! ## Overflow
//! A function call that runs past the stack's end touches the guard page (Rust probes every
//! page of a large frame in order, so no frame jumps over it) and the kernel raises
//! `SIGSEGV`. Rust's own handler only recognises its threads' guard pages and would let the
//! process die with a bare "Segmentation fault"; ours, installed when the first coroutine
//! starts and chained to the previous one, checks whether the faulting address is in the
//! guard page of the coroutine running on this thread and if so writes
//! `netpoll: green coroutine on thread ... overflowed its stack` with the stack size to
//! standard error and aborts. It runs on the thread's alternate signal stack (the coroutine's
//! stack is full), which Rust gives every thread it starts; a worker thread without one gets
//! one. Memory corruption is impossible: the guard page is never writable.

use std::cell::Cell;
use std::io;
use std::sync::{Mutex, Once, OnceLock, PoisonError};

use corosensei::stack::{DefaultStack, Stack};

/// Stacks kept for reuse, at most.
pub(crate) const CACHE: usize = 256;

static FREE: Mutex<Vec<(usize, DefaultStack)>> = Mutex::new(Vec::new());

/// A stack of `size` bytes: a cached one of that size, or a new mapping.
pub(crate) fn take(size: usize) -> io::Result<DefaultStack> {
    {
        let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = free.iter().rposition(|(s, _)| *s == size) {
            return Ok(free.swap_remove(i).1);
        }
    }
    DefaultStack::new(size)
}

/// Return a finished coroutine's stack for reuse (or unmap it if the cache is full).
pub(crate) fn give_back(st: DefaultStack) {
    let size = st.base().get() - st.limit().get() - page_size();
    let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
    if free.len() < CACHE {
        free.push((size, st));
    }
}

fn page_size() -> usize {
    // SAFETY: `sysconf` with a valid name has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).unwrap_or(4096)
}

/// A stack's guard page and size, as the overflow handler needs them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Guard {
    low: usize,
    high: usize,
    size: usize,
}

impl Guard {
    /// The guard page of `st` (corosensei puts it at the stack's limit).
    pub(crate) fn of(st: &DefaultStack, size: usize) -> Guard {
        let low = st.limit().get();
        Guard {
            low,
            high: low + page_size(),
            size,
        }
    }
}

thread_local! {
    /// The guard of the coroutine running on this thread (zeros: none). Read by the signal
    /// handler: a `const`-initialised thread-local without a destructor is a plain memory
    /// access, safe in a handler.
    static RUNNING: Cell<Guard> = const { Cell::new(Guard { low: 0, high: 0, size: 0 }) };
    static PREPARED: Cell<bool> = const { Cell::new(false) };
}

/// Mark `g` as the running coroutine's guard; returns the previous one.
pub(crate) fn set_running(g: Guard) -> Guard {
    RUNNING.with(|r| r.replace(g))
}

/// Before the first coroutine runs on this thread: install the handler (once per process)
/// and make sure the thread has an alternate signal stack.
pub(crate) fn prepare_thread() {
    if PREPARED.with(|p| p.replace(true)) {
        return;
    }
    static INSTALL: Once = Once::new();
    INSTALL.call_once(install);
    altstack::ensure();
}

/// The handlers we replaced (SIGSEGV, SIGBUS), called for faults that are not ours.
static PREVIOUS: [OnceLock<libc::sigaction>; 2] = [OnceLock::new(), OnceLock::new()];

type Handler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

fn install() {
    for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
        // SAFETY: `sigaction` structs are plain data, valid when zeroed; `sigaction` is given
        // valid pointers and a handler with the SA_SIGINFO signature.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_fault as Handler as libc::sighandler_t;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &new, &mut old) == 0 {
                let _ = PREVIOUS[i].set(old);
            }
        }
    }
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` for a handler installed with SA_SIGINFO.
    let addr = unsafe { (*info).si_addr() } as usize;
    let g = RUNNING.with(Cell::get);
    if g.high != 0 && (g.low..g.high).contains(&addr) {
        report_overflow(g.size);
    }
    // A `OnceLock` read is an atomic load: fine in a handler.
    let prev = PREVIOUS[usize::from(sig != libc::SIGSEGV)].get();
    match prev {
        Some(p)
            if p.sa_sigaction != libc::SIG_DFL
                && p.sa_sigaction != libc::SIG_IGN
                && p.sa_flags & libc::SA_SIGINFO != 0 =>
        {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
            // signature; we pass it the kernel's own arguments.
            let f: Handler = unsafe { std::mem::transmute(p.sa_sigaction) };
            f(sig, info, ctx);
        }
        _ => {
            // Not ours and no handler to hand it to: restore the default action and return;
            // the faulting instruction runs again and the default action ends the process.
            // SAFETY: a zeroed `sigaction` with SIG_DFL is a valid argument.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}

/// Write the overflow message with async-signal-safe calls only, and abort.
fn report_overflow(size: usize) -> ! {
    let mut buf = [0u8; 256];
    let mut n = 0;
    let mut put = |b: &[u8]| {
        let take = b.len().min(buf.len() - n);
        buf[n..n + take].copy_from_slice(&b[..take]);
        n += take;
    };
    put(b"\nnetpoll: a green coroutine overflowed its stack of ");
    let mut digits = [0u8; 20];
    let mut d = digits.len();
    let mut v = size;
    loop {
        d -= 1;
        digits[d] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(&digits[d..]);
    put(b" bytes (it hit the guard page); raise Server::stack_size or ");
    put(b"green::Builder::stack_size\nfatal runtime error: stack overflow, aborting\n");
    // SAFETY: `write` and `abort` are async-signal-safe; `buf[..n]` is initialised.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), n);
        libc::abort();
    }
}

mod altstack {
    //! An alternate signal stack for threads that have none (Rust gives one to every thread
    //! it starts, when its own overflow handler is installed; a foreign thread may lack it).

    use std::cell::RefCell;

    /// The mapping we installed, unmapped when the thread exits.
    struct Owned {
        base: *mut libc::c_void,
        len: usize,
    }

    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: disabling the alternate stack and unmapping the mapping we made for it,
            // on the thread that installed it, as it exits.
            unsafe {
                let ss = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&ss, std::ptr::null_mut());
                libc::munmap(self.base, self.len);
            }
        }
    }

    thread_local! {
        static OWNED: RefCell<Option<Owned>> = const { RefCell::new(None) };
    }

    pub(super) fn ensure() {
        const LEN: usize = 64 * 1024;
        // SAFETY: querying the current alternate stack into a zeroed `stack_t`; mapping a
        // fresh anonymous region and installing it as this thread's alternate stack.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(std::ptr::null(), &mut cur) != 0
                || cur.ss_flags & libc::SS_DISABLE == 0
            {
                return;
            }
            let base = libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return;
            }
            let ss = libc::stack_t {
                ss_sp: base,
                ss_flags: 0,
                ss_size: LEN,
            };
            if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
                libc::munmap(base, LEN);
                return;
            }
            OWNED.with(|o| *o.borrow_mut() = Some(Owned { base, len: LEN }));
        }
    }
}
