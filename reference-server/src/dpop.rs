//! DPoP proofs (RFC 9449): checking a `DPoP` header's proof JWT as §4.3 says, and the JWK
//! SHA-256 thumbprint (RFC 7638) a bound token carries as `cnf.jkt`.
//!
//! The first part of sender-constrained refresh tokens: this module decides whether one
//! proof is valid for one request; which tokens a server binds, and what it answers, come
//! with the policy knob that says so. ES256 (P-256, RustCrypto's `p256`) is the one
//! algorithm; a proof signed otherwise is refused by name.
//!
//! Clauses: RFC 9449 §4.2 (the proof's header and claims), §4.3 (checking it), §11.1 (a
//! `jti` used once); RFC 7638 (thumbprint); RFC 7518 §3.4 (ES256 signatures, `r || s`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
pub use tokenlife_model::dpop::access_hash;
use tokenlife_model::dpop::p256_thumbprint;

/// How far a proof's `iat` may be from the server's clock, in seconds (RFC 9449 §4.3 item
/// 11: "within an acceptable window"; §11.1 suggests seconds to minutes).
pub const IAT_WINDOW: i64 = 60;

/// The most bytes of a proof the server reads (a proof is a few hundred).
pub const MAX_PROOF: usize = 8 * 1024;

/// What a request a proof goes with is.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The HTTP method (`POST`).
    pub method: &'a str,
    /// The URL the request went to, without query and fragment.
    pub url: &'a str,
    /// The server's clock, Unix seconds.
    pub now: i64,
    /// The access token presented with it, at a resource (`ath` must be its hash).
    pub access_token: Option<&'a str>,
    /// The nonce the server last gave, if it asks for one.
    pub nonce: Option<&'a str>,
}

/// A valid proof: the key's thumbprint, the `jti` (for the replay cache) and the `nonce`
/// it carried (for a server that keeps more than one nonce valid).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the public key, base64url.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat` (Unix seconds).
    pub iat: i64,
    /// The proof's `nonce` claim, if it has one.
    pub nonce: Option<String>,
    /// The proof's `ath` claim, if it has one (checked here only when the request names
    /// its access token; see [`Proof::ath_of`]).
    pub ath: Option<String>,
}

impl Proof {
    /// Whether the proof's `ath` is the hash of `access_token` (RFC 9449 §4.2).
    pub fn ath_of(&self, access_token: &str) -> bool {
        self.ath.as_deref() == Some(access_hash(access_token).as_str())
    }
}

/// Why a proof is refused (`invalid_dpop_proof`, or `use_dpop_nonce` for [`Refusal::Nonce`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a JWT of three base64url parts with JSON header and claims.
    #[error("the DPoP proof is not a well-formed JWT: {0}")]
    Malformed(&'static str),
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    Type,
    /// `alg` is not one the server accepts.
    #[error("the DPoP proof's alg `{0}` is not accepted (ES256 is)")]
    Algorithm(String),
    /// `jwk` is missing, not an EC P-256 key, or holds a private part.
    #[error("the DPoP proof's jwk is not a public P-256 key: {0}")]
    Key(&'static str),
    /// The signature does not verify with `jwk`.
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// A required claim is missing or of the wrong type.
    #[error("the DPoP proof has no valid `{0}` claim")]
    Claim(&'static str),
    /// `htm` is not the request's method.
    #[error("the DPoP proof's htm is not the request's method")]
    Method,
    /// `htu` is not the request's URL.
    #[error("the DPoP proof's htu is not the request's URL")]
    Url,
    /// `iat` is outside the window.
    #[error("the DPoP proof's iat is more than {IAT_WINDOW} s from the server's clock")]
    Time,
    /// `ath` is not the hash of the access token presented.
    #[error("the DPoP proof's ath is not the hash of the access token")]
    AccessHash,
    /// The server asks for a nonce and the proof has another one, or none.
    #[error("the DPoP proof does not carry the server's nonce")]
    Nonce,
    /// The same key already sent a proof with this `jti` (RFC 9449 §11.1).
    #[error("the DPoP proof's jti was already used")]
    Replay,
}

/// The `jti`s of accepted proofs, per key, kept while a proof with that `iat` could still
/// pass (RFC 9449 §11.1): a proof seen again in that time is a replay. At most
/// [`JtiCache::capacity`] are kept; past it the oldest is forgotten first (a bound on
/// memory that a flood of proofs cannot turn into refusing honest ones).
#[derive(Debug)]
pub struct JtiCache {
    order: std::collections::VecDeque<(i64, (String, String))>,
    seen: std::collections::HashSet<(String, String)>,
    capacity: usize,
}

impl JtiCache {
    /// A cache of at most `capacity` proofs.
    pub fn new(capacity: usize) -> JtiCache {
        JtiCache {
            order: std::collections::VecDeque::new(),
            seen: std::collections::HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// How many proofs it keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records `proof` accepted at `now`, or refuses it as a replay.
    pub fn record(&mut self, proof: &Proof, now: i64) -> Result<(), Refusal> {
        while self.order.front().is_some_and(|(until, _)| *until <= now) {
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
        let key = (proof.jkt.clone(), proof.jti.clone());
        if self.seen.contains(&key) {
            return Err(Refusal::Replay);
        }
        if self.order.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        // A proof passes while its iat is within the window of the clock, so one accepted
        // now could pass again until 2 × the window from now.
        self.order.push_back((now + 2 * IAT_WINDOW, key.clone()));
        self.seen.insert(key);
        Ok(())
    }
}

/// Checks `proof` (a `DPoP` header's value) for `req` as RFC 9449 §4.3 does, all but the
/// `jti` replay cache (the caller's, §11.1) and the binding (the caller's: the returned
/// thumbprint against the token's `cnf.jkt`).
pub fn verify(proof: &str, req: &Request<'_>) -> Result<Proof, Refusal> {
    if proof.len() > MAX_PROOF {
        return Err(Refusal::Malformed("longer than the server reads"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(c), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed("not three parts"));
    };
    let json = |part: &str, what: &'static str| -> Result<Value, Refusal> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Refusal::Malformed(what))?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .ok_or(Refusal::Malformed(what))
    };
    let header = json(h, "the header is not a base64url JSON object")?;
    let claims = json(c, "the claims are not a base64url JSON object")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(Refusal::Type);
    }
    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        other => return Err(Refusal::Algorithm(other.unwrap_or("(none)").into())),
    }
    let jwk = header.get("jwk").ok_or(Refusal::Key("no jwk"))?;
    let (key, jkt) = public_key(jwk)?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or(Refusal::Signature)?;
    key.verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| Refusal::Signature)?;
    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or(Refusal::Claim(name))
    };
    let jti = text("jti")?;
    if text("htm")? != req.method {
        return Err(Refusal::Method);
    }
    if !same_url(text("htu")?, req.url) {
        return Err(Refusal::Url);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(Refusal::Claim("iat"))?;
    if (iat - req.now).abs() > IAT_WINDOW {
        return Err(Refusal::Time);
    }
    if let Some(nonce) = req.nonce {
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(Refusal::Nonce);
        }
    }
    if let Some(at) = req.access_token {
        if text("ath")? != access_hash(at) {
            return Err(Refusal::AccessHash);
        }
    }
    Ok(Proof {
        jkt,
        jti: jti.to_string(),
        iat,
        nonce: claims
            .get("nonce")
            .and_then(Value::as_str)
            .map(str::to_string),
        ath: claims
            .get("ath")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The verifying key of a public P-256 JWK and its RFC 7638 thumbprint.
fn public_key(jwk: &Value) -> Result<(VerifyingKey, String), Refusal> {
    let field = |name: &'static str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or(Refusal::Key("a member is missing"))
    };
    if jwk.get("d").is_some() {
        return Err(Refusal::Key("it holds the private key"));
    }
    if field("kty")? != "EC" || field("crv")? != "P-256" {
        return Err(Refusal::Key("not an EC key on P-256"));
    }
    let (x, y) = (field("x")?, field("y")?);
    let coordinate = |v: &str| {
        URL_SAFE_NO_PAD
            .decode(v)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or(Refusal::Key("a coordinate is not 32 bytes of base64url"))
    };
    let mut sec1 = vec![0x04];
    sec1.extend(coordinate(x)?);
    sec1.extend(coordinate(y)?);
    let key = VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| Refusal::Key("not on the curve"))?;
    Ok((key, p256_thumbprint(x, y)))
}

/// `htu` against the request's URL (RFC 9449 §4.3 item 9): without query and fragment,
/// scheme and host compared without case (RFC 3986 §6.2.2.1).
fn same_url(htu: &str, url: &str) -> bool {
    let cut = |u: &str| -> String {
        let u = u.split(['?', '#']).next().unwrap_or_default();
        match u.find("://") {
            Some(i) => {
                let rest = &u[i + 3..];
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                format!(
                    "{}://{}{}",
                    u[..i].to_ascii_lowercase(),
                    authority.to_ascii_lowercase(),
                    if path.is_empty() { "/" } else { path }
                )
            }
            None => u.to_string(),
        }
    };
    cut(htu) == cut(url)
}

/// How long one server nonce is current, in seconds (RFC 9449 §8: the server decides). A
/// nonce is accepted while it is current and for one period after (see [`Nonces`]).
pub const NONCE_PERIOD: i64 = 120;

/// The server's DPoP nonces (RFC 9449 §8): derived from a server key and the period of the
/// server's clock, so they are unguessable without the key, rotate every [`NONCE_PERIOD`],
/// need no storage of their own, and stay the same across restarts and between instances
/// that share the key (it is kept in the store).
#[derive(Clone, Debug)]
pub struct Nonces {
    key: crate::secret::DerivationKey,
}

impl Nonces {
    /// The nonces derived from `key`.
    pub fn new(key: crate::secret::DerivationKey) -> Nonces {
        Nonces { key }
    }

    fn of_period(&self, period: i64) -> String {
        self.key
            .derive("tokenlife dpop nonce", period.to_string().as_bytes())
    }

    /// The nonce a response at `now` hands out.
    pub fn current(&self, now: i64) -> String {
        self.of_period(now.div_euclid(NONCE_PERIOD))
    }

    /// Whether a proof's `nonce` is accepted at `now`: the current one, or the one before
    /// (a client that got it just before it rotated is not refused for that).
    pub fn accepts(&self, nonce: Option<&str>, now: i64) -> bool {
        let Some(n) = nonce else {
            return false;
        };
        let period = now.div_euclid(NONCE_PERIOD);
        n == self.of_period(period) || n == self.of_period(period - 1)
    }
}

#[cfg(test)]
mod tests;
