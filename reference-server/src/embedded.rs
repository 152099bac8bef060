//! The reference server in process, as the suite's own target: `127.0.0.1:0`, a temporary
//! SQLite file, the frozen test clock, the demo clients, a policy and defects; restartable
//! on the same file, so that a `restart` step finds what the store made durable.
//!
//! One set-up for `tokenlife run`, `load`, `mutants`, `bench harness` and the harness's
//! tests, so that they all test the same server.

use std::net::SocketAddr;

use tokenlife_model::Policy;
use tokio::sync::Mutex;

use crate::config::{demo_clients, ServerConfig};
use crate::defects::Defects;
use crate::server::{start, RunningServer, ServerError};

/// The base of the redirect URI every demo client registers; the harness stops at the
/// redirect and never fetches it.
pub const EMBEDDED_REDIRECT_BASE: &str = "http://127.0.0.1";

/// Why the embedded server could not start or restart.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No temporary folder for the SQLite file.
    #[error("failed to make a temporary folder: {0}")]
    TempDir(#[source] std::io::Error),
    /// The server itself did not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A restart of a server that was stopped.
    #[error("the server is not running")]
    NotRunning,
}

/// The reference server in process, restartable on its SQLite file.
pub struct Embedded {
    config: ServerConfig,
    server: Mutex<Option<RunningServer>>,
    url: String,
    // Holds the SQLite file; removed when the server is dropped.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Embedded {
    /// Starts the server under `policy` with `defects`, on the current tokio runtime.
    pub async fn start(policy: Policy, defects: Defects) -> Result<Embedded, EmbeddedError> {
        let dir = tempfile::tempdir().map_err(EmbeddedError::TempDir)?;
        let db = dir.path().join("tokenlife.db");
        let mut config = ServerConfig::demo(loopback_any_port());
        config.clients = demo_clients(EMBEDDED_REDIRECT_BASE);
        config.database = format!("sqlite:{}", db.display());
        config.policy = policy;
        config.defects = defects;
        config.test_clock = true;
        config.demo = false;
        let server = start(config.clone()).await?;
        let url = server.url().to_string();
        Ok(Embedded {
            config,
            server: Mutex::new(Some(server)),
            url,
            _dir: dir,
        })
    }

    /// The URL it first listened on (a restart may move it: see [`Embedded::restart`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its policy.
    pub fn policy(&self) -> &Policy {
        &self.config.policy
    }

    /// Stops the server and starts it again on the same SQLite file: on the same port if it
    /// is still free, so the endpoints stay, on another otherwise. `Some((old, new))` when
    /// the URL changed.
    pub async fn restart(&self) -> Result<Option<(String, String)>, EmbeddedError> {
        let mut guard = self.server.lock().await;
        let old = guard.take().ok_or(EmbeddedError::NotRunning)?;
        let (addr, old_url) = (old.local_addr(), old.url().to_string());
        old.shutdown().await;
        let mut cfg = self.config.clone();
        cfg.bind = addr;
        let new = match start(cfg.clone()).await {
            Ok(s) => s,
            Err(_) => {
                cfg.bind = loopback_any_port();
                start(cfg).await?
            }
        };
        let new_url = new.url().to_string();
        *guard = Some(new);
        Ok((new_url != old_url).then_some((old_url, new_url)))
    }

    /// Stops it (a second call does nothing).
    pub async fn stop(&self) {
        if let Some(s) = self.server.lock().await.take() {
            s.shutdown().await;
        }
    }
}

fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_restarts_on_its_file_and_stops() {
        let e = Embedded::start(Policy::default(), Defects::none())
            .await
            .unwrap();
        assert!(e.url().starts_with("http://127.0.0.1:"));
        assert!(e.restart().await.is_ok());
        e.stop().await;
        assert!(matches!(e.restart().await, Err(EmbeddedError::NotRunning)));
    }
}
