//! The oracle: the model's spec judging real responses.
//!
//! The harness keeps the *set* of model states consistent with every response so far
//! (design.md); a response diverges only when no state in the set allows it. A real
//! response is first read into an [`Observed`] (what crossed the wire, tokens as
//! [`Secret`]s), then compared with each allowed [`Outcome`] under the current token
//! [`Bindings`] (model id → real token). When nothing matches, [`classify`] names the check
//! that broke, from the spec's rule and the harness's own history (which revocation, which
//! hint); that table lives in `classify`.
//! Clauses: those of `spec` (RFC 6749 §4.1.2, §5.2, §6, §10.4; RFC 6750 §3.1; RFC 7009 §2.1,
//! §2.2; RFC 7662 §2.2; RFC 9700 §4.14.2).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use tokenlife_model::observe::observe;
use tokenlife_model::spec::{self, Hint, SpecError, TokenRef};
use tokenlife_model::state::{AtId, RtId, Scope};
use tokenlife_model::{Action, ClientType, ErrorCode, Outcome, Policy, Spec, State};

use crate::secret::Secret;

pub use crate::classify::{check_of, classify, classify_divergence};

/// The most states the set may hold: a server whose hidden choices multiply past it is
/// judged on the first ones (reported as a note, never silently).
pub const MAX_STATES: usize = 4096;

/// What one exchange showed, before any judgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// A 200 token response.
    Tokens {
        /// `access_token`.
        access: Secret,
        /// `refresh_token`, if any.
        refresh: Option<Secret>,
        /// `scope`, as bits, if the response carried it.
        scope: Option<Scope>,
    },
    /// An OAuth error response.
    Error {
        /// The status.
        status: u16,
        /// The `error` code.
        error: ErrorCode,
    },
    /// The resource: 2xx is honoured, 4xx refused.
    Resource {
        /// Honoured.
        ok: bool,
    },
    /// A revocation answer: 200 or a 4xx without an OAuth error code we model.
    Revocation {
        /// 200.
        ok: bool,
    },
    /// An introspection answer.
    Introspection {
        /// `active`.
        active: bool,
    },
    /// No exchange.
    Nothing,
}

/// Real tokens bound to model ids, and what the harness itself did to them.
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    /// Refresh tokens by model index.
    pub rt: Vec<Option<Secret>>,
    /// Access tokens by model index.
    pub at: Vec<Option<Secret>>,
}

impl Bindings {
    /// The real refresh token of `id`.
    pub fn rt(&self, id: RtId) -> Option<&Secret> {
        self.rt.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// The real access token of `id`.
    pub fn at(&self, id: AtId) -> Option<&Secret> {
        self.at.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn bind<T: Clone>(v: &mut Vec<Option<T>>, i: usize, value: T) {
        if v.len() <= i {
            v.resize(i + 1, None);
        }
        v[i] = Some(value);
    }

    /// Binds a refresh token.
    pub fn bind_rt(&mut self, id: RtId, value: Secret) {
        Self::bind(&mut self.rt, id.0 as usize, value);
    }

    /// Binds an access token.
    pub fn bind_at(&mut self, id: AtId, value: Secret) {
        Self::bind(&mut self.at, id.0 as usize, value);
    }

    fn rt_value_known(&self, value: &Secret) -> bool {
        self.rt.iter().flatten().any(|v| v == value)
    }
}

/// What the harness did that the model's state does not say: how a token was revoked.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Tokens their own client revoked, with the hint it sent.
    pub revoked: BTreeMap<TokenRef, Hint>,
    /// Tokens another client (or no client) tried to revoke.
    pub others_revoked: BTreeSet<TokenRef>,
    /// Refresh tokens another authenticated client presented for a refresh.
    pub others_presented: BTreeSet<RtId>,
    /// Whether the target restarted.
    pub restarted: bool,
}

/// New bindings a matching outcome implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBindings {
    /// The new access token.
    pub at: Option<(AtId, Secret)>,
    /// The new refresh token.
    pub rt: Option<(RtId, Secret)>,
}

/// Whether `observed` is what `outcome` predicts, given the bindings; the refresh token
/// presented (if any) lets an echo of it count as "no new refresh token".
pub fn matches(
    outcome: &Outcome,
    observed: &Observed,
    bindings: &Bindings,
    presented: Option<&Secret>,
) -> Option<NewBindings> {
    let none = NewBindings { at: None, rt: None };
    match (outcome, observed) {
        (
            Outcome::Tokens {
                access,
                refresh,
                refresh_is_new,
                scope,
            },
            Observed::Tokens {
                access: real_at,
                refresh: real_rt,
                scope: real_scope,
            },
        ) => {
            if bindings.at(*access).is_some() {
                return None;
            }
            if real_scope.is_some_and(|s| s != *scope) {
                return None;
            }
            let real_rt = real_rt.as_ref().filter(|r| Some(*r) != presented);
            let rt = match (refresh, refresh_is_new, real_rt) {
                (None, _, None) => None,
                (None, _, Some(_)) | (Some(_), _, None) => return None,
                (Some(id), true, Some(v)) => {
                    if bindings.rt(*id).is_some() || bindings.rt_value_known(v) {
                        return None;
                    }
                    Some((*id, v.clone()))
                }
                (Some(id), false, Some(v)) => {
                    if bindings.rt(*id) != Some(v) {
                        return None;
                    }
                    None
                }
            };
            Some(NewBindings {
                at: Some((*access, real_at.clone())),
                rt,
            })
        }
        (
            Outcome::Error { status, error },
            Observed::Error {
                status: s,
                error: e,
            },
        ) => {
            // RFC 6749 §5.2: invalid_client is 401 when the client used the Authorization
            // header, 400 or 401 otherwise; the harness accepts either.
            let status_ok =
                s == status || (*error == ErrorCode::InvalidClient && matches!(*s, 400 | 401));
            (status_ok && e == error).then_some(none)
        }
        (Outcome::Resource { ok }, Observed::Resource { ok: o }) => (ok == o).then_some(none),
        (Outcome::Revocation { ok }, Observed::Revocation { ok: o }) => (ok == o).then_some(none),
        (Outcome::Introspection { active }, Observed::Introspection { active: a }) => {
            (active == a).then_some(none)
        }
        (Outcome::Nothing, Observed::Nothing) => Some(none),
        _ => None,
    }
}

/// The set of model states consistent with everything observed so far.
#[derive(Clone, Debug)]
pub struct StateSet {
    spec: Spec,
    states: Vec<State>,
    /// Each state's model time: seconds since the run began, as that state reads the clock.
    /// All equal with an endpoint clock; near a deadline a real clock splits them.
    times: Vec<u32>,
    /// Whole seconds added to a real clock's skew: the slowest exchange of the sequence so
    /// far (see [`StateSet::widen`]).
    slack: u32,
    /// Whether the set was ever cut at [`MAX_STATES`].
    pub truncated: bool,
}

/// The result of judging one response.
#[derive(Clone, Debug)]
pub enum Judgement {
    /// Some state allows it: the outcome it was read as, and the new bindings.
    Allowed {
        /// The outcome (of the first matching state).
        outcome: Outcome,
        /// Bindings it implies.
        bindings: NewBindings,
    },
    /// No state allows it: what the model allowed instead.
    Diverged {
        /// Every distinct outcome the set allowed.
        expected: Vec<Outcome>,
    },
}

impl StateSet {
    /// The initial state under `policy`.
    pub fn new(policy: Policy) -> StateSet {
        StateSet {
            spec: Spec::new(policy),
            states: vec![State::default()],
            times: vec![0],
            slack: 0,
            truncated: false,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.spec.policy
    }

    /// The states.
    pub fn states(&self) -> &[State] {
        &self.states
    }

    /// The model time of each state, in the order of [`StateSet::states`].
    pub fn times(&self) -> &[u32] {
        &self.times
    }

    /// The first state (every state agrees on ids and on what the harness classifies).
    pub fn first(&self) -> &State {
        &self.states[0]
    }

    /// Every (pre, outcome, post) the set allows for `action`.
    pub fn candidates(&self, action: &Action) -> Result<Vec<(usize, Outcome, State)>, SpecError> {
        let mut out = Vec::new();
        for (i, s) in self.states.iter().enumerate() {
            for (o, post) in self.spec.step(s, action)? {
                out.push((i, o, post));
            }
        }
        Ok(out)
    }

    /// The distinct outcomes the set allows for `action`.
    pub fn expected(&self, action: &Action) -> Result<Vec<Outcome>, SpecError> {
        let mut v: Vec<Outcome> = Vec::new();
        for (_, o, _) in self.candidates(action)? {
            if !v.contains(&o) {
                v.push(o);
            }
        }
        Ok(v)
    }

    /// Judges `observed` for `action` and, when allowed, keeps only the states that allow it.
    pub fn judge(
        &mut self,
        action: &Action,
        observed: &Observed,
        bindings: &Bindings,
        presented: Option<&Secret>,
    ) -> Result<Judgement, SpecError> {
        let candidates = self.candidates(action)?;
        let mut kept: Vec<(State, u32)> = Vec::new();
        let mut first: Option<(Outcome, NewBindings)> = None;
        for (i, o, mut post) in candidates.iter().cloned() {
            let Some(nb) = matches(&o, observed, bindings, presented) else {
                continue;
            };
            match &first {
                None => first = Some((o, nb)),
                // States that would bind other ids cannot all be right; keep the first kind.
                Some((_, f)) if *f != nb => continue,
                Some(_) => {}
            }
            observe(self.policy(), &self.states[i], action, &o, &mut post);
            kept.push((post, self.times[i]));
        }
        match first {
            None => {
                let mut expected: Vec<Outcome> = Vec::new();
                for (_, o, _) in candidates {
                    if !expected.contains(&o) {
                        expected.push(o);
                    }
                }
                Ok(Judgement::Diverged { expected })
            }
            Some((outcome, nb)) => {
                self.replace(kept);
                Ok(Judgement::Allowed {
                    outcome,
                    bindings: nb,
                })
            }
        }
    }

    /// The seconds to the nearest next deadline of any state, if any.
    pub fn next_deadline(&self) -> Option<u32> {
        self.states.iter().filter_map(spec::next_deadline).min()
    }

    /// The model time of the earliest next deadline of any state, if any.
    pub fn next_deadline_at(&self) -> Option<u32> {
        self.states
            .iter()
            .zip(&self.times)
            .filter_map(|(s, t)| spec::next_deadline(s).map(|d| t + d))
            .min()
    }

    fn tick(p: &Policy, s: &State, by: u32) -> State {
        let mut post = s.clone();
        spec::advance(&mut post, by);
        observe(p, s, &Action::Tick, &Outcome::Nothing, &mut post);
        post
    }

    /// Time passes by `seconds` in every state (a `Tick` of the clock the harness moved).
    pub fn advance(&mut self, seconds: u32) {
        let p = self.spec.policy.clone();
        let next = self
            .states
            .iter()
            .zip(&self.times)
            .map(|(s, t)| (Self::tick(&p, s, seconds), t + seconds))
            .collect();
        self.replace(next);
    }

    /// A real-clock exchange took `seconds` (whole seconds, from sending the request to
    /// reading the answer). The set reads the clock before the request, but the server acts
    /// somewhere in between: a token it issued may die that much later than the set's
    /// reading says, and one it judged may have been that much older. So every later
    /// [`StateSet::sync`] widens its skew by the slowest exchange so far. Widening only ever
    /// admits more answers: a loaded server never turns into a false divergence.
    pub fn widen(&mut self, seconds: u32) {
        self.slack = self.slack.max(seconds);
    }

    /// A real-clock exchange was answered at model time `now`, `took` whole seconds after it
    /// was sent: the server acted somewhere in between, so the answer itself is judged with
    /// that exchange counted ([`StateSet::widen`]) and the set brought to the answer's time
    /// ([`StateSet::sync`]). Without it only earlier exchanges widened the skew, and a
    /// request that waited seconds inside the server (a lock, a queue) could see a deadline
    /// pass that the reading before it put safely ahead: a false divergence.
    pub fn answered(&mut self, now: u32, took: u32, skew: u32) {
        self.widen(took);
        self.sync(now, skew);
    }

    /// The model time of every deadline still to come in any state (an inference
    /// experiment's wait on a real clock lands away from all of them).
    pub fn deadlines_at(&self) -> Vec<u32> {
        self.states
            .iter()
            .zip(&self.times)
            .flat_map(|(s, t)| {
                tokenlife_model::infer::product::pending(s)
                    .into_iter()
                    .map(move |d| t.saturating_add(d))
            })
            .collect()
    }

    /// The seconds [`StateSet::widen`] adds to the skew.
    pub fn slack(&self) -> u32 {
        self.slack
    }

    /// Brings every state to model time `now` (a real clock, read before a request): a
    /// deadline at least `skew` (plus the [`StateSet::slack`]) before `now` has passed, one
    /// within it may or may not have (the set keeps both readings), later ones have not.
    ///
    /// The order is stable: each state's readings follow it in the set's order, the one
    /// with the fewest deadlines crossed first, so [`StateSet::first`] (what a divergence is
    /// named after) does not change with how often the clock was read.
    pub fn sync(&mut self, now: u32, skew: u32) {
        let skew = skew + self.slack;
        let p = self.spec.policy.clone();
        let mut out = Vec::with_capacity(self.states.len());
        for (s, t) in self.states.iter().zip(&self.times) {
            let mut work = vec![(s.clone(), *t)];
            while let Some((s, t)) = work.pop() {
                if t >= now {
                    out.push((s, t));
                    continue;
                }
                match spec::next_deadline(&s) {
                    Some(d) if t + d <= now + skew => {
                        let at = t + d;
                        if at + skew > now {
                            // Within the skew: not yet (just before it), or crossed.
                            let before = now.min(at - 1);
                            out.push((Self::tick(&p, &s, before - t), before));
                        }
                        work.push((Self::tick(&p, &s, d), at));
                    }
                    _ => out.push((Self::tick(&p, &s, now - t), now)),
                }
            }
        }
        self.replace(out);
    }

    /// The attacker copies a refresh token (`Steal`): no exchange, the model's step.
    pub fn steal(&mut self, action: &Action) {
        let mut next = Vec::with_capacity(self.states.len());
        for (s, t) in self.states.iter().zip(&self.times) {
            if let Ok(outs) = self.spec.step(s, action) {
                for (o, mut post) in outs {
                    observe(&self.spec.policy, s, action, &o, &mut post);
                    next.push((post, *t));
                }
            }
        }
        if !next.is_empty() {
            self.replace(next);
        }
    }

    /// A restart: nothing changes in the model.
    pub fn restart(&mut self) {
        let p = self.spec.policy.clone();
        let mut next = Vec::with_capacity(self.states.len());
        for (s, t) in self.states.iter().zip(&self.times) {
            let mut post = s.clone();
            observe(&p, s, &Action::Restart, &Outcome::Nothing, &mut post);
            next.push((post, *t));
        }
        self.replace(next);
    }

    fn replace(&mut self, states: Vec<(State, u32)>) {
        let mut seen = HashSet::with_capacity(states.len());
        let mut out = Vec::with_capacity(states.len());
        for s in states {
            if seen.insert(s.clone()) {
                out.push(s);
            }
        }
        if out.len() > MAX_STATES {
            out.truncate(MAX_STATES);
            self.truncated = true;
        }
        (self.states, self.times) = out.into_iter().unzip();
    }
}

/// The owner's client type of the token a revoke or introspect names.
pub fn owner_of(s: &State, token: TokenRef) -> ClientType {
    match token {
        TokenRef::Refresh(r) => s.rt_grant(r).client,
        TokenRef::Access(a) => s.at_grant(a).client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks;
    use tokenlife_model::spec::at_live;
    use tokenlife_model::Actor;

    fn at(n: u8) -> AtId {
        AtId(n)
    }

    fn tokens(a: &str, r: Option<&str>) -> Observed {
        Observed::Tokens {
            access: Secret::new(a),
            refresh: r.map(Secret::new),
            scope: Some(Scope::ALL),
        }
    }

    fn authorize() -> Action {
        Action::Authorize {
            client: ClientType::Confidential,
            scope: Scope::ALL,
            offline: true,
        }
    }

    #[test]
    fn a_rotation_binds_new_ids_and_a_replay_diverges() {
        let mut set = StateSet::new(Policy::profile("bcp").unwrap());
        let mut b = Bindings::default();
        let j = set
            .judge(&authorize(), &tokens("at0", Some("rt0")), &b, None)
            .unwrap();
        let Judgement::Allowed { bindings, .. } = j else {
            panic!("{j:?}")
        };
        b.bind_at(bindings.at.clone().unwrap().0, bindings.at.unwrap().1);
        let (rid, rv) = bindings.rt.unwrap();
        b.bind_rt(rid, rv);
        let refresh = Action::Refresh {
            by: Actor::Client(ClientType::Confidential),
            rt: RtId(0),
            scope: None,
        };
        let j = set
            .judge(&refresh, &tokens("at1", Some("rt1")), &b, b.rt(RtId(0)))
            .unwrap();
        let Judgement::Allowed { bindings, .. } = j else {
            panic!("{j:?}")
        };
        assert_eq!(bindings.rt.as_ref().unwrap().0, RtId(1));
        b.bind_at(at(1), Secret::new("at1"));
        b.bind_rt(RtId(1), Secret::new("rt1"));
        // Replaying RT0 must be refused; a 200 diverges, classified as a replay.
        let h = History::default();
        let pre = set.first().clone();
        let obs = tokens("at2", Some("rt2"));
        let j = set.judge(&refresh, &obs, &b, b.rt(RtId(0))).unwrap();
        let Judgement::Diverged { expected } = j else {
            panic!("{j:?}")
        };
        assert_eq!(
            classify_divergence(set.policy(), &pre, &refresh, &h, &expected, &obs),
            checks::REFRESH_REPLAY
        );
        let wrong = Observed::Error {
            status: 400,
            error: ErrorCode::InvalidRequest,
        };
        assert_eq!(
            classify_divergence(set.policy(), &pre, &refresh, &h, &expected, &wrong),
            checks::TOKEN_ERROR_CODE
        );
    }

    /// A bcp set after one authorization (AT0 dies at 300 s, RT0 at 600 s).
    fn authorized_bcp() -> StateSet {
        let mut set = StateSet::new(Policy::profile("bcp").unwrap());
        set.judge(
            &authorize(),
            &tokens("at0", Some("rt0")),
            &Bindings::default(),
            None,
        )
        .unwrap();
        set
    }

    #[test]
    fn a_real_clock_keeps_both_readings_within_the_skew() {
        let mut set = authorized_bcp();
        // bcp: the access token dies at 300 s.
        set.sync(298, 1);
        assert_eq!(set.states().len(), 1);
        set.sync(300, 1);
        assert_eq!(set.states().len(), 2, "299 or 300: either reading");
        let use_at = Action::UseAccess { at: AtId(0) };
        assert_eq!(set.expected(&use_at).unwrap().len(), 2);
        set.sync(302, 1);
        assert_eq!(set.states().len(), 1);
        assert_eq!(
            set.expected(&use_at).unwrap(),
            vec![Outcome::Resource { ok: false }]
        );
    }

    #[test]
    fn the_least_advanced_reading_stays_first() {
        let mut set = authorized_bcp();
        let live = |set: &StateSet| at_live(set.first(), AtId(0));
        // bcp: AT0 dies at 300 s; with a skew of 3 both readings are kept from 297 to 302.
        set.sync(298, 3);
        assert_eq!(set.states().len(), 2);
        assert!(live(&set));
        for now in 299..=302 {
            set.sync(now, 3);
            assert!(
                live(&set),
                "at {now}: the first state still reads AT0 alive"
            );
        }
        set.sync(303, 3);
        assert!(!live(&set));
    }

    #[test]
    fn a_slow_exchange_widens_the_skew() {
        let mut set = authorized_bcp();
        // The code exchange took 3 s: the server may have issued AT0 as late as 3 s after
        // the reading, so AT0 (bcp: 300 s) may be alive until 304 with a skew of 1.
        set.widen(3);
        set.widen(1);
        assert_eq!(set.slack(), 3);
        set.sync(303, 1);
        let use_at = Action::UseAccess { at: AtId(0) };
        assert_eq!(set.expected(&use_at).unwrap().len(), 2);
        set.sync(305, 1);
        assert!(!at_live(set.first(), AtId(0)));
        assert_eq!(set.states().len(), 1);
    }

    #[test]
    fn a_slow_exchange_counts_for_its_own_answer() {
        let mut set = authorized_bcp();
        let use_at = Action::UseAccess { at: AtId(0) };
        // bcp: AT0 dies at 300 s. Read at 297 with a skew of 1, it is alive for sure...
        set.sync(297, 1);
        assert_eq!(set.expected(&use_at).unwrap().len(), 1);
        // ...but the request was answered 3 s later, at 300: the server may have judged it
        // at 300, past the deadline, so both answers stand.
        set.answered(300, 3, 1);
        assert_eq!(set.expected(&use_at).unwrap().len(), 2);
        // A quick exchange changes nothing.
        let mut quick = authorized_bcp();
        quick.sync(297, 1);
        quick.answered(297, 0, 1);
        assert_eq!(quick.expected(&use_at).unwrap().len(), 1);
    }

    #[test]
    fn rotation_any_keeps_both_readings_until_the_response_decides() {
        let mut set = StateSet::new(Policy::profile("rfc6749").unwrap());
        let mut b = Bindings::default();
        set.judge(&authorize(), &tokens("at0", Some("rt0")), &b, None)
            .unwrap();
        b.bind_at(at(0), Secret::new("at0"));
        b.bind_rt(RtId(0), Secret::new("rt0"));
        let refresh = Action::Refresh {
            by: Actor::Client(ClientType::Confidential),
            rt: RtId(0),
            scope: None,
        };
        assert_eq!(set.expected(&refresh).unwrap().len(), 2);
        // An echo of the presented token is "not rotated".
        let j = set
            .judge(&refresh, &tokens("at1", Some("rt0")), &b, b.rt(RtId(0)))
            .unwrap();
        assert!(matches!(
            j,
            Judgement::Allowed {
                bindings: NewBindings { rt: None, .. },
                ..
            }
        ));
        assert_eq!(set.states().len(), 1);
    }
}
