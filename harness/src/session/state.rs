//! One scenario's state as it runs: the set of model states consistent with every answer so
//! far, the token values bound to the model's ids, the names a scenario gave them, what each
//! grant's first token response set as the reference, and the transcript and evaluations it
//! writes (every line and message through the redactor, so no token reaches the report).

use std::collections::{BTreeMap, HashSet};

use tokenlife_model::explore::fingerprint;
use tokenlife_model::observe::observe;
use tokenlife_model::spec::TokenRef;
use tokenlife_model::state::{AtId, GrantId, RtId};
use tokenlife_model::{Action, Actor, ClientType, Outcome, Spec, State};

use super::protocol::Reference;
use crate::checks::{Check, Verdict};
use crate::generate::Transition;
use crate::oracle::{owner_of, Bindings, History, NewBindings, Observed, StateSet};
use crate::report::{Evaluation, Interruption, ScenarioResult};
use crate::scenario::StepKind;
use crate::search::{situation, Situation};
use crate::secret::{Redactor, Secret};
use crate::target::Target;

/// Why a scenario stopped early.
pub(super) enum Stop {
    /// A check failed; the set of states is empty or the exchange failed.
    Failed(String),
    /// The scenario cannot run here.
    Skipped(String),
    /// The scenario is wrong for this policy.
    Error(String),
    /// A request got no answer (see [`Session::unanswered`]): an infrastructure problem,
    /// no verdict.
    Unanswered(String),
}

/// A name's model id.
#[derive(Clone, Copy, Debug)]
enum Named {
    Grant(GrantId),
    Rt(RtId),
    At(AtId),
}

/// What the harness keeps of a grant to replay its code and judge later token responses.
pub(super) struct GrantWire {
    pub(super) client: ClientType,
    pub(super) code: Secret,
    pub(super) verifier: Secret,
    /// What its first token response set (scope names, ID-token claims).
    pub(super) reference: Reference,
}

/// One scenario (or generated sequence) as it runs.
pub(super) struct Session<'r> {
    pub(super) set: StateSet,
    pub(super) bindings: Bindings,
    pub(super) history: History,
    names: BTreeMap<String, Named>,
    pub(super) grants: Vec<GrantWire>,
    pub(super) redactor: Redactor,
    pub(super) result: &'r mut ScenarioResult,
    pub(super) actions: usize,
    pub(super) fail_on_should: bool,
    pub(super) covered: HashSet<Transition>,
    /// The situations (`crate::search::Situation`) the walk met.
    pub(super) situations: HashSet<Situation>,
    /// The walk's reading of the run so far, for coverage: the model state stepped by each
    /// action with the outcome it was judged as, time moving on `Tick` and `Advance`, as the
    /// generator walked it. On a real clock the set's states have lived through the real
    /// seconds every exchange took, so their deadlines (and fingerprints) are not the walk's;
    /// each transition is counted in both readings. `None` once an answer left the walk's.
    walk: Option<State>,
    /// The spec the walk steps with.
    spec: Spec,
    /// When the session began: model time 0 of a real clock.
    pub(super) started: tokio::time::Instant,
    /// The outcome each step was read as, by step number.
    pub(super) outcomes: BTreeMap<usize, Outcome>,
}

impl<'r> Session<'r> {
    /// A session from the model's initial state under the target's policy; the secrets the
    /// target file names are redacted from the start ([`Target::redactor`]).
    pub(super) fn new(
        target: &Target,
        fail_on_should: bool,
        result: &'r mut ScenarioResult,
    ) -> Session<'r> {
        Session {
            set: StateSet::new(target.policy.clone()),
            bindings: Bindings::default(),
            history: History::default(),
            names: BTreeMap::new(),
            grants: Vec::new(),
            redactor: target.redactor(),
            result,
            actions: 0,
            fail_on_should,
            covered: HashSet::new(),
            situations: HashSet::new(),
            walk: Some(State::default()),
            spec: Spec::new(target.policy.clone()),
            started: tokio::time::Instant::now(),
            outcomes: BTreeMap::new(),
        }
    }
}

impl Session<'_> {
    /// Whole seconds since the session began.
    pub(super) fn elapsed(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    pub(super) fn line(&mut self, text: String) {
        let t = self.redactor.apply(&text);
        self.result.transcript.push(t);
    }

    pub(super) fn eval(
        &mut self,
        check: Check,
        verdict: Verdict,
        step: usize,
        message: Option<String>,
    ) {
        let message = message.map(|m| self.redactor.apply(&m));
        let mut e = Evaluation::new(check, verdict, step, message);
        if verdict != Verdict::Passed {
            e.trace = Some(self.result.transcript.clone());
        }
        self.result.evaluations.push(e);
    }

    /// Binds the tokens an allowed answer issued to the model's ids, registering each value
    /// for redaction as it is bound: one place, so no bound token can reach a transcript.
    pub(super) fn bind_new(&mut self, bindings: &NewBindings) {
        if let Some((id, v)) = &bindings.at {
            self.redactor.add(v, id.to_string());
            self.bindings.bind_at(*id, v.clone());
        }
        if let Some((id, v)) = &bindings.rt {
            self.redactor.add(v, id.to_string());
            self.bindings.bind_rt(*id, v.clone());
        }
    }

    /// Step `n` (`what`) stops because `requests` of its requests got no answer (`why`): a
    /// transcript line and an [`Interruption`] instead of a verdict, since a target too
    /// busy to answer in time says nothing about how it treats tokens.
    pub(super) fn unanswered(&mut self, n: usize, what: &str, requests: usize, why: &str) -> Stop {
        let why = self.redactor.apply(why);
        self.line(format!("{n}. {what} → no answer: {why}"));
        self.result.infrastructure.push(Interruption {
            scenario: self.result.name.clone(),
            step: n,
            requests,
            message: why.clone(),
            trace: self.result.transcript.clone(),
        });
        Stop::Unanswered(format!("step {n}: {why}"))
    }

    /// Counts `action` answered as `outcome` from `pre` (the set's first state before it)
    /// as covered, and the walk's own transition too, stepping the walk.
    pub(super) fn cover(&mut self, pre: &State, action: Action, outcome: Outcome) {
        self.covered.insert((fingerprint(pre), action, outcome));
        let Some(walk) = self.walk.take() else {
            return;
        };
        let Ok(outs) = self.spec.step(&walk, &action) else {
            return;
        };
        if let Some((o, mut post)) = outs.into_iter().find(|(o, _)| *o == outcome) {
            self.situations
                .insert(situation(&self.spec.policy, &walk, &action));
            observe(&self.spec.policy, &walk, &action, &o, &mut post);
            self.covered.insert((fingerprint(&walk), action, outcome));
            self.walk = Some(post);
        }
    }

    /// The attacker copies a refresh token: no exchange, only the model changes.
    pub(super) fn steal(&mut self, n: usize, a: &Action) {
        self.actions += 1;
        let pre = self.set.first().clone();
        self.cover(&pre, *a, Outcome::Nothing);
        self.set.steal(a);
        self.line(format!("{n}. {a}"));
    }

    fn name(&mut self, name: &Option<String>, id: Named) {
        if let Some(n) = name {
            self.names.insert(n.clone(), id);
        }
    }

    /// Gives the step's names to what an allowed answer minted (a refresh that kept its
    /// token names the token it presented).
    pub(super) fn name_minted(
        &mut self,
        kind: Option<&StepKind>,
        outcome: &Outcome,
    ) -> Result<(), Stop> {
        match (kind, outcome) {
            (
                Some(StepKind::Authorize {
                    grant,
                    access,
                    refresh,
                    ..
                }),
                Outcome::Tokens {
                    access: a,
                    refresh: r,
                    ..
                },
            ) => {
                let g = GrantId(self.set.first().n_grants - 1);
                self.name(grant, Named::Grant(g));
                self.name(access, Named::At(*a));
                if let Some(r) = r {
                    self.name(refresh, Named::Rt(*r));
                }
            }
            (
                Some(
                    StepKind::Refresh {
                        access,
                        refresh,
                        rt,
                        ..
                    }
                    | StepKind::RefreshLost {
                        access,
                        refresh,
                        rt,
                    },
                ),
                Outcome::Tokens {
                    access: a,
                    refresh: r,
                    ..
                },
            ) => {
                self.name(access, Named::At(*a));
                let held = match r {
                    Some(r) => *r,
                    None => self.rt(rt)?,
                };
                self.name(refresh, Named::Rt(held));
            }
            _ => {}
        }
        Ok(())
    }

    /// Remembers an allowed revocation for the oracle's classification: by the owner (or
    /// unauthenticated for a public client's token), or by another client.
    pub(super) fn note_revocation(&mut self, action: &Action, pre: &State) {
        if let Action::Revoke { by, token, hint } = action {
            let owner = owner_of(pre, *token);
            let own = matches!(by, Actor::Client(c) if *c == owner)
                || (*by == Actor::Attacker && owner == ClientType::Public);
            if own {
                self.history.revoked.insert(*token, *hint);
            } else {
                self.history.others_revoked.insert(*token);
            }
        }
    }

    /// Remembers an allowed refresh by another authenticated client, for the oracle's
    /// classification: its owner's family must not die of it unless the policy acts on
    /// reuse whoever presents.
    pub(super) fn note_presentation(&mut self, action: &Action, pre: &State) {
        if let Action::Refresh {
            by: Actor::Client(c),
            rt,
            ..
        } = action
        {
            if *c != pre.rt_grant(*rt).client {
                self.history.others_presented.insert(*rt);
            }
        }
    }

    /// The reference a refresh of `action` is compared with: its family's first answer.
    pub(super) fn reference(&self, action: &Action, pre: &State) -> Option<&Reference> {
        let rt = match action {
            Action::Refresh { rt, .. } | Action::RefreshLost { rt } => rt,
            _ => return None,
        };
        let family = pre.rts[rt.0 as usize].family as usize;
        self.grants.get(family).map(|g| &g.reference)
    }

    fn lookup(&self, name: &str) -> Result<Named, Stop> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| Stop::Error(format!("`{name}` was never issued under this policy")))
    }

    pub(super) fn grant(&self, name: &str) -> Result<GrantId, Stop> {
        match self.lookup(name)? {
            Named::Grant(g) => Ok(g),
            _ => Err(Stop::Error(format!("`{name}` is not a grant"))),
        }
    }

    pub(super) fn rt(&self, name: &str) -> Result<RtId, Stop> {
        match self.lookup(name)? {
            Named::Rt(r) => Ok(r),
            _ => Err(Stop::Error(format!("`{name}` is not a refresh token"))),
        }
    }

    pub(super) fn at(&self, name: &str) -> Result<AtId, Stop> {
        match self.lookup(name)? {
            Named::At(a) => Ok(a),
            _ => Err(Stop::Error(format!("`{name}` is not an access token"))),
        }
    }

    pub(super) fn token(&self, name: &str) -> Result<TokenRef, Stop> {
        match self.lookup(name)? {
            Named::Rt(r) => Ok(TokenRef::Refresh(r)),
            Named::At(a) => Ok(TokenRef::Access(a)),
            Named::Grant(_) => Err(Stop::Error(format!("`{name}` is a grant, not a token"))),
        }
    }

    /// The value bound to `t` (the scenario is wrong if it was never issued).
    pub(super) fn value(&self, t: TokenRef) -> Result<Secret, Stop> {
        let v = match t {
            TokenRef::Refresh(r) => self.bindings.rt(r),
            TokenRef::Access(a) => self.bindings.at(a),
        };
        v.cloned()
            .ok_or_else(|| Stop::Error(format!("{t} was never issued")))
    }

    /// The value bound to `t`, with its `token_type_hint`.
    pub(super) fn token_value(&self, t: TokenRef) -> Result<(Secret, &'static str), Stop> {
        let hint = match t {
            TokenRef::Refresh(_) => "refresh_token",
            TokenRef::Access(_) => "access_token",
        };
        Ok((self.value(t)?, hint))
    }

    /// What was observed, for a message, with tokens named when known.
    pub(super) fn describe(&self, o: &Observed) -> String {
        match o {
            Observed::Tokens { refresh, scope, .. } => {
                let rt = match refresh {
                    None => "no refresh token".to_string(),
                    Some(v) => match self.bindings.rt.iter().position(|b| b.as_ref() == Some(v)) {
                        Some(i) => format!("RT{i} again"),
                        None => "a new refresh token".to_string(),
                    },
                };
                let scope =
                    scope.map_or("no scope member".to_string(), |s| format!("scope \"{s}\""));
                format!("200 with an access token, {rt}, {scope}")
            }
            Observed::Error { status, error } => format!("{status} {error}"),
            Observed::Resource { ok: true } => "200 from the resource".into(),
            Observed::Resource { ok: false } => "a refusal from the resource".into(),
            Observed::Revocation { ok: true } => "200 (revocation)".into(),
            Observed::Revocation { ok: false } => "4xx (revocation refused)".into(),
            Observed::Introspection { active } => format!("active: {active}"),
            Observed::Nothing => "-".into(),
        }
    }
}
