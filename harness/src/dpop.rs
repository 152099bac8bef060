//! The client side of DPoP (RFC 9449): a client's P-256 key and the proofs it signs for a
//! request. The first part of sender-constrained refresh tokens in the harness; which
//! client holds a key, and when a proof goes out, come with the target file's and the
//! policy's say.
//!
//! The private key never leaves this module: `Debug` shows the thumbprint only.
//!
//! Clauses: RFC 9449 §4.2 (the proof), §4.3 (what the server checks), RFC 7638 (thumbprint).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore as _;
use serde_json::{json, Value};
use tokenlife_model::dpop::{access_hash, p256_thumbprint};

/// A client's DPoP key (ES256).
#[derive(Clone)]
pub struct DpopKey {
    key: SigningKey,
    x: String,
    y: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("jkt", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> DpopKey {
        loop {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            // Almost every 32 bytes are a valid scalar; the rest (zero, past the order) retry.
            if let Some(k) = DpopKey::from_bytes(&bytes) {
                return k;
            }
        }
    }

    /// The key with this private scalar (tests), if it is one.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<DpopKey> {
        let key = SigningKey::from_slice(bytes).ok()?;
        let point = key.verifying_key().to_encoded_point(false);
        let (x, y) = (point.x()?, point.y()?);
        Some(DpopKey {
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
            key,
        })
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }

    /// Its RFC 7638 thumbprint: what a token bound to it carries as `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        p256_thumbprint(&self.x, &self.y)
    }

    /// A proof for `method` on `url` (its query and fragment left out, as `htu` is) at
    /// `iat` (Unix seconds), with the server's `nonce` and, at a resource, the hash of the
    /// `access_token` sent; a fresh random `jti`.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        iat: i64,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> String {
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": htu,
            "iat": iat,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        if let Some(at) = access_token {
            claims["ath"] = json!(access_hash(at));
        }
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()});
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let sig: Signature = self.key.sign(format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_and_never_shown() {
        let (a, b) = (DpopKey::generate(), DpopKey::generate());
        assert_ne!(a.thumbprint(), b.thumbprint());
        let shown = format!("{a:?}");
        assert!(shown.contains(&a.thumbprint()), "{shown}");
        assert!(!shown.contains("key:"), "{shown}");
        assert!(
            DpopKey::from_bytes(&[0u8; 32]).is_none(),
            "zero is no scalar"
        );
    }

    #[test]
    fn a_proof_carries_what_rfc_9449_section_4_2_asks() {
        let k = DpopKey::from_bytes(&[9u8; 32]).unwrap();
        let p = k.proof(
            "POST",
            "https://as.example/token?a=1#f",
            42,
            Some("n"),
            Some("AT"),
        );
        let parts: Vec<&str> = p.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
        };
        let (h, c) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(h["typ"], "dpop+jwt");
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["jwk"], k.jwk());
        assert!(h["jwk"].get("d").is_none());
        assert_eq!(c["htu"], "https://as.example/token");
        assert_eq!(
            (c["htm"].clone(), c["iat"].clone()),
            (json!("POST"), json!(42))
        );
        assert_eq!(c["nonce"], "n");
        assert_eq!(c["ath"], json!(access_hash("AT")));
        let other = k.proof("POST", "https://as.example/token", 42, None, None);
        assert_ne!(decode(other.split('.').nth(1).unwrap())["jti"], c["jti"]);
    }
}
