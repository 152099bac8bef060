//! The harness's DPoP proofs against the reference server's check: what one signs the
//! other accepts, bound to the same thumbprint, and a proof for another request, key or
//! moment is refused.

use tokenlife_harness::dpop::DpopKey;
use tokenlife_server::dpop::{verify, JtiCache, Refusal, Request};

const URL: &str = "http://127.0.0.1:8080/token";

fn request(now: i64) -> Request<'static> {
    Request {
        method: "POST",
        url: URL,
        now,
        access_token: None,
        nonce: None,
    }
}

#[test]
fn a_harness_proof_passes_the_servers_check_with_the_same_thumbprint() {
    let k = DpopKey::generate();
    let p = verify(&k.proof("POST", URL, 1_000, None, None), &request(1_010)).unwrap();
    assert_eq!(p.jkt, k.thumbprint());
    // Sent twice, it is a replay.
    let mut cache = JtiCache::new(16);
    assert!(cache.record(&p, 1_010).is_ok());
    assert_eq!(cache.record(&p, 1_011), Err(Refusal::Replay));
    // At a resource with the access token's hash, and with the server's nonce.
    let at_resource = Request {
        method: "GET",
        url: "http://127.0.0.1:8080/resource",
        access_token: Some("AT-value"),
        nonce: Some("n-1"),
        now: 1_000,
    };
    let proof = k.proof(
        "GET",
        "http://127.0.0.1:8080/resource?x=1",
        1_000,
        Some("n-1"),
        Some("AT-value"),
    );
    assert!(verify(&proof, &at_resource).is_ok());
}

#[test]
fn a_proof_for_another_request_or_moment_is_refused() {
    let k = DpopKey::generate();
    let late = verify(&k.proof("POST", URL, 1_000, None, None), &request(2_000));
    assert_eq!(late.unwrap_err(), Refusal::Time);
    let elsewhere = verify(
        &k.proof("POST", "http://127.0.0.1:8080/revoke", 1_000, None, None),
        &request(1_000),
    );
    assert_eq!(elsewhere.unwrap_err(), Refusal::Url);
    let wrong_method = verify(&k.proof("GET", URL, 1_000, None, None), &request(1_000));
    assert_eq!(wrong_method.unwrap_err(), Refusal::Method);
    // Another key's proof is valid, but not for a token bound to this one.
    let other = DpopKey::generate();
    let p = verify(
        &other.proof("POST", URL, 1_000, None, None),
        &request(1_000),
    )
    .unwrap();
    assert_ne!(p.jkt, k.thumbprint());
}
