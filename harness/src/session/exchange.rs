//! The HTTP exchanges of a step: each model action's request(s), built by
//! [`request`](crate::request) and read by [`wire`](crate::wire) into what the oracle judges
//! and what the protocol checks look at; and the requests about a token the server never
//! issued (RFC 7009 §2.2: 200; RFC 7662 §2.2: `{"active": false}`), which no model action
//! covers and which this module judges itself.

use tokenlife_model::spec::{Hint, TokenRef};
use tokenlife_model::state::{RtId, Scope};
use tokenlife_model::{Action, Actor, ClientType, State};

use super::harness::Harness;
use super::proof::Proving;
use super::protocol::{Protocol, Reference};
use super::state::{GrantWire, Session, Stop};
use crate::authorize;
use crate::checks::{self, Check, Verdict};
use crate::dpop::DpopKey;
use crate::http::{HttpError, Request, Response};
use crate::oracle::{owner_of, Observed};
use crate::request::{self, Credentials};
use crate::scenario::StepKind;
use crate::secret::Secret;
use crate::target::ClientConfig;
use crate::wire::{self, TokenExtras};
use tokenlife_model::dpop::ProofFault;

/// Why an exchange gave no response to judge.
pub(super) enum Exchange {
    /// The step cannot go on (skipped, or wrong for the policy).
    Stop(Stop),
    /// The answer is no OAuth answer at all: `Check` (its well-formedness) fails.
    Broken(Check, String),
    /// No answer came (timeout, connection refused or broken, 429 after every retry): an
    /// infrastructure problem, not a verdict (see [`HttpError::is_infrastructure`]).
    Unanswered(String),
}

impl From<Stop> for Exchange {
    fn from(stop: Stop) -> Exchange {
        Exchange::Stop(stop)
    }
}

/// An exchange that gave no response: no answer at all is an infrastructure problem, any
/// other transport error breaks `well_formed` (`prefix` leads its message).
fn broken_or_unanswered(well_formed: Check, prefix: &str, e: &HttpError) -> Exchange {
    if e.is_infrastructure() {
        Exchange::Unanswered(e.to_string())
    } else {
        Exchange::Broken(well_formed, format!("{prefix}{e}"))
    }
}

/// What an exchange gives back: the reading, the refresh token it presented, and what the
/// protocol checks look at.
pub(super) type Exchanged = (Observed, Option<Secret>, Protocol);

impl Harness {
    async fn send(&self, req: &Request, well_formed: Check) -> Result<Response, Exchange> {
        self.http
            .send(req)
            .await
            .map_err(|e| broken_or_unanswered(well_formed, "", &e))
    }

    /// Sends the token request `req` of `client`, with the DPoP proof `how` says, and once
    /// more with a fresh proof when the server answers with a nonce challenge (RFC 9449 §8);
    /// the key a new access token is bound to when it is not the client's own.
    async fn send_token(
        &self,
        req: &Request,
        client: ClientType,
        how: Proving,
    ) -> Result<(Response, Option<DpopKey>), Exchange> {
        let (signed, fresh) = self.proofs.token_request(req.clone(), client, how);
        let r = self.send(&signed, checks::TOKEN_RESPONSE).await?;
        if !self.proofs.uses(client) || !self.proofs.challenged(&r, how) {
            self.proofs.accepted(client, &signed, &r, how);
            return Ok((r, fresh));
        }
        let (signed, fresh) = self.proofs.token_request(req.clone(), client, how);
        let r = self.send(&signed, checks::TOKEN_RESPONSE).await?;
        self.proofs.learn(&r);
        self.proofs.accepted(client, &signed, &r, how);
        Ok((r, fresh))
    }

    /// Performs the HTTP exchange(s) of an action.
    pub(super) async fn exchange(
        &self,
        s: &mut Session<'_>,
        state: &State,
        action: &Action,
    ) -> Result<Exchanged, Exchange> {
        let ep = &self.endpoints;
        match *action {
            Action::Authorize {
                client,
                scope,
                offline,
            } => {
                let c = self.client(client)?;
                let mut names = wire::scope_names(c, scope, scope).map_err(Stop::Skipped)?;
                // Only what the client is registered for: a server refuses the whole
                // authorization for one scope too many (`invalid_scope`). A policy that
                // requires `offline_access` of a client not registered for it is refused
                // before the run (`Target::check`).
                if offline && c.registers("offline_access") {
                    names.insert(0, "offline_access".into());
                }
                if c.registers("openid") {
                    names.insert(0, "openid".into());
                }
                let code = authorize::authorize(
                    &self.http,
                    &ep.authorization,
                    &self.target.authorize,
                    c,
                    &names.join(" "),
                )
                .await
                .map_err(|e| match e {
                    authorize::AuthorizeError::Http(h) => {
                        broken_or_unanswered(checks::AUTHORIZE_TOKENS, "authorization failed: ", &h)
                    }
                    e => Exchange::Broken(
                        checks::AUTHORIZE_TOKENS,
                        format!("authorization failed: {e}"),
                    ),
                })?;
                let g = s.grants.len();
                s.redactor.add(&code.code, format!("CODE(G{g})"));
                s.redactor.add(&code.verifier, format!("VERIFIER(G{g})"));
                s.grants.push(GrantWire {
                    client,
                    code: code.code.clone(),
                    verifier: code.verifier.clone(),
                    reference: Reference::default(),
                });
                let (o, x) = self
                    .exchange_code(c, scope, &code.code, &code.verifier)
                    .await?;
                Ok((o, None, Protocol::Token(x, Some(scope))))
            }
            Action::ReplayCode { grant } => {
                let (client, code, verifier) = {
                    let g = s
                        .grants
                        .get(grant.0 as usize)
                        .ok_or_else(|| Stop::Error(format!("{grant} has no code")))?;
                    (g.client, g.code.clone(), g.verifier.clone())
                };
                let c = self.client(client)?;
                let granted = state.grants[grant.0 as usize].scope;
                let (o, x) = self.exchange_code(c, granted, &code, &verifier).await?;
                Ok((o, None, Protocol::Token(x, None)))
            }
            Action::Refresh { by, rt, scope } => {
                let owner = state.rt_grant(rt).client;
                // The attacker holds no client's key: it proves possession of its own.
                let how = if by == Actor::Attacker {
                    Proving::Fresh
                } else {
                    Proving::Own
                };
                self.refresh(s, state, by, owner, rt, scope, how).await
            }
            Action::Unproven {
                token: TokenRef::Refresh(rt),
                fault,
            } => {
                let owner = state.rt_grant(rt).client;
                let by = Actor::Client(owner);
                self.refresh(s, state, by, owner, rt, None, Proving::Fault(fault))
                    .await
            }
            Action::RefreshLost { rt } => {
                let owner = state.rt_grant(rt).client;
                self.refresh(
                    s,
                    state,
                    Actor::Client(owner),
                    owner,
                    rt,
                    None,
                    Proving::Own,
                )
                .await
            }
            Action::UseAccess { at }
            | Action::Unproven {
                token: TokenRef::Access(at),
                ..
            } => {
                let url = ep
                    .resource
                    .as_ref()
                    .ok_or_else(|| Stop::Skipped("no resource_url".into()))?;
                let v = s.value(TokenRef::Access(at))?;
                let fault = match *action {
                    Action::Unproven { fault, .. } => Some(fault),
                    _ => None,
                };
                let client = state.at_grant(at).client;
                let req = self.proofs.resource(url, &v, client, fault);
                let r = self.send(&req, checks::RESOURCE_RESPONSE).await?;
                let (o, challenge) = wire::read_resource(&r)
                    .map_err(|m| Exchange::Broken(checks::RESOURCE_RESPONSE, m))?;
                Ok((o, None, Protocol::Resource(challenge)))
            }
            Action::Revoke { by, token, hint } => {
                let url = ep
                    .revocation
                    .as_ref()
                    .ok_or_else(|| Stop::Skipped("no revocation endpoint".into()))?;
                let owner = owner_of(state, token);
                let creds = self.credentials(by, owner)?;
                let (value, right) = s.token_value(token)?;
                let wrong = if right == "refresh_token" {
                    "access_token"
                } else {
                    "refresh_token"
                };
                let hint = match hint {
                    Hint::None => None,
                    Hint::Right => Some(right),
                    Hint::Wrong => Some(wrong),
                };
                let req = request::revocation(url, value.expose(), hint, creds);
                let r = self.send(&req, checks::REVOKE_RESPONSE).await?;
                let (o, error_body) = wire::read_revocation(&r)
                    .map_err(|m| Exchange::Broken(checks::REVOKE_RESPONSE, m))?;
                Ok((o, None, Protocol::Revocation(error_body)))
            }
            Action::Introspect { token } => {
                let url = ep
                    .introspection
                    .as_ref()
                    .ok_or_else(|| Stop::Skipped("no introspection endpoint".into()))?;
                let owner = owner_of(state, token);
                let creds = match &self.target.introspection {
                    Some(i) => Credentials::Basic(&i.client_id, i.client_secret.as_ref()),
                    None => Credentials::Client(self.client(owner)?),
                };
                let (value, kind) = s.token_value(token)?;
                let req = request::introspection(url, value.expose(), Some(kind), creds);
                let r = self.send(&req, checks::INTROSPECT_RESPONSE).await?;
                let (o, extra) = wire::read_introspection(&r)
                    .map_err(|m| Exchange::Broken(checks::INTROSPECT_RESPONSE, m))?;
                Ok((o, None, Protocol::Introspection(extra)))
            }
            Action::Tick | Action::Advance { .. } | Action::Restart | Action::Steal { .. } => {
                Ok((Observed::Nothing, None, Protocol::None))
            }
        }
    }

    async fn exchange_code(
        &self,
        c: &ClientConfig,
        grant: Scope,
        code: &Secret,
        verifier: &Secret,
    ) -> Result<(Observed, TokenExtras), Exchange> {
        let req = request::code_exchange(&self.endpoints.token, c, code, verifier);
        let (r, _) = self.send_token(&req, c.client_type(), Proving::Own).await?;
        let (o, mut x) = wire::read_token(&r, c, grant)
            .map_err(|m| Exchange::Broken(checks::TOKEN_RESPONSE, m))?;
        x.dpop_sent = self.proofs.uses(c.client_type());
        Ok((o, x))
    }

    #[allow(clippy::too_many_arguments)]
    async fn refresh(
        &self,
        s: &mut Session<'_>,
        state: &State,
        by: Actor,
        owner: ClientType,
        rt: RtId,
        scope: Option<Scope>,
        how: Proving,
    ) -> Result<Exchanged, Exchange> {
        let creds = self.credentials(by, owner)?;
        let owner_client = self.client(owner)?;
        let value = s.value(TokenRef::Refresh(rt))?;
        let grant = state.rt_grant(rt).scope;
        let names = match scope {
            Some(sc) => Some(wire::scope_names(owner_client, grant, sc).map_err(Stop::Skipped)?),
            None => None,
        };
        let names = names.map(|n| n.join(" "));
        let req = request::refresh(
            &self.endpoints.token,
            value.expose(),
            names.as_deref(),
            creds,
        );
        // The presenter proves possession: the owner, another client with its own key, or
        // the attacker with a key of its own where the owner's type uses DPoP.
        let prover = match by {
            Actor::Client(c) => c,
            Actor::Attacker => owner,
        };
        let (r, fresh) = self.send_token(&req, prover, how).await?;
        if let (Some(k), 200) = (fresh, r.status) {
            self.proofs.moved_to(&r, k);
        }
        let (o, mut x) = wire::read_token(&r, owner_client, grant)
            .map_err(|m| Exchange::Broken(checks::TOKEN_RESPONSE, m))?;
        x.dpop_sent = self.proofs.uses(prover) && how != Proving::Fault(ProofFault::NoProof);
        let requested = Some(scope.unwrap_or(state.rts[rt.0 as usize].scope));
        Ok((o, Some(value), Protocol::Token(x, requested)))
    }

    /// Revokes or introspects a token the server never issued (no model action).
    pub(super) async fn unknown_token(
        &self,
        s: &mut Session<'_>,
        n: usize,
        kind: &StepKind,
    ) -> Result<(), Stop> {
        let c = self
            .client(ClientType::Confidential)
            .or_else(|_| self.client(ClientType::Public))?;
        let _slot = self.slots(1).await;
        let token = format!("tokenlife-unknown-{}", authorize::random_token(16));
        s.actions += 1;
        let revoke = matches!(kind, StepKind::RevokeUnknown);
        let (url, well_formed) = if revoke {
            (self.endpoints.revocation.clone(), checks::REVOKE_RESPONSE)
        } else {
            (
                self.endpoints.introspection.clone(),
                checks::INTROSPECT_RESPONSE,
            )
        };
        let url = url.ok_or_else(|| Stop::Skipped("the endpoint is missing".into()))?;
        let what = if revoke {
            "an unknown token is revoked"
        } else {
            "an unknown token is introspected"
        };
        let broken = |s: &mut Session<'_>, msg: String| {
            s.line(format!("{n}. {what} → {msg}"));
            s.eval(well_formed, Verdict::Failed, n, Some(msg.clone()));
            Stop::Failed(format!("step {n}: {msg}"))
        };
        let creds = Credentials::Client(c);
        let req = if revoke {
            request::revocation(&url, &token, None, creds)
        } else {
            request::introspection(&url, &token, None, creds)
        };
        let r = match self.http.send(&req).await {
            Ok(r) => r,
            Err(e) if e.is_infrastructure() => {
                return Err(s.unanswered(n, what, 1, &e.to_string()))
            }
            Err(e) => return Err(broken(s, e.to_string())),
        };
        if revoke {
            let (o, error_body) = match wire::read_revocation(&r) {
                Ok(x) => x,
                Err(m) => return Err(broken(s, m)),
            };
            let ok = o == Observed::Revocation { ok: true } && !error_body;
            let got = if error_body {
                "200 with an error member".to_string()
            } else {
                s.describe(&o)
            };
            s.line(format!(
                "{n}. {what} → {got}{}",
                if ok { "" } else { "  ✗ revoke.returns-200" }
            ));
            s.eval(
                checks::REVOKE_OK,
                if ok { Verdict::Passed } else { Verdict::Failed },
                n,
                (!ok).then(|| format!("{what}: got {got}; RFC 7009 §2.2 requires 200")),
            );
        } else {
            let (o, extra) = match wire::read_introspection(&r) {
                Ok(x) => x,
                Err(m) => return Err(broken(s, m)),
            };
            let inactive = o == Observed::Introspection { active: false };
            s.line(format!(
                "{n}. {what} → {}{}",
                s.describe(&o),
                if inactive {
                    ""
                } else {
                    "  ✗ introspect.dead-inactive"
                }
            ));
            s.eval(
                checks::INTROSPECT_DEAD,
                if inactive {
                    Verdict::Passed
                } else {
                    Verdict::Failed
                },
                n,
                (!inactive).then(|| format!("{what}: got active: true")),
            );
            if inactive {
                let only = extra.is_empty();
                s.eval(
                    checks::INTROSPECT_ONLY_ACTIVE,
                    if only {
                        Verdict::Passed
                    } else {
                        Verdict::Failed
                    },
                    n,
                    (!only).then(|| format!("{what}: the response also has {}", extra.join(", "))),
                );
            }
        }
        Ok(())
    }
}
