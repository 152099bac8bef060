use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::SigningKey;
use serde_json::json;

use super::*;

fn key(seed: u8) -> SigningKey {
    let mut bytes = [7u8; 32];
    bytes[0] = seed;
    SigningKey::from_slice(&bytes).unwrap()
}

fn jwk(k: &SigningKey) -> Value {
    let point = k.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    })
}

/// A proof signed by `k` with `header` and `claims` as given.
fn sign(k: &SigningKey, header: &Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let sig: Signature = k.sign(format!("{h}.{c}").as_bytes());
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

const URL: &str = "https://as.example/token";

fn req() -> Request<'static> {
    Request {
        method: "POST",
        url: URL,
        now: 1_000_000,
        access_token: None,
        nonce: None,
    }
}

fn header(k: &SigningKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(k)})
}

fn claims() -> Value {
    json!({"jti": "j1", "htm": "POST", "htu": URL, "iat": 1_000_000})
}

#[test]
fn a_valid_proof_gives_its_keys_thumbprint_and_jti() {
    let k = key(1);
    let p = verify(&sign(&k, &header(&k), &claims()), &req()).unwrap();
    assert_eq!(p.jti, "j1");
    assert_eq!(p.jkt.len(), 43, "base64url of 32 bytes");
    // The same key, the same thumbprint; another key, another.
    let again = verify(&sign(&k, &header(&k), &claims()), &req()).unwrap();
    assert_eq!(again.jkt, p.jkt);
    let other = key(2);
    assert_ne!(
        verify(&sign(&other, &header(&other), &claims()), &req())
            .unwrap()
            .jkt,
        p.jkt
    );
    // htu compared without query, fragment, or the case of scheme and host.
    let mut c = claims();
    c["htu"] = json!("HTTPS://AS.example/token?x=1#f");
    assert!(verify(&sign(&k, &header(&k), &c), &req()).is_ok());
}

#[test]
fn every_check_of_rfc_9449_section_4_3_refuses_by_name() {
    let k = key(1);
    let ok_header = header(&k);
    let refused = |h: &Value, c: &Value, r: &Request<'_>| verify(&sign(&k, h, c), r).unwrap_err();
    let mut h = ok_header.clone();
    h["typ"] = json!("JWT");
    assert_eq!(refused(&h, &claims(), &req()), Refusal::Type);
    let mut h = ok_header.clone();
    h["alg"] = json!("HS256");
    assert_eq!(
        refused(&h, &claims(), &req()),
        Refusal::Algorithm("HS256".into())
    );
    let mut h = ok_header.clone();
    h["jwk"]["d"] = json!("private");
    assert!(matches!(refused(&h, &claims(), &req()), Refusal::Key(_)));
    let mut h = ok_header.clone();
    h["jwk"]["crv"] = json!("P-384");
    assert!(matches!(refused(&h, &claims(), &req()), Refusal::Key(_)));
    // Signed by another key than the one in the header.
    let other = key(2);
    assert_eq!(
        verify(&sign(&other, &ok_header, &claims()), &req()).unwrap_err(),
        Refusal::Signature
    );
    // Claims changed after signing.
    let good = sign(&k, &ok_header, &claims());
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = URL_SAFE_NO_PAD
        .encode(json!({"jti": "j1", "htm": "GET", "htu": URL, "iat": 1_000_000}).to_string());
    parts[1] = &forged;
    assert_eq!(
        verify(&parts.join("."), &req()).unwrap_err(),
        Refusal::Signature
    );
    for (name, value, why) in [
        ("htm", json!("GET"), Refusal::Method),
        ("htu", json!("https://as.example/other"), Refusal::Url),
        ("iat", json!(1_000_000 + IAT_WINDOW + 1), Refusal::Time),
        ("jti", json!(""), Refusal::Claim("jti")),
    ] {
        let mut c = claims();
        c[name] = value;
        assert_eq!(refused(&ok_header, &c, &req()), why, "{name}");
    }
    // A nonce the server asks for; an access token's hash at a resource.
    let with_nonce = Request {
        nonce: Some("n1"),
        ..req()
    };
    assert_eq!(refused(&ok_header, &claims(), &with_nonce), Refusal::Nonce);
    let mut c = claims();
    c["nonce"] = json!("n1");
    assert!(verify(&sign(&k, &ok_header, &c), &with_nonce).is_ok());
    let at_resource = Request {
        access_token: Some("AT"),
        ..req()
    };
    assert_eq!(
        refused(&ok_header, &claims(), &at_resource),
        Refusal::Claim("ath")
    );
    let mut c = claims();
    c["ath"] = json!(access_hash("another"));
    assert_eq!(refused(&ok_header, &c, &at_resource), Refusal::AccessHash);
    c["ath"] = json!(access_hash("AT"));
    assert!(verify(&sign(&k, &ok_header, &c), &at_resource).is_ok());
}

#[test]
fn a_malformed_proof_is_refused_without_a_panic() {
    for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"x".repeat(MAX_PROOF + 1)] {
        assert!(
            matches!(verify(junk, &req()), Err(Refusal::Malformed(_))),
            "{junk:.20}"
        );
    }
    let k = key(1);
    let good = sign(&k, &header(&k), &claims());
    let cut = &good[..good.len() - 10];
    assert_eq!(verify(cut, &req()).unwrap_err(), Refusal::Signature);
}

#[test]
fn the_access_token_hash_is_base64url_sha256() {
    // RFC 9449 §7.1's example access token and its `ath`.
    assert_eq!(
        access_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn the_thumbprint_is_rfc_7638s_of_the_rfc_9449_example_key() {
    // RFC 9449 §4.2's example proof key and the `jkt` its §6.1 example binds to it.
    let jwk = json!({
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256"
    });
    let (_, jkt) = public_key(&jwk).unwrap();
    assert_eq!(jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
}

#[test]
fn a_jti_is_accepted_once_per_key_while_its_proof_could_pass() {
    let proof = |jkt: &str, jti: &str| Proof {
        jkt: jkt.into(),
        jti: jti.into(),
        iat: 100,
        nonce: None,
        ath: None,
    };
    let mut cache = JtiCache::new(3);
    assert_eq!(cache.capacity(), 3);
    assert!(cache.record(&proof("k1", "j"), 100).is_ok());
    assert_eq!(
        cache.record(&proof("k1", "j"), 100 + IAT_WINDOW),
        Err(Refusal::Replay)
    );
    // Another key's proof with the same jti is another proof.
    assert!(cache.record(&proof("k2", "j"), 101).is_ok());
    // Once no proof with that iat could pass, the jti is forgotten.
    assert!(cache
        .record(&proof("k1", "j"), 100 + 2 * IAT_WINDOW)
        .is_ok());
    // Past the capacity the oldest goes first.
    let mut small = JtiCache::new(2);
    for j in ["a", "b", "c"] {
        assert!(small.record(&proof("k", j), 0).is_ok());
    }
    assert!(
        small.record(&proof("k", "a"), 0).is_ok(),
        "a was the oldest"
    );
    assert_eq!(small.record(&proof("k", "c"), 0), Err(Refusal::Replay));
}

#[test]
fn nonces_rotate_with_the_clock_and_the_previous_one_still_passes() {
    let key = crate::secret::DerivationKey::generate();
    let n = Nonces::new(key.clone());
    let t = 10 * NONCE_PERIOD;
    let first = n.current(t);
    assert_eq!(
        n.current(t + NONCE_PERIOD - 1),
        first,
        "one period, one nonce"
    );
    assert_eq!(first.len(), 43, "256 bits, base64url");
    let next = n.current(t + NONCE_PERIOD);
    assert_ne!(next, first);
    assert!(
        n.accepts(Some(&first), t + NONCE_PERIOD),
        "the previous one"
    );
    assert!(
        !n.accepts(Some(&first), t + 2 * NONCE_PERIOD),
        "older ones are not"
    );
    assert!(!n.accepts(None, t));
    assert!(!n.accepts(Some("guess"), t));
    // The same key (a restart reads it from the store) gives the same nonces; another key
    // other ones.
    assert_eq!(Nonces::new(key).current(t), first);
    let other = Nonces::new(crate::secret::DerivationKey::generate());
    assert_ne!(other.current(t), first);
}

#[test]
fn a_proof_hands_back_the_nonce_it_carried() {
    let k = key(1);
    let mut c = claims();
    c["nonce"] = json!("n-1");
    let p = verify(&sign(&k, &header(&k), &c), &req()).unwrap();
    assert_eq!(p.nonce.as_deref(), Some("n-1"));
    let p = verify(&sign(&k, &header(&k), &claims()), &req()).unwrap();
    assert_eq!(p.nonce, None);
    assert!(!p.ath_of("AT"));
    let mut c = claims();
    c["ath"] = json!(access_hash("AT"));
    let p = verify(&sign(&k, &header(&k), &c), &req()).unwrap();
    assert!(p.ath_of("AT"));
    assert!(!p.ath_of("another"));
}
