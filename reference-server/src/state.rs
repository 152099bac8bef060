//! The shared state of one server: store, clock, policy, clients, defects.
//!
//! Nothing here decides anything about tokens; [`crate::flow`] does, with the time it is
//! given. The issuer identifier is RFC 8414 §2's.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use tokenlife_model::Policy;

use crate::clock::{wall_time, Clock, SystemClock, TestClock, UnixTime};
use crate::config::{Client, ServerConfig};
use crate::defects::Defects;
use crate::dpop::{JtiCache, Nonces, Proof, IAT_WINDOW};
use crate::secret::{DerivationKey, TokenHash};
use crate::store::{Store, StoreError};

/// The most DPoP proofs whose `jti` the server remembers at once.
const JTI_CAPACITY: usize = 65_536;

/// The name under which a test clock's time is kept, so that a restart does not move it back.
pub(crate) const TEST_CLOCK_STATE: &str = "test_clock";

/// Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) test_clock: bool,
    pub(crate) policy: Policy,
    pub(crate) clients: BTreeMap<String, Client>,
    pub(crate) users: Vec<String>,
    pub(crate) issuer: String,
    pub(crate) defects: Defects,
    pub(crate) key: DerivationKey,
    /// How long a request's body may take to arrive.
    pub(crate) body_timeout: std::time::Duration,
    /// `restart-forgets`: which refresh tokens were consumed, kept only in memory.
    pub(crate) forgotten: Mutex<HashSet<TokenHash>>,
    /// The `jti`s of accepted DPoP proofs (RFC 9449 §11.1). In memory: a restart forgets
    /// them, and a proof's `iat` window (a minute) is all they need to outlive.
    pub(crate) jtis: Mutex<JtiCache>,
    /// The DPoP nonces (RFC 9449 §8), derived from the store's key.
    pub(crate) nonces: Nonces,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.0.issuer)
            .field("policy", &self.0.policy.profile)
            .field("defects", &self.0.defects)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the store and builds the state for `config`, with `issuer` as the issuer
    /// identifier (for tests with `oneshot`, any URL will do).
    pub async fn new(config: &ServerConfig, issuer: String) -> Result<AppState, StoreError> {
        let store = Store::open(&config.database).await?;
        let key = store.derivation_key().await?;
        let clock: Arc<dyn Clock> = match (&config.clock, config.test_clock) {
            (Some(c), _) => c.clone(),
            (None, true) => {
                // Frozen at start; never earlier than where a previous run left it.
                let stored = store
                    .state_value(TEST_CLOCK_STATE)
                    .await
                    .map_err(StoreError::Setup)?
                    .and_then(|v| v.parse::<UnixTime>().ok());
                Arc::new(TestClock::frozen_at(
                    stored.map_or(wall_time(), |s| s.max(wall_time())),
                ))
            }
            (None, false) => Arc::new(SystemClock),
        };
        Ok(AppState(Arc::new(Inner {
            store,
            clock,
            test_clock: config.test_clock,
            policy: config.policy.clone(),
            clients: config
                .clients
                .iter()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            users: config.effective_users(),
            issuer: config.issuer.clone().unwrap_or(issuer),
            defects: config.defects.clone(),
            nonces: Nonces::new(key.clone()),
            key,
            jtis: Mutex::new(JtiCache::new(JTI_CAPACITY)),
            body_timeout: config.limits.body_timeout,
            forgotten: Mutex::new(HashSet::new()),
        })))
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }

    /// The current time by the server's clock.
    pub fn now(&self) -> UnixTime {
        self.0.clock.now()
    }

    /// The issuer identifier (no trailing slash).
    pub fn issuer(&self) -> &str {
        self.0.issuer.trim_end_matches('/')
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The injected defects.
    pub fn defects(&self) -> &Defects {
        &self.0.defects
    }

    /// The registered client `id`.
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.0.clients.get(id)
    }

    /// Every registered client, by id.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.0.clients.values()
    }

    /// The users approved automatically; the first is the default.
    pub fn users(&self) -> &[String] {
        &self.0.users
    }

    /// How long a request's body may take to arrive whole.
    pub fn body_timeout(&self) -> std::time::Duration {
        self.0.body_timeout
    }

    /// Whether `POST /test/clock` exists.
    pub fn test_clock(&self) -> bool {
        self.0.test_clock
    }

    /// Moves the test clock forward and remembers where it is.
    pub async fn advance_clock(&self, seconds: u32) -> Result<Option<UnixTime>, sqlx::Error> {
        let Some(now) = self.0.clock.advance(seconds) else {
            return Ok(None);
        };
        self.0
            .store
            .set_state_value(TEST_CLOCK_STATE, &now.to_string())
            .await?;
        Ok(Some(now))
    }

    /// The DPoP nonce a response hands out now (RFC 9449 §8).
    pub fn dpop_nonce(&self) -> String {
        self.0.nonces.current(self.now())
    }

    /// The time a DPoP proof's `iat` and the `jti` window are judged on: the wall clock,
    /// even under a test clock. A proof's freshness is about the exchange that carries it,
    /// not about the token lifetimes a test clock moves (a client signs with its own clock,
    /// which a test clock's jumps never reach).
    pub fn proof_time() -> UnixTime {
        wall_time()
    }

    /// Whether a DPoP proof's nonce is one the server accepts now.
    pub fn dpop_nonce_accepted(&self, nonce: Option<&str>) -> bool {
        self.0.nonces.accepts(nonce, self.now())
    }

    /// Records an accepted DPoP proof's `jti`: `false` for a replay (RFC 9449 §11.1). The
    /// in-memory cache answers first; the store keeps every `jti` for its window too, so a
    /// replay is refused after a restart and by another instance of the same store.
    pub async fn record_jti(&self, proof: &Proof) -> Result<bool, sqlx::Error> {
        let now = Self::proof_time();
        let new_here = self
            .0
            .jtis
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(proof, now)
            .is_ok();
        if !new_here {
            return Ok(false);
        }
        let until = now + 2 * IAT_WINDOW;
        self.0
            .store
            .record_proof(&proof.jkt, &proof.jti, until, now)
            .await
    }

    /// Closes the store (before a restart on the same file).
    pub async fn close(&self) {
        self.0.store.close().await;
    }
}
