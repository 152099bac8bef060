//! A connected target: the [`Harness`] with its endpoints, options and what it may do to the
//! target besides HTTP ([`Control`]), and the small readings every step makes of them (the
//! clients, the credentials an actor sends, the skew, the selection, a restart's new base).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Semaphore, SemaphorePermit};

use tokenlife_model::{Action, Actor, ClientType, Outcome};

use super::proof::Proofs;
use super::state::{Session, Stop};
use crate::checks::{self, Verdict};
use crate::discovery::{discover, DiscoveryError, Endpoints};
use crate::generate::{Reach, Scopes};
use crate::http::{Http, HttpConfig, HttpError};
use crate::report::ScenarioResult;
use crate::request::Credentials;
use crate::scenario::By;
use crate::target::{ClientConfig, ClockConfig, Target, TargetError};

/// A boxed future, for the object-safe [`Control`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the harness may do to a target besides HTTP: restart it on its store.
pub trait Control: Send + Sync {
    /// Restarts the target; returns its new base URL when it changed (old base → new base).
    fn restart(&self) -> BoxFuture<'_, Result<Option<(String, String)>, String>>;
}

/// Run options.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The HTTP adapter's settings (`ca_file` and `max_rps` come from the target).
    pub http: HttpConfig,
    /// Promote SHOULD warnings to failures.
    pub fail_on_should: bool,
    /// Run only these scenarios / checks (ids or scenario names); empty: all.
    pub only: Vec<String>,
    /// Skip these scenarios / checks.
    pub skip: Vec<String>,
    /// Revoke the tokens a scenario minted when it ends.
    pub cleanup: bool,
    /// The seed printed in reports.
    pub seed: u64,
    /// Exhaustive generation: sequences covering every model transition within this many
    /// actions; 0: none.
    pub depth: u16,
    /// Run every distinct sequence to `depth` instead of a transition cover.
    pub all_sequences: bool,
    /// Random sequences from `seed` (0: none).
    pub cases: u32,
    /// Actions per random sequence (and aimed-search walk) at most.
    pub random_len: u16,
    /// The aimed search's budget in requests (`crate::search`; 0: no search).
    pub budget: u64,
    /// Measure what the search's alphabet reaches at its bounds, for the report's coverage
    /// (a breadth-first walk of the model: up to a few seconds in a release build).
    pub reachability: bool,
    /// Where progress goes (none: nowhere).
    pub progress: Option<crate::progress::ProgressSink>,
    /// Stop at the first failed check (what `tokenlife mutants` needs: killed or not).
    pub stop_at_first_failure: bool,
    /// Real-clock sequences in flight at once (0: [`CONCURRENCY`](super::CONCURRENCY)).
    /// Races stay concurrent whatever it says: they are the test.
    pub concurrency: usize,
    /// Steps with a request in flight at once, across all sequences (0: no bound). A step
    /// waits for a slot before it reads the clock and sends, so a busy target makes a run
    /// slower, never a request time out in the harness's own queue; a race takes as many
    /// slots as it sends requests (every slot, when there are fewer) and goes out at once.
    pub in_flight: usize,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The HTTP adapter could not be built.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Discovery failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The target cannot be run as declared (see [`Target::check`]).
    #[error(transparent)]
    Target(#[from] TargetError),
}

impl ConnectError {
    /// Whether the target was unreachable (exit code 4) rather than unusable (3).
    pub fn is_unreachable(&self) -> bool {
        match self {
            ConnectError::Http(e) | ConnectError::Discovery(DiscoveryError::Http(e)) => {
                e.is_unreachable()
                    || matches!(e, HttpError::Dropped { .. } | HttpError::Stopped { .. })
            }
            _ => false,
        }
    }
}

/// A connected target.
pub struct Harness {
    pub(super) http: Arc<Http>,
    pub(super) target: Target,
    pub(super) endpoints: Endpoints,
    pub(super) clock_url: Option<String>,
    pub(super) control: Option<Arc<dyn Control>>,
    pub(super) options: RunOptions,
    /// The DPoP clients' keys, the server's nonce and the proofs sent.
    pub(super) proofs: Proofs,
    /// [`RunOptions::in_flight`] slots, when bounded.
    slots: Option<Semaphore>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("target", &self.target.name())
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Discovers the target's endpoints.
    pub async fn connect(
        target: Target,
        options: RunOptions,
        control: Option<Arc<dyn Control>>,
    ) -> Result<Harness, ConnectError> {
        target.check()?;
        let mut http_config = options.http.clone();
        http_config.ca_file = target.ca_file.clone();
        http_config.max_rps = target.max_rps;
        let http = Arc::new(Http::new(http_config)?);
        let endpoints = discover(&http, &target).await?;
        let clock_url = match &target.clock {
            ClockConfig::Endpoint { url, .. } => Some(url.clone()),
            ClockConfig::Real { .. } => None,
        };
        Ok(Harness {
            http,
            proofs: Proofs::for_target(&target),
            target,
            endpoints,
            clock_url,
            control,
            slots: (options.in_flight > 0).then(|| Semaphore::new(options.in_flight)),
            options,
        })
    }

    /// Takes `n` step slots at once (every slot, when there are fewer); `None` when the
    /// requests in flight are not bounded.
    pub(super) async fn slots(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        let slots = self.slots.as_ref()?;
        let n = n.clamp(1, self.options.in_flight.max(1));
        slots.acquire_many(u32::try_from(n).unwrap_or(1)).await.ok()
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Why the run stopped (its deadline, a signal, the circuit breaker), once it has: the
    /// runner starts nothing more.
    pub(super) fn stopped(&self) -> Option<String> {
        self.http.config().guard.stopped()
    }

    pub(super) fn selected(&self, name: &str) -> bool {
        (self.options.only.is_empty() || self.options.only.iter().any(|o| o == name))
            && !self.options.skip.iter().any(|s| s == name)
    }

    pub(super) fn check_selected(&self, id: &str) -> bool {
        let only_checks: Vec<_> = self
            .options
            .only
            .iter()
            .filter(|o| checks::by_id(o).is_some())
            .collect();
        (only_checks.is_empty() || only_checks.iter().any(|o| *o == id))
            && !self.options.skip.iter().any(|s| s == id)
    }

    /// A fresh session for `result`.
    pub(super) fn session<'r>(&self, result: &'r mut ScenarioResult) -> Session<'r> {
        Session::new(&self.target, self.options.fail_on_should, result)
    }

    /// What the walks of this target may do: restarts through [`Control`], the scopes each
    /// client's registration lets it ask for, the calls its endpoints allow.
    pub(super) fn reach(&self) -> Reach {
        let scopes = |t| {
            self.target
                .client_of(t)
                .map_or(Scopes::None, crate::wire::scopes_of)
        };
        Reach {
            restarts: self.control.is_some(),
            scopes: [scopes(ClientType::Confidential), scopes(ClientType::Public)],
            revocation: self.endpoints.revocation.is_some(),
            introspection: self.endpoints.introspection.is_some(),
            resource: self.endpoints.resource.is_some(),
        }
    }

    pub(super) fn client(&self, t: ClientType) -> Result<&ClientConfig, Stop> {
        self.target
            .client_of(t)
            .ok_or_else(|| Stop::Skipped(format!("the target has no {t:?} client")))
    }

    /// What `actor` sends: its client's credentials, or the owner's id alone (the attacker).
    pub(super) fn credentials(
        &self,
        by: Actor,
        owner: ClientType,
    ) -> Result<Credentials<'_>, Stop> {
        Ok(match by {
            Actor::Client(t) => Credentials::Client(self.client(t)?),
            Actor::Attacker => Credentials::NoAuth(self.client(owner)?),
        })
    }

    pub(super) fn skew(&self) -> u32 {
        match &self.target.clock {
            ClockConfig::Endpoint { skew, .. } | ClockConfig::Real { skew } => skew.get(),
        }
    }

    /// Restarts the target through [`Control`]; the model keeps only what is durable.
    pub(super) async fn restart(&mut self, s: &mut Session<'_>, n: usize) -> Result<(), Stop> {
        let control = self
            .control
            .clone()
            .ok_or_else(|| Stop::Skipped("the target cannot be restarted".into()))?;
        s.actions += 1;
        match control.restart().await {
            Ok(None) => {}
            Ok(Some((old, new))) => self.rebase(&old, &new),
            Err(m) => {
                s.eval(
                    checks::RESTART_DURABLE,
                    Verdict::Failed,
                    n,
                    Some(format!("restart failed: {m}")),
                );
                return Err(Stop::Failed(format!("step {n}: restart failed: {m}")));
            }
        }
        let pre = s.set.first().clone();
        s.cover(&pre, Action::Restart, Outcome::Nothing);
        s.set.restart();
        s.history.restarted = true;
        s.line(format!("{n}. the server restarts"));
        Ok(())
    }

    fn rebase(&mut self, old: &str, new: &str) {
        let swap = |u: &mut String| {
            if let Some(rest) = u.strip_prefix(old) {
                *u = format!("{new}{rest}");
            }
        };
        let e = &mut self.endpoints;
        swap(&mut e.authorization);
        swap(&mut e.token);
        for u in [
            &mut e.revocation,
            &mut e.introspection,
            &mut e.resource,
            &mut self.clock_url,
        ]
        .into_iter()
        .flatten()
        {
            swap(u);
        }
    }
}

/// Who acts for a scenario step's `by`, given the token's owner.
pub(crate) fn actor(by: By, owner: ClientType) -> Actor {
    match by {
        By::Owner => Actor::Client(owner),
        By::Other => Actor::Client(match owner {
            ClientType::Confidential => ClientType::Public,
            ClientType::Public => ClientType::Confidential,
        }),
        By::NoAuth => Actor::Attacker,
        By::Client(t) => Actor::Client(t),
    }
}
