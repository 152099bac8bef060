//! Fixtures: the reference server in process (test clock, SQLite file, restartable) as a
//! harness target, and a runner for the shipped scenarios.

use std::net::SocketAddr;
use std::sync::Arc;

use tokenlife_harness::scenario::ScenarioSet;
use tokenlife_harness::session::{BoxFuture, Control};
use tokenlife_harness::target::{reference_target, AuthMethod, ClientConfig};
use tokenlife_harness::{Report, RunOptions, Secret};
use tokenlife_model::Policy;
use tokenlife_server::{start, Defect, Defects, RunningServer, ServerConfig};
use tokio::sync::Mutex;

pub const REDIRECT: &str = "http://127.0.0.1/cb";

/// The reference server, restartable on its SQLite file.
pub struct Embedded {
    pub config: ServerConfig,
    pub server: Mutex<Option<RunningServer>>,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Embedded {
    pub async fn start(policy: Policy, defects: Defects) -> Arc<Embedded> {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tokenlife.db");
        let mut config = ServerConfig::demo("127.0.0.1:0".parse::<SocketAddr>().unwrap());
        config.clients = tokenlife_server::config::demo_clients("http://127.0.0.1");
        config.database = format!("sqlite:{}", db.display());
        config.policy = policy;
        config.defects = defects;
        config.test_clock = true;
        config.demo = false;
        let server = start(config.clone()).await.unwrap();
        let url = server.url().to_string();
        Arc::new(Embedded {
            config,
            server: Mutex::new(Some(server)),
            url,
            _dir: dir,
        })
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
            },
            ClientConfig {
                id: "demo-public".into(),
                secret: None,
                auth: AuthMethod::None,
                redirect_uri: REDIRECT.into(),
                scope,
            },
        ]
    }

    pub async fn stop(&self) {
        if let Some(s) = self.server.lock().await.take() {
            s.shutdown().await;
        }
    }
}

impl Control for Embedded {
    fn restart(&self) -> BoxFuture<'_, Result<Option<(String, String)>, String>> {
        Box::pin(async move {
            let mut guard = self.server.lock().await;
            let old = guard.take().ok_or("the server is not running")?;
            let (addr, old_url) = (old.local_addr(), old.url().to_string());
            old.shutdown().await;
            let mut cfg = self.config.clone();
            cfg.bind = addr;
            let new = match start(cfg.clone()).await {
                Ok(s) => s,
                Err(_) => {
                    cfg.bind = "127.0.0.1:0"
                        .parse::<SocketAddr>()
                        .map_err(|e| e.to_string())?;
                    start(cfg).await.map_err(|e| e.to_string())?
                }
            };
            let new_url = new.url().to_string();
            *guard = Some(new);
            Ok((new_url != old_url).then_some((old_url, new_url)))
        })
    }
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
    let target = reference_target(&server.url, Embedded::clients(), policy);
    let control: Arc<dyn Control> = server.clone();
    let report = tokenlife_harness::run(target, set, options, Some(control))
        .await
        .unwrap();
    server.stop().await;
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
