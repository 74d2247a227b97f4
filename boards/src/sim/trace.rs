//! [`Trace`]: a timestamped log of what the simulated board did, and [`Traced`], a
//! [`Poller`] wrapper that logs every wait and event.

use core::fmt::Arguments;
use core::time::Duration;
use std::format;
use std::string::String;
use std::sync::{Arc, Mutex, PoisonError};
use std::vec::Vec;

use netpoll_core::{Clock, Event, Mode, Poller, Token};

/// A timestamped log, shared by the handlers, the poller wrapper and the application.
pub struct Trace {
    clock: Arc<dyn Clock + Send + Sync>,
    entries: Mutex<Vec<String>>,
}

impl Trace {
    /// An empty trace stamped with `clock`.
    pub fn new(clock: Arc<dyn Clock + Send + Sync>) -> Arc<Self> {
        Arc::new(Trace {
            clock,
            entries: Mutex::new(Vec::new()),
        })
    }

    /// Append an entry.
    pub fn record(&self, what: Arguments<'_>) {
        let t = self.clock.now().as_nanos();
        let line = format!("{:>5}.{:03} ms  {}", t / 1_000_000, t / 1_000 % 1_000, what);
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    /// The entries so far.
    pub fn entries(&self) -> Vec<String> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many entries contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.contains(needle))
            .count()
    }
}

impl core::fmt::Debug for Trace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

/// A [`Poller`] that records each wait (its timeout and the events it returned) in a
/// [`Trace`], then delegates.
pub struct Traced<P> {
    inner: P,
    trace: Arc<Trace>,
}

impl<P> Traced<P> {
    /// Wrap `inner`.
    pub fn new(inner: P, trace: Arc<Trace>) -> Self {
        Traced { inner, trace }
    }

    /// The wrapped poller.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

fn fmt_timeout(t: Option<Duration>) -> String {
    match t {
        None => "none".into(),
        Some(d) => format!("{:.3} ms", d.as_secs_f64() * 1e3),
    }
}

impl<P: Poller> Poller for Traced<P> {
    type Source = P::Source;
    type Error = P::Error;

    fn register(&self, source: &Self::Source, token: Token) -> Result<(), Self::Error> {
        let r = self.inner.register(source, token);
        self.trace.record(format_args!(
            "loop register desc {}#{} -> {}",
            token.index(),
            token.generation().get(),
            if r.is_ok() { "ok" } else { "error" }
        ));
        r
    }

    fn deregister(&self, source: &Self::Source, token: Token) -> Result<(), Self::Error> {
        let r = self.inner.deregister(source, token);
        self.trace.record(format_args!(
            "loop deregister desc {}#{}",
            token.index(),
            token.generation().get()
        ));
        r
    }

    fn arm(&self, source: &Self::Source, token: Token, mode: Mode) -> Result<(), Self::Error> {
        self.inner.arm(source, token, mode)
    }

    fn wait(
        &self,
        timeout: Option<Duration>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), Self::Error> {
        let mut n = 0;
        let r = self.inner.wait(timeout, &mut |ev| {
            n += 1;
            let rd = ev.readiness;
            self.trace.record(format_args!(
                "loop event desc {}#{}:{}{}{}",
                ev.token.index(),
                ev.token.generation().get(),
                if rd.readable { " readable" } else { "" },
                if rd.writable { " writable" } else { "" },
                if rd.error { " error" } else { "" },
            ));
            on_event(ev);
        });
        if n == 0 && timeout != Some(Duration::ZERO) {
            self.trace.record(format_args!(
                "loop wait (timeout {}) returned with no event",
                fmt_timeout(timeout)
            ));
        }
        r
    }

    fn wake(&self) -> Result<(), Self::Error> {
        self.trace.record(format_args!("loop wake"));
        self.inner.wake()
    }
}

impl<P: core::fmt::Debug> core::fmt::Debug for Traced<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Traced")
            .field("inner", &self.inner)
            .finish()
    }
}
