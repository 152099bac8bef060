//! Secrets: token values and client secrets, never printed, compared in constant time.
//!
//! RFC 6749 §10.10 (credentials must be unguessable: 256 bits from a CSPRNG here),
//! RFC 6749 §10.3 / §10.4 (tokens kept confidential: only SHA-256 digests are stored),
//! RFC 6749 §2.3.1 (client secrets compared without timing leaks).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string (a token value or a client secret): the model's redacting type, so the
/// server's config and the harness's target file hold client secrets alike.
pub use tokenlife_model::config::Secret;

/// What the server does with a secret beyond holding it: mint, hash and compare. A trait
/// rather than methods on the type because the type is the model's, which has neither a
/// random source nor the hashes.
pub trait SecretExt {
    /// A fresh opaque token: 256 bits from the operating system's CSPRNG, base64url.
    fn generate() -> Secret;

    /// The SHA-256 digest under which a token is stored.
    fn digest(&self) -> TokenHash;

    /// Compares with `other` in constant time (over SHA-256 digests, so the length of the
    /// stored secret does not leak either).
    fn ct_eq(&self, other: &str) -> bool;
}

impl SecretExt for Secret {
    fn generate() -> Secret {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Secret::new(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn digest(&self) -> TokenHash {
        TokenHash::of(self.expose())
    }

    fn ct_eq(&self, other: &str) -> bool {
        let a = Sha256::digest(self.expose().as_bytes());
        let b = Sha256::digest(other.as_bytes());
        a.ct_eq(&b).into()
    }
}

/// The hex SHA-256 digest of a token value: the only form in which a token is stored.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(String);

impl TokenHash {
    /// The digest of `token`.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(hex(&Sha256::digest(token.as_bytes())))
    }

    /// A digest read back from the store.
    pub fn from_stored(hex: String) -> TokenHash {
        TokenHash(hex)
    }

    /// The hex digest, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to correlate log lines and reveals nothing usable.
        write!(f, "sha256:{}…", &self.0[..self.0.len().min(8)])
    }
}

/// The server's key for deriving the successor of a refresh token, so that a grace reuse
/// with `grace_successor = "same"` can answer with the same successor again without the
/// store ever holding a token value (django-oauth-toolkit stores plaintext for this).
#[derive(Clone)]
pub struct DerivationKey(Vec<u8>);

impl DerivationKey {
    /// A fresh random key.
    pub fn generate() -> DerivationKey {
        let mut bytes = vec![0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        DerivationKey(bytes)
    }

    /// A key read back from the store (base64url).
    pub fn from_stored(text: &str) -> Option<DerivationKey> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        (bytes.len() >= 32).then_some(DerivationKey(bytes))
    }

    /// The key as stored (base64url).
    pub fn to_stored(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// The successor of the refresh token `presented`: HMAC-SHA-256 under this key, so it is
    /// unpredictable to anyone without the key and the same every time it is derived.
    pub fn successor_of(&self, presented: &Secret) -> Secret {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return Secret::generate(),
        };
        mac.update(b"tokenlife refresh-token successor\0");
        mac.update(presented.expose().as_bytes());
        Secret::new(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

impl DerivationKey {
    /// HMAC-SHA-256 under this key of `input`, for the purpose named by `label` (so that
    /// one key serves several purposes without one value standing for another), base64url.
    pub fn derive(&self, label: &str, input: &[u8]) -> String {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return Secret::generate().expose().to_string();
        };
        mac.update(label.as_bytes());
        mac.update(b"\0");
        mac.update(input);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for DerivationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(code_verifier))`.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_long() {
        let s = Secret::generate();
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(s.expose().len(), 43);
        assert_ne!(Secret::generate(), s);
    }

    #[test]
    fn constant_time_comparison_agrees_with_equality() {
        let s = Secret::new("secret-a");
        assert!(s.ct_eq("secret-a"));
        assert!(!s.ct_eq("secret-b"));
        assert!(!s.ct_eq(""));
    }

    #[test]
    fn successors_are_deterministic_per_key() {
        let k = DerivationKey::generate();
        let t = Secret::new("abc");
        assert_eq!(k.successor_of(&t), k.successor_of(&t));
        assert_ne!(
            k.successor_of(&t),
            DerivationKey::generate().successor_of(&t)
        );
        let back = DerivationKey::from_stored(&k.to_stored()).unwrap();
        assert_eq!(back.successor_of(&t), k.successor_of(&t));
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
