//! DPoP vocabulary shared by the harness (which signs proofs) and the reference server
//! (which checks them): a P-256 key's JWK thumbprint and an access token's `ath`. Pure
//! functions of their inputs; no key handling here.
//!
//! Clauses: RFC 7638 §3 (the thumbprint), RFC 9449 §4.2 (`ath`), §6.1 (`cnf.jkt`).

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
