//! Probes outside the model: single requests whose answer an RFC fixes whatever the
//! policy, run once per target before the scenarios.
//!
//! - Client authentication (RFC 6749 §5.2): a confidential client that authenticates with
//!   HTTP Basic and a wrong secret gets 401 `invalid_client` with a `WWW-Authenticate`
//!   challenge for the scheme it used; one that sends a wrong secret in the body gets
//!   `invalid_client` (400 or 401).

use crate::checks::{self, Verdict};
use crate::discovery::Endpoints;
use crate::http::Http;
use crate::report::{Evaluation, Interruption, ScenarioResult, ScenarioStatus};
use crate::request::{self, Credentials};
use crate::secret::Secret;
use crate::target::{AuthMethod, Target};

/// A refresh token no server issued (the probe must fail on the client, not the grant).
const UNKNOWN_RT: &str = "tokenlife-probe-unknown-refresh-token";

/// What the probe found wrong, if anything.
fn judge(status: u16, error: Option<&str>, challenge: Option<&str>, basic: bool) -> Option<String> {
    let mut wrong = Vec::new();
    if error != Some("invalid_client") {
        wrong.push(format!(
            "error {} instead of invalid_client",
            error.map_or_else(|| "(none)".to_string(), |e| format!("`{e}`"))
        ));
    }
    if basic {
        if status != 401 {
            wrong.push(format!("status {status} instead of 401"));
        }
        match challenge {
            None => wrong.push("no WWW-Authenticate header".into()),
            Some(c) if !c.trim_start().to_ascii_lowercase().starts_with("basic") => {
                wrong.push(format!(
                    "WWW-Authenticate `{c}` does not challenge the Basic scheme the client used"
                ))
            }
            Some(_) => {}
        }
    } else if status != 400 && status != 401 {
        wrong.push(format!("status {status} instead of 400 or 401"));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// Sends a refresh with a wrong client secret, by the first confidential client's method.
/// `None` when the target has no confidential client.
pub async fn client_authentication(
    http: &Http,
    endpoints: &Endpoints,
    target: &Target,
    fail_on_should: bool,
) -> Option<ScenarioResult> {
    let client = target.clients.iter().find(|c| c.secret.is_some())?;
    let basic = client.auth == AuthMethod::ClientSecretBasic;
    let wrong = Secret::new("tokenlife-probe-wrong-secret");
    let creds = if basic {
        Credentials::Basic(&client.id, Some(&wrong))
    } else {
        Credentials::Post(&client.id, &wrong)
    };
    let req = request::refresh(&endpoints.token, UNKNOWN_RT, None, creds);
    let how = if basic {
        "HTTP Basic"
    } else {
        "the request body"
    };
    let c = checks::TOKEN_INVALID_CLIENT;
    let line = |answer: &str| {
        format!(
            "1. {} refreshes with a wrong client secret over {how} → {answer}",
            client.id
        )
    };
    let (verdict, message, answer) = match http.send(&req).await {
        Err(e) if e.is_infrastructure() => {
            // No answer is no verdict: the probe is not tested.
            let mut r = ScenarioResult::new("client-authentication", "(probe)");
            let trace = vec![line(&format!("no answer: {e}"))];
            r.status = ScenarioStatus::Interrupted;
            r.reason = Some(format!("infrastructure problem at step 1: {e}"));
            r.steps_run = 1;
            r.transcript = trace.clone();
            r.infrastructure.push(Interruption {
                scenario: r.name.clone(),
                step: 1,
                requests: 1,
                message: e.to_string(),
                trace,
            });
            return Some(r);
        }
        Err(e) => (Verdict::Failed, Some(e.to_string()), e.to_string()),
        Ok(r) => {
            let error = r
                .json_object()
                .ok()
                .and_then(|o| o.get("error").and_then(|e| e.as_str()).map(String::from));
            let challenge = r.header("www-authenticate");
            let answer = format!(
                "{} {}",
                r.status,
                error.as_deref().unwrap_or("(no error code)")
            );
            match judge(r.status, error.as_deref(), challenge, basic) {
                None => (Verdict::Passed, None, answer),
                Some(w) => (
                    c.verdict_on_divergence(fail_on_should),
                    Some(format!(
                        "{} refreshed with a wrong secret over {how}: {w}",
                        client.id
                    )),
                    answer,
                ),
            }
        }
    };
    Some(ScenarioResult::single(
        "client-authentication",
        "(probe)",
        line(&answer),
        Evaluation::new(c, verdict, 1, message),
    ))
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn basic_needs_401_and_a_basic_challenge() {
        assert_eq!(
            judge(401, Some("invalid_client"), Some("Basic realm=\"x\""), true),
            None
        );
        assert!(judge(400, Some("invalid_client"), Some("Basic"), true)
            .unwrap()
            .contains("status 400"));
        assert!(judge(401, Some("invalid_client"), None, true)
            .unwrap()
            .contains("no WWW-Authenticate"));
        assert!(judge(401, Some("invalid_client"), Some("Bearer"), true)
            .unwrap()
            .contains("Basic scheme"));
        assert!(judge(400, Some("invalid_grant"), None, true)
            .unwrap()
            .contains("`invalid_grant`"));
    }

    #[test]
    fn a_secret_in_the_body_may_get_400_or_401() {
        assert_eq!(judge(400, Some("invalid_client"), None, false), None);
        assert_eq!(judge(401, Some("invalid_client"), None, false), None);
        assert!(judge(500, None, None, false).is_some());
    }
}
