//! A hostile server (the fixture of `proxy`): one that never answers, one that echoes every
//! credential and token back in its bodies and headers, and one whose discovery metadata
//! points at another host. Whatever it does, the run ends (within `--max-time`, or sooner by
//! the circuit breaker) with a report marked partial, no secret of the target file and no
//! token reaches anything the run writes, and no credential goes to a host the target file
//! did not allow.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::Method;
use base64::Engine as _;
use tokenlife_harness::guard::Guard;
use tokenlife_harness::http::HttpConfig;
use tokenlife_harness::target::IntrospectionClient;
use tokenlife_harness::{Report, RunOptions, Secret};
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::common::shipped;
use crate::proxy::{behind_proxy, behind_with};

fn stall_token(m: &Method, path: &str) -> bool {
    m == Method::POST && path.ends_with("/token")
}

fn stall_nothing(_: &Method, _: &str) -> bool {
    false
}

/// A whole default run (every scenario, the exhaustive sequences to depth 4, 32 random
/// cases) under `guard`, with a 1 s timeout, against a token endpoint that never answers.
async fn never_answering(guard: Guard) -> Report {
    let (server, target, _proxy) =
        behind_proxy(Policy::default(), Defects::none(), stall_token, false).await;
    let options = RunOptions {
        http: HttpConfig {
            timeout: Duration::from_secs(1),
            guard,
            ..HttpConfig::default()
        },
        depth: 4,
        cases: 32,
        random_len: 8,
        ..RunOptions::default()
    };
    // A hang guard only, far above what the run should take: the assertions are on what
    // the report says.
    let set = shipped();
    let run = tokenlife_harness::run(target, &set, options, None);
    let r = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the run against a silent token endpoint did not end")
        .unwrap();
    server.shutdown().await;
    r
}

#[tokio::test]
async fn the_circuit_breaker_ends_a_run_against_a_silent_token_endpoint() {
    let r = never_answering(Guard::new(None, Some(5))).await;
    let human = r.human();
    let partial = r.partial.clone().expect("not marked partial");
    assert!(partial.contains("circuit breaker"), "{partial}");
    assert!(
        partial.contains("5 requests in a row") && partial.contains("/token"),
        "{partial}"
    );
    assert!(r.failures.is_empty(), "{human}");
    assert!(r.interrupted(), "{human}");
    assert!(human.contains("PARTIAL REPORT"), "{human}");
    // Nothing was started after the breaker opened: no generated sequence ran.
    assert!(
        r.scenarios
            .iter()
            .all(|s| !s.name.starts_with("exhaustive")),
        "{human}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["partial"]
        .as_str()
        .unwrap()
        .contains("circuit breaker"));
    let junit = tokenlife_harness::export::junit(&r);
    assert!(junit.contains("name=\"partial run\""), "{junit}");
}

#[tokio::test]
async fn max_time_ends_a_run_against_a_silent_token_endpoint() {
    // No breaker: only the deadline stops it.
    let r = never_answering(Guard::new(Some(Duration::from_secs(4)), None)).await;
    let human = r.human();
    let partial = r.partial.clone().expect("not marked partial");
    assert!(partial.contains("--max-time of 4 s"), "{partial}");
    assert!(r.failures.is_empty(), "{human}");
    assert!(r.interrupted(), "{human}");
    let md = tokenlife_harness::export::markdown(&r);
    assert!(md.contains("**Partial report:**"), "{md}");
}

const CONFIDENTIAL_SECRET: &str = "Conf+Secret/With Space=1";
const INTROSPECTION_ID: &str = "resource server";
const INTROSPECTION_SECRET: &str = "Intro+Secret/2 x?&=";

/// Every form of a client secret that must never appear in an output.
fn secret_forms(id: &str, secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let form = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let component = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    vec![
        secret.to_string(),
        form(secret),
        component(secret),
        b64.encode(format!("{id}:{secret}")),
        b64.encode(format!("{}:{}", form(id), form(secret))),
    ]
}

/// A run against a server that echoes every request's `Authorization` header and body into
/// its answers (headers, error codes, a non-JSON introspection body cut at 60 characters):
/// no secret the target file names, in any form, and no token the server issued, nor a
/// prefix of one, is in stdout (human or JSON), report.json, junit.xml or report.md.
#[tokio::test]
async fn an_echoing_server_gets_no_secret_or_token_into_any_output() {
    let (server, mut target, proxy) = behind_with(
        Policy::default(),
        Defects::none(),
        stall_nothing,
        false,
        false,
        |config| {
            config.clients[0].secret = Some(Secret::new(CONFIDENTIAL_SECRET));
            let mut rs = config.clients[0].clone();
            rs.id = INTROSPECTION_ID.into();
            rs.secret = Some(Secret::new(INTROSPECTION_SECRET));
            config.clients.push(rs);
        },
    )
    .await;
    target.clients[0].secret = Some(Secret::new(CONFIDENTIAL_SECRET));
    target.introspection = Some(IntrospectionClient {
        client_id: INTROSPECTION_ID.into(),
        client_secret: Some(Secret::new(INTROSPECTION_SECRET)),
    });
    let confidential = target.clients[0].id.clone();
    proxy.echo.store(true, Ordering::SeqCst);
    let options = RunOptions {
        http: HttpConfig {
            timeout: Duration::from_secs(5),
            ..HttpConfig::default()
        },
        only: vec![
            "ten-step-flow".into(),
            "introspect-dead-tokens".into(),
            "revoke-refresh-token".into(),
            "refresh-without-client-auth".into(),
        ],
        depth: 2,
        ..RunOptions::default()
    };
    let r = tokenlife_harness::run(target, &shipped(), options, None)
        .await
        .unwrap();
    server.shutdown().await;
    let dir = tempfile::tempdir().unwrap();
    tokenlife_harness::export::write_dir(&r, dir.path()).unwrap();
    let mut outputs = vec![
        ("stdout (human)".to_string(), r.human()),
        (
            "stdout (json)".to_string(),
            serde_json::to_string_pretty(&r).unwrap(),
        ),
    ];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        outputs.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    assert!(outputs.len() >= 5, "report.json, junit.xml, report.md");
    let mut forbidden = secret_forms(&confidential, CONFIDENTIAL_SECRET);
    forbidden.extend(secret_forms(INTROSPECTION_ID, INTROSPECTION_SECRET));
    let issued = proxy.issued.lock().unwrap().clone();
    assert!(
        issued.len() > 4,
        "the server issued tokens: {}",
        issued.len()
    );
    for t in &issued {
        forbidden.push(t.clone());
        // A prefix is a leak too (a cut before the redaction).
        forbidden.push(t.chars().take(12).collect());
    }
    // The echo did reach the report (as the redacted labels), so the scan means something.
    let all: String = outputs.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        all.contains("<secret of "),
        "the echo never reached a report"
    );
    for (name, text) in &outputs {
        for f in &forbidden {
            assert!(!text.contains(f.as_str()), "{name} holds `{f}`");
        }
    }
}

/// The metadata of a loopback issuer names its endpoints on another host (`localhost`, the
/// same machine under another name): refused, naming the endpoint, the host and the way to
/// allow it; allowed by `allowed_hosts` or by naming the endpoints in the target file, and
/// then the report names the other host as one that received credentials.
#[tokio::test]
async fn discovered_endpoints_on_another_host_are_refused_unless_allowed() {
    let (server, target, proxy) =
        behind_proxy(Policy::default(), Defects::none(), stall_nothing, false).await;
    let port = reqwest::Url::parse(target.issuer.as_deref().unwrap())
        .unwrap()
        .port()
        .unwrap();
    *proxy.foreign_host.lock().unwrap() = Some(format!("localhost:{port}"));
    let options = || RunOptions {
        only: vec!["ten-step-flow".into()],
        skip: vec!["client-authentication".into()],
        ..RunOptions::default()
    };
    let e = tokenlife_harness::run(target.clone(), &shipped(), options(), None)
        .await
        .unwrap_err();
    assert!(
        !e.is_unreachable(),
        "a bad target, not an unreachable one: {e}"
    );
    let m = e.to_string();
    for words in [
        "authorization_endpoint",
        &format!("http://localhost:{port}/authorize"),
        "host `localhost`",
        "allowed_hosts = [\"localhost\"]",
    ] {
        assert!(m.contains(words), "no `{words}` in: {m}");
    }
    // Allowed by the target file: the run goes there, and the report says so.
    let mut allowed = target.clone();
    allowed.allowed_hosts = vec!["localhost".into()];
    let r = tokenlife_harness::run(allowed, &shipped(), options(), None)
        .await
        .unwrap();
    assert!(r.conformant() && !r.interrupted(), "{}", r.human());
    let foreign = format!("http://localhost:{port}");
    assert!(
        r.credentials_sent_to.contains(&foreign),
        "{:?}",
        r.credentials_sent_to
    );
    assert!(r.human().contains(&foreign), "{}", r.human());
    // Named in the target file: its own choice, no host check.
    let mut named = target;
    named.endpoints.authorization = Some(format!("{foreign}/authorize"));
    named.endpoints.token = Some(format!("{foreign}/token"));
    named.endpoints.revocation = Some(format!("{foreign}/revoke"));
    let e = tokenlife_harness::run(named.clone(), &shipped(), options(), None)
        .await
        .unwrap_err();
    // The one endpoint still discovered is refused alone.
    assert!(e.to_string().contains("introspection_endpoint"), "{e}");
    named.endpoints.introspection = Some(format!("{foreign}/introspect"));
    let r = tokenlife_harness::run(named, &shipped(), options(), None)
        .await
        .unwrap();
    assert!(r.conformant(), "{}", r.human());
    server.shutdown().await;
}
