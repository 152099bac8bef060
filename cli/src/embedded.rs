//! The embedded reference server as the harness sees it: the server crate's
//! [`tokenlife_server::Embedded`] (in process, temporary SQLite file, frozen test clock)
//! described as a harness [`Target`] and restarted through the harness's [`Control`]; and
//! the default suite run against it, for `run`, `mutants` and `bench harness`.

use std::sync::Arc;

use tokenlife_harness::scenario::ScenarioSet;
use tokenlife_harness::session::{BoxFuture, Control};
use tokenlife_harness::target::{reference_target, AuthMethod, ClientConfig};
use tokenlife_harness::{Report, RunOptions, Secret, Target};
use tokenlife_model::Policy;
use tokenlife_server::config::{
    DEMO_CONFIDENTIAL_ID, DEMO_CONFIDENTIAL_SECRET, DEMO_PUBLIC_ID, DEMO_SCOPE,
};
use tokenlife_server::embedded::EMBEDDED_REDIRECT_BASE;
use tokenlife_server::{Defects, EmbeddedError};

use crate::outcome::Failure;

/// The reference server in process, restartable on its SQLite file.
#[derive(Debug)]
pub struct Embedded(tokenlife_server::Embedded);

impl Embedded {
    /// Starts the server under `policy` with `defects`.
    pub async fn start(policy: Policy, defects: Defects) -> Result<Embedded, EmbeddedError> {
        tokenlife_server::Embedded::start(policy, defects)
            .await
            .map(Embedded)
    }

    /// The URL it first listened on.
    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// The target description of it: the demo clients, its policy, its test clock.
    pub fn target(&self) -> Target {
        reference_target(self.url(), clients(), self.0.policy().clone())
    }

    /// A target file describing it, declaring `policy` (a `[policy]` table's body): what a
    /// user would write to run it as `--target`, for the tests of flags only a target takes.
    #[cfg(test)]
    pub fn target_file(&self, policy: &str) -> String {
        let url = self.url().trim_end_matches('/');
        format!(
            "[server]\nissuer = \"{url}\"\nresource_url = \"{url}/api/resource\"\n\n\
             [[clients]]\nid = \"{DEMO_CONFIDENTIAL_ID}\"\nsecret = \"{DEMO_CONFIDENTIAL_SECRET}\"\n\
             auth = \"client_secret_basic\"\nredirect_uri = \"{EMBEDDED_REDIRECT_BASE}/cb\"\n\
             scope = \"{DEMO_SCOPE}\"\n\n\
             [[clients]]\nid = \"{DEMO_PUBLIC_ID}\"\nauth = \"none\"\n\
             redirect_uri = \"{EMBEDDED_REDIRECT_BASE}/cb\"\nscope = \"{DEMO_SCOPE}\"\n\n\
             [clock]\nmode = \"endpoint\"\nurl = \"{url}/test/clock\"\n\n[policy]\n{policy}\n"
        )
    }

    /// Stops it.
    pub async fn stop(&self) {
        self.0.stop().await;
    }
}

impl Control for Embedded {
    fn restart(&self) -> BoxFuture<'_, Result<Option<(String, String)>, String>> {
        Box::pin(async move { self.0.restart().await.map_err(|e| e.to_string()) })
    }
}

/// The demo clients as a target describes them (the embedded server registers them).
pub fn clients() -> Vec<ClientConfig> {
    let scope: Vec<String> = DEMO_SCOPE.split(' ').map(String::from).collect();
    let redirect_uri = format!("{EMBEDDED_REDIRECT_BASE}/cb");
    vec![
        ClientConfig {
            id: DEMO_CONFIDENTIAL_ID.into(),
            secret: Some(Secret::new(DEMO_CONFIDENTIAL_SECRET)),
            auth: AuthMethod::ClientSecretBasic,
            redirect_uri: redirect_uri.clone(),
            scope: scope.clone(),
            dpop: false,
        },
        ClientConfig {
            id: DEMO_PUBLIC_ID.into(),
            secret: None,
            auth: AuthMethod::None,
            redirect_uri,
            scope,
            dpop: false,
        },
    ]
}

/// The options of the default suite as `mutants` and `bench harness` run it: the seed, the
/// exhaustive depth, the random cases and the aimed search's budget of `tokenlife run`,
/// walks of 8 actions (the search's reachability is not measured: no report shows it).
pub fn suite_options(seed: u64, depth: u16, cases: u32, budget: u64) -> RunOptions {
    RunOptions {
        seed,
        depth,
        cases,
        budget,
        random_len: RANDOM_LEN,
        ..Default::default()
    }
}

/// Actions in a random sequence, for every subcommand that runs the suite.
pub const RANDOM_LEN: u16 = 8;

/// Runs the suite on the embedded server (used by `run`, `mutants` and their tests).
pub async fn run_embedded(
    policy: Policy,
    defects: Defects,
    set: &ScenarioSet,
    options: RunOptions,
) -> Result<Report, Failure> {
    let server =
        Arc::new(Embedded::start(policy, defects).await.map_err(|e| {
            Failure::unreachable(format!("failed to start the embedded server: {e}"))
        })?);
    let target = server.target();
    let control: Arc<dyn Control> = server.clone();
    let result = tokenlife_harness::run(target, set, options, Some(control)).await;
    server.stop().await;
    result.map_err(|e| Failure::of_target(e.is_unreachable(), e))
}
