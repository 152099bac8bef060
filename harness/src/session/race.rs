//! A race: concurrent refreshes of one refresh token (and at most one revocation of it),
//! judged together with stateright's linearizability tester, as the server's
//! compare-and-set should guarantee (RFC 9700 §4.14.2: one successor per token).

use tokenlife_model::spec::{Hint, TokenRef};
use tokenlife_model::state::RtId;
use tokenlife_model::{Action, Actor};

use super::harness::Harness;
use super::proof::Proving;
use super::state::{Session, Stop};
use super::time::whole_seconds;
use crate::checks::{self, Verdict};
use crate::http::HttpError;
use crate::request::{self, Credentials};
use crate::target::ClockConfig;
use crate::wire;

impl Harness {
    /// `count` concurrent refreshes of `rt` by its owner (one of them a revocation when
    /// `with_revoke`). The answers are judged together with stateright's linearizability
    /// tester: they pass when some order of the requests, consistent with when each was
    /// sent and answered, gives answers the model allows one after another, as the
    /// server's compare-and-set should guarantee.
    pub(super) async fn race(
        &self,
        s: &mut Session<'_>,
        n: usize,
        rt: RtId,
        count: u8,
        with_revoke: bool,
    ) -> Result<(), Stop> {
        // The whole race goes out at once, whatever bounds the requests in flight; its
        // slots are taken before the clock is read, so waiting for them is no model time.
        let _slots = self.slots(count as usize).await;
        if let ClockConfig::Real { skew } = &self.target.clock {
            s.set.sync(s.elapsed(), skew.get());
        }
        let began = tokio::time::Instant::now();
        let state = s.set.first().clone();
        let (owner, grant) = (state.rt_grant(rt).client, state.rt_grant(rt).scope);
        let c = self.client(owner)?;
        let value = s.value(TokenRef::Refresh(rt))?;
        let refresh = Action::Refresh {
            by: Actor::Client(owner),
            rt,
            scope: None,
        };
        let revoke = Action::Revoke {
            by: Actor::Client(owner),
            token: TokenRef::Refresh(rt),
            hint: Hint::Right,
        };
        let creds = Credentials::Client(c);
        let refresh_req = request::refresh(&self.endpoints.token, value.expose(), None, creds);
        let revoke_req = match (&self.endpoints.revocation, with_revoke) {
            (Some(url), true) => Some(request::revocation(
                url,
                value.expose(),
                Some("refresh_token"),
                creds,
            )),
            (None, true) => {
                return Err(Stop::Skipped(
                    "the target has no revocation endpoint".into(),
                ))
            }
            _ => None,
        };
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..count {
            let is_revoke = k == 0 && revoke_req.is_some();
            // Each refresh proves possession with a proof of its own (a `jti` used once).
            let req = if is_revoke {
                revoke_req.clone()
            } else {
                Some(
                    self.proofs
                        .token_request(refresh_req.clone(), owner, Proving::Own)
                        .0,
                )
            };
            let http = self.http.clone();
            tasks.spawn(async move {
                let sent = std::time::Instant::now();
                let r = match req {
                    Some(req) => http.send(&req).await,
                    None => Err(HttpError::BadUrl(String::new())),
                };
                (is_revoke, sent, r, std::time::Instant::now())
            });
        }
        let mut calls: Vec<crate::linearize::Call> = Vec::with_capacity(count as usize);
        let what = if with_revoke {
            format!(
                "{} concurrent refreshes with {rt} and its revocation",
                count - 1
            )
        } else {
            format!("{count} concurrent refreshes with {rt}")
        };
        // A request that got no answer may or may not have happened: the linearizability
        // tester takes it so, and the others are still judged (a double spend among them is
        // a failure whatever the lost one did). Nothing answered at all is not judged.
        let mut unanswered: Vec<String> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let read = match joined {
                Ok((is_revoke, sent, Err(e), _)) if e.is_infrastructure() => {
                    unanswered.push(e.to_string());
                    calls.push(crate::linearize::Call {
                        action: if is_revoke { revoke } else { refresh },
                        sent,
                        answered: None,
                    });
                    continue;
                }
                Ok((false, sent, Ok(r), at)) => {
                    wire::read_token(&r, c, grant).map(|(o, _)| (refresh, sent, o, at))
                }
                Ok((true, sent, Ok(r), at)) => {
                    wire::read_revocation(&r).map(|(o, _)| (revoke, sent, o, at))
                }
                Ok((_, _, Err(e), _)) => Err(e.to_string()),
                Err(e) => Err(format!("a request task failed: {e}")),
            };
            match read {
                Ok((action, sent, o, at)) => calls.push(crate::linearize::Call {
                    action,
                    sent,
                    answered: Some((at, o)),
                }),
                Err(m) => {
                    let m = s.redactor.apply(&m);
                    s.line(format!(
                        "{n}. {what} → {m}  ✗ {}",
                        checks::TOKEN_RESPONSE.id
                    ));
                    s.eval(
                        checks::TOKEN_RESPONSE,
                        Verdict::Failed,
                        n,
                        Some(format!("{what}: {m}")),
                    );
                    return Err(Stop::Failed(format!("step {n}: {m}")));
                }
            }
        }
        if let Some(first) = unanswered
            .first()
            .filter(|_| unanswered.len() == calls.len())
        {
            return Err(s.unanswered(n, &what, unanswered.len(), first));
        }
        if let ClockConfig::Real { skew } = &self.target.clock {
            s.set
                .answered(s.elapsed(), whole_seconds(began.elapsed()), skew.get());
        }
        s.actions += count as usize;
        if with_revoke {
            s.history.revoked.insert(TokenRef::Refresh(rt), Hint::Right);
        }
        let shown: Vec<String> = calls
            .iter()
            .filter_map(|c| c.answered.as_ref().map(|(_, o)| s.describe(o)))
            .collect();
        match crate::linearize::linearize(&s.set, &s.bindings, &value, &calls) {
            Some((set, bindings, outcomes)) => {
                s.set = set;
                for (i, v) in bindings.rt.iter().enumerate() {
                    if let (Some(v), None) = (v, s.bindings.rt.get(i).and_then(Option::as_ref)) {
                        s.redactor.add(v, format!("RT{i}"));
                    }
                }
                for (i, v) in bindings.at.iter().enumerate() {
                    if let (Some(v), None) = (v, s.bindings.at.get(i).and_then(Option::as_ref)) {
                        s.redactor.add(v, format!("AT{i}"));
                    }
                }
                s.bindings = bindings;
                let list: Vec<String> = outcomes.iter().map(ToString::to_string).collect();
                s.line(format!("{n}. {what} → in some order: {}", list.join("; ")));
                s.eval(checks::RACE, Verdict::Passed, n, None);
                // Whether the unanswered ones took effect is unknown, and the state set
                // keeps one order: the steps after it could not be judged soundly.
                match unanswered.first() {
                    Some(first) => {
                        let judged = format!("{what}, judged without them");
                        Err(s.unanswered(n, &judged, unanswered.len(), first))
                    }
                    None => Ok(()),
                }
            }
            None => {
                let lost = match unanswered.len() {
                    0 => String::new(),
                    k => format!(" ({k} more got no answer: with or without them)"),
                };
                let msg = format!(
                    "{what}: got {}{lost}; no order of these answers is allowed by the policy ({})",
                    shown.join("; "),
                    s.set.policy().profile
                );
                s.line(format!(
                    "{n}. {what} → {}  ✗ {}",
                    shown.join("; "),
                    checks::RACE.id
                ));
                s.eval(checks::RACE, Verdict::Failed, n, Some(msg.clone()));
                Err(Stop::Failed(format!("step {n}: {msg}")))
            }
        }
    }
}
