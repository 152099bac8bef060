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
//! The proof itself (signature, `htm`, `htu`, `iat`, `jti`, nonce) is checked before a
//! decision is asked for, at the HTTP edge (`http::dpop`).

use tokenlife_model::{ClientType, Policy};

use super::Refusal;
use crate::defects::{Defect, Defects};
use crate::store::GrantRow;

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
