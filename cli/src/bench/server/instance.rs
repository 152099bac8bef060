//! The server instance `bench server` measures: `tokenlife serve` as a child process (killed with
//! SIGKILL at the end) or the server in process (shut down cleanly); and the store's check
//! after it stopped, that no acknowledged rotation was lost.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokenlife_model::Policy;
use tokenlife_server::config::ServerConfig;
use tokenlife_server::secret::TokenHash;
use tokenlife_server::store::{RtStatus, Store};
use tokenlife_server::{start, RunningServer};

use super::clients::Chain;
use super::report::Durability;
use crate::outcome::Failure;

/// The server under test.
pub(super) enum Server {
    Child {
        child: Child,
        addr: SocketAddr,
    },
    InProcess {
        runtime: tokio::runtime::Runtime,
        server: RunningServer,
    },
}

/// How the server was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stopped {
    Killed,
    ShutDown,
}

impl Server {
    /// `tokenlife serve` on a free loopback port over `url`, under `profile`, logging at
    /// `log` (its `RUST_LOG`); ready once it printed that it listens.
    pub(super) fn child(profile: &str, log: &str, url: &str) -> Result<Server, Failure> {
        let exe = std::env::current_exe()
            .map_err(|e| Failure::Unreachable(format!("cannot find this executable: {e}")))?;
        let mut child = Command::new(&exe)
            .args(["serve", "--bind", "127.0.0.1:0", "--database", url])
            .args(["--profile", profile])
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                Failure::Unreachable(format!("cannot start `{} serve`: {e}", exe.display()))
            })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(Failure::Unreachable(
                "the server's stdout is missing".into(),
            ));
        };
        // Read the banner on a thread (so a silent server cannot hang us), and keep reading
        // afterwards so the pipe never fills.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(url) = line.trim().strip_prefix("listening") {
                        sent = true;
                        let _ = tx.send(url.trim().to_string());
                    }
                }
            }
        });
        let listening = rx.recv_timeout(Duration::from_secs(30));
        let addr = listening.ok().and_then(|u| {
            u.strip_prefix("http://")
                .and_then(|a| a.parse::<SocketAddr>().ok())
        });
        match addr {
            Some(addr) => Ok(Server::Child { child, addr }),
            None => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(Failure::Unreachable(format!(
                    "`{} serve` did not start listening ({}); the benchmark's child mode needs the `tokenlife` binary, or use --server in-process",
                    exe.display(),
                    status.map_or("no exit status".into(), |s| s.to_string())
                )))
            }
        }
    }

    pub(super) fn in_process(url: &str, policy: Policy) -> Result<Server, Failure> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("tl-server")
            .build()
            .map_err(|e| Failure::Unreachable(format!("cannot start a runtime: {e}")))?;
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut cfg = ServerConfig::demo(bind);
        cfg.database = url.to_string();
        cfg.policy = policy;
        let server = runtime
            .block_on(start(cfg))
            .map_err(|e| Failure::Unreachable(format!("the server did not start: {e}")))?;
        Ok(Server::InProcess { runtime, server })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        match self {
            Server::Child { addr, .. } => *addr,
            Server::InProcess { server, .. } => server.local_addr(),
        }
    }

    pub(super) fn pid(&self) -> Option<u32> {
        match self {
            Server::Child { child, .. } => Some(child.id()),
            Server::InProcess { .. } => None,
        }
    }

    /// A child is killed (SIGKILL, a crash); an in-process server shuts down cleanly.
    pub(super) fn stop(self) -> Stopped {
        match self {
            Server::Child { mut child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
                Stopped::Killed
            }
            Server::InProcess { runtime, server } => {
                runtime.block_on(server.shutdown());
                Stopped::ShutDown
            }
        }
    }
}

/// Reopens the store after the server stopped: the last refresh token each family was
/// answered with must be active, and the one it replaced consumed.
pub(super) fn verify(url: &str, chains: &[Chain], stop: Stopped) -> Result<Durability, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unreachable(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async {
        let store = Store::open(url)
            .await
            .map_err(|e| Failure::Unreachable(format!("cannot reopen the store: {e}")))?;
        let mut intact = 0;
        let mut checked = 0;
        for c in chains.iter().filter(|c| !c.broken) {
            checked += 1;
            let last = store
                .refresh_token(&TokenHash::of(&c.refresh))
                .await
                .map_err(|e| Failure::Unreachable(format!("cannot read the store: {e}")))?;
            let previous = match &c.previous {
                Some(p) => store
                    .refresh_token(&TokenHash::of(p))
                    .await
                    .map_err(|e| Failure::Unreachable(format!("cannot read the store: {e}")))?
                    .map(|r| r.status),
                None => Some(RtStatus::Consumed),
            };
            if last.is_some_and(|r| r.status == RtStatus::Active)
                && previous == Some(RtStatus::Consumed)
            {
                intact += 1;
            }
        }
        store.close().await;
        Ok(Durability {
            server_stop: match stop {
                Stopped::Killed => "kill -9 of the server".into(),
                Stopped::ShutDown => "a clean shutdown".into(),
            },
            families_checked: checked,
            families_intact: intact,
        })
    })
}
