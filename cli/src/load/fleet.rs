//! The `tokenlife serve` child-process fleet of `tokenlife load --server child`: one or
//! more children on one store, each started and awaited until it listens, killed with
//! SIGKILL and restarted by `--crash-every` (the harness's [`Fleet`]), and killed on every
//! way out of the load: its end, an error, a panic (the fleet's `Drop`).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokenlife_harness::load::Fleet;
use tokenlife_harness::session::BoxFuture;
use tokenlife_harness::target::{self, ClockConfig, Target};
use tokenlife_model::policy::Seconds;
use tokenlife_model::Policy;
use tokenlife_server::config::demo_clients;
use tokenlife_server::Defect;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::outcome::Failure;

/// The redirect URI of every client of the child servers; the harness stops at it.
const REDIRECT: &str = "http://127.0.0.1/cb";

/// The reference server's clients as `[[clients]]` tables, which a server config file and a
/// target file read alike.
fn clients_toml() -> String {
    let mut s = String::new();
    for c in demo_clients("http://127.0.0.1") {
        s.push_str(&format!("[[clients]]\nid = \"{}\"\n", c.id));
        if let Some(secret) = &c.secret {
            s.push_str(&format!("secret = \"{}\"\n", secret.expose()));
        }
        let auth = c.auth.as_str();
        s.push_str(&format!(
            "auth = \"{auth}\"\nredirect_uri = \"{REDIRECT}\"\nscope = \"{}\"\n\n",
            c.scope
        ));
    }
    s
}

/// Where the child servers run, from `--instances`, `--database` and `--server-cpus`.
#[derive(Debug, Clone, Default)]
pub struct FleetConfig {
    /// Instances sharing one store.
    pub instances: usize,
    /// The store: `sqlite:PATH`, a path or `postgres://...`; a temporary SQLite file if none.
    pub database: Option<String>,
    /// The CPUs to pin the children to (`taskset -c LIST`).
    pub server_cpus: Option<String>,
}

/// `tokenlife serve` child processes on one store.
pub struct Children {
    exe: PathBuf,
    /// The arguments after `serve --bind ADDR`.
    common: Vec<String>,
    cpus: Option<String>,
    addrs: Vec<SocketAddr>,
    procs: tokio::sync::Mutex<Vec<Option<Child>>>,
    database: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> Result<SocketAddr, Failure> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Failure::unreachable(format!("failed to find a free port: {e}")))
}

impl Children {
    /// Starts `config.instances` children under `policy` with `defects`, one after another,
    /// each listening before the next starts.
    pub async fn start(
        args: &FleetConfig,
        policy: &Policy,
        defects: &[Defect],
    ) -> Result<Children, Failure> {
        let dir = tempfile::tempdir()
            .map_err(|e| Failure::usage(format!("failed to make a temporary folder: {e}")))?;
        let database = match args.database.as_deref() {
            None => format!("sqlite:{}", dir.path().join("tokenlife.db").display()),
            Some(d) if d.contains("://") || d.starts_with("sqlite:") => d.to_string(),
            Some(path) => format!("sqlite:{path}"),
        };
        if database.contains(":memory:") {
            return Err(Failure::usage(
                "--database: an in-memory store does not survive a restart; give a file",
            ));
        }
        if args.instances > 1 && !database.starts_with("postgres") {
            return Err(Failure::usage(
                "--instances above 1 share one store: give --database postgres://...",
            ));
        }
        let config = dir.path().join("server.toml");
        let policy_file = dir.path().join("policy.toml");
        std::fs::write(&config, clients_toml())
            .and_then(|()| std::fs::write(&policy_file, policy.to_toml()))
            .map_err(|e| {
                Failure::usage(format!("failed to write the server's configuration: {e}"))
            })?;
        let mut common = vec![
            "--database".to_string(),
            database.clone(),
            "--config".into(),
            config.display().to_string(),
            "--policy".into(),
            policy_file.display().to_string(),
        ];
        for d in defects {
            common.push("--defect".into());
            common.push(d.name().into());
        }
        let exe = std::env::current_exe()
            .map_err(|e| Failure::unreachable(format!("failed to find this executable: {e}")))?;
        let addrs = (0..args.instances)
            .map(|_| free_port())
            .collect::<Result<Vec<_>, _>>()?;
        let log = dir.path().join("server.log");
        let c = Children {
            exe,
            common,
            cpus: args.server_cpus.clone(),
            addrs,
            procs: tokio::sync::Mutex::new(Vec::new()),
            database,
            log,
            _dir: dir,
        };
        // One after another: the first one creates the schema.
        for i in 0..c.addrs.len() {
            let child = c.spawn(i).await.map_err(Failure::Unreachable)?;
            c.procs.lock().await.push(Some(child));
        }
        Ok(c)
    }

    /// How the fleet runs, for the report's header.
    pub fn describe(&self) -> String {
        format!(
            "{} `tokenlife serve` child process{}{} on {}",
            self.addrs.len(),
            if self.addrs.len() == 1 { "" } else { "es" },
            self.cpus
                .as_ref()
                .map(|c| format!(" pinned to CPUs {c}"))
                .unwrap_or_default(),
            if self.database.starts_with("postgres") {
                "PostgreSQL".to_string()
            } else {
                "a SQLite file".to_string()
            }
        )
    }

    /// One target per instance: the same clients, the policy, the wall clock.
    pub fn targets(&self, policy: &Policy) -> Result<Vec<Target>, Failure> {
        self.addrs
            .iter()
            .map(|a| {
                let text = format!(
                    "[server]\nissuer = \"http://{a}\"\nresource_url = \"http://{a}/api/resource\"\n\n{}",
                    clients_toml()
                );
                let mut t = target::parse(&text, |_| None).map_err(Failure::bad_file)?;
                t.policy = policy.clone();
                t.clock = ClockConfig::Real { skew: Seconds(1) };
                Ok(t)
            })
            .collect()
    }

    /// Starts instance `i` and waits until it listens.
    async fn spawn(&self, i: usize) -> Result<Child, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match self.spawn_once(i).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
            // The port may still be held for a moment after a kill.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }

    async fn spawn_once(&self, i: usize) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("failed to open {}: {e}", self.log.display()))?;
        let mut cmd = match &self.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        cmd.arg("serve")
            .arg("--bind")
            .arg(self.addrs[i].to_string())
            .args(&self.common)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("failed to start `{} serve`: {e}", self.exe.display()))?;
        let Some(stdout) = child.stdout.take() else {
            return Err("the server's stdout is missing".into());
        };
        let mut lines = BufReader::new(stdout).lines();
        let banner = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim_start().starts_with("listening") {
                    return true;
                }
            }
            false
        })
        .await;
        if banner == Ok(true) {
            // Keep reading, so that the pipe never fills.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(child)
        } else {
            let _ = child.start_kill();
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_default();
            let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(3).collect();
            Err(format!(
                "`tokenlife serve` on {} did not start listening ({status}): {}",
                self.addrs[i],
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ))
        }
    }

    /// Kills every child.
    pub async fn stop(&self) {
        for c in self.procs.lock().await.iter_mut().flatten() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // On every way out (an error, a panic): no server is left behind.
        if let Ok(mut procs) = self.procs.try_lock() {
            for c in procs.iter_mut().flatten() {
                let _ = c.start_kill();
            }
        }
    }
}

impl Fleet for Children {
    fn crash_restart(&self, i: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut procs = self.procs.lock().await;
            let slot = procs.get_mut(i).ok_or("no such instance")?;
            if let Some(mut old) = slot.take() {
                // SIGKILL: no clean shutdown, requests in flight are cut.
                let _ = old.start_kill();
                let _ = old.wait().await;
            }
            *slot = Some(self.spawn(i).await?);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_are_read_by_both_file_formats() {
        let text = format!(
            "[server]\nissuer = \"http://127.0.0.1:1\"\n\n{}",
            clients_toml()
        );
        let t = target::parse(&text, |_| None).unwrap();
        assert_eq!(t.clients.len(), 2);
        assert!(tokenlife_server::config::parse(&clients_toml(), |_| None).is_ok());
    }
}
