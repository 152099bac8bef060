//! The run's guard: what ends a run that cannot finish, so it ends with a report.
//!
//! Three things stop a run early: its wall-clock deadline (`tokenlife run --max-time`), a
//! signal (SIGINT, SIGTERM: the CLI calls [`Guard::stop`]), and the circuit breaker, which
//! opens when [`Guard::breaker`] requests in a row to one endpoint got no answer (a
//! timeout, a connection refused or broken, 429 after the retries). Once stopped, every
//! request fails at once with [`HttpError::Stopped`](crate::http::HttpError::Stopped), a
//! request in flight is abandoned, a real-clock wait ends, and the runner starts nothing
//! more: the report it returns is marked partial ([`Report::partial`](crate::Report)).
//! Without a deadline or a breaker (the default) the guard never stops anything by itself:
//! `load`, `infer` and the benchmarks keep their own bounds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How many requests in a row to one endpoint may get no answer before the run stops, by
/// default in `tokenlife run`. Five: a healthy target under the default `--in-flight` times
/// out at most once in a while (an answer in between closes the count again), and five
/// `--timeout`s (50 s at the default) is long enough to ride out a restart of the target.
pub const DEFAULT_BREAKER: u32 = 5;

/// A run's deadline, stop switch and circuit breaker; clones share them.
#[derive(Clone, Default)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    deadline: Option<(Instant, Duration)>,
    breaker: Option<u32>,
    reason: OnceLock<String>,
    notify: Notify,
    /// Requests in a row without an answer, by endpoint (URL without query).
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("max_time", &self.inner.deadline.map(|(_, d)| d))
            .field("breaker", &self.inner.breaker)
            .field("stopped", &self.inner.reason.get())
            .finish()
    }
}

impl Guard {
    /// A guard that stops the run `max_time` from now (none: never by time) and when
    /// `breaker` requests in a row to one endpoint got no answer (none: never by that).
    pub fn new(max_time: Option<Duration>, breaker: Option<u32>) -> Guard {
        Guard {
            inner: Arc::new(Inner {
                deadline: max_time.map(|d| (Instant::now() + d, d)),
                breaker: breaker.map(|b| b.max(1)),
                ..Inner::default()
            }),
        }
    }

    /// The breaker's threshold, if there is one.
    pub fn breaker(&self) -> Option<u32> {
        self.inner.breaker
    }

    /// Stops the run for `reason` (the first reason given is the one reported).
    pub fn stop(&self, reason: impl Into<String>) {
        let _ = self.inner.reason.set(reason.into());
        self.inner.notify.notify_waiters();
    }

    /// Why the run stopped, once it has (the deadline counts as soon as it has passed).
    pub fn stopped(&self) -> Option<String> {
        if let Some((at, d)) = self.inner.deadline {
            if Instant::now() >= at {
                self.stop(deadline_reason(d));
            }
        }
        self.inner.reason.get().cloned()
    }

    /// Why the run stopped, if something has stopped it (unlike [`Guard::stopped`], a
    /// deadline that passed unnoticed after the last piece of work does not count: the run
    /// finished).
    pub fn reason(&self) -> Option<String> {
        self.inner.reason.get().cloned()
    }

    /// Waits until the run stops; returns why.
    pub async fn wait(&self) -> String {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.stopped() {
                return r;
            }
            match self.inner.deadline {
                Some((at, _)) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Sleeps until `at`, or until the run stops (then `Err` with why).
    pub async fn sleep_until(&self, at: Instant) -> Result<(), String> {
        tokio::select! {
            () = tokio::time::sleep_until(at) => Ok(()),
            r = self.wait() => Err(r),
        }
    }

    /// Counts a request to `endpoint` that got an answer (`failure: None`) or none (`why`):
    /// the breaker's threshold of failures in a row stops the run.
    pub fn record(&self, endpoint: &str, failure: Option<&str>) {
        let Some(limit) = self.inner.breaker else {
            return;
        };
        let Ok(mut map) = self.inner.failures.lock() else {
            return;
        };
        match failure {
            None => {
                map.remove(endpoint);
            }
            Some(why) => {
                let n = map.entry(endpoint.to_string()).or_insert(0);
                *n += 1;
                if *n >= limit {
                    let n = *n;
                    drop(map);
                    self.stop(format!(
                        "circuit breaker: {n} requests in a row to {endpoint} got no answer \
                         (the last: {why}); the target is not reliably reachable, so the run \
                         stopped there"
                    ));
                }
            }
        }
    }
}

/// What the report says when `--max-time` ends a run.
fn deadline_reason(d: Duration) -> String {
    format!(
        "the run reached its --max-time of {} s before it finished",
        d.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_breaker_opens_after_failures_in_a_row_only() {
        let g = Guard::new(None, Some(3));
        g.record("http://h/token", Some("no answer"));
        g.record("http://h/token", Some("no answer"));
        g.record("http://h/token", None);
        g.record("http://h/token", Some("no answer"));
        g.record("http://h/other", Some("no answer"));
        g.record("http://h/token", Some("no answer"));
        assert!(g.stopped().is_none());
        g.record("http://h/token", Some("no answer"));
        let why = g.stopped().unwrap();
        assert!(
            why.contains("3 requests in a row to http://h/token"),
            "{why}"
        );
        // The first reason stands.
        g.stop("later");
        assert_eq!(g.stopped().unwrap(), why);
    }

    #[tokio::test]
    async fn a_deadline_or_a_stop_ends_a_wait() {
        let g = Guard::new(Some(Duration::from_millis(50)), None);
        let far = Instant::now() + Duration::from_secs(600);
        let why = g.sleep_until(far).await.unwrap_err();
        assert!(why.contains("--max-time"), "{why}");
        let g = Guard::default();
        assert!(g.stopped().is_none());
        let h = g.clone();
        tokio::spawn(async move { h.stop("interrupted by SIGINT") });
        assert_eq!(g.wait().await, "interrupted by SIGINT");
        // An inert guard never stops by itself.
        let inert = Guard::default();
        for _ in 0..100 {
            inert.record("http://h/token", Some("no answer"));
        }
        assert!(inert.stopped().is_none());
    }
}
