//! Fixtures: the reference server in process (`tokenlife_server::Embedded`: test clock,
//! SQLite file, restartable) as a harness target, and a runner for the shipped scenarios.

use std::sync::Arc;

use tokenlife_harness::scenario::ScenarioSet;
use tokenlife_harness::session::{BoxFuture, Control};
use tokenlife_harness::target::{reference_target, AuthMethod, ClientConfig};
use tokenlife_harness::{Report, RunOptions, Secret};
use tokenlife_model::Policy;
use tokenlife_server::{Defect, Defects};

pub const REDIRECT: &str = "http://127.0.0.1/cb";

/// The server's own embedded set-up, with the harness's `Control` over its restarts.
pub struct Embedded(pub tokenlife_server::Embedded);

impl Embedded {
    pub async fn start(policy: Policy, defects: Defects) -> Arc<Embedded> {
        let server = tokenlife_server::Embedded::start(policy, defects)
            .await
            .unwrap();
        Arc::new(Embedded(server))
    }

    pub fn clients() -> Vec<ClientConfig> {
        let scope: Vec<String> = "openid offline_access read write"
            .split(' ')
            .map(String::from)
            .collect();
        vec![
            ClientConfig {
                id: "demo-confidential".into(),
                secret: Some(Secret::new("demo-secret")),
                auth: AuthMethod::ClientSecretBasic,
                redirect_uri: format!("{REDIRECT}/cb").replace("/cb/cb", "/cb"),
                scope: scope.clone(),
                dpop: false,
            },
            ClientConfig {
                id: "demo-public".into(),
                secret: None,
                auth: AuthMethod::None,
                redirect_uri: REDIRECT.into(),
                scope,
                dpop: false,
            },
        ]
    }
}

impl Control for Embedded {
    fn restart(&self) -> BoxFuture<'_, Result<Option<(String, String)>, String>> {
        Box::pin(async move { self.0.restart().await.map_err(|e| e.to_string()) })
    }
}

/// The reference server on its wall clock (no test clock) under `policy`, and its target
/// on a real clock with a skew of 1 s.
pub async fn wall_clock_server(
    policy: Policy,
) -> (tokenlife_server::RunningServer, tokenlife_harness::Target) {
    let mut config = tokenlife_server::ServerConfig::demo("127.0.0.1:0".parse().unwrap());
    config.clients = tokenlife_server::config::demo_clients("http://127.0.0.1");
    config.policy = policy.clone();
    config.demo = false;
    let server = tokenlife_server::start(config).await.unwrap();
    let mut target = reference_target(server.url(), Embedded::clients(), policy);
    target.clock = tokenlife_harness::target::ClockConfig::Real {
        skew: tokenlife_model::policy::Seconds(1),
    };
    (server, target)
}

/// Runs `set` against a fresh reference server under `policy` with `defects`.
pub async fn run_with(policy: Policy, defects: Defects, set: &ScenarioSet) -> Report {
    run_opts(policy, defects, set, RunOptions::default()).await
}

/// `run_with` with options.
pub async fn run_opts(
    policy: Policy,
    defects: Defects,
    set: &ScenarioSet,
    options: RunOptions,
) -> Report {
    let server = Embedded::start(policy.clone(), defects).await;
    let target = reference_target(server.0.url(), Embedded::clients(), policy);
    let control: Arc<dyn Control> = server.clone();
    let report = tokenlife_harness::run(target, set, options, Some(control))
        .await
        .unwrap();
    server.0.stop().await;
    report
}

pub fn shipped() -> ScenarioSet {
    tokenlife_harness::builtin::scenarios().unwrap()
}

pub async fn run_defect(profile: &str, d: Defect) -> Report {
    run_with(
        Policy::profile(profile).unwrap(),
        Defects::from(d),
        &shipped(),
    )
    .await
}

/// The ids of the failed checks.
pub fn failed_ids(r: &Report) -> Vec<String> {
    r.failures.iter().map(|f| f.id.clone()).collect()
}

/// The reference server (test clock, in-memory store) with the demo clients registered for
/// other scopes, `[confidential, public]`, and the target that describes it: both sides
/// register the same scopes, as a real server's administrator and its target file would.
pub async fn start_registered(
    policy: Policy,
    scopes: [&str; 2],
) -> (tokenlife_server::RunningServer, tokenlife_harness::Target) {
    start_registered_with(policy, scopes, Defects::none()).await
}

/// [`start_registered`] with `defects` injected.
pub async fn start_registered_with(
    policy: Policy,
    scopes: [&str; 2],
    defects: Defects,
) -> (tokenlife_server::RunningServer, tokenlife_harness::Target) {
    let mut config = tokenlife_server::ServerConfig::demo("127.0.0.1:0".parse().unwrap());
    config.clients = tokenlife_server::config::demo_clients("http://127.0.0.1");
    for (c, scope) in config.clients.iter_mut().zip(scopes) {
        c.scope = tokenlife_server::scope::Scope::parse(scope).unwrap();
    }
    config.policy = policy.clone();
    config.test_clock = true;
    config.demo = false;
    config.defects = defects;
    let server = tokenlife_server::start(config).await.unwrap();
    let mut clients = Embedded::clients();
    for (c, scope) in clients.iter_mut().zip(scopes) {
        c.scope = scope.split(' ').map(String::from).collect();
    }
    let target = reference_target(server.url(), clients, policy);
    (server, target)
}
