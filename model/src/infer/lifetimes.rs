//! Lifetimes measured: the search for one deadline by probes, and what the deadlines found
//! mean as policy knobs.
//!
//! A lifetime is no choice among a few values, so it is not in [`super::table`]: it is
//! measured, before the discrete knobs, whose experiments wait for it. Each *probe* is one
//! short sequence from a fresh grant ([`Probe`]): wait, then use the token, and see whether
//! it is still honoured. A token honoured after `x` seconds lives longer than `x`; one refused
//! after `x` lives at most `x` ([`Search::record`] takes those bounds already widened by the
//! clock's uncertainty, so the search itself is exact arithmetic).
//!
//! [`Search`] plans the probes: from the server's own `expires_in` when it gave one (two
//! probes confirm it: alive just before, dead at it), else by doubling from one second until
//! a probe finds the token dead, then by bisection. With the endpoint clock the answer is
//! exact (the least `x` at which the token is refused); with a real clock it is an interval
//! as wide as the clock's uncertainty allows, and a token still alive at the search's limit
//! (the budget) is reported as longer than it.
//!
//! [`Lifetimes::interpret`] turns the deadlines into knobs. An unused refresh token's first
//! deadline is the earliest of its lifetime, the grant's absolute cap and the idle timeout,
//! which all run from the issue; a refresh just before it tells them apart: a deadline the
//! refresh did not move is absolute, one it moved by the refresh's own offset is renewed
//! by use. Where two readings give the same answers to every request (an idle timeout and a
//! lifetime renewed by rotation; a cap and a lifetime a successor inherits) the file carries
//! one and its comment names the other.
//!
//! The anchor of the refresh lifetime (`refresh_ttl_anchor`) is read the same way: the
//! deadline measured runs from the issue, which is what `refresh_ttl` means under the anchor
//! `issue`; under `access-expiry` the same tokens have `refresh_ttl` shorter by `access_ttl`.

use serde::Serialize;

use crate::policy::{Grace, GraceSuccessor, Policy, Seconds};

/// How far the endpoint clock is moved looking for a deadline: ten years. A token alive
/// after that is reported as never expiring.
pub const HORIZON: u32 = 10 * 365 * 86_400;

/// One probe, run from a fresh grant. Offsets are seconds from the event its lifetime runs
/// from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "probe")]
pub enum Probe {
    /// `at` seconds after the grant, the access token is used at the resource (or
    /// introspected).
    Access {
        /// Seconds after the grant.
        at: u32,
    },
    /// `at` seconds after the grant, the refresh token is refreshed.
    Refresh {
        /// Seconds after the grant.
        at: u32,
    },
    /// `renew` seconds after the grant the refresh token is refreshed; `at` seconds after
    /// the grant the token that refresh returned is refreshed.
    Renewed {
        /// Seconds after the grant of the first refresh.
        renew: u32,
        /// Seconds after the grant of the second.
        at: u32,
    },
    /// The refresh token is refreshed; `at` seconds after that it is presented again.
    Grace {
        /// Seconds after the first refresh.
        at: u32,
    },
}

impl Probe {
    /// The probe's offset: where its lifetime is read.
    pub fn at(&self) -> u32 {
        match *self {
            Probe::Access { at }
            | Probe::Refresh { at }
            | Probe::Renewed { at, .. }
            | Probe::Grace { at } => at,
        }
    }

    /// The same probe at another offset.
    pub fn with_at(&self, at: u32) -> Probe {
        match *self {
            Probe::Access { .. } => Probe::Access { at },
            Probe::Refresh { .. } => Probe::Refresh { at },
            Probe::Renewed { renew, .. } => Probe::Renewed { renew, at },
            Probe::Grace { .. } => Probe::Grace { at },
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Probe::Access { at } => write!(f, "AT used {at} s after the grant"),
            Probe::Refresh { at } => write!(f, "RT refreshed {at} s after the grant"),
            Probe::Renewed { renew, at } => write!(
                f,
                "RT refreshed {renew} s after the grant, the RT it returned {at} s after the grant"
            ),
            Probe::Grace { at } => write!(f, "RT refreshed, presented again {at} s later"),
        }
    }
}

/// What one probe found, as the search records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The offset planned.
    pub at: u32,
    /// Whether the token was honoured.
    pub alive: bool,
    /// The bound it gives: alive, the lifetime is longer than this; dead, at most this.
    pub bound: u32,
}

/// The search for one deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// The token is known alive this long after its event (the lifetime is longer).
    lo: u32,
    /// The token is known dead this long after its event (the lifetime is at most this).
    hi: Option<u32>,
    /// The longest offset the search may probe (the horizon, or what the budget allows).
    limit: u32,
    /// The uncertainty of one probe's reading in seconds (0: the endpoint clock).
    margin: u32,
    /// The figures tried first, in order: the server's own (`expires_in`), or the
    /// deadlines a hypothesis predicts.
    hints: Vec<u32>,
    /// Every answer, in the order recorded.
    answers: Vec<Answer>,
}

/// What a search found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "found")]
pub enum Found {
    /// The least offset at which the token is refused (the endpoint clock).
    Exact {
        /// Seconds.
        seconds: u32,
    },
    /// Alive after `lo`, dead by `hi` (a real clock): `seconds` is the value written, the
    /// server's own figure when it lies in the interval.
    Within {
        /// Alive after this.
        lo: u32,
        /// Dead by this.
        hi: u32,
        /// The value written.
        seconds: u32,
    },
    /// Still honoured at the search's limit.
    Beyond {
        /// The limit.
        seconds: u32,
    },
    /// The answers contradict each other (honoured after a refusal at a shorter offset).
    Inconsistent,
}

impl Found {
    /// The value a policy file carries for a finite lifetime.
    pub fn seconds(&self) -> Option<u32> {
        match *self {
            Found::Exact { seconds } | Found::Within { seconds, .. } => Some(seconds),
            Found::Beyond { .. } | Found::Inconsistent => None,
        }
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Found::Exact { seconds } => write!(f, "{seconds} s"),
            Found::Within { lo, hi, seconds } => {
                write!(f, "{seconds} s (alive after {lo} s, dead by {hi} s)")
            }
            Found::Beyond { seconds } => write!(f, "> {seconds} s"),
            Found::Inconsistent => f.write_str("inconsistent answers"),
        }
    }
}

impl Search {
    /// A search probing at most `limit` seconds out, each probe read within `margin`
    /// seconds, trying the server's figure `hint` first.
    pub fn new(hint: Option<u32>, limit: u32, margin: u32) -> Search {
        Search {
            lo: 0,
            hi: None,
            limit,
            margin,
            hints: hint.into_iter().filter(|h| *h > 0).collect(),
            answers: Vec::new(),
        }
    }

    /// Another figure to try after the first (the deadline a second hypothesis predicts).
    pub fn also(mut self, hint: u32) -> Search {
        if hint > 0 {
            self.hints.push(hint);
        }
        self
    }

    /// Whether a probe has been recorded around `hint` (just before it or at it).
    fn tried(&self, hint: u32) -> bool {
        let below = hint.saturating_sub(self.margin.max(1));
        self.answers
            .iter()
            .any(|a| a.at >= below && a.at <= hint + self.margin)
    }

    /// A search that knows the token is alive `lo` seconds out (a renewed token is alive at
    /// least as long as the unused one was).
    pub fn from(mut self, lo: u32) -> Search {
        self.lo = lo;
        self
    }

    /// The narrowest interval a search ends with: one second with the endpoint clock; with
    /// a real clock, two probes a second apart each read within the margin either way.
    pub fn resolution(&self) -> u32 {
        if self.margin == 0 {
            1
        } else {
            2 * self.margin + 2
        }
    }

    /// The offsets to probe next, at most `width` of them (more than one only where they
    /// run side by side: a real clock), ascending; none when the search is over.
    pub fn next(&self, width: usize) -> Vec<u32> {
        let width = width.max(1);
        if self.done() {
            return Vec::new();
        }
        let fresh = |x: &u32| *x > self.lo && self.hi.is_none_or(|h| *x < h) && *x <= self.limit;
        for h in self.hints.iter().copied().filter(|h| !self.tried(*h)) {
            let below = h.saturating_sub(self.margin.max(1));
            let v: Vec<u32> = [below, h + self.margin]
                .into_iter()
                .filter(|x| fresh(x))
                .collect();
            if !v.is_empty() {
                return v;
            }
        }
        let mut v = Vec::new();
        match self.hi {
            None => {
                // Doubling; the last probe at the limit itself.
                let mut x = self.lo.max(1);
                while v.len() < width {
                    x = x.saturating_mul(2).min(self.limit);
                    if self.lo == 0 && v.is_empty() {
                        x = 1;
                    }
                    if !fresh(&x) || v.last() == Some(&x) {
                        break;
                    }
                    v.push(x);
                    if x == self.limit {
                        break;
                    }
                }
            }
            Some(hi) => {
                // Evenly inside the interval.
                let span = hi - self.lo;
                let n = u32::try_from(width).unwrap_or(1);
                for i in 1..=n {
                    let x = self.lo + span * i / (n + 1);
                    if fresh(&x) && v.last() != Some(&x) {
                        v.push(x);
                    }
                }
            }
        }
        v
    }

    /// Whether no probe is left to run.
    pub fn done(&self) -> bool {
        self.inconsistent()
            || self.lo >= self.limit
            || self.hi.is_some_and(|h| h <= self.lo + self.resolution())
    }

    fn inconsistent(&self) -> bool {
        self.hi.is_some_and(|h| h <= self.lo)
    }

    /// Records a probe at offset `at`: `alive`, with `bound` the widened reading (alive:
    /// the lifetime is longer than `bound`; dead: at most `bound`). With the endpoint clock
    /// `bound` is `at`.
    pub fn record(&mut self, at: u32, alive: bool, bound: u32) {
        if alive {
            self.lo = self.lo.max(bound);
        } else {
            self.hi = Some(self.hi.map_or(bound, |h| h.min(bound)));
        }
        self.answers.push(Answer { at, alive, bound });
    }

    /// The answers so far.
    pub fn answers(&self) -> &[Answer] {
        &self.answers
    }

    /// What the search found (call when [`Search::done`], or when it must stop early: then
    /// an open interval reads as `Beyond` its lower bound when no probe was refused).
    pub fn found(&self) -> Found {
        if self.inconsistent() {
            return Found::Inconsistent;
        }
        match self.hi {
            None => Found::Beyond { seconds: self.lo },
            Some(hi) if self.margin == 0 && hi == self.lo + 1 => Found::Exact { seconds: hi },
            Some(hi) => {
                let seconds = self
                    .hints
                    .iter()
                    .copied()
                    .find(|h| *h > self.lo && *h <= hi)
                    .unwrap_or(self.lo + (hi - self.lo).div_ceil(2));
                Found::Within {
                    lo: self.lo,
                    hi,
                    seconds,
                }
            }
        }
    }
}

/// One lifetime as measured: what it is, how it was found, what the file carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Measured {
    /// The knob's key in a policy file.
    pub knob: &'static str,
    /// The value written (`None`: "none", no such deadline).
    pub value: Option<u32>,
    /// What the search found (`None`: not searched; `how` says why).
    pub found: Option<Found>,
    /// How: the server's figure, the probes and what they mean.
    pub how: String,
    /// The probes run, as (probe, honoured).
    pub answers: Vec<(Probe, bool)>,
    /// The clause.
    pub clause: &'static str,
}

/// Every lifetime measured, in the order of a policy file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Lifetimes {
    /// `access_ttl`, `refresh_ttl`, `idle_timeout`, `absolute_cap`, `grace_window`, each
    /// present only when measured (or deliberately left as the base has it, with why).
    pub knobs: Vec<Measured>,
    /// Whether a consumed refresh token was honoured again (a grace allowance), and for how
    /// long; `None`: not seen.
    pub grace_window: Option<u32>,
}

/// The unused refresh token's first deadline and, when it was measured, the deadline of the
/// token a refresh `renew` seconds after the grant returned (from the grant), and whether that
/// refresh rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshDeadlines {
    /// The unused token's first deadline.
    pub first: Found,
    /// The renewal: the refresh's offset, whether it rotated, the returned token's deadline.
    pub renewed: Option<(u32, bool, Found)>,
}

/// The clauses of the lifetimes.
pub const CLAUSE_ACCESS: &str = "RFC6749-5.1 (expires_in: the access token's lifetime)";
/// The refresh token's lifetime.
pub const CLAUSE_REFRESH: &str = "RFC6749-5.1, RFC6749-6 (the refresh lifetime is the server's)";
/// The idle timeout.
pub const CLAUSE_IDLE: &str = "RFC9700-4.14.2 (SHOULD expire after inactivity)";
/// The absolute cap.
pub const CLAUSE_CAP: &str = "browser-apps draft (never outlives the initial lifetime)";
/// The grace window.
pub const CLAUSE_GRACE: &str = "RFC9700-4.14.2 (rotation), with a lossy-network allowance";

impl Lifetimes {
    /// The refresh knobs (`refresh_ttl`, `idle_timeout`, `absolute_cap`) the deadlines
    /// mean; `answers` are the probes behind them.
    pub fn interpret(d: &RefreshDeadlines, answers: Vec<(Probe, bool)>) -> Vec<Measured> {
        let m = |knob, value: Option<u32>, how: String| Measured {
            knob,
            value,
            found: Some(d.first),
            how,
            answers: Vec::new(),
            clause: match knob {
                "idle_timeout" => CLAUSE_IDLE,
                "absolute_cap" => CLAUSE_CAP,
                _ => CLAUSE_REFRESH,
            },
        };
        let mut out = Vec::new();
        let first = match d.first {
            Found::Beyond { seconds } => {
                let how = format!(
                    "an unused refresh token was still honoured {seconds} s after its grant: no \
                     lifetime, cap or idle timeout within that (\"none\" is exact only up to \
                     {seconds} s: a run longer than that may see it expire)"
                );
                out.push(m("refresh_ttl", None, how.clone()));
                out.push(m("idle_timeout", None, "see refresh_ttl".into()));
                out.push(m("absolute_cap", None, "see refresh_ttl".into()));
                attach(&mut out, answers);
                return out;
            }
            Found::Inconsistent => {
                attach(&mut out, answers);
                return out;
            }
            f => f.seconds().unwrap_or(0),
        };
        let lifetime = |how: String| m("refresh_ttl", Some(first), how);
        match d.renewed {
            None => out.push(lifetime(format!(
                "an unused refresh token's first deadline is {}; whether a refresh renews it \
                 was not measured, so it is written as the lifetime from issue",
                d.first
            ))),
            Some((renew, rotated, found)) => {
                let kept = if rotated {
                    "the successor"
                } else {
                    "the same token"
                };
                // A real clock's reading is as wide as its interval.
                let tol = match found {
                    Found::Within { lo, hi, .. } => hi - lo,
                    _ => 0,
                };
                match found {
                    Found::Exact { seconds: d1 } | Found::Within { seconds: d1, .. }
                        if d1 <= first + tol =>
                    {
                        out.push(lifetime(format!(
                            "an unused refresh token dies {first} s after its grant; refreshed at \
                             {renew} s, {kept} dies at {d1} s: the deadline is absolute \
                             (absolute_cap = \"{first}s\" gives the same answers)"
                        )));
                    }
                    Found::Exact { seconds: d1 } | Found::Within { seconds: d1, .. }
                        if d1 + tol >= renew + first =>
                    {
                        if rotated {
                            out.push(lifetime(format!(
                                "an unused refresh token dies {first} s after its grant; refreshed \
                                 at {renew} s, the successor lives {first} s from the refresh \
                                 (idle_timeout = \"{first}s\" gives the same answers under rotation)"
                            )));
                        } else {
                            out.push(m(
                                "idle_timeout",
                                Some(first),
                                format!(
                                    "an unused refresh token dies {first} s after its grant; \
                                     refreshed at {renew} s without rotation, it lives {first} s \
                                     from that use"
                                ),
                            ));
                            out.push(m(
                                "refresh_ttl",
                                None,
                                format!(
                                    "no deadline the use did not move within {d1} s of the grant"
                                ),
                            ));
                        }
                    }
                    Found::Exact { seconds: d1 } | Found::Within { seconds: d1, .. } => {
                        out.push(m(
                            "idle_timeout",
                            Some(first),
                            format!(
                                "an unused refresh token dies {first} s after its grant; \
                                 refreshed at {renew} s, {kept} dies at {d1} s: renewed by \
                                 use, under an absolute deadline"
                            ),
                        ));
                        out.push(m(
                            "absolute_cap",
                            Some(d1),
                            format!(
                                "refreshed at {renew} s, {kept} dies {d1} s after the grant \
                                 (refresh_ttl = \"{d1}s\" with inherited successors gives the \
                                 same answers)"
                            ),
                        ));
                        out.push(m("refresh_ttl", None, "see absolute_cap".into()));
                    }
                    Found::Beyond { .. } | Found::Inconsistent => out.push(lifetime(format!(
                        "an unused refresh token dies {first} s after its grant; refreshed at \
                         {renew} s, {kept} answered {found}, which no lifetime explains: \
                         written as the lifetime from issue"
                    ))),
                }
            }
        }
        // The deadlines no probe showed: none within what was probed (a base policy's
        // declared one would contradict the probes).
        let probed = answers.iter().map(|(p, _)| p.at()).max().unwrap_or(first);
        for knob in ["refresh_ttl", "idle_timeout", "absolute_cap"] {
            if !out.iter().any(|k| k.knob == knob) {
                out.push(m(
                    knob,
                    None,
                    format!("no such deadline seen within {probed} s of the grant"),
                ));
            }
        }
        attach(&mut out, answers);
        out
    }

    /// `base` with every measured lifetime set (a knob measured as "none" unset), and the
    /// grace window when one was seen. A combination the policy refuses (a refresh lifetime
    /// shorter than nothing) leaves `base` as it was for that knob.
    pub fn apply(&self, base: &Policy) -> Policy {
        let mut p = base.clone();
        for k in &self.knobs {
            let v = k.value.map(Seconds);
            let mut q = p.clone();
            match k.knob {
                "access_ttl" => {
                    if let Some(v) = v {
                        q.access_ttl = v;
                    }
                }
                "refresh_ttl" => q.refresh_ttl = v,
                "idle_timeout" => q.idle_timeout = v,
                "absolute_cap" => q.absolute_cap = v,
                _ => {}
            }
            if q.validate().is_ok() {
                p = q;
            }
        }
        if let Some(w) = self.grace_window {
            let mut q = p.clone();
            q.grace = Some(Grace {
                window: Some(Seconds(w)),
                successor: q.grace.map_or(GraceSuccessor::New, |g| g.successor),
                max_reuse: None,
            });
            if q.validate().is_ok() {
                p = q;
            }
        }
        p
    }

    /// The measurement of `knob`, if any.
    pub fn get(&self, knob: &str) -> Option<&Measured> {
        self.knobs.iter().find(|m| m.knob == knob)
    }
}

/// Gives the probes to the first knob (the comment shows them once).
fn attach(out: &mut [Measured], answers: Vec<(Probe, bool)>) {
    if let Some(first) = out.first_mut() {
        first.answers = answers;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a token that lives `life` seconds (read exactly).
    fn run(mut s: Search, life: u32, width: usize) -> (Found, usize) {
        let mut probes = 0;
        for _ in 0..200 {
            let next = s.next(width);
            if next.is_empty() {
                break;
            }
            for x in next {
                probes += 1;
                s.record(x, x < life, x);
            }
        }
        (s.found(), probes)
    }

    #[test]
    fn the_server_s_figure_is_confirmed_in_two_probes() {
        let (found, probes) = run(Search::new(Some(37), HORIZON, 0), 37, 1);
        assert_eq!(found, Found::Exact { seconds: 37 });
        assert_eq!(probes, 2);
    }

    #[test]
    fn a_wrong_figure_is_corrected_by_bisection() {
        // Longer than declared: doubling from the figure, then bisection.
        let (found, probes) = run(Search::new(Some(30), HORIZON, 0), 173, 1);
        assert_eq!(found, Found::Exact { seconds: 173 });
        assert!(probes <= 12, "{probes}");
        // Shorter.
        let (found, _) = run(Search::new(Some(600), HORIZON, 0), 11, 1);
        assert_eq!(found, Found::Exact { seconds: 11 });
    }

    #[test]
    fn without_a_figure_doubling_then_bisection_finds_it() {
        for life in [1, 2, 3, 37, 173, 1000, 86_400, 1_209_600] {
            let (found, probes) = run(Search::new(None, HORIZON, 0), life, 1);
            assert_eq!(found, Found::Exact { seconds: life }, "{life}");
            assert!(probes <= 64, "{life}: {probes}");
        }
    }

    #[test]
    fn a_second_figure_is_tried_after_the_first() {
        // A renewed token: alive at the first deadline (173), dead at the second (345).
        let s = Search::new(Some(173), 346, 0).also(345).from(172);
        let (found, probes) = run(s, 345, 1);
        assert_eq!(found, Found::Exact { seconds: 345 });
        assert_eq!(probes, 3);
    }

    #[test]
    fn a_token_alive_at_the_limit_is_beyond_it() {
        let (found, _) = run(Search::new(None, 300, 0), u32::MAX, 1);
        assert_eq!(found, Found::Beyond { seconds: 300 });
        let (found, _) = run(Search::new(None, HORIZON, 0), u32::MAX, 1);
        assert_eq!(found, Found::Beyond { seconds: HORIZON });
    }

    #[test]
    fn a_real_clock_ends_within_its_resolution_and_keeps_the_figure() {
        // Each reading widened by the margin, as the harness reports it.
        let margin = 1;
        let mut s = Search::new(Some(3), 300, margin);
        for _ in 0..20 {
            let next = s.next(4);
            if next.is_empty() {
                break;
            }
            for x in next {
                let alive = x < 3;
                let bound = if alive { x - margin } else { x + margin };
                s.record(x, alive, bound);
            }
        }
        match s.found() {
            Found::Within { lo, hi, seconds } => {
                assert!(lo < 3 && 3 <= hi && hi - lo <= 4, "{lo}..{hi}");
                assert_eq!(seconds, 3);
            }
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn several_probes_side_by_side_double_then_split_the_interval() {
        let s = Search::new(None, 300, 1);
        assert_eq!(s.next(4), vec![1, 2, 4, 8]);
        let mut s = Search::new(None, 10, 1);
        assert_eq!(s.next(8), vec![1, 2, 4, 8, 10]);
        s.record(8, false, 9);
        s.record(4, true, 3);
        assert_eq!(s.next(2), vec![5, 7]);
    }

    #[test]
    fn refused_after_honoured_later_is_inconsistent() {
        let mut s = Search::new(None, 300, 0);
        s.record(10, false, 10);
        s.record(20, true, 20);
        assert!(s.done());
        assert_eq!(s.found(), Found::Inconsistent);
    }

    fn deadlines(first: u32, renewed: Option<(u32, bool, u32)>) -> Vec<Measured> {
        Lifetimes::interpret(
            &RefreshDeadlines {
                first: Found::Exact { seconds: first },
                renewed: renewed.map(|(r, rot, d)| (r, rot, Found::Exact { seconds: d })),
            },
            Vec::new(),
        )
    }

    fn value(v: &[Measured], knob: &str) -> Option<Option<u32>> {
        v.iter().find(|m| m.knob == knob).map(|m| m.value)
    }

    #[test]
    fn a_deadline_a_refresh_does_not_move_is_the_lifetime() {
        let v = deadlines(173, Some((172, true, 173)));
        assert_eq!(value(&v, "refresh_ttl"), Some(Some(173)));
        assert_eq!(value(&v, "idle_timeout"), Some(None));
        assert_eq!(value(&v, "absolute_cap"), Some(None));
    }

    #[test]
    fn a_deadline_rotation_renews_is_the_lifetime_and_without_rotation_the_idle_timeout() {
        let v = deadlines(173, Some((172, true, 345)));
        assert_eq!(value(&v, "refresh_ttl"), Some(Some(173)));
        let v = deadlines(173, Some((172, false, 345)));
        assert_eq!(value(&v, "idle_timeout"), Some(Some(173)));
        assert_eq!(value(&v, "refresh_ttl"), Some(None));
    }

    #[test]
    fn a_renewed_deadline_under_a_later_absolute_one_is_idle_and_cap() {
        let v = deadlines(60, Some((59, true, 100)));
        assert_eq!(value(&v, "idle_timeout"), Some(Some(60)));
        assert_eq!(value(&v, "absolute_cap"), Some(Some(100)));
        assert_eq!(value(&v, "refresh_ttl"), Some(None));
    }

    #[test]
    fn a_refresh_token_alive_at_the_limit_has_no_lifetime() {
        let v = Lifetimes::interpret(
            &RefreshDeadlines {
                first: Found::Beyond { seconds: 300 },
                renewed: None,
            },
            Vec::new(),
        );
        assert_eq!(value(&v, "refresh_ttl"), Some(None));
        assert!(v[0].how.contains("300 s"));
    }

    #[test]
    fn applied_lifetimes_replace_the_base_s() {
        let base = Policy::profile("rfc6749").expect("built in");
        let mut l = Lifetimes {
            knobs: deadlines(173, Some((172, true, 345))),
            grace_window: Some(11),
        };
        l.knobs.insert(
            0,
            Measured {
                knob: "access_ttl",
                value: Some(37),
                found: Some(Found::Exact { seconds: 37 }),
                how: String::new(),
                answers: Vec::new(),
                clause: CLAUSE_ACCESS,
            },
        );
        let p = l.apply(&base);
        assert_eq!(p.access_ttl, Seconds(37));
        assert_eq!(p.refresh_ttl, Some(Seconds(173)));
        assert_eq!(p.grace.and_then(|g| g.window), Some(Seconds(11)));
    }
}
