//! What a `bench server` run measured: rate, latency, CPU, the durability check; for
//! people ([`Report::human`]) and as JSON (the same fields as ever).

use serde::Serialize;

/// Where the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerMode {
    /// A child process `tokenlife serve` (this executable); killed with SIGKILL at the end,
    /// then the store is checked for every acknowledged rotation.
    #[default]
    Child,
    /// In this process, on its own tokio runtime.
    InProcess,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// The slowest refresh.
    pub max_ms: f64,
    /// The mean.
    pub mean_ms: f64,
}

/// CPU used during the measurement, in cores (CPU seconds per second of wall time).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUse {
    /// The server (its process, or its threads when in process).
    pub server_cores: f64,
    /// The load generator's thread.
    pub load_generator_cores: f64,
    /// Every process of the machine together (from `/proc/stat`).
    pub machine_busy_cores: f64,
    /// The machine's cores.
    pub machine_cores: usize,
    /// The 1-minute load average when the measurement ended.
    pub load_average_1m: Option<f64>,
}

/// The durability check after the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Durability {
    /// How the server stopped: `SIGKILL` or a clean shutdown.
    pub server_stop: String,
    /// Families whose last acknowledged refresh token was checked.
    pub families_checked: usize,
    /// Of those, the ones whose last refresh token is active in the store, and whose
    /// predecessor (if any) is consumed.
    pub families_intact: usize,
}

/// What a benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The policy profile.
    pub profile: String,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Token families.
    pub families: usize,
    /// Where the server ran.
    pub server: ServerMode,
    /// The store (a redacted URL).
    pub database: String,
    /// Seconds measured.
    pub seconds: f64,
    /// Refresh grants answered with a checked success inside the measurement.
    pub refreshes: u64,
    /// Refresh grants that failed inside the measurement (any status but 200, a malformed
    /// answer, a broken connection).
    pub errors: u64,
    /// Successful refresh grants per second.
    pub per_second: f64,
    /// Latency of the successful refreshes.
    pub latency: Latency,
    /// CPU use.
    pub cpu: CpuUse,
    /// The check of the store after the server stopped.
    pub durability: Durability,
    /// The first few error messages.
    pub error_samples: Vec<String>,
}

impl Report {
    /// Whether the run is clean: no failed refresh, no lost rotation.
    pub fn clean(&self) -> bool {
        self.errors == 0
            && self.durability.families_intact == self.durability.families_checked
            && self.refreshes > 0
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let l = &self.latency;
        let c = &self.cpu;
        let other = (c.machine_busy_cores - c.server_cores - c.load_generator_cores).max(0.0);
        let mut s = format!(
            "tokenlife bench server: profile {}, {} clients, {} families, {:.1} s, server {}, store {}\n",
            self.profile,
            self.concurrency,
            self.families,
            self.seconds,
            match self.server {
                ServerMode::Child => "in a child process",
                ServerMode::InProcess => "in process",
            },
            self.database
        );
        s.push_str(&format!(
            "  refresh grants  {:>9.0} /s   ({} ok, {} errors)\n",
            self.per_second, self.refreshes, self.errors
        ));
        s.push_str(&format!(
            "  latency         p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   p99.9 {:.2} ms   max {:.2} ms\n",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        ));
        s.push_str(&format!(
            "  cpu (cores)     server {:.2}   load generator {:.2}   other processes {:.2}   machine {:.2} of {}{}\n",
            c.server_cores,
            c.load_generator_cores,
            other,
            c.machine_busy_cores,
            c.machine_cores,
            c.load_average_1m
                .map(|l| format!("   load average {l:.2}"))
                .unwrap_or_default()
        ));
        s.push_str(&format!(
            "  durability      after {}: {}/{} families' last refresh token active in the store\n",
            self.durability.server_stop,
            self.durability.families_intact,
            self.durability.families_checked
        ));
        if !self.clean() {
            s.push_str("  RESULT: FAILED (errors or lost rotations; this run does not count)\n");
            for e in &self.error_samples {
                s.push_str(&format!("    {e}\n"));
            }
        }
        s
    }
}
