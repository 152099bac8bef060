//! The load driver: `--concurrency` clients work on `--families` live token families at
//! once, over one or more server instances, until the time or the request budget is spent.
//!
//! Each client picks a family and an action: mostly a refresh with the family's latest
//! refresh token, sometimes a burst of two or three concurrent refreshes of the same token
//! (a race), a refresh of a family another client is busy with, a resource call, an
//! introspection of the consumed predecessor, a revocation; an attacker copies refresh
//! tokens and replays them later with the owner's credentials. A family whose legitimate
//! client is refused is retired and replaced by a new one (authorization code + PKCE), so
//! many families are born and checked. Every request is recorded with the time it was sent
//! and the time its answer arrived; a request whose answer never came (timeout, lost
//! connection, a server killed mid-request) is recorded as unknown. A request that could
//! not even connect never reached the server and is not recorded.
//!
//! With `crash_every`, a [`Fleet`] kills one instance with SIGKILL at that period and
//! starts it again on the same store; after each restart every live family's consumed
//! predecessor is introspected (it must not be active again), and the load goes on
//! (every acknowledged token must still work: the checker's liveness rule).

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::time::Instant;

use super::history::{Actor, At, History, Micros, Op, Request, Response, Rt};
use crate::authorize;
use crate::discovery::Endpoints;
use crate::http::{Http, HttpError, Response as HttpResponse};
use crate::oracle::Observed;
use crate::request::{self, Credentials};
use crate::secret::Secret;
use crate::session::BoxFuture;
use crate::target::{AuthorizeConfig, ClientConfig, IntrospectionClient};
use crate::wire;

/// A family is retired and replaced after this many requests, so no history grows without
/// bound.
pub const MAX_OPS_PER_FAMILY: usize = 4096;
/// The most refresh tokens the attacker keeps.
const POCKET: usize = 256;

/// Server instances the load can crash and restart.
pub trait Fleet: Send + Sync {
    /// Kills instance `i` (SIGKILL: no clean shutdown) and starts it again on the same
    /// store and address; resolves once it accepts requests again.
    fn crash_restart(&self, i: usize) -> BoxFuture<'_, Result<(), String>>;
}

/// What to drive.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The instances; requests are spread over them in turn.
    pub instances: Vec<Endpoints>,
    /// The clients that own families, in turn.
    pub clients: Vec<ClientConfig>,
    /// How codes are obtained.
    pub authorize: AuthorizeConfig,
    /// Who introspects (default: the token's client).
    pub introspection: Option<IntrospectionClient>,
    /// How hard and how long.
    pub options: Options,
}

/// How hard and how long to load.
#[derive(Clone, Debug)]
pub struct Options {
    /// Live families at any time.
    pub families: usize,
    /// Concurrent clients.
    pub concurrency: usize,
    /// How long the load runs.
    pub duration: Duration,
    /// The most requests sent.
    pub max_requests: u64,
    /// The seed of every random choice.
    pub seed: u64,
    /// Whether the attacker steals and replays refresh tokens.
    pub attacker: bool,
    /// Crash and restart an instance at this period (needs a [`Fleet`]).
    pub crash_every: Option<Duration>,
    /// End the load after this many crash-restarts (each audited), whatever is left of
    /// `duration`: a proof of "survives N restarts" that does not hang on how fast the
    /// machine restarts a server.
    pub crashes: Option<usize>,
    /// The timeout of one request.
    pub timeout: Duration,
}

/// A crash and restart of one instance, in load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Restart {
    /// The instance.
    pub instance: usize,
    /// When it was killed.
    pub killed: Micros,
    /// When it accepted requests again.
    pub back: Micros,
}

/// What the load did.
#[derive(Debug, Default)]
pub struct Driven {
    /// Every family's history.
    pub histories: Vec<History>,
    /// The crash-restarts.
    pub restarts: Vec<Restart>,
    /// How long the load ran.
    pub seconds: f64,
    /// Requests recorded (sent and answered, or lost).
    pub requests: u64,
    /// Refresh grants answered 200.
    pub refreshes_ok: u64,
    /// Refresh grants sent.
    pub refreshes: u64,
    /// Requests without an answer.
    pub unknown: u64,
    /// Requests that could not connect (not recorded: they never reached a server).
    pub not_sent: u64,
    /// Latency of every answered refresh grant, in microseconds.
    pub refresh_latencies_us: Vec<u32>,
    /// Families that could not be started (authorization or code exchange failed).
    pub setup_failures: u64,
    /// The first few setup errors.
    pub setup_errors: Vec<String>,
}

/// Why the load could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriveError {
    /// Not one family could be started: the target is unreachable or refuses the clients.
    #[error("failed to start any token family: {0}")]
    NoFamily(String),
    /// A crashed instance did not come back.
    #[error("failed to restart instance {instance}: {reason}")]
    Restart {
        /// The instance.
        instance: usize,
        /// Why.
        reason: String,
    },
}

/// A family as its clients know it.
struct Family {
    client: usize,
    busy: AtomicU32,
    /// No client picks it any more.
    retired: AtomicBool,
    /// A new family has been (or is being) started in its place.
    replaced: AtomicBool,
    state: Mutex<FamilyState>,
}

struct FamilyState {
    history: History,
    /// Refresh-token ids by a hash of their value (values are not kept longer than needed).
    rt_ids: HashMap<u64, Rt>,
    next_at: u32,
    latest_rt: Option<(Rt, Secret)>,
    /// The token the latest rotation consumed.
    previous_rt: Option<(Rt, Secret)>,
    latest_at: Option<(At, Secret)>,
}

fn value_key(v: &Secret) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    v.expose().hash(&mut h);
    h.finish()
}

impl FamilyState {
    fn rt_id(&mut self, v: &Secret) -> Rt {
        let next = Rt(self.rt_ids.len() as u32);
        *self.rt_ids.entry(value_key(v)).or_insert(next)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A refresh token the attacker copied.
struct Stolen {
    family: Arc<Family>,
    rt: Rt,
    value: Secret,
}

struct Shared {
    plan: Plan,
    http: Http,
    start: Instant,
    end: Instant,
    stop: Arc<AtomicBool>,
    slots: Mutex<Vec<Arc<Family>>>,
    all: Mutex<Vec<Arc<Family>>>,
    pocket: Mutex<Vec<Stolen>>,
    next_family: AtomicU32,
    next_instance: AtomicUsize,
    requests: AtomicU64,
    refreshes: AtomicU64,
    refreshes_ok: AtomicU64,
    unknown: AtomicU64,
    not_sent: AtomicU64,
    setup_failures: AtomicU64,
    setup_errors: Mutex<Vec<String>>,
    latencies: Mutex<Vec<u32>>,
    restarts: Mutex<Vec<Restart>>,
}

/// What one exchange gave, before it is recorded.
enum Exchanged {
    Answer(HttpResponse, Micros, Micros),
    Lost(Micros),
    NotSent,
}

impl Shared {
    fn now(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
            && Instant::now() < self.end
            && self.requests.load(Ordering::Relaxed) < self.plan.options.max_requests
    }

    fn instance(&self) -> usize {
        self.next_instance.fetch_add(1, Ordering::Relaxed) % self.plan.instances.len()
    }

    async fn send(&self, req: &crate::http::Request) -> Result<Exchanged, HttpError> {
        let invoked = self.now();
        match self.http.send(req).await {
            Ok(r) => Ok(Exchanged::Answer(r, invoked, self.now())),
            Err(HttpError::Connect { .. } | HttpError::RateLimited { .. }) => {
                self.not_sent.fetch_add(1, Ordering::Relaxed);
                Ok(Exchanged::NotSent)
            }
            Err(HttpError::Timeout { .. } | HttpError::Dropped { .. }) => {
                Ok(Exchanged::Lost(invoked))
            }
            Err(HttpError::BodyTooLarge { .. }) => {
                // An answer, but no OAuth one.
                let now = self.now();
                Ok(Exchanged::Answer(
                    HttpResponse {
                        status: 200,
                        headers: Vec::new(),
                        body: Vec::new(),
                    },
                    invoked,
                    now,
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Records one exchange in the family's history and updates what its clients hold;
    /// `None` when the request never reached a server.
    fn record(
        &self,
        f: &Arc<Family>,
        actor: Actor,
        request: Request,
        instance: usize,
        sent: Exchanged,
        read: impl FnOnce(&HttpResponse) -> Reading,
    ) -> Option<Response> {
        let (reading, invoked, completed) = match sent {
            Exchanged::NotSent => return None,
            Exchanged::Lost(invoked) => (Reading::Plain(Response::Unknown), invoked, None),
            Exchanged::Answer(r, invoked, done) => (read(&r), invoked, Some(done)),
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        if completed.is_none() {
            self.unknown.fetch_add(1, Ordering::Relaxed);
        }
        let is_refresh = matches!(request, Request::Refresh(_));
        if is_refresh {
            self.refreshes.fetch_add(1, Ordering::Relaxed);
            if let Some(done) = completed {
                let us = u32::try_from(done.saturating_sub(invoked)).unwrap_or(u32::MAX);
                lock(&self.latencies).push(us);
            }
        }
        let mut s = lock(&f.state);
        let response = match reading {
            Reading::Plain(r) => r,
            Reading::Tokens(access, refresh) => {
                if is_refresh {
                    self.refreshes_ok.fetch_add(1, Ordering::Relaxed);
                }
                let at = At(s.next_at);
                s.next_at += 1;
                let rt = refresh.map(|v| (s.rt_id(&v), v));
                match (actor, &rt) {
                    (Actor::Attacker, Some((id, v))) => self.pocket_add(Stolen {
                        family: Arc::clone(f),
                        rt: *id,
                        value: v.clone(),
                    }),
                    (Actor::Attacker, None) => {}
                    (_, _) => {
                        s.latest_at = Some((at, access));
                        if let Some((id, v)) = &rt {
                            if let Request::Refresh(presented) = request {
                                if *id != presented {
                                    s.previous_rt =
                                        s.latest_rt.take().filter(|(p, _)| *p == presented);
                                }
                            }
                            s.latest_rt = Some((*id, v.clone()));
                        }
                    }
                }
                Response::Tokens {
                    access: at,
                    refresh: rt.map(|(id, _)| id),
                }
            }
        };
        s.history.ops.push(Op {
            actor,
            request,
            response,
            invoked,
            completed,
            instance: u8::try_from(instance).unwrap_or(u8::MAX),
        });
        if s.history.ops.len() >= MAX_OPS_PER_FAMILY {
            f.retired.store(true, Ordering::Relaxed);
        }
        Some(response)
    }

    fn pocket_add(&self, s: Stolen) {
        let mut p = lock(&self.pocket);
        if p.len() >= POCKET {
            p.remove(0);
        }
        p.push(s);
    }

    fn setup_failed(&self, e: String) {
        self.setup_failures.fetch_add(1, Ordering::Relaxed);
        let mut v = lock(&self.setup_errors);
        if v.len() < 5 {
            v.push(e);
        }
    }

    /// Starts a family: a code (authorization request with PKCE), then its exchange, which
    /// is the family's first recorded request.
    async fn new_family(&self) -> Result<Arc<Family>, String> {
        let id = self.next_family.fetch_add(1, Ordering::Relaxed);
        let client_index = id as usize % self.plan.clients.len();
        let client = &self.plan.clients[client_index];
        let instance = self.instance();
        let ep = &self.plan.instances[instance];
        let code = authorize::authorize(
            &self.http,
            &ep.authorization,
            &self.plan.authorize,
            client,
            &client.scope.join(" "),
        )
        .await
        .map_err(|e| format!("authorization failed: {e}"))?;
        let req = request::code_exchange(&ep.token, client, &code.code, &code.verifier);
        let sent = self.send(&req).await.map_err(|e| e.to_string())?;
        let family = Arc::new(Family {
            client: client_index,
            busy: AtomicU32::new(0),
            retired: AtomicBool::new(false),
            replaced: AtomicBool::new(false),
            state: Mutex::new(FamilyState {
                history: History::new(id, client.client_type()),
                rt_ids: HashMap::new(),
                next_at: 0,
                latest_rt: None,
                previous_rt: None,
                latest_at: None,
            }),
        });
        let response = self.record(
            &family,
            Actor::Client(0),
            Request::Exchange,
            instance,
            sent,
            |r| read_token(r, client),
        );
        let started = matches!(
            response,
            Some(Response::Tokens {
                refresh: Some(_),
                ..
            })
        );
        // A failed exchange is still a history: a 5xx in it is a finding.
        lock(&self.all).push(Arc::clone(&family));
        if started {
            Ok(family)
        } else {
            Err(format!(
                "the code exchange answered {}",
                response.map_or("nothing".into(), |r| r.to_string())
            ))
        }
    }

    /// A new family, retrying while the load runs (a crashed server comes back).
    async fn new_family_retrying(&self) -> Option<Arc<Family>> {
        while self.running() {
            match self.new_family().await {
                Ok(f) => return Some(f),
                Err(e) => {
                    self.setup_failed(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        None
    }

    /// Replaces a retired family in its slot by a new one.
    async fn replace(&self, old: &Arc<Family>) {
        old.retired.store(true, Ordering::Relaxed);
        if old.replaced.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(new) = self.new_family_retrying().await else {
            return;
        };
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.iter_mut().find(|s| Arc::ptr_eq(s, old)) {
            *slot = new;
        } else {
            slots.push(new);
        }
    }

    /// A live family nobody is working on (or, failing that, any live one), leased.
    fn lease(&self, rng: &mut StdRng, idle: bool) -> Option<Lease> {
        let slots = lock(&self.slots);
        if slots.is_empty() {
            return None;
        }
        let n = slots.len();
        let start = rng.random_range(0..n);
        let pick = (0..n)
            .map(|k| &slots[(start + k) % n])
            .filter(|f| !f.retired.load(Ordering::Relaxed))
            .find(|f| !idle || f.busy.load(Ordering::Relaxed) == 0)
            .or_else(|| {
                (0..n)
                    .map(|k| &slots[(start + k) % n])
                    .find(|f| !f.retired.load(Ordering::Relaxed))
            })?;
        pick.busy.fetch_add(1, Ordering::Relaxed);
        Some(Lease(Arc::clone(pick)))
    }

    /// A request to the next instance (`None` when it lacks the endpoint `build` needs, or
    /// the request could not be sent), recorded in `f`'s history.
    async fn exchange(
        &self,
        f: &Arc<Family>,
        actor: Actor,
        request: Request,
        build: impl FnOnce(&Endpoints) -> Option<crate::http::Request>,
        read: impl FnOnce(&HttpResponse) -> Reading,
    ) -> Option<Response> {
        let instance = self.instance();
        let req = build(&self.plan.instances[instance])?;
        let sent = self.send(&req).await.ok()?;
        self.record(f, actor, request, instance, sent, read)
    }

    /// One refresh of `rt` on `f`.
    async fn refresh(
        &self,
        f: &Arc<Family>,
        actor: Actor,
        rt: Rt,
        value: &Secret,
    ) -> Option<Response> {
        let client = self.client(f);
        let creds = Credentials::Client(client);
        let build = |e: &Endpoints| Some(request::refresh(&e.token, value.expose(), None, creds));
        self.exchange(f, actor, Request::Refresh(rt), build, |r| {
            read_token(r, client)
        })
        .await
    }

    fn client(&self, f: &Family) -> &ClientConfig {
        &self.plan.clients[f.client]
    }

    fn latest(f: &Family) -> Held {
        let s = lock(&f.state);
        Held {
            rt: s.latest_rt.clone(),
            at: s.latest_at.clone(),
            previous: s.previous_rt.clone(),
        }
    }

    async fn use_access(&self, f: &Arc<Family>, at: At, value: &Secret) -> Option<Response> {
        let build = |e: &Endpoints| Some(request::resource(e.resource.as_deref()?, value));
        let read = |r: &HttpResponse| read_plain(r, |r| wire::read_resource(r).map(|(o, _)| o));
        self.exchange(f, Actor::Client(0), Request::UseAccess(at), build, read)
            .await
    }

    /// Revocation (RFC 7009) of `value`, which `what` names, by the family's client.
    async fn revoke(
        &self,
        f: &Arc<Family>,
        what: Request,
        value: &Secret,
        hint: &str,
    ) -> Option<Response> {
        let creds = Credentials::Client(self.client(f));
        let build = |e: &Endpoints| {
            let url = e.revocation.as_deref()?;
            Some(request::revocation(url, value.expose(), Some(hint), creds))
        };
        let read = |r: &HttpResponse| read_plain(r, |r| wire::read_revocation(r).map(|(o, _)| o));
        self.exchange(f, Actor::Client(0), what, build, read).await
    }

    /// Introspection (RFC 7662) by `actor` of refresh token `value`, which `what` names.
    async fn introspect(
        &self,
        f: &Arc<Family>,
        actor: Actor,
        what: Request,
        value: &Secret,
    ) -> Option<Response> {
        let creds = match &self.plan.introspection {
            Some(i) => Credentials::Basic(&i.client_id, i.client_secret.as_ref()),
            None => Credentials::Client(self.client(f)),
        };
        let hint = Some("refresh_token");
        let build = |e: &Endpoints| {
            let url = e.introspection.as_deref()?;
            Some(request::introspection(url, value.expose(), hint, creds))
        };
        let read =
            |r: &HttpResponse| read_plain(r, |r| wire::read_introspection(r).map(|(o, _)| o));
        self.exchange(f, actor, what, build, read).await
    }
}

/// What the family's legitimate clients hold.
struct Held {
    /// The latest refresh token.
    rt: Option<(Rt, Secret)>,
    /// The latest access token.
    at: Option<(At, Secret)>,
    /// The refresh token the latest rotation consumed.
    previous: Option<(Rt, Secret)>,
}

/// A family a client works on; released on drop.
struct Lease(Arc<Family>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a response reads.
enum Reading {
    Plain(Response),
    Tokens(Secret, Option<Secret>),
}

fn read_token(r: &HttpResponse, client: &ClientConfig) -> Reading {
    // Load authorizes a client for its whole registration and never names a scope.
    match wire::read_token(r, client, tokenlife_model::state::Scope::ALL) {
        Ok((
            Observed::Tokens {
                access, refresh, ..
            },
            _,
        )) => Reading::Tokens(access, refresh),
        Ok((Observed::Error { status, error }, _)) => {
            Reading::Plain(Response::Refused { status, error })
        }
        _ => Reading::Plain(Response::Broken { status: r.status }),
    }
}

fn read_plain(
    r: &HttpResponse,
    read: impl FnOnce(&HttpResponse) -> Result<Observed, String>,
) -> Reading {
    Reading::Plain(match read(r) {
        Ok(Observed::Resource { ok: true } | Observed::Revocation { ok: true })
        | Ok(Observed::Introspection { active: true }) => Response::Honoured,
        Ok(_) => Response::Denied,
        Err(_) => Response::Broken { status: r.status },
    })
}

/// Whether a legitimate client learns from `r` that its family is over.
fn refused(r: Option<Response>) -> bool {
    matches!(r, Some(Response::Refused { .. } | Response::Denied))
}

/// After a client's action on `f`: a family that refused it, or that has grown too long,
/// is replaced.
async fn after(sh: &Shared, f: &Arc<Family>, refused: bool) {
    if refused || f.retired.load(Ordering::Relaxed) {
        sh.replace(f).await;
    }
}

/// What a client does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    /// A refresh with the latest token of a family nobody else works on.
    Refresh,
    /// A refresh with the latest token of a family another client may be working on.
    Join,
    /// Two or three concurrent refreshes of one token.
    Race,
    /// The resource, with the latest access token.
    Resource,
    /// The attacker copies a family's latest refresh token.
    Steal,
    /// The attacker replays a copied token.
    Replay,
    /// Introspection of the consumed predecessor: it must not be active.
    Introspect,
    /// Revocation of the latest access token.
    RevokeAccess,
    /// Revocation of the latest refresh token: the family ends.
    RevokeRefresh,
}

impl Move {
    /// The mix, per mille: mostly refreshes.
    fn pick(rng: &mut StdRng, attacker: bool) -> Move {
        match rng.random_range(0..1000u32) {
            800..=879 => Move::Resource,
            880..=919 => Move::Race,
            920..=939 => Move::Join,
            940..=959 if attacker => Move::Steal,
            960..=979 if attacker => Move::Replay,
            980..=989 => Move::Introspect,
            990..=994 => Move::RevokeAccess,
            995..=999 => Move::RevokeRefresh,
            _ => Move::Refresh,
        }
    }
}

/// One client: picks families and moves until the load ends.
async fn worker(shared: Arc<Shared>, index: u16) {
    let sh = &*shared;
    let mut rng = StdRng::seed_from_u64(
        sh.plan.options.seed ^ (u64::from(index) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let me = Actor::Client(index + 1);
    while sh.running() {
        let mv = Move::pick(&mut rng, sh.plan.options.attacker);
        if mv == Move::Replay {
            let stolen = {
                let mut p = lock(&sh.pocket);
                let n = p.len();
                (n > 0).then(|| p.swap_remove(rng.random_range(0..n)))
            };
            if let Some(s) = stolen {
                sh.refresh(&s.family, Actor::Attacker, s.rt, &s.value).await;
            }
            continue;
        }
        let idle = !matches!(mv, Move::Join | Move::Steal | Move::Introspect);
        let Some(lease) = sh.lease(&mut rng, idle) else {
            break;
        };
        let f = &lease.0;
        let held = Shared::latest(f);
        let ended = match (mv, held.rt, held.at, held.previous) {
            (Move::Refresh | Move::Join, Some((rt, v)), _, _) => {
                refused(sh.refresh(f, me, rt, &v).await)
            }
            (Move::Race, Some((rt, v)), _, _) => {
                let n = rng.random_range(2..=3);
                race(sh, f, me, rt, &v, n).await.into_iter().any(refused)
            }
            (Move::Resource, _, Some((at, v)), _) => refused(sh.use_access(f, at, &v).await),
            (Move::Steal, Some((rt, value)), _, _) => {
                sh.pocket_add(Stolen {
                    family: Arc::clone(f),
                    rt,
                    value,
                });
                false
            }
            (Move::Introspect, _, _, Some((rt, v))) => {
                sh.introspect(f, me, Request::IntrospectRefresh(rt), &v)
                    .await;
                false
            }
            (Move::RevokeAccess, _, Some((at, v)), _) => {
                sh.revoke(f, Request::RevokeAccess(at), &v, "access_token")
                    .await;
                false
            }
            (Move::RevokeRefresh, Some((rt, v)), _, _) => {
                sh.revoke(f, Request::RevokeRefresh(rt), &v, "refresh_token")
                    .await;
                true
            }
            _ => false,
        };
        after(sh, f, ended).await;
    }
}

/// `n` (2 or 3) concurrent refreshes of `rt`.
async fn race(
    sh: &Shared,
    f: &Arc<Family>,
    actor: Actor,
    rt: Rt,
    v: &Secret,
    n: usize,
) -> Vec<Option<Response>> {
    let a = sh.refresh(f, actor, rt, v);
    let b = sh.refresh(f, actor, rt, v);
    if n <= 2 {
        let (x, y) = tokio::join!(a, b);
        vec![x, y]
    } else {
        let c = sh.refresh(f, actor, rt, v);
        let (x, y, z) = tokio::join!(a, b, c);
        vec![x, y, z]
    }
}

/// Kills and restarts an instance at the period, then audits every live family.
async fn crasher(
    shared: Arc<Shared>,
    fleet: Arc<dyn Fleet>,
    every: Duration,
) -> Result<(), DriveError> {
    let sh = &*shared;
    let mut n = 0usize;
    loop {
        let next = Instant::now() + every;
        while Instant::now() < next {
            if !sh.running() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5).min(every)).await;
        }
        let instance = n % sh.plan.instances.len();
        n += 1;
        let killed = sh.now();
        fleet
            .crash_restart(instance)
            .await
            .map_err(|reason| DriveError::Restart { instance, reason })?;
        let back = sh.now();
        lock(&sh.restarts).push(Restart {
            instance,
            killed,
            back,
        });
        // No consumed refresh token may be alive again: every live family's predecessor
        // is introspected, all at once.
        let families: Vec<Arc<Family>> = lock(&sh.slots).clone();
        let mut audits = tokio::task::JoinSet::new();
        for f in families {
            if let Some((rt, v)) = Shared::latest(&f).previous {
                let shared = Arc::clone(&shared);
                audits.spawn(async move {
                    shared
                        .introspect(&f, Actor::Audit, Request::IntrospectRefresh(rt), &v)
                        .await
                });
            }
        }
        while audits.join_next().await.is_some() {}
        if sh.plan.options.crashes.is_some_and(|max| n >= max) {
            sh.stop.store(true, Ordering::Relaxed);
            return Ok(());
        }
    }
}

/// Runs the load and returns every family's history.
pub async fn drive(
    plan: Plan,
    http: Http,
    fleet: Option<Arc<dyn Fleet>>,
    stop: Arc<AtomicBool>,
) -> Result<Driven, DriveError> {
    let now = Instant::now();
    let shared = Arc::new(Shared {
        http,
        start: now,
        end: now + plan.options.duration,
        stop,
        slots: Mutex::new(Vec::new()),
        all: Mutex::new(Vec::new()),
        pocket: Mutex::new(Vec::new()),
        next_family: AtomicU32::new(0),
        next_instance: AtomicUsize::new(0),
        requests: AtomicU64::new(0),
        refreshes: AtomicU64::new(0),
        refreshes_ok: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        not_sent: AtomicU64::new(0),
        setup_failures: AtomicU64::new(0),
        setup_errors: Mutex::new(Vec::new()),
        latencies: Mutex::new(Vec::new()),
        restarts: Mutex::new(Vec::new()),
        plan,
    });
    // The first families, started by the clients at once (each its share), within the
    // load's time like everything else.
    let starters: Vec<_> = (0..shared.plan.options.concurrency)
        .map(|i| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let (n, c) = (
                    shared.plan.options.families,
                    shared.plan.options.concurrency,
                );
                let mut first_error = None;
                for _ in (i..n).step_by(c) {
                    if !shared.running() {
                        break;
                    }
                    match shared.new_family().await {
                        Ok(f) => lock(&shared.slots).push(f),
                        Err(e) => {
                            shared.setup_failed(e.clone());
                            first_error.get_or_insert(e);
                        }
                    }
                }
                first_error
            })
        })
        .collect();
    let mut first_error = None;
    for s in starters {
        if let Ok(Some(e)) = s.await {
            first_error.get_or_insert(e);
        }
    }
    if lock(&shared.slots).is_empty() {
        return Err(DriveError::NoFamily(first_error.unwrap_or_default()));
    }
    let crash = match (shared.plan.options.crash_every, fleet) {
        (Some(every), Some(fleet)) => {
            Some(tokio::spawn(crasher(Arc::clone(&shared), fleet, every)))
        }
        _ => None,
    };
    let workers: Vec<_> = (0..shared.plan.options.concurrency)
        .map(|i| {
            tokio::spawn(worker(
                Arc::clone(&shared),
                u16::try_from(i).unwrap_or(u16::MAX),
            ))
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let seconds = shared.start.elapsed().as_secs_f64();
    if let Some(c) = crash {
        match c.await {
            Ok(r) => r?,
            Err(e) => {
                return Err(DriveError::Restart {
                    instance: 0,
                    reason: format!("the crash controller stopped: {e}"),
                })
            }
        }
    }
    let histories = lock(&shared.all)
        .iter()
        .map(|f| {
            let mut s = lock(&f.state);
            let empty = History::new(s.history.family, s.history.client);
            std::mem::replace(&mut s.history, empty)
        })
        .collect();
    let sh = &*shared;
    let driven = Driven {
        histories,
        restarts: lock(&sh.restarts).clone(),
        seconds,
        requests: sh.requests.load(Ordering::Relaxed),
        refreshes_ok: sh.refreshes_ok.load(Ordering::Relaxed),
        refreshes: sh.refreshes.load(Ordering::Relaxed),
        unknown: sh.unknown.load(Ordering::Relaxed),
        not_sent: sh.not_sent.load(Ordering::Relaxed),
        refresh_latencies_us: std::mem::take(&mut *lock(&sh.latencies)),
        setup_failures: sh.setup_failures.load(Ordering::Relaxed),
        setup_errors: lock(&sh.setup_errors).clone(),
    };
    Ok(driven)
}
