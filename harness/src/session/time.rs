//! Time passing in a scenario: with an endpoint clock a `Tick` is one POST that moves the
//! server's clock to the model's next deadline; with a real clock the runner waits past the
//! deadline plus the skew, and keeps both readings of any deadline within the skew (so a
//! real clock never makes a run flaky).

use std::time::Duration;

use tokenlife_model::spec::{expiry_reason, TokenRef};
use tokenlife_model::{Action, Outcome};

use super::harness::Harness;
use super::state::{Session, Stop};
use crate::checks::{self, Verdict};
use crate::deadline::{self, Advance as Named};
use crate::http::Request;
use crate::target::ClockConfig;

impl Harness {
    /// Lets time pass to the next deadline, or (`until`) until the named token is dead.
    pub(super) async fn tick(
        &self,
        s: &mut Session<'_>,
        n: usize,
        until: Option<&str>,
    ) -> Result<(), Stop> {
        let target = match until {
            None => None,
            Some(name) => Some(s.token(name)?),
        };
        let dead = |s: &Session<'_>| match target {
            None => false,
            Some(TokenRef::Access(a)) => s
                .set
                .states()
                .iter()
                .all(|st| st.ats[a.0 as usize].exp == 0),
            Some(TokenRef::Refresh(r)) => s
                .set
                .states()
                .iter()
                .all(|st| expiry_reason(st, r).is_some()),
        };
        let mut total = 0u32;
        for _ in 0..32 {
            let Some(d) = s.set.next_deadline() else {
                if total == 0 {
                    return Err(Stop::Error(format!(
                        "step {n}: no deadline is left to tick to"
                    )));
                }
                break;
            };
            s.actions += 1;
            let pre = s.set.first().clone();
            if let ClockConfig::Real { skew } = &self.target.clock {
                // Wait until the deadline has passed by more than the skew, then read the clock.
                let at = s.set.next_deadline_at().unwrap_or(d);
                let wake = s.started
                    + Duration::from_secs(u64::from(at + skew.get() + s.set.slack()))
                    + Duration::from_millis(200);
                // A stopped run (--max-time, a signal, the breaker) does not wait it out.
                if let Err(why) = self.http.config().guard.sleep_until(wake).await {
                    return Err(s.unanswered(n, "time passes", 0, &why));
                }
                s.set.sync(s.elapsed(), skew.get());
                total += d;
            } else {
                self.advance_step(s, n, d).await?;
                total += d;
            }
            s.cover(&pre, Action::Tick, Outcome::Nothing);
            if target.is_none() || dead(s) {
                break;
            }
        }
        if target.is_some() && !dead(s) {
            return Err(Stop::Error(format!(
                "step {n}: {} never dies under this policy",
                until.unwrap_or_default()
            )));
        }
        s.line(format!("{n}. time passes: {total} s"));
        Ok(())
    }

    /// Moves time to the deadline `adv` names (or one second before it): one `POST` of
    /// exactly the seconds to it on an endpoint clock. A real clock waits until the
    /// deadline has passed by more than the skew, or (`before`) only while it is still
    /// ahead by more than the skew, and reads the clock: "one second before" cannot be hit
    /// closer than the skew, and any moment clear of it on the right side is the same
    /// experiment. It is the model's `Advance` action, covered as such.
    pub(super) async fn tick_to(
        &self,
        s: &mut Session<'_>,
        n: usize,
        adv: &Named,
    ) -> Result<(), Stop> {
        let token = s.token(&adv.token)?;
        self.move_to(s, n, adv, token).await
    }

    /// A generated walk's `Advance`: [`Harness::tick_to`] for a token the model names.
    pub(super) async fn advance_to(
        &self,
        s: &mut Session<'_>,
        n: usize,
        to: deadline::Deadline,
        token: TokenRef,
        before: bool,
    ) -> Result<(), Stop> {
        let adv = Named {
            to,
            before,
            token: token.to_string(),
        };
        self.move_to(s, n, &adv, token).await
    }

    async fn move_to(
        &self,
        s: &mut Session<'_>,
        n: usize,
        adv: &Named,
        token: TokenRef,
    ) -> Result<(), Stop> {
        if let ClockConfig::Real { skew } = &self.target.clock {
            s.set.sync(s.elapsed(), skew.get());
        }
        let real = matches!(self.target.clock, ClockConfig::Real { .. });
        let at = deadline::due(s.set.states(), s.set.times(), adv, token, !real)
            .map_err(|m| Stop::Error(format!("step {n}: {m}")))?;
        let now = s.set.times().iter().copied().max().unwrap_or(0);
        s.actions += 1;
        let pre = s.set.first().clone();
        if let ClockConfig::Real { skew } = &self.target.clock {
            let margin = skew.get() + s.set.slack();
            let wake = if adv.before {
                // `at` is one second short of the deadline: stay clear of it by the skew.
                at.saturating_add(1).saturating_sub(margin + 1)
            } else {
                at.saturating_add(margin)
            };
            if wake > now {
                let wake = s.started
                    + Duration::from_secs(u64::from(wake))
                    + Duration::from_millis(if adv.before { 0 } else { 200 });
                if let Err(why) = self.http.config().guard.sleep_until(wake).await {
                    return Err(s.unanswered(n, "time passes", 0, &why));
                }
            }
            s.set.sync(s.elapsed(), skew.get());
        } else {
            let d = at.saturating_sub(now);
            if d > 0 {
                self.advance_step(s, n, d).await?;
            }
        }
        let action = Action::Advance {
            to: adv.to,
            token,
            before: adv.before,
        };
        s.cover(&pre, action, Outcome::Nothing);
        // The model's id, as every other transcript line names tokens.
        let before = if adv.before { "just before " } else { "" };
        let seconds = at.saturating_sub(now);
        s.line(format!(
            "{n}. time passes to {before}the {} of {token}: {seconds} s",
            adv.to
        ));
        Ok(())
    }

    /// Step `n`'s move of the endpoint clock by `d` seconds, judged: the state set follows
    /// it; a refusal fails the clock check, no answer is an infrastructure stop.
    async fn advance_step(&self, s: &mut Session<'_>, n: usize, d: u32) -> Result<(), Stop> {
        self.advance(d).await.map_err(|e| match e {
            Advance::Unanswered(m) => s.unanswered(n, "time passes", 1, &m),
            Advance::Refused(m) => {
                s.eval(checks::CLOCK, Verdict::Failed, n, Some(m.clone()));
                Stop::Failed(format!("step {n}: {m}"))
            }
        })?;
        s.set.advance(d);
        Ok(())
    }

    /// Moves the server's clock on by `seconds` (a real clock: waits them out plus the skew).
    pub(super) async fn advance(&self, seconds: u32) -> Result<(), Advance> {
        match &self.target.clock {
            ClockConfig::Endpoint { .. } => {
                let url = self.clock_url.clone().unwrap_or_default();
                let r = self
                    .http
                    .send(&Request::post_json(
                        &url,
                        serde_json::json!({ "advance_seconds": seconds }),
                    ))
                    .await
                    .map_err(|e| {
                        let m = format!("the clock endpoint: {e}");
                        if e.is_infrastructure() {
                            Advance::Unanswered(m)
                        } else {
                            Advance::Refused(m)
                        }
                    })?;
                if !(200..300).contains(&r.status) {
                    return Err(Advance::Refused(format!(
                        "the clock endpoint answered {} to advance_seconds = {seconds}",
                        r.status
                    )));
                }
                Ok(())
            }
            ClockConfig::Real { skew } => {
                let wake = tokio::time::Instant::now()
                    + Duration::from_secs(u64::from(seconds) + u64::from(skew.get()));
                self.http
                    .config()
                    .guard
                    .sleep_until(wake)
                    .await
                    .map_err(Advance::Unanswered)
            }
        }
    }
}

/// Why the test clock did not move.
pub(super) enum Advance {
    /// The clock endpoint got no answer: an infrastructure problem.
    Unanswered(String),
    /// It answered, but not with success: `clock.advance` fails.
    Refused(String),
}

/// A duration in whole seconds (rounded down), for [`StateSet::widen`](crate::oracle::StateSet::widen).
pub(super) fn whole_seconds(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// Where a real clock lands a wait the model designed for the endpoint clock: `seconds`
/// after `now` (model time), moved so that no deadline in `deadlines` lies within `tol`
/// seconds of it (the skew, the slowest exchange's seconds and one for rounding). Between
/// two deadlines no answer changes, so any moment strictly between the deadlines around
/// the model's is the same experiment; one within `tol` of a deadline would be read both
/// ways ([`StateSet::sync`](crate::oracle::StateSet::sync)). Where the deadlines lie closer
/// than that, the middle: its answers are then read both ways and decide nothing.
pub(super) fn landing(now: u32, seconds: u32, deadlines: &[u32], tol: u32) -> u32 {
    let ideal = now.saturating_add(seconds);
    let before = deadlines
        .iter()
        .copied()
        .filter(|d| *d > now && *d <= ideal)
        .max();
    let after = deadlines.iter().copied().filter(|d| *d > ideal).min();
    let low = before.map_or(now, |d| d.saturating_add(tol));
    let high = after.map(|d| d.saturating_sub(tol));
    let at = match high {
        Some(h) if low > h => low / 2 + h / 2 + (low % 2 + h % 2) / 2,
        Some(h) => ideal.clamp(low, h),
        None => ideal.max(low),
    };
    at.max(now)
}

#[cfg(test)]
mod tests {
    use super::landing;

    #[test]
    fn a_wait_lands_clear_of_every_deadline_by_the_tolerance() {
        // The model waits 2 s to cross a deadline at 2 (the next at 10): past it by tol.
        assert_eq!(landing(0, 2, &[2, 10], 2), 4);
        // Just before it (1 s): as early as possible, but not before now.
        assert_eq!(landing(0, 1, &[2, 10], 2), 0);
        // Between two deadlines far apart: where the model put it.
        assert_eq!(landing(0, 5, &[2, 10], 2), 5);
        // Closer than the tolerance: the middle (read both ways).
        assert_eq!(landing(0, 3, &[3, 4], 2), 3);
        // Deadlines already behind `now` do not move it.
        assert_eq!(landing(7, 1, &[3], 2), 8);
    }
}
