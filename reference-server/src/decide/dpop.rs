//! The DPoP binding of a refresh token (RFC 9449 §5): whether the key a refresh request
//! proved may use the presented token.
//!
//! A public client's refresh token is bound to the key of the proof that came with the code
//! exchange its grant started with (every successor inherits it, as the grant holds the
//! thumbprint), so a request must prove that key. A confidential client's is not: client
//! authentication already constrains it, and it may move to a new key on a refresh (its new
//! access token is bound to the new key). A proof for another key is answered
//! `invalid_grant` (the proof itself is valid; the grant is not this key's), and it comes
//! before any reuse or rotation, so nothing changes: no consumption, no reuse detection.
//!
//! Here too what a request's proof comes to, once the HTTP edge (`http::dpop`) has read it
//! ([`ProofRead`]: the header, `dpop::verify`'s answer, whether its `jti` was seen, whether
//! its nonce is accepted, whether its `ath` is the token's): at the token endpoint
//! ([`token_proof`]: RFC 9449 §5, §8, §11.1) and at the resource ([`resource_proof`]: §7.1).
//! The DPoP defects are inputs of these functions, as every defect is of a decision.

use std::borrow::Cow;

use tokenlife_model::{ClientType, Policy};

use super::Refusal;
use crate::defects::{Defect, Defects};
use crate::dpop::{self, Proof};
use crate::store::GrantRow;

/// A request's `DPoP` header as the edge read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofRead {
    /// No `DPoP` header.
    Missing,
    /// Several, or one that `dpop::verify` refuses.
    Invalid(dpop::Refusal),
    /// One valid proof.
    Valid {
        /// The proof.
        proof: Proof,
        /// The same key sent a proof with this `jti` before (RFC 9449 §11.1).
        replayed: bool,
        /// Its nonce is one the server accepts now (RFC 9449 §8).
        nonce_accepted: bool,
    },
}

/// What the token endpoint does with the proof of a client that uses DPoP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProof {
    /// Go on: the request proved this key (its thumbprint).
    Bound(String),
    /// Go on without a key (`dpop-refresh-without-proof`).
    Unbound,
    /// 400 `invalid_dpop_proof`, and nothing else.
    Invalid(Cow<'static, str>),
    /// 400 `use_dpop_nonce`; `consume_presented` (`dpop-nonce-consumes-token`): the presented
    /// refresh token is consumed first.
    UseNonce {
        /// Consume the presented refresh token.
        consume_presented: bool,
    },
}

/// The token endpoint's reading of a DPoP client's proof (RFC 9449 §5: required; §11.1: a
/// `jti` once; §8: the server's nonce, when the policy asks for one). `refresh`: the request
/// is a refresh.
pub fn token_proof(
    policy: &Policy,
    defects: &Defects,
    refresh: bool,
    read: ProofRead,
) -> TokenProof {
    match read {
        ProofRead::Missing if refresh && defects.has(Defect::DpopRefreshWithoutProof) => {
            TokenProof::Unbound
        }
        ProofRead::Missing => TokenProof::Invalid(
            "this client's token requests need a DPoP proof (RFC 9449 §5)".into(),
        ),
        ProofRead::Invalid(r) => TokenProof::Invalid(r.to_string().into()),
        ProofRead::Valid { replayed: true, .. } if !defects.has(Defect::DpopJtiReplay) => {
            TokenProof::Invalid(dpop::Refusal::Replay.to_string().into())
        }
        ProofRead::Valid {
            nonce_accepted: false,
            ..
        } if policy.dpop_nonce => TokenProof::UseNonce {
            consume_presented: refresh && defects.has(Defect::DpopNonceConsumesToken),
        },
        ProofRead::Valid { proof, .. } => TokenProof::Bound(proof.jkt),
    }
}

/// Why a resource call with the `DPoP` scheme is refused: the `error` of the `DPoP`
/// challenge (`invalid_token` or `invalid_dpop_proof`) and why.
pub type ResourceRefusal = (&'static str, &'static str);

/// The resource's reading of a call's proof (RFC 9449 §7.1) for a token sent with the
/// `DPoP` scheme: the proof to match against the token's key, or the refusal. `ath_matches`:
/// the proof's `ath` is the presented token's hash (`dpop-ath-unchecked` ignores it). The
/// resource asks no nonce; a replayed `jti` is refused as at the token endpoint.
pub fn resource_proof(
    defects: &Defects,
    read: ProofRead,
    ath_matches: bool,
) -> Result<Proof, ResourceRefusal> {
    let bad = ("invalid_dpop_proof", "the DPoP proof is invalid");
    match read {
        ProofRead::Missing => Err((
            "invalid_token",
            "a DPoP-bound access token needs a DPoP proof",
        )),
        ProofRead::Invalid(_) | ProofRead::Valid { replayed: true, .. } => Err(bad),
        ProofRead::Valid { .. } if !ath_matches && !defects.has(Defect::DpopAthUnchecked) => Err((
            "invalid_dpop_proof",
            "the DPoP proof's ath is not the access token's hash",
        )),
        ProofRead::Valid { proof, .. } => Ok(proof),
    }
}

/// Whether the request's proof (`jkt`, the thumbprint of its key; `None` when the request
/// came without one) may use a refresh token of `grant`, owned by a client of `owner`'s type.
/// `dpop-refresh-without-proof` honours a bound token without a proof, `dpop-refresh-other-key`
/// with a proof for another key.
pub fn refresh_key(
    policy: &Policy,
    defects: &Defects,
    owner: ClientType,
    grant: &GrantRow,
    jkt: Option<&str>,
) -> Result<(), Refusal> {
    if !policy.binds_refresh_token(owner) {
        return Ok(());
    }
    // A grant issued while its client did not use DPoP (another policy, before a restart)
    // has no key: nothing to bind to.
    let Some(bound) = grant.dpop_jkt.as_deref() else {
        return Ok(());
    };
    match jkt {
        Some(k) if k == bound => Ok(()),
        Some(_) if defects.has(Defect::DpopRefreshOtherKey) => Ok(()),
        Some(_) => Err(Refusal::invalid_grant(
            "the refresh token is bound to another DPoP key (RFC 9449 §5)",
        )),
        None if defects.has(Defect::DpopRefreshWithoutProof) => Ok(()),
        None => Err(Refusal::invalid_grant(
            "the refresh token is bound to a DPoP key and the request proved none (RFC 9449 §5)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn answer(
        p: &Policy,
        d: &[Defect],
        owner: ClientType,
        bound: Option<&str>,
        jkt: Option<&str>,
    ) -> String {
        let g = GrantRow {
            dpop_jkt: bound.map(str::to_string),
            ..grant()
        };
        match refresh_key(p, &defects(d), owner, &g, jkt) {
            Ok(()) => "ok".into(),
            Err(r) => refusal(&r),
        }
    }

    /// Policy, defects, owner, the grant's key, the request's key, the answer.
    type Row<'a> = (
        &'a Policy,
        &'a [Defect],
        ClientType,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );

    fn valid(replayed: bool, nonce_accepted: bool) -> ProofRead {
        ProofRead::Valid {
            proof: Proof {
                jkt: "k1".into(),
                jti: "j".into(),
                iat: 0,
                nonce: None,
                ath: None,
            },
            replayed,
            nonce_accepted,
        }
    }

    fn token(p: &Policy, d: &[Defect], refresh: bool, read: ProofRead) -> String {
        match token_proof(p, &defects(d), refresh, read) {
            TokenProof::Bound(k) => format!("bound {k}"),
            TokenProof::Unbound => "unbound".into(),
            TokenProof::Invalid(_) => "400 invalid_dpop_proof".into(),
            TokenProof::UseNonce { consume_presented } => {
                format!("400 use_dpop_nonce, consume {consume_presented}")
            }
        }
    }

    #[test]
    fn the_token_endpoint_wants_one_fresh_proof_and_its_nonce() {
        use Defect::{DpopJtiReplay, DpopNonceConsumesToken, DpopRefreshWithoutProof};
        let dpop = profile("bcp-dpop");
        let mut nonce = profile("bcp-dpop");
        nonce.dpop_nonce = true;
        let invalid = || ProofRead::Invalid(dpop::Refusal::Signature);
        let table: [(&Policy, &[Defect], bool, ProofRead, &str); 14] = [
            (&dpop, &[], false, valid(false, false), "bound k1"),
            (
                &dpop,
                &[],
                true,
                ProofRead::Missing,
                "400 invalid_dpop_proof",
            ),
            (&dpop, &[], true, invalid(), "400 invalid_dpop_proof"),
            (
                &dpop,
                &[],
                true,
                valid(true, true),
                "400 invalid_dpop_proof",
            ),
            (
                &nonce,
                &[],
                true,
                valid(false, false),
                "400 use_dpop_nonce, consume false",
            ),
            (&nonce, &[], true, valid(false, true), "bound k1"),
            // A replay is refused before its nonce is read.
            (
                &nonce,
                &[],
                true,
                valid(true, false),
                "400 invalid_dpop_proof",
            ),
            // The defects, each on its own case only.
            (
                &dpop,
                &[DpopRefreshWithoutProof],
                true,
                ProofRead::Missing,
                "unbound",
            ),
            (
                &dpop,
                &[DpopRefreshWithoutProof],
                false,
                ProofRead::Missing,
                "400 invalid_dpop_proof",
            ),
            (
                &dpop,
                &[DpopRefreshWithoutProof],
                true,
                invalid(),
                "400 invalid_dpop_proof",
            ),
            (&dpop, &[DpopJtiReplay], true, valid(true, true), "bound k1"),
            (
                &nonce,
                &[DpopNonceConsumesToken],
                true,
                valid(false, false),
                "400 use_dpop_nonce, consume true",
            ),
            (
                &nonce,
                &[DpopNonceConsumesToken],
                false,
                valid(false, false),
                "400 use_dpop_nonce, consume false",
            ),
            (
                &dpop,
                &[DpopNonceConsumesToken],
                true,
                valid(false, false),
                "bound k1",
            ),
        ];
        for (p, d, refresh, read, expected) in table {
            let shown = format!("{read:?}");
            assert_eq!(
                token(p, d, refresh, read),
                expected,
                "{d:?} {refresh} {shown}"
            );
        }
    }

    #[test]
    fn the_resource_wants_a_fresh_proof_with_the_tokens_hash() {
        let none = Defects::none();
        let ath = defects(&[Defect::DpopAthUnchecked]);
        let error = |d: &Defects, read: ProofRead, matches: bool| {
            resource_proof(d, read, matches)
                .map(|p| p.jkt)
                .map_err(|e| e.0)
        };
        assert_eq!(error(&none, valid(false, false), true), Ok("k1".into()));
        assert_eq!(error(&none, ProofRead::Missing, true), Err("invalid_token"));
        let invalid = ProofRead::Invalid(dpop::Refusal::Method);
        assert_eq!(error(&none, invalid, true), Err("invalid_dpop_proof"));
        assert_eq!(
            error(&none, valid(true, true), true),
            Err("invalid_dpop_proof")
        );
        assert_eq!(
            error(&none, valid(false, true), false),
            Err("invalid_dpop_proof")
        );
        // `dpop-ath-unchecked` lets a proof for another token through, and nothing else.
        assert_eq!(error(&ath, valid(false, true), false), Ok("k1".into()));
        assert_eq!(
            error(&ath, valid(true, true), true),
            Err("invalid_dpop_proof")
        );
    }

    #[test]
    fn a_public_clients_refresh_token_needs_its_own_key_under_bcp_dpop() {
        use ClientType::{Confidential, Public};
        let dpop = profile("bcp-dpop");
        let fapi = profile("fapi2");
        let bcp = profile("bcp");
        let k = Some("k1");
        let table: [Row; 11] = [
            (&dpop, &[], Public, k, k, "ok"),
            (&dpop, &[], Public, k, Some("k2"), "400 invalid_grant"),
            (&dpop, &[], Public, k, None, "400 invalid_grant"),
            (&dpop, &[], Public, None, Some("k2"), "ok"),
            // Confidential clients' refresh tokens are never bound (RFC 9449 §5).
            (&fapi, &[], Confidential, k, Some("k2"), "ok"),
            (&dpop, &[], Confidential, k, Some("k2"), "ok"),
            // Without DPoP in the policy there is nothing to bind.
            (&bcp, &[], Public, k, Some("k2"), "ok"),
            // The defects: each lets through its own case only.
            (
                &dpop,
                &[Defect::DpopRefreshOtherKey],
                Public,
                k,
                Some("k2"),
                "ok",
            ),
            (
                &dpop,
                &[Defect::DpopRefreshOtherKey],
                Public,
                k,
                None,
                "400 invalid_grant",
            ),
            (
                &dpop,
                &[Defect::DpopRefreshWithoutProof],
                Public,
                k,
                None,
                "ok",
            ),
            (
                &dpop,
                &[Defect::DpopRefreshWithoutProof],
                Public,
                k,
                Some("k2"),
                "400 invalid_grant",
            ),
        ];
        for (p, d, owner, bound, jkt, expected) in table {
            assert_eq!(
                answer(p, d, owner, bound, jkt),
                expected,
                "{} {d:?} {owner:?} {bound:?} {jkt:?}",
                p.profile
            );
        }
    }
}
