//! The load generator: closed-loop ping-pong, open-loop fixed rate, and connect-and-hold.
//!
//! One thread drives every connection through one `mio` poller: the client runs pinned on its
//! own core, where more threads would only take turns. Phases are announced through a `mark`
//! callback (the `loadgen` binary prints them on stderr) so that the runner can sample the
//! server's CPU and attach `perf` exactly over the measurement window:
//!
//! - `connected`: every connection is established; load (warm-up) starts;
//! - `measure-start` / `measure-end`: the measurement window;
//! - hold mode only, `idle-start` / `idle-end`: a window in which nobody sends (it starts once
//!   every message of the active window has been echoed, or 2 s after the window).
//!
//! Before any load, every connection echoes one message (see `connect_all`).
//!
//! Latency is measured from the time a message was *meant* to be sent: in open loop the schedule
//! is fixed in advance, so a slow server cannot hide its queueing delay (no coordinated omission).

mod conn;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};
use serde_json::{json, Value};

use crate::stats::quantile_u64;
use conn::Conn;

/// What the load generator does once connected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Each connection sends one message, waits for its echo, and sends the next.
    Closed,
    /// Messages leave at a fixed total rate, round-robin over the connections, whatever the
    /// server's pace.
    Open {
        /// Messages per second over all connections.
        rate: f64,
    },
    /// Connect and hold; one connection in `1 / active_fraction` pings every `interval`, then
    /// an idle window of `idle` with no traffic at all.
    Hold {
        /// Share of connections that send (0..=1).
        active_fraction: f64,
        /// Time between two messages of one active connection.
        interval: Duration,
        /// Length of the all-idle window after the measurement window.
        idle: Duration,
    },
}

/// A load generator run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server address.
    pub addr: SocketAddr,
    /// What to do.
    pub mode: Mode,
    /// Number of connections.
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Load before the measurement window.
    pub warmup: Duration,
    /// Length of the measurement window (closed loop with `messages`: an upper bound).
    pub duration: Duration,
    /// Closed loop only: stop after this many echoes per connection instead of after `duration`
    /// (no warm-up; used by the instruction-count measurement).
    pub messages: Option<u64>,
}

struct Phases {
    measure_start: Instant,
    measure_end: Instant,
    idle_end: Option<Instant>,
}

/// Runs the load and returns its JSON report (one object).
pub fn run(cfg: &Config, mark: &mut dyn FnMut(&str)) -> io::Result<Value> {
    if cfg.size == 0 || cfg.conns == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "size and conns must be > 0",
        ));
    }
    let mut poll = Poll::new()?;
    let connect_start = Instant::now();
    let conns = connect_all(cfg, &mut poll).map_err(|e| {
        let t = connect_start.elapsed().as_secs_f64();
        io::Error::new(
            e.kind(),
            format!("while connecting and priming, after {t:.1} s: {e}"),
        )
    })?;
    let connect_s = connect_start.elapsed().as_secs_f64();
    mark("connected");

    let t0 = Instant::now();
    let (warmup, duration) = match cfg.messages {
        Some(_) => (Duration::ZERO, cfg.duration),
        None => (cfg.warmup, cfg.duration),
    };
    let phases = Phases {
        measure_start: t0 + warmup,
        measure_end: t0 + warmup + duration,
        idle_end: match cfg.mode {
            Mode::Hold { idle, .. } => Some(t0 + warmup + duration + idle),
            _ => None,
        },
    };
    let mut driver = Driver::new(cfg, conns, t0);
    let out = driver.run(&mut poll, &phases, mark)?;
    Ok(json!({
        "mode": match cfg.mode { Mode::Closed => "closed", Mode::Open { .. } => "open",
                                 Mode::Hold { .. } => "hold" },
        "conns": cfg.conns,
        "size": cfg.size,
        "warmup_s": warmup.as_secs_f64(),
        "connect_s": connect_s,
        "window_s": out.window.as_secs_f64(),
        "messages": out.messages,
        "throughput": out.messages as f64 / out.window.as_secs_f64().max(1e-9),
        "latency_us": latency_json(&driver.hist),
        "fairness": fairness_json(&driver.counts()),
        "errors": driver.errors,
        "first_error": driver.first_error.clone(),
        "sent": driver.sent,
        "unanswered": driver.unanswered(),
        "complete": out.complete,
        "target_rate": match cfg.mode { Mode::Open { rate } => json!(rate), _ => Value::Null },
    }))
}

/// Connections opened before their predecessors have been echoed once.
const CONNECT_BATCH: usize = 256;

/// Opens every connection and has each echo one message before the load starts, in batches of
/// [`CONNECT_BATCH`]: a server that accepts slowly never sees its listen queue overflow (which
/// would cost a 1 s SYN retransmission), and every connection is known to be served.
fn connect_all(cfg: &Config, poll: &mut Poll) -> io::Result<Vec<Option<Conn>>> {
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(cfg.conns);
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    while conns.len() < cfg.conns {
        let first = conns.len();
        let last = (first + CONNECT_BATCH).min(cfg.conns);
        for i in first..last {
            let s = std::net::TcpStream::connect(cfg.addr)?;
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            let mut s = mio::net::TcpStream::from_std(s);
            poll.registry()
                .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)?;
            let mut c = Conn::new(s);
            c.send(cfg.size, Instant::now())?;
            conns.push(Some(c));
        }
        let limit = Instant::now() + Duration::from_secs(30);
        let mut waiting = last - first;
        while waiting > 0 {
            let left = limit.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the server did not echo a new connection's first message within 30 s",
                ));
            }
            if let Err(e) = poll.poll(&mut events, Some(left)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for ev in events.iter() {
                let Some(Some(c)) = conns.get_mut(ev.token().0) else {
                    continue;
                };
                let was_waiting = !c.inflight.is_empty();
                if ev.is_writable() {
                    c.flush()?;
                }
                c.read_echoes(cfg.size, &mut scratch, |_| {})?;
                if was_waiting && c.inflight.is_empty() {
                    waiting -= 1;
                }
            }
        }
    }
    Ok(conns)
}

struct Outcome {
    window: Duration,
    messages: u64,
    complete: bool,
}

struct Driver<'a> {
    cfg: &'a Config,
    conns: Vec<Option<Conn>>,
    active: Vec<usize>,
    hist: Histogram<u64>,
    measuring: bool,
    sending: bool,
    open_next: u64,
    t0: Instant,
    sent: u64,
    errors: u64,
    first_error: Option<String>,
    done_conns: usize,
}

impl<'a> Driver<'a> {
    fn new(cfg: &'a Config, conns: Vec<Option<Conn>>, t0: Instant) -> Driver<'a> {
        let active = match cfg.mode {
            Mode::Hold {
                active_fraction, ..
            } => {
                let step = (1.0 / active_fraction.clamp(1e-6, 1.0)).round().max(1.0) as usize;
                (0..conns.len()).step_by(step).collect()
            }
            _ => (0..conns.len()).collect(),
        };
        Driver {
            cfg,
            conns,
            active,
            // 1 ns .. 100 s at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 100_000_000_000, 3)
                .expect("constant histogram bounds are valid"),
            measuring: false,
            sending: true,
            open_next: 0,
            t0,
            sent: 0,
            errors: 0,
            first_error: None,
            done_conns: 0,
        }
    }

    fn counts(&self) -> Vec<u64> {
        self.active
            .iter()
            .map(|&i| self.conns[i].as_ref().map_or(0, |c| c.count))
            .collect()
    }

    fn unanswered(&self) -> usize {
        self.conns.iter().flatten().map(|c| c.inflight.len()).sum()
    }

    fn fail(&mut self, i: usize, e: io::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("connection {i}: {e}"));
        }
        self.conns[i] = None;
    }

    fn send(&mut self, i: usize, start: Instant) {
        let size = self.cfg.size;
        if let Some(c) = self.conns[i].as_mut() {
            self.sent += 1;
            if let Err(e) = c.send(size, start) {
                self.fail(i, e);
            }
        }
    }

    fn run(
        &mut self,
        poll: &mut Poll,
        ph: &Phases,
        mark: &mut dyn FnMut(&str),
    ) -> io::Result<Outcome> {
        let size = self.cfg.size;
        let open_rate = match self.cfg.mode {
            Mode::Open { rate } if rate > 0.0 && rate.is_finite() => Some(rate),
            Mode::Open { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "rate must be > 0",
                ))
            }
            _ => None,
        };
        match self.cfg.mode {
            Mode::Closed => {
                for i in 0..self.conns.len() {
                    self.send(i, self.t0);
                }
            }
            Mode::Hold { interval, .. } => {
                let n = self.active.len().max(1) as u32;
                for (k, &i) in self.active.iter().enumerate() {
                    if let Some(c) = self.conns[i].as_mut() {
                        c.next_send = Some(self.t0 + interval * k as u32 / n);
                    }
                }
            }
            Mode::Open { .. } => {}
        }
        let mut events = Events::with_capacity(1024);
        let mut scratch = vec![0u8; 64 * 1024];
        let mut finished: Vec<Instant> = Vec::new();
        let mut window_start = ph.measure_start;
        let mut window_end = None;
        let mut complete = true;
        let mut measure_end = ph.measure_end;
        let mut idle_end = ph.idle_end;
        let mut drain_until: Option<Instant> = None;
        loop {
            let now = Instant::now();
            // Phase changes.
            if !self.measuring && window_end.is_none() && now >= ph.measure_start {
                // The window is as long as asked even if this thread was descheduled past its
                // planned start.
                measure_end = now + (ph.measure_end - ph.measure_start);
                idle_end = ph.idle_end.map(|e| now + (e - ph.measure_start));
                self.measuring = true;
                self.hist.reset();
                self.conns.iter_mut().flatten().for_each(|c| c.count = 0);
                window_start = now;
                mark("measure-start");
            }
            let limit_done = self.cfg.messages.is_some() && self.done_conns >= self.conns.len();
            if self.measuring && (now >= measure_end || limit_done) {
                self.measuring = false;
                window_end = Some(now);
                complete = self.cfg.messages.is_none() || limit_done;
                mark("measure-end");
                self.sending = false;
                match idle_end {
                    Some(_) => drain_until = Some(now + Duration::from_secs(2)),
                    None => break,
                }
            }
            if let Some(limit) = drain_until {
                if now >= limit || self.unanswered() == 0 {
                    drain_until = None;
                    idle_end = ph.idle_end.map(|e| now + (e - ph.measure_end));
                    mark("idle-start");
                }
            }
            if let (Some(end), Some(_), None) = (idle_end, window_end, drain_until) {
                if now >= end {
                    mark("idle-end");
                    break;
                }
            }
            // Scheduled sends.
            let mut next_wake = if self.measuring || window_end.is_none() {
                if now < ph.measure_start {
                    ph.measure_start
                } else {
                    measure_end
                }
            } else if drain_until.is_some() {
                now + Duration::from_millis(1)
            } else {
                idle_end.unwrap_or(now)
            };
            if let (Some(rate), true) = (open_rate, self.sending) {
                let n = self.conns.len() as u64;
                loop {
                    let at = self.t0 + Duration::from_secs_f64(self.open_next as f64 / rate);
                    if at > now {
                        next_wake = next_wake.min(at);
                        break;
                    }
                    self.send((self.open_next % n) as usize, at);
                    self.open_next += 1;
                }
            }
            if let (Mode::Hold { interval, .. }, true) = (self.cfg.mode, self.sending) {
                for k in 0..self.active.len() {
                    let i = self.active[k];
                    let Some(c) = self.conns[i].as_mut() else {
                        continue;
                    };
                    let Some(at) = c.next_send else { continue };
                    if at <= now {
                        c.next_send = Some(at + interval);
                        if c.inflight.is_empty() {
                            self.send(i, now);
                        }
                    } else {
                        next_wake = next_wake.min(at);
                    }
                }
            }
            let timeout = next_wake.saturating_duration_since(now);
            // epoll_wait rounds up to whole milliseconds: spin when the next send is closer.
            let timeout = if open_rate.is_some() && timeout < Duration::from_millis(1) {
                Duration::ZERO
            } else {
                timeout
            };
            if let Err(e) = poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for ev in events.iter() {
                let i = ev.token().0;
                let Some(c) = self.conns[i].as_mut() else {
                    continue;
                };
                if ev.is_writable() {
                    if let Err(e) = c.flush() {
                        self.fail(i, e);
                        continue;
                    }
                }
                if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                    continue;
                }
                finished.clear();
                if let Err(e) = c.read_echoes(size, &mut scratch, |s| finished.push(s)) {
                    self.fail(i, e);
                    continue;
                }
                if finished.is_empty() {
                    continue;
                }
                let now = Instant::now();
                if self.measuring {
                    for &s in &finished {
                        let ns = now.saturating_duration_since(s).as_nanos();
                        self.hist.saturating_record(ns.min(u64::MAX as u128) as u64);
                    }
                    c.count += finished.len() as u64;
                }
                if self.cfg.mode == Mode::Closed && self.sending {
                    let total = c.count;
                    match self.cfg.messages {
                        Some(limit) if total >= limit => self.done_conns += 1,
                        _ => self.send(i, now),
                    }
                }
            }
        }
        let end = window_end.unwrap_or_else(Instant::now);
        Ok(Outcome {
            window: end.saturating_duration_since(window_start),
            messages: self.counts().iter().sum(),
            complete,
        })
    }
}

fn latency_json(h: &Histogram<u64>) -> Value {
    let us = |ns: u64| ns as f64 / 1000.0;
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": us(h.value_at_quantile(0.50)),
        "p90": us(h.value_at_quantile(0.90)),
        "p99": us(h.value_at_quantile(0.99)),
        "p999": us(h.value_at_quantile(0.999)),
        "max": us(h.max()),
        "mean": h.mean() / 1000.0,
    })
}

/// Spread of per-connection message counts: a fair server gives every connection the same share.
fn fairness_json(counts: &[u64]) -> Value {
    let mut v = counts.to_vec();
    v.sort_unstable();
    let (min, max) = (
        v.first().copied().unwrap_or(0),
        v.last().copied().unwrap_or(0),
    );
    let (p10, p90) = (quantile_u64(&v, 0.10), quantile_u64(&v, 0.90));
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            Value::Null
        } else {
            json!(a as f64 / b as f64)
        }
    };
    json!({
        "min": min, "p10": p10, "p90": p90, "max": max,
        "max_over_min": ratio(max, min),
        "p90_over_p10": ratio(p90, p10),
    })
}
