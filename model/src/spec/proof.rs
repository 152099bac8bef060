//! Proof of possession (RFC 9449): what the spec allows when a DPoP client's request comes
//! with a faulty proof, and when the attacker, who steals tokens but never keys, presents a
//! bound refresh token.
//!
//! A faulty proof is refused before anything about the token changes: the refusal names the
//! proof (`invalid_dpop_proof`), the grant (`invalid_grant`, as node-oidc-provider answers a
//! key mismatch), a missing header (`invalid_request`), or the nonce (`use_dpop_nonce`). A
//! server may look at the token first: where the owner's own request would be refused too,
//! that refusal (with its reuse cascade) is allowed instead. A confidential client's refresh
//! token is not bound (RFC 9449 §5): with another key it is the owner's refresh, and the new
//! access token goes with the new key.
//!
//! Clauses: RFC 9449 §5 (bound refresh tokens, `dpop_bound_access_tokens`), §7.1 (the
//! resource), §8 (`use_dpop_nonce`), §11.1 (replayed proofs).

use super::{refresh_rule, Mutation, Spec, SpecError};
use crate::action::{Action, Actor, Outcome, TokenRef};
use crate::dpop::ProofFault;
use crate::error_code::ErrorCode;
use crate::policy::{ClientType, Policy};
use crate::rule::Rule;
use crate::state::{RtId, RtStatus, State};

/// The error codes a refusal for `fault` may carry at the token endpoint.
pub fn refusal_codes(fault: ProofFault) -> &'static [ErrorCode] {
    match fault {
        ProofFault::NoNonce => &[ErrorCode::UseDpopNonce],
        ProofFault::NoProof => &[
            ErrorCode::InvalidDpopProof,
            ErrorCode::InvalidGrant,
            ErrorCode::InvalidRequest,
        ],
        _ => &[ErrorCode::InvalidDpopProof, ErrorCode::InvalidGrant],
    }
}

/// Whether `fault` is a fault at all for a refresh of a token of `owner` under `p`: a
/// confidential client's refresh token is not bound, so another key is no fault; without
/// a nonce policy, a proof without a nonce is a good proof.
pub fn refresh_fault_applies(p: &Policy, owner: ClientType, fault: ProofFault) -> bool {
    match fault {
        ProofFault::OtherKey => p.binds_refresh_token(owner),
        ProofFault::NoNonce => p.dpop_nonce,
        ProofFault::WrongAth => false,
        ProofFault::NoProof | ProofFault::Replayed => true,
    }
}

/// Why an `Unproven` action cannot be taken: its token's client does not use DPoP, or the
/// fault does not go with that kind of token.
pub(super) fn check(p: &Policy, s: &State, a: &Action) -> Result<(), SpecError> {
    let Action::Unproven { token, fault } = *a else {
        return Ok(());
    };
    let (client, fits) = match token {
        TokenRef::Refresh(rt) => (s.rt_grant(rt).client, fault.at_token_endpoint()),
        TokenRef::Access(at) => (s.at_grant(at).client, fault.at_resource()),
    };
    if !p.uses_dpop(client) {
        return Err(SpecError::NoDpop(client));
    }
    if !fits {
        return Err(SpecError::FaultMisplaced(fault, token));
    }
    Ok(())
}

/// The rule for the owner's refresh of `rt` with a faulty proof.
pub(super) fn unproven_refresh_rule(
    p: &Policy,
    bug: Option<Mutation>,
    s: &State,
    rt: RtId,
    fault: ProofFault,
) -> Rule {
    let owner = Actor::Client(s.rt_grant(rt).client);
    let owners = refresh_rule(p, bug, s, owner, rt, None);
    if !refresh_fault_applies(p, s.rt_grant(rt).client, fault) || bug == Some(Mutation::IgnoreProof)
    {
        return owners;
    }
    Rule::ProofRefused {
        fault,
        token_refused: !matches!(owners, Rule::Refreshed { .. } | Rule::GraceReuse { .. }),
    }
}

impl Spec {
    /// The `choice`-th outcome of a refresh refused for its proof: first each error code the
    /// fault allows, nothing changed; then, where the owner's own request is refused too,
    /// that refusal with what it does.
    pub(super) fn proof_refusal(
        &self,
        s: &mut State,
        rt: RtId,
        fault: ProofFault,
        token_refused: bool,
        choice: u8,
    ) -> Result<Option<Outcome>, SpecError> {
        let codes = refusal_codes(fault);
        if let Some(&error) = codes.get(usize::from(choice)) {
            if fault == ProofFault::NoNonce && self.bug(Mutation::NonceConsumes) {
                let t = &mut s.rts[rt.0 as usize];
                if t.status == RtStatus::Active {
                    t.status = RtStatus::Consumed;
                }
            }
            return Ok(Some(Outcome::Error { status: 400, error }));
        }
        if !token_refused {
            return Ok(None);
        }
        let owner = Actor::Client(s.rt_grant(rt).client);
        let rest = choice - codes.len() as u8;
        self.refresh(s, owner, rt, None, rest)
    }
}
