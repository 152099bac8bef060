//! DPoP in a run (RFC 9449): the keys of the target's DPoP clients, the proof each token
//! request and resource call carries, the server's nonce (followed once per request), and
//! the faulty proofs of `Action::Unproven`.
//!
//! A client's refresh with another key moves its new access token to that key (RFC 9449 §5:
//! a confidential client's refresh token is not bound); the harness remembers which key an
//! access token is bound to by a hash of its value, never the value.
//!
//! Proofs are timed by the wall clock: a proof's freshness (`iat`, the `jti` window) is
//! about the network exchange, not about the token lifetimes a test clock moves.
//!
//! Clauses: RFC 9449 §4.2 (the proof), §5 (token requests), §7.1 (the resource), §8
//! (nonces), §11.1 (replay).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokenlife_model::dpop::ProofFault;
use tokenlife_model::ClientType;

use crate::dpop::DpopKey;
use crate::http::{Request, Response};
use crate::secret::Secret;
use crate::target::Target;

/// The DPoP side of a harness: one key per DPoP client type, the latest nonce, the last
/// proof each client sent to the token endpoint (to replay it), and the keys access tokens
/// moved to.
#[derive(Debug, Default)]
pub(crate) struct Proofs {
    keys: HashMap<ClientType, DpopKey>,
    nonce: Mutex<Option<String>>,
    last: Mutex<HashMap<ClientType, String>>,
    moved: Mutex<HashMap<[u8; 32], DpopKey>>,
}

/// How a token request proves possession.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proving {
    /// The client's own key (none for a bearer client).
    Own,
    /// A key of its own (the attacker; another key for `Unproven`): the new access token,
    /// if any, is bound to it.
    Fresh,
    /// A faulty proof.
    Fault(ProofFault),
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Proofs {
    /// A key for each client of `target` that declares `dpop = true`.
    pub(crate) fn for_target(target: &Target) -> Proofs {
        let keys = target
            .clients
            .iter()
            .filter(|c| c.dpop)
            .map(|c| (c.client_type(), DpopKey::generate()))
            .collect();
        Proofs {
            keys,
            ..Proofs::default()
        }
    }

    /// Whether `client` proves possession of a key.
    pub(crate) fn uses(&self, client: ClientType) -> bool {
        self.keys.contains_key(&client)
    }

    fn nonce(&self) -> Option<String> {
        self.nonce.lock().ok().and_then(|n| n.clone())
    }

    /// Keeps the nonce a response hands out (RFC 9449 §8: `DPoP-Nonce`).
    pub(crate) fn learn(&self, r: &Response) {
        if let Some(n) = r.header("dpop-nonce").filter(|n| !n.is_empty()) {
            if let Ok(mut slot) = self.nonce.lock() {
                *slot = Some(n.to_string());
            }
        }
    }

    /// The token request `req` of `client`, proving possession as `how`; the key a new
    /// access token will be bound to, when it is not the client's own.
    pub(crate) fn token_request(
        &self,
        req: Request,
        client: ClientType,
        how: Proving,
    ) -> (Request, Option<DpopKey>) {
        let Some(own) = self.keys.get(&client) else {
            return (req, None);
        };
        let method = req.method.as_str().to_string();
        let sign =
            |k: &DpopKey, nonce: Option<&str>| k.proof(&method, &req.url, now(), nonce, None);
        let nonce = self.nonce();
        let (proof, fresh) = match how {
            Proving::Own => (Some(sign(own, nonce.as_deref())), None),
            Proving::Fresh | Proving::Fault(ProofFault::OtherKey) => {
                let k = DpopKey::generate();
                (Some(sign(&k, nonce.as_deref())), Some(k))
            }
            Proving::Fault(ProofFault::NoProof) => (None, None),
            Proving::Fault(ProofFault::NoNonce) => (Some(sign(own, None)), None),
            Proving::Fault(ProofFault::Replayed) => {
                let last = self.last.lock().ok().and_then(|l| l.get(&client).cloned());
                (
                    Some(last.unwrap_or_else(|| sign(own, nonce.as_deref()))),
                    None,
                )
            }
            Proving::Fault(ProofFault::WrongAth) => (Some(sign(own, nonce.as_deref())), None),
        };
        let Some(proof) = proof else {
            return (req, None);
        };
        (req.header("dpop", proof), fresh)
    }

    /// Remembers the proof of `req`, a token request of `client` proving possession as
    /// `how`, as the one a replay sends again, when the server accepted it (`r` is a 200).
    /// Only then is its `jti` surely seen: a server may record a `jti` only once the request
    /// passed its token checks (node-oidc-provider does), and a proof remembered when it is
    /// signed could be "replayed" by a concurrent sequence before its own request went out,
    /// which then looks like the replay.
    pub(crate) fn accepted(&self, client: ClientType, req: &Request, r: &Response, how: Proving) {
        if how != Proving::Own || r.status != 200 {
            return;
        }
        let proof = req
            .headers
            .iter()
            .find(|(n, _)| n == "dpop")
            .map(|(_, v)| v);
        if let (Some(proof), Ok(mut last)) = (proof, self.last.lock()) {
            last.insert(client, proof.clone());
        }
    }

    /// Whether `r` is a nonce challenge the request should be sent again for (once, with the
    /// nonce it carries): never for a request that was to go without the nonce.
    pub(crate) fn challenged(&self, r: &Response, how: Proving) -> bool {
        self.learn(r);
        r.status == 400
            && how != Proving::Fault(ProofFault::NoNonce)
            && r.json_object()
                .ok()
                .and_then(|o| o.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .as_deref()
                == Some("use_dpop_nonce")
            && r.header("dpop-nonce").is_some()
    }

    /// Remembers that the access token in token response `r` is bound to `key`.
    pub(crate) fn moved_to(&self, r: &Response, key: DpopKey) {
        let token = r
            .json_object()
            .ok()
            .and_then(|o| o.get("access_token").and_then(|v| v.as_str()).map(digest));
        if let (Some(d), Ok(mut moved)) = (token, self.moved.lock()) {
            moved.insert(d, key);
        }
    }

    /// The call to `url` with access token `at` of `client`, proving possession as `fault`
    /// says (`None`: correctly); a bearer call for a client without a key.
    pub(crate) fn resource(
        &self,
        url: &str,
        at: &Secret,
        client: ClientType,
        fault: Option<ProofFault>,
    ) -> Request {
        let Some(own) = self.keys.get(&client) else {
            return crate::request::resource(url, at);
        };
        if fault == Some(ProofFault::NoProof) {
            return crate::request::resource(url, at);
        }
        let moved = self
            .moved
            .lock()
            .ok()
            .and_then(|m| m.get(&digest(at.expose())).cloned());
        let key = match (fault, moved) {
            (Some(ProofFault::OtherKey), _) => DpopKey::generate(),
            (_, Some(k)) => k,
            _ => own.clone(),
        };
        let ath_of = if fault == Some(ProofFault::WrongAth) {
            format!("{}x", at.expose())
        } else {
            at.expose().to_string()
        };
        let proof = key.proof("GET", url, now(), None, Some(&ath_of));
        Request::get(url)
            .header("authorization", format!("DPoP {}", at.expose()))
            .header("dpop", proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proofs() -> Proofs {
        Proofs {
            keys: HashMap::from([(ClientType::Public, DpopKey::generate())]),
            ..Proofs::default()
        }
    }

    fn proof_of(req: &Request) -> Option<String> {
        req.headers
            .iter()
            .find(|(n, _)| n == "dpop")
            .map(|(_, v)| v.clone())
    }

    fn answer(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    // A replay sends again only a proof whose request the server accepted: one merely
    // signed (its request maybe not sent yet, by another sequence) or refused is not it.
    #[test]
    fn a_replay_sends_the_proof_of_an_accepted_request_only() {
        let p = proofs();
        let req = Request::post_form("http://as.test/token", Vec::new());
        let replay = |p: &Proofs| {
            let (r, _) = p.token_request(
                req.clone(),
                ClientType::Public,
                Proving::Fault(ProofFault::Replayed),
            );
            proof_of(&r)
        };
        let (signed, _) = p.token_request(req.clone(), ClientType::Public, Proving::Own);
        let own = proof_of(&signed);
        assert!(own.is_some());
        assert_ne!(replay(&p), own, "a proof only signed is not replayed");
        p.accepted(ClientType::Public, &signed, &answer(400), Proving::Own);
        assert_ne!(replay(&p), own, "a refused request's proof is not replayed");
        let (other, _) = p.token_request(req.clone(), ClientType::Public, Proving::Fresh);
        p.accepted(ClientType::Public, &other, &answer(200), Proving::Fresh);
        assert_ne!(
            replay(&p),
            proof_of(&other),
            "another key's proof is not the client's"
        );
        p.accepted(ClientType::Public, &signed, &answer(200), Proving::Own);
        assert_eq!(replay(&p), own);
    }
}
