//! DPoP vocabulary shared by the harness (which signs proofs) and the reference server
//! (which checks them): a P-256 key's JWK thumbprint, an access token's `ath`, and the
//! ways a request's proof of possession can be wrong ([`ProofFault`]), which the model's
//! `Action::Unproven` presents. Pure functions of their inputs; no key handling here.
//!
//! Clauses: RFC 7638 §3 (the thumbprint), RFC 9449 §4.2 (`ath`), §4.3 (checking a proof),
//! §5 (bound refresh tokens), §6.1 (`cnf.jkt`), §7.1 (the resource), §8 (nonces), §11.1
//! (replay).

use std::fmt;

use serde::{Deserialize, Serialize};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The RFC 7638 SHA-256 thumbprint, base64url, of the EC P-256 public key whose JWK
/// coordinates are `x` and `y` (base64url, as the JWK carries them): the required members
/// in lexicographic order, no whitespace.
pub fn p256_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// `ath`: base64url of the SHA-256 of an access token's ASCII (RFC 9449 §4.2).
pub fn access_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// What is wrong with the DPoP proof of a request that presents a token: the token's
/// owner sends it (the attacker, who steals tokens but never keys, presents stolen refresh
/// tokens with its own key: [`ProofFault::OtherKey`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProofFault {
    /// A valid proof, signed by a key the token is not bound to (RFC 9449 §5: a public
    /// client's refresh token; §7.1: any DPoP-bound access token). A confidential client's
    /// refresh token is not bound: with a new key it is honoured, and the new access token
    /// is bound to the new key.
    OtherKey,
    /// No `DPoP` header at all; at the resource, the access token sent as a bearer token.
    NoProof,
    /// The proof of the client's previous request to the token endpoint, sent again: its
    /// `jti` was seen (RFC 9449 §11.1).
    Replayed,
    /// A proof without the nonce the server demands (RFC 9449 §8): `use_dpop_nonce`.
    NoNonce,
    /// At the resource, a proof whose `ath` is the hash of another token (RFC 9449 §4.3).
    WrongAth,
}

impl ProofFault {
    /// Every fault, in the order the format lists them.
    pub const ALL: [ProofFault; 5] = [
        ProofFault::OtherKey,
        ProofFault::NoProof,
        ProofFault::Replayed,
        ProofFault::NoNonce,
        ProofFault::WrongAth,
    ];

    /// Its name (in a scenario file, `proof = "..."`).
    pub const fn name(self) -> &'static str {
        match self {
            ProofFault::OtherKey => "other-key",
            ProofFault::NoProof => "no-proof",
            ProofFault::Replayed => "replayed",
            ProofFault::NoNonce => "no-nonce",
            ProofFault::WrongAth => "wrong-ath",
        }
    }

    /// The fault `name` names, if it is one.
    pub fn parse(name: &str) -> Option<ProofFault> {
        ProofFault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether it can go with a refresh request (else, or also, a resource call).
    pub const fn at_token_endpoint(self) -> bool {
        !matches!(self, ProofFault::WrongAth)
    }

    /// Whether it can go with a resource call.
    pub const fn at_resource(self) -> bool {
        matches!(
            self,
            ProofFault::OtherKey | ProofFault::NoProof | ProofFault::WrongAth
        )
    }
}

impl fmt::Display for ProofFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProofFault::OtherKey => "a proof for another key",
            ProofFault::NoProof => "no proof",
            ProofFault::Replayed => "a replayed proof",
            ProofFault::NoNonce => "a proof without the server's nonce",
            ProofFault::WrongAth => "a proof for another access token",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9449s_examples() {
        // §4.2's example proof key and the `jkt` §6.1 binds to it; §7.1's token and `ath`.
        assert_eq!(
            p256_thumbprint(
                "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
            ),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        assert_eq!(
            access_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
