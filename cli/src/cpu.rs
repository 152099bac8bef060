//! CPU time from Linux's `/proc`, for `load` and `bench server`, which report the cores
//! the load generator (and the server) used beside the whole machine's.
//!
//! Off Linux the files are missing: the readers answer `None` or zero.

use std::path::Path;

/// Linux reports CPU times in `/proc` in units of `USER_HZ`, 100 per second on every
/// architecture Rust supports.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// The name and `utime + stime` (in ticks) of a `/proc/…/stat` file.
pub fn stat_ticks(path: &Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    // `pid (comm) state ...`: the name may hold spaces, the fields after it do not.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state (field 3) … utime (14), stime (15).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The ticks of this process's threads named `name`; `None` off Linux.
pub fn thread_ticks(name: &str) -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter_map(|t| stat_ticks(&t.path().join("stat")))
            .filter(|(n, _)| n == name)
            .map(|(_, ticks)| ticks)
            .sum(),
    )
}

/// (busy, total) ticks of the whole machine, from `/proc/stat`.
pub fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_is_read() {
        if !Path::new("/proc/self/stat").exists() {
            return;
        }
        let (name, _) = stat_ticks(Path::new("/proc/self/stat")).unwrap();
        assert!(!name.is_empty());
        assert!(thread_ticks("no-such-thread") == Some(0));
        let (busy, total) = machine_ticks();
        assert!(busy <= total && total > 0);
    }
}
