//! Starting and stopping a server: bind, open the store, serve until told to stop.
//!
//! Used by `tokenlife serve`, by the harness (in process, on `127.0.0.1:0`) and by the tests,
//! which restart a server on the same SQLite file to check durability.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bind::{self, BindRefused};
use crate::config::{redact_url, ServerConfig};
use crate::conn;
use crate::http::app;
use crate::state::AppState;
use crate::store::StoreError;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An address other than loopback that this configuration may not listen on.
    #[error(transparent)]
    Exposure(#[from] BindRefused),
    /// The address cannot be bound.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration is unusable (e.g. no client).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl ServerError {
    /// The `tokenlife serve` exit code: 2 usage, 3 bad configuration, 4 cannot bind or
    /// reach the database.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServerError::Exposure(_) => 2,
            ServerError::Config(_) | ServerError::Store(StoreError::UnsupportedUrl(_)) => 3,
            ServerError::Bind { .. } | ServerError::Store(_) => 4,
        }
    }
}

/// A server running in the background of the current tokio runtime.
#[derive(Debug)]
pub struct RunningServer {
    url: String,
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// `http://` + the bound address (not the issuer: that may be a public name).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's state (its issuer, policy, store, clock).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets requests in flight finish (for at most 5 s), and closes the
    /// store so that another server can open the same SQLite file.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
        self.state.close().await;
    }
}

/// Binds `config.bind`, opens the store and serves in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    bind::check(config.bind, config.exposure())?;
    if config.limits.max_connections == 0 {
        return Err(ServerError::Config(
            "max_connections must be at least 1".into(),
        ));
    }
    if config.clients.is_empty() {
        return Err(ServerError::Config("no client is registered".into()));
    }
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.bind,
        source,
    })?;
    let url = format!("http://{addr}");
    let state = AppState::new(&config, url.clone()).await?;
    if state.defects().any() {
        let names: Vec<_> = state.defects().iter().map(|d| d.name()).collect();
        tracing::warn!(
            defects = %names.join(", "),
            "DEFECTS INJECTED: this server is deliberately wrong; never use it for anything real"
        );
    }
    tracing::info!(
        %url,
        issuer = %state.issuer(),
        database = %redact_url(&config.database),
        policy = %state.policy().profile,
        test_clock = config.test_clock,
        header_timeout_s = config.limits.header_timeout.as_secs_f64(),
        body_timeout_s = config.limits.body_timeout.as_secs_f64(),
        idle_timeout_s = config.limits.idle_timeout.as_secs_f64(),
        max_connections = config.limits.max_connections,
        "tokenlife reference server listening"
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let router = app(state.clone());
    let task = tokio::spawn(conn::serve(listener, router, config.limits, stopped));
    Ok(RunningServer {
        url,
        addr,
        state,
        stop: Some(stop),
        task,
    })
}
