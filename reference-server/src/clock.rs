//! Time, injected: the wall clock, or a frozen test clock that moves only when told.
//!
//! Every deadline (RFC 6749 §4.2.2 / §5.1 `expires_in`, refresh-token TTL, idle timeout,
//! absolute cap, grace window) is compared with [`Clock::now`], never with the system time
//! directly; a token is dead at any time `t >= deadline`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// A source of the current time, in whole seconds.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> UnixTime;

    /// Moves a test clock forward by `seconds` and returns the new time; `None` for a clock
    /// that cannot be moved (the wall clock).
    fn advance(&self, seconds: u32) -> Option<UnixTime> {
        let _ = seconds;
        None
    }
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        wall_time()
    }
}

/// A frozen clock that moves only through [`Clock::advance`] (`--test-clock`).
#[derive(Debug)]
pub struct TestClock {
    now: AtomicI64,
}

impl TestClock {
    /// A clock frozen at `start`.
    pub fn frozen_at(start: UnixTime) -> TestClock {
        TestClock {
            now: AtomicI64::new(start),
        }
    }

    /// A clock frozen at the current wall time.
    pub fn frozen_now() -> TestClock {
        TestClock::frozen_at(wall_time())
    }
}

impl Clock for TestClock {
    fn now(&self) -> UnixTime {
        self.now.load(Ordering::SeqCst)
    }

    fn advance(&self, seconds: u32) -> Option<UnixTime> {
        let by = i64::from(seconds);
        Some(self.now.fetch_add(by, Ordering::SeqCst) + by)
    }
}

/// The system time in whole seconds (0 if the system clock is before 1970).
pub fn wall_time() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_moves_only_when_told() {
        let c = TestClock::frozen_at(1_000);
        assert_eq!(c.now(), 1_000);
        assert_eq!(c.advance(60), Some(1_060));
        assert_eq!(c.now(), 1_060);
        assert_eq!(SystemClock.advance(5), None);
    }
}
