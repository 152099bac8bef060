//! The load of `bench server`: `--concurrency` clients, each owning its families and
//! refreshing their chains over its own connection inside one measurement window, and the
//! CPU samples taken at the window's edges.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::conn::Conn;
use super::report::CpuUse;
use crate::cpu::{machine_ticks, stat_ticks, thread_ticks, TICKS_PER_SECOND};
use crate::outcome::Failure;

/// The name of the load generator's thread (its CPU time is read from `/proc`).
pub(super) const LOAD_THREAD: &str = "tl-bench-load";

/// What the load generator is to do.
pub(super) struct LoadPlan {
    pub(super) addr: SocketAddr,
    pub(super) concurrency: usize,
    pub(super) families: usize,
    pub(super) warmup: Duration,
    pub(super) duration: Duration,
    pub(super) server_pid: Option<u32>,
}

/// One family's chain, as its client knows it.
#[derive(Debug, Clone)]
pub(super) struct Chain {
    /// The last refresh token the server answered with.
    pub(super) refresh: String,
    /// The one it replaced, if a refresh rotated it.
    pub(super) previous: Option<String>,
    /// A refresh of this family failed: where the chain stands is unknown.
    pub(super) broken: bool,
}

/// What the load generator measured.
pub(super) struct LoadResult {
    pub(super) chains: Vec<Chain>,
    pub(super) latencies_us: Vec<u32>,
    pub(super) errors: u64,
    pub(super) error_samples: Vec<String>,
    pub(super) seconds: f64,
    pub(super) cpu: CpuUse,
}

struct ClientResult {
    chains: Vec<Chain>,
    latencies_us: Vec<u32>,
    errors: u64,
    error_samples: Vec<String>,
}

/// The measurement window, sent to every client once all families exist.
#[derive(Clone, Copy)]
struct Window {
    start: tokio::time::Instant,
    end: tokio::time::Instant,
}

/// Runs the load on this thread (its CPU time is the load generator's): every client sets
/// up its families, then all refresh inside one window.
pub(super) fn generate_load(plan: LoadPlan) -> Result<LoadResult, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unreachable(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async move {
        let mut ready = Vec::new();
        let mut go = Vec::new();
        let mut handles = Vec::new();
        for i in 0..plan.concurrency {
            let owned = (i..plan.families).step_by(plan.concurrency).count();
            let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
            let (go_tx, go_rx) = oneshot::channel::<Window>();
            ready.push(ready_rx);
            go.push(go_tx);
            handles.push(tokio::spawn(client(plan.addr, owned, ready_tx, go_rx)));
        }
        for r in ready {
            match r.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Failure::Unreachable(format!("setting up: {e}"))),
                Err(_) => {
                    return Err(Failure::Unreachable(
                        "a client stopped while setting up".into(),
                    ))
                }
            }
        }
        let now = tokio::time::Instant::now();
        let window = Window {
            start: now + plan.warmup,
            end: now + plan.warmup + plan.duration,
        };
        for g in go {
            let _ = g.send(window);
        }
        tokio::time::sleep_until(window.start).await;
        let before = CpuSample::take(plan.server_pid);
        tokio::time::sleep_until(window.end).await;
        let after = CpuSample::take(plan.server_pid);
        let seconds = (after.at - before.at).as_secs_f64();
        let mut result = LoadResult {
            chains: Vec::new(),
            latencies_us: Vec::new(),
            errors: 0,
            error_samples: Vec::new(),
            seconds,
            cpu: after.minus(&before, seconds),
        };
        for h in handles {
            let c = h
                .await
                .map_err(|_| Failure::Unreachable("a client panicked".into()))?;
            result.chains.extend(c.chains);
            result.latencies_us.extend(c.latencies_us);
            result.errors += c.errors;
            for e in c.error_samples {
                if result.error_samples.len() < 5 {
                    result.error_samples.push(e);
                }
            }
        }
        Ok(result)
    })
}

/// One client: creates its families, then refreshes them in turn until the window ends.
async fn client(
    addr: SocketAddr,
    families: usize,
    ready: oneshot::Sender<Result<(), String>>,
    go: oneshot::Receiver<Window>,
) -> ClientResult {
    let mut out = ClientResult {
        chains: Vec::with_capacity(families),
        latencies_us: Vec::new(),
        errors: 0,
        error_samples: Vec::new(),
    };
    let mut conn = Conn::new(addr);
    for _ in 0..families {
        match conn.new_family().await {
            Ok(refresh) => out.chains.push(Chain {
                refresh,
                previous: None,
                broken: false,
            }),
            Err(e) => {
                let _ = ready.send(Err(e));
                return out;
            }
        }
    }
    let _ = ready.send(Ok(()));
    let Ok(window) = go.await else {
        return out;
    };
    let mut next = 0;
    let n = out.chains.len();
    while tokio::time::Instant::now() < window.end {
        let live = out.chains.iter().filter(|c| !c.broken).count();
        if live == 0 {
            // Every family broke: nothing left to refresh.
            tokio::time::sleep_until(window.end).await;
            break;
        }
        while out.chains[next].broken {
            next = (next + 1) % n;
        }
        let chain = &mut out.chains[next];
        next = (next + 1) % n;
        let started = tokio::time::Instant::now();
        let answer = conn.refresh(&chain.refresh).await;
        let done = tokio::time::Instant::now();
        let counted = done >= window.start && done <= window.end;
        match answer {
            Ok(successor) => {
                if let Some(s) = successor {
                    chain.previous = Some(std::mem::replace(&mut chain.refresh, s));
                }
                if counted {
                    let us = (done - started).as_micros();
                    out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                }
            }
            Err(e) => {
                chain.broken = true;
                if counted {
                    out.errors += 1;
                    if out.error_samples.len() < 5 {
                        out.error_samples.push(e);
                    }
                }
            }
        }
    }
    out
}

/// CPU counters at one instant.
struct CpuSample {
    at: Instant,
    /// Ticks of the server: its process, or this process minus the load generator.
    server: u64,
    load: u64,
    /// (busy, total) ticks of the machine.
    machine: (u64, u64),
}

impl CpuSample {
    fn take(server_pid: Option<u32>) -> CpuSample {
        let load = thread_ticks(LOAD_THREAD).unwrap_or(0);
        let server = match server_pid {
            Some(pid) => stat_ticks(Path::new(&format!("/proc/{pid}/stat"))).map_or(0, |t| t.1),
            None => stat_ticks(Path::new("/proc/self/stat"))
                .map_or(0, |t| t.1)
                .saturating_sub(load),
        };
        CpuSample {
            at: Instant::now(),
            server,
            load,
            machine: machine_ticks(),
        }
    }

    fn minus(&self, before: &CpuSample, seconds: f64) -> CpuUse {
        let cores = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / seconds.max(1e-9);
        let machine_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy = self.machine.0.saturating_sub(before.machine.0) as f64;
        let total = self.machine.1.saturating_sub(before.machine.1) as f64;
        CpuUse {
            server_cores: cores(self.server.saturating_sub(before.server)),
            load_generator_cores: cores(self.load.saturating_sub(before.load)),
            machine_busy_cores: if total > 0.0 {
                busy / total * machine_cores as f64
            } else {
                0.0
            },
            machine_cores,
            load_average_1m: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok())),
        }
    }
}
