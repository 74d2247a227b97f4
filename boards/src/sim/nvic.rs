//! [`Nvic`]: the simulated interrupt controller.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::vec::Vec;

use crate::Line;

/// An interrupt handler.
pub type Handler = Arc<dyn Fn() + Send + Sync>;

struct State {
    handlers: Vec<Option<Handler>>,
    pending: u64,
    shutdown: bool,
    taken: u64,
}

struct Inner {
    threaded: bool,
    state: Mutex<State>,
    cv: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked poisons nothing we rely on: the state stays consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A simulated interrupt controller with up to 64 lines; a lower line has higher priority.
///
/// Cheap to clone (shared). [`pend`](Nvic::pend) requests an interrupt: in threaded mode the
/// interrupt thread runs the handler (one at a time, like a single-core CPU); in inline mode
/// the caller runs it at once.
#[derive(Clone)]
pub struct Nvic {
    inner: Arc<Inner>,
}

impl Nvic {
    /// A controller with its own interrupt thread (fails if the thread cannot be spawned).
    pub fn threaded() -> std::io::Result<Self> {
        let nvic = Self::new(true);
        let inner = nvic.inner.clone();
        let handle = std::thread::Builder::new()
            .name("sim-interrupts".into())
            .spawn(move || interrupt_thread(&inner))?;
        *nvic
            .inner
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(handle);
        Ok(nvic)
    }

    /// A controller that runs handlers inline, in the context that raised them.
    pub fn inline() -> Self {
        Self::new(false)
    }

    fn new(threaded: bool) -> Self {
        Nvic {
            inner: Arc::new(Inner {
                threaded,
                state: Mutex::new(State {
                    handlers: Vec::new(),
                    pending: 0,
                    shutdown: false,
                    taken: 0,
                }),
                cv: Condvar::new(),
                thread: Mutex::new(None),
            }),
        }
    }

    /// Install the handler of `line` (lines 64 and up are ignored).
    pub fn set_handler(&self, line: Line, handler: Handler) {
        let i = usize::from(line.0);
        if i >= 64 {
            return;
        }
        let mut s = self.inner.lock();
        if s.handlers.len() <= i {
            s.handlers.resize(i + 1, None);
        }
        s.handlers[i] = Some(handler);
    }

    /// Raise `line`'s interrupt request.
    pub fn pend(&self, line: Line) {
        let i = u32::from(line.0);
        if i >= 64 {
            return;
        }
        if self.inner.threaded {
            let mut s = self.inner.lock();
            s.pending |= 1 << i;
            self.inner.cv.notify_all();
        } else {
            let h = {
                let mut s = self.inner.lock();
                s.taken += 1;
                s.handlers.get(i as usize).cloned().flatten()
            };
            if let Some(h) = h {
                h();
            }
        }
    }

    /// How many interrupts have been taken.
    pub fn taken(&self) -> u64 {
        self.inner.lock().taken
    }

    /// Stop the interrupt thread (after the handlers already pending have run) and join it.
    pub fn shutdown(&self) {
        self.inner.lock().shutdown = true;
        self.inner.cv.notify_all();
        let handle = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl core::fmt::Debug for Nvic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Nvic")
            .field("threaded", &self.inner.threaded)
            .finish_non_exhaustive()
    }
}

fn interrupt_thread(inner: &Inner) {
    let mut s = inner.lock();
    loop {
        if s.pending == 0 {
            if s.shutdown {
                return;
            }
            s = inner.cv.wait(s).unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let i = s.pending.trailing_zeros();
        s.pending &= !(1 << i);
        s.taken += 1;
        let h = s.handlers.get(i as usize).cloned().flatten();
        drop(s);
        if let Some(h) = h {
            h();
        }
        s = inner.lock();
    }
}
