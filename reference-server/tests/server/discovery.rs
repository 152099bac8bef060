//! RFC 8414 metadata.

use crate::common::*;

#[tokio::test]
async fn metadata_lists_endpoints_grants_pkce_and_scopes() {
    let s = Srv::new(profile("bcp")).await;
    let r = s.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["issuer"], "http://issuer.test");
    assert_eq!(v["token_endpoint"], "http://issuer.test/token");
    assert_eq!(v["authorization_endpoint"], "http://issuer.test/authorize");
    assert_eq!(v["revocation_endpoint"], "http://issuer.test/revoke");
    assert_eq!(v["introspection_endpoint"], "http://issuer.test/introspect");
    let grants = v["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == "refresh_token"));
    assert!(grants.iter().any(|g| g == "authorization_code"));
    assert_eq!(
        v["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let scopes = v["scopes_supported"].as_array().unwrap();
    assert!(scopes.iter().any(|g| g == "offline_access"));
    let auth = v["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert_eq!(auth.len(), 3);
    // No OpenID Connect metadata until the server speaks OpenID Connect.
    assert_eq!(s.get("/.well-known/openid-configuration").await.status, 404);
}
