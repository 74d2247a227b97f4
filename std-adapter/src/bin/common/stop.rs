//! Waiting for the request to stop a server: SIGINT or SIGTERM on Unix, Ctrl-C or Ctrl-Break
//! on Windows' console.
//!
//! [`StopSignals::install`] must run before any other thread starts: on Unix it blocks the two
//! signals in the calling thread, and threads started afterwards inherit the mask, so that
//! [`StopSignals::wait`] can take them synchronously with `sigwait`. On Windows the console
//! calls a handler on a thread of its own, which wakes the waiter.

/// The installed stop signals.
pub struct StopSignals {
    #[cfg(unix)]
    set: libc::sigset_t,
}

#[cfg(unix)]
impl StopSignals {
    /// Block SIGINT and SIGTERM in this thread (and every thread started after).
    pub fn install() -> StopSignals {
        // SAFETY: a zeroed sigset_t is valid storage for sigemptyset to initialise.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t; the calls only write to it and to this thread's
        // mask.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        StopSignals { set }
    }

    /// Wait for one of the signals; returns its name.
    pub fn wait(&self) -> String {
        let mut sig = 0;
        // SAFETY: `set` is an initialised sigset_t and `sig` a writable int.
        unsafe { libc::sigwait(&self.set, &mut sig) };
        match sig {
            libc::SIGINT => "SIGINT".into(),
            libc::SIGTERM => "SIGTERM".into(),
            n => format!("signal {n}"),
        }
    }
}

#[cfg(windows)]
mod console {
    use std::sync::{Condvar, Mutex, PoisonError};

    use windows_sys::Win32::Foundation::{FALSE, TRUE};
    use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, CTRL_C_EVENT};

    /// The console event received, if any.
    pub static RECEIVED: Mutex<Option<u32>> = Mutex::new(None);
    pub static WAKE: Condvar = Condvar::new();

    /// Called by the console on a thread of its own. Ctrl-C and Ctrl-Break are taken (the
    /// process is not ended); the other events (window closed, log-off, shutdown) get the
    /// default handling.
    pub extern "system" fn handler(event: u32) -> i32 {
        if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
            return FALSE;
        }
        *RECEIVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(event);
        WAKE.notify_all();
        TRUE
    }
}

#[cfg(windows)]
impl StopSignals {
    /// Route Ctrl-C and Ctrl-Break to [`wait`](Self::wait). If the handler cannot be
    /// installed the default applies (the process ends at once, without a graceful shutdown).
    pub fn install() -> StopSignals {
        use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
        // SAFETY: the handler is a function that lives as long as the process and only
        // touches statics; the console may call it on any thread.
        if unsafe { SetConsoleCtrlHandler(Some(console::handler), 1) } == 0 {
            eprintln!(
                "warning: cannot install the Ctrl-C handler: {}",
                std::io::Error::last_os_error()
            );
        }
        StopSignals {}
    }

    /// Wait for Ctrl-C or Ctrl-Break; returns its name.
    pub fn wait(&self) -> String {
        use std::sync::PoisonError;
        use windows_sys::Win32::System::Console::CTRL_C_EVENT;
        let mut got = console::RECEIVED
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            match *got {
                Some(CTRL_C_EVENT) => return "Ctrl-C".into(),
                Some(_) => return "Ctrl-Break".into(),
                None => {
                    got = console::WAKE
                        .wait(got)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
    }
}
