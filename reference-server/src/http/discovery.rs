//! `GET /.well-known/oauth-authorization-server`: RFC 8414 §2 / §3 metadata.
//!
//! OpenID Connect discovery is deliberately absent until the server speaks OpenID Connect.
//! RFC 9449 §5.1's `dpop_signing_alg_values_supported` is there when a client type uses DPoP.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::scope::OFFLINE_ACCESS;
use crate::state::AppState;

pub(super) async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let base = state.issuer();
    let mut scopes: BTreeSet<&str> = state.clients().flat_map(|c| c.scope.iter()).collect();
    scopes.insert(OFFLINE_ACCESS);
    let auth = ["client_secret_basic", "client_secret_post", "none"];
    let mut metadata = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "introspection_endpoint": format!("{base}/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth,
        "revocation_endpoint_auth_methods_supported": auth,
        "introspection_endpoint_auth_methods_supported": auth,
        "scopes_supported": scopes,
    });
    // RFC 9449 §5.1: the proof algorithms, when some client type uses DPoP.
    if state.policy().any_dpop() {
        metadata["dpop_signing_alg_values_supported"] = json!(["ES256"]);
    }
    Json(metadata)
}
