//! Running a scenario file: whether it can run here, its steps one by one (each a model
//! action judged by the oracle and the protocol checks, or time, a restart, a race, an
//! unknown token), how it ended, and the clean-up of what it minted; [`Harness::replay`], one
//! scenario with the outcome each answer was read as.

use std::collections::BTreeMap;

use tokenlife_model::spec::TokenRef;
use tokenlife_model::state::{AtId, RtId, Scope};
use tokenlife_model::{Action, ClientType, Outcome, State};

use super::exchange::Exchange;
use super::harness::{actor, Harness};
use super::protocol::{self, Protocol, Settings};
use super::state::{Session, Stop};
use super::time::whole_seconds;
use crate::checks::Verdict;
use crate::generate::Scopes;
use crate::oracle::{classify, classify_divergence, owner_of, Judgement};
use crate::report::{ScenarioResult, ScenarioStatus};
use crate::request::{self, Credentials};
use crate::scenario::{By, Scenario, StepKind};
use crate::target::{ClientConfig, ClockConfig};
use crate::wire::{no_resource_scope, one_resource_scope, scopes_of};

/// One scenario run by [`Harness::replay`].
#[derive(Clone, Debug)]
pub struct Replayed {
    /// How it went, with its transcript (tokens redacted).
    pub result: ScenarioResult,
    /// The outcome each step's answer was read as, by step number (1-based); a step that
    /// was no model action (time passing), or whose answer the policy did not allow, has
    /// none.
    pub outcomes: BTreeMap<usize, Outcome>,
}

impl Harness {
    /// What keeps `sc` from running here (policy, endpoints, clients, restarts), if anything.
    pub(super) fn unmet(&self, sc: &Scenario) -> Option<String> {
        if let Some(r) = sc.requires.unmet(&self.target.policy) {
            return Some(r);
        }
        let faulty_proof = sc.steps.iter().any(|st| {
            matches!(
                st.kind,
                StepKind::Refresh { proof: Some(_), .. }
                    | StepKind::UseAccess { proof: Some(_), .. }
            )
        });
        if faulty_proof && !self.target.policy.any_dpop() {
            return Some(
                "its faulty DPoP proofs need a client type with sender_constraint = \"dpop\""
                    .into(),
            );
        }
        let mut types = Vec::new();
        for step in &sc.steps {
            match &step.kind {
                StepKind::Authorize { client, .. } => types.push(*client),
                StepKind::Refresh { by: By::Other, .. }
                | StepKind::Revoke { by: By::Other, .. } => {
                    types.extend([ClientType::Confidential, ClientType::Public])
                }
                StepKind::Refresh {
                    by: By::Client(t), ..
                }
                | StepKind::Revoke {
                    by: By::Client(t), ..
                } => types.push(*t),
                StepKind::Revoke { .. } if self.endpoints.revocation.is_none() => {
                    return Some("the target has no revocation endpoint".into())
                }
                StepKind::Introspect { .. } if self.endpoints.introspection.is_none() => {
                    return Some("the target has no introspection endpoint".into())
                }
                StepKind::UseAccess { .. } if self.endpoints.resource.is_none() => {
                    return Some("the target has no resource_url".into())
                }
                StepKind::RevokeUnknown if self.endpoints.revocation.is_none() => {
                    return Some("the target has no revocation endpoint".into())
                }
                StepKind::IntrospectUnknown if self.endpoints.introspection.is_none() => {
                    return Some("the target has no introspection endpoint".into())
                }
                StepKind::Race { revoke: true, .. } if self.endpoints.revocation.is_none() => {
                    return Some("the target has no revocation endpoint".into())
                }
                StepKind::Restart if self.control.is_none() => {
                    return Some(
                        "restarts need a target the harness can restart (the embedded server)"
                            .into(),
                    )
                }
                _ => {}
            }
        }
        if let Some(t) = types.iter().find(|t| self.target.client_of(**t).is_none()) {
            return Some(format!(
                "the target has no {} client",
                match t {
                    ClientType::Confidential => "confidential",
                    ClientType::Public => "public",
                }
            ));
        }
        // Naming a scope at all (a narrow authorization, a refresh naming one) needs a
        // resource scope: the scenario's clients without one cannot take part.
        let names_scope = sc.steps.iter().any(|step| {
            matches!(step.kind, StepKind::Authorize { scope, .. } if scope != Scope::ALL)
                || matches!(step.kind, StepKind::Refresh { scope: Some(_), .. })
        });
        if !names_scope {
            return None;
        }
        self.authorizing(sc)
            .find(|c| scopes_of(c) == Scopes::None)
            .map(|c| no_resource_scope([c]))
    }

    /// The clients `sc` authorizes.
    fn authorizing<'a>(&'a self, sc: &'a Scenario) -> impl Iterator<Item = &'a ClientConfig> {
        sc.steps.iter().filter_map(|step| match step.kind {
            StepKind::Authorize { client, .. } => self.target.client_of(client),
            _ => None,
        })
    }

    /// The capability `sc` needs and the target lacks, if any: narrowing (a refresh that
    /// names a strict subset of its grant's scope) by a client registered for one resource
    /// scope. Such a scenario is accounted for by the report's line about that capability,
    /// not skipped. The grant of each named refresh token is followed through the steps;
    /// a token the steps do not trace counts as a whole grant.
    pub(super) fn untestable(&self, sc: &Scenario) -> Option<String> {
        let mut grant_of: std::collections::HashMap<&str, Scope> = Default::default();
        let mut narrows = false;
        for step in &sc.steps {
            match &step.kind {
                StepKind::Authorize {
                    scope,
                    refresh: Some(name),
                    ..
                } => {
                    grant_of.insert(name, *scope);
                }
                StepKind::Refresh {
                    rt, scope, refresh, ..
                } => {
                    let grant = grant_of.get(rt.as_str()).copied().unwrap_or(Scope::ALL);
                    narrows |= scope.is_some_and(|r| r != grant && r.is_subset(grant));
                    if let Some(name) = refresh {
                        grant_of.insert(name, grant);
                    }
                }
                StepKind::RefreshLost {
                    rt,
                    refresh: Some(name),
                    ..
                } => {
                    let grant = grant_of.get(rt.as_str()).copied().unwrap_or(Scope::ALL);
                    grant_of.insert(name, grant);
                }
                _ => {}
            }
        }
        if !narrows {
            return None;
        }
        self.authorizing(sc)
            .find(|c| scopes_of(c) == Scopes::One)
            .map(|c| format!("needs {}", one_resource_scope([c])))
    }

    pub(super) async fn run_scenario(&mut self, sc: &Scenario) -> (ScenarioResult, usize, bool) {
        let (result, actions, truncated, _) = self.run_scenario_read(sc).await;
        (result, actions, truncated)
    }

    /// Runs one scenario on its own (as a run would, clean-up included): its result, and
    /// the outcome each step's answer was read as, by step number. `tokenlife infer`
    /// replays a model counterexample so, to see whether the server's answers follow it.
    pub async fn replay(&mut self, sc: &Scenario) -> Replayed {
        let (result, _, _, outcomes) = self.run_scenario_read(sc).await;
        Replayed { result, outcomes }
    }

    async fn run_scenario_read(
        &mut self,
        sc: &Scenario,
    ) -> (ScenarioResult, usize, bool, BTreeMap<usize, Outcome>) {
        let mut result = ScenarioResult::new(sc.name.clone(), sc.file.clone());
        if let Some(reason) = self.unmet(sc) {
            result.status = ScenarioStatus::Skipped;
            result.reason = Some(reason);
            return (result, 0, false, BTreeMap::new());
        }
        if let Some(reason) = self.untestable(sc) {
            result.status = ScenarioStatus::Untestable;
            result.reason = Some(reason);
            return (result, 0, false, BTreeMap::new());
        }
        let mut s = self.session(&mut result);
        let mut stop = None;
        for (i, step) in sc.steps.iter().enumerate() {
            let n = i + 1;
            s.result.steps_run = n;
            if let Err(e) = self.run_step(&mut s, n, step).await {
                stop = Some(e);
                break;
            }
        }
        let (actions, truncated) = (s.actions, s.set.truncated);
        let outcomes = std::mem::take(&mut s.outcomes);
        if self.options.cleanup {
            self.cleanup(&s).await;
        }
        match stop {
            None => {}
            Some(Stop::Failed(m)) => {
                result.status = ScenarioStatus::Failed;
                result.reason = Some(m);
            }
            Some(Stop::Skipped(m)) => {
                result.status = ScenarioStatus::Skipped;
                result.reason = Some(m);
            }
            Some(Stop::Error(m)) => {
                result.status = ScenarioStatus::Error;
                result.reason = Some(m);
            }
            Some(Stop::Unanswered(m)) => {
                result.status = ScenarioStatus::Interrupted;
                result.reason = Some(format!("infrastructure problem at {m}"));
            }
        }
        if result.status == ScenarioStatus::Passed
            && result
                .evaluations
                .iter()
                .any(|e| e.verdict == Verdict::Failed)
        {
            result.status = ScenarioStatus::Failed;
        }
        (result, actions, truncated, outcomes)
    }

    /// Revokes every token the scenario minted (best effort, results ignored).
    pub(super) async fn cleanup(&self, s: &Session<'_>) {
        let Some(url) = &self.endpoints.revocation else {
            return;
        };
        let _slot = self.slots(1).await;
        let first = s.set.states().first().cloned();
        let Some(state) = first else { return };
        let tokens =
            s.bindings
                .rt
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.as_ref().map(|v| (TokenRef::Refresh(RtId(i as u8)), v)))
                .chain(
                    s.bindings.at.iter().enumerate().filter_map(|(i, v)| {
                        v.as_ref().map(|v| (TokenRef::Access(AtId(i as u8)), v))
                    }),
                );
        for (t, value) in tokens {
            let owner = if match t {
                TokenRef::Refresh(r) => state.has_rt(r),
                TokenRef::Access(a) => state.has_at(a),
            } {
                owner_of(&state, t)
            } else {
                continue;
            };
            if let Some(c) = self.target.client_of(owner) {
                let req = request::revocation(url, value.expose(), None, Credentials::Client(c));
                let _ = self.http.send(&req).await;
            }
        }
    }

    async fn run_step(
        &mut self,
        s: &mut Session<'_>,
        n: usize,
        step: &crate::scenario::Step,
    ) -> Result<(), Stop> {
        let state = s.set.first().clone();
        let action = match &step.kind {
            StepKind::Authorize {
                client,
                scope,
                offline,
                ..
            } => Action::Authorize {
                client: *client,
                scope: *scope,
                offline: *offline,
            },
            StepKind::ReplayCode { grant } => Action::ReplayCode {
                grant: s.grant(grant)?,
            },
            StepKind::Refresh {
                rt,
                proof: Some(fault),
                ..
            } => Action::Unproven {
                token: TokenRef::Refresh(s.rt(rt)?),
                fault: *fault,
            },
            StepKind::Refresh { rt, by, scope, .. } => {
                let rt = s.rt(rt)?;
                Action::Refresh {
                    by: actor(*by, state.rt_grant(rt).client),
                    rt,
                    scope: *scope,
                }
            }
            StepKind::RefreshLost { rt, .. } => Action::RefreshLost { rt: s.rt(rt)? },
            StepKind::UseAccess {
                at,
                proof: Some(fault),
            } => Action::Unproven {
                token: TokenRef::Access(s.at(at)?),
                fault: *fault,
            },
            StepKind::UseAccess { at, .. } => Action::UseAccess { at: s.at(at)? },
            StepKind::Revoke { token, by, hint } => {
                let t = s.token(token)?;
                Action::Revoke {
                    by: actor(*by, owner_of(&state, t)),
                    token: t,
                    hint: *hint,
                }
            }
            StepKind::Introspect { token } => Action::Introspect {
                token: s.token(token)?,
            },
            StepKind::Tick {
                advance: Some(adv), ..
            } => {
                return self.tick_to(s, n, adv).await;
            }
            StepKind::Tick { until, .. } => {
                return self.tick(s, n, until.as_deref()).await;
            }
            StepKind::Restart => {
                return self.restart(s, n).await;
            }
            StepKind::Race { rt, count, revoke } => {
                let rt = s.rt(rt)?;
                return self.race(s, n, rt, *count, *revoke).await;
            }
            StepKind::RevokeUnknown | StepKind::IntrospectUnknown => {
                return self.unknown_token(s, n, &step.kind).await;
            }
        };
        self.run_action(
            s,
            n,
            action,
            Some(&step.kind),
            step.expect,
            step.note.as_deref(),
        )
        .await
    }

    /// Runs one model action (not `Tick` or `Restart`) and judges its response.
    pub(super) async fn run_action(
        &self,
        s: &mut Session<'_>,
        n: usize,
        action: Action,
        kind: Option<&StepKind>,
        expect: Option<crate::scenario::Expect>,
        note: Option<&str>,
    ) -> Result<(), Stop> {
        // A slot before the clock is read: waiting for one is no model time.
        let _slot = self.slots(1).await;
        if let ClockConfig::Real { skew } = &self.target.clock {
            s.set.sync(s.elapsed(), skew.get());
        }
        let state = s.set.first().clone();
        s.actions += 1;
        let expected = s
            .set
            .expected(&action)
            .map_err(|e| Stop::Error(format!("step {n}: {e}")))?;
        if let Some(x) = expect {
            if !expected.iter().any(|o| x.allows(o)) {
                let allowed: Vec<String> = expected.iter().map(ToString::to_string).collect();
                return Err(Stop::Error(format!(
                    "step {n} pins `{x}`, but under policy {} the model allows only: {}",
                    s.set.policy().profile,
                    allowed.join(" | ")
                )));
            }
        }
        let check = classify(s.set.policy(), &state, &action, &s.history);
        let sent = tokio::time::Instant::now();
        let exchanged = self.exchange(s, &state, &action).await;
        if let ClockConfig::Real { skew } = &self.target.clock {
            s.set
                .answered(s.elapsed(), whole_seconds(sent.elapsed()), skew.get());
        }
        let (observed, presented, protocol) = match exchanged {
            Ok(x) => x,
            Err(Exchange::Stop(stop)) => return Err(stop),
            Err(Exchange::Unanswered(msg)) => {
                return Err(s.unanswered(n, &action.to_string(), 1, &msg));
            }
            Err(Exchange::Broken(well_formed, msg)) => {
                let msg = s.redactor.apply(&msg);
                s.line(format!("{n}. {action} → {msg}"));
                s.eval(well_formed, Verdict::Failed, n, Some(msg.clone()));
                return Err(Stop::Failed(format!("step {n}: {msg}")));
            }
        };
        let judgement = s
            .set
            .judge(&action, &observed, &s.bindings, presented.as_ref())
            .map_err(|e| Stop::Error(format!("step {n}: {e}")))?;
        match judgement {
            Judgement::Allowed { outcome, bindings } => {
                s.bind_new(&bindings);
                let note = note.map(|t| format!("  ({t})")).unwrap_or_default();
                s.line(format!("{n}. {action} → {outcome}{note}"));
                s.eval(check, Verdict::Passed, n, None);
                s.cover(&state, action, outcome);
                s.outcomes.insert(n, outcome);
                s.name_minted(kind, &outcome)?;
                s.note_revocation(&action, &state);
                s.note_presentation(&action, &state);
                self.protocol_checks(s, n, &action, &outcome, &state, &protocol);
                Ok(())
            }
            Judgement::Diverged { expected } => {
                let c = classify_divergence(
                    s.set.policy(),
                    &state,
                    &action,
                    &s.history,
                    &expected,
                    &observed,
                );
                let got = s.describe(&observed);
                let allowed: Vec<String> = expected.iter().map(ToString::to_string).collect();
                let msg = format!(
                    "{action}: got {got}; the policy ({}) allows only {}",
                    s.set.policy().profile,
                    allowed.join(" | ")
                );
                s.line(format!("{n}. {action} → {got}  ✗ {}", c.id));
                s.eval(c, Verdict::Failed, n, Some(msg.clone()));
                Err(Stop::Failed(format!("step {n}: {msg}")))
            }
        }
    }

    /// The protocol checks on an allowed answer (see `protocol`), after its authorization
    /// answer set the grant's reference.
    fn protocol_checks(
        &self,
        s: &mut Session<'_>,
        n: usize,
        action: &Action,
        outcome: &Outcome,
        pre: &State,
        protocol: &Protocol,
    ) {
        if let Some(reference) = protocol::reference(action, outcome, protocol) {
            if let Some(g) = s.grants.last_mut() {
                g.reference = reference;
            }
        }
        let settings = Settings {
            access_ttl: s.set.policy().access_ttl.get(),
            skew: self.skew(),
            fail_on_should: s.fail_on_should,
        };
        let found = protocol::after(
            action,
            outcome,
            protocol,
            s.reference(action, pre),
            settings,
        );
        for f in found {
            s.eval(f.check, f.verdict, n, f.message);
        }
    }
}
