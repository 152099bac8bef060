//! `tokenlife bench harness`: what judging costs. The default suite runs against the
//! embedded reference server with every HTTP exchange recorded; then a bare client replays
//! the same requests, in the same order, against a fresh embedded server, judging nothing.
//! It only carries tokens and codes forward (a recorded value is replaced by the value the
//! fresh server answered in its place), and restarts the fresh server where the suite
//! restarted its own, so the server does the same work both times. Both rates are
//! requests per second of wall time, in the same process, one after the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokenlife_harness::http::{Http, HttpConfig, Request, Response};
use tokenlife_harness::session::{BoxFuture, Control};
use tokenlife_harness::RunOptions;
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::embedded::{suite_options, Embedded};
use crate::outcome::{exit_code, outln, runtime, Failure, Format, EXIT_OK};
use crate::policy::profile_named;

/// Arguments of `tokenlife bench harness`.
#[derive(Debug, clap::Args)]
pub struct BenchHarnessArgs {
    /// The embedded server's profile.
    #[arg(long, default_value = "bcp")]
    pub profile: String,
    /// Exhaustive generation depth, as in `tokenlife run`.
    #[arg(long, default_value_t = 4)]
    pub depth: u16,
    /// Random sequences, as in `tokenlife run`.
    #[arg(long, default_value_t = 0)]
    pub cases: u32,
    /// The aimed search's budget in requests, as in `tokenlife run`.
    #[arg(long, default_value_t = tokenlife_harness::search::DEFAULT_BUDGET)]
    pub budget: u64,
    /// The seed of the random sequences.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The measurement.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// The profile.
    pub profile: String,
    /// HTTP requests the suite sent (and the bare client replayed).
    pub requests: usize,
    /// Model actions the harness judged.
    pub actions: usize,
    /// Seconds the suite took.
    pub harness_seconds: f64,
    /// The suite's requests per second.
    pub harness_requests_per_second: f64,
    /// Seconds the bare replay took.
    pub bare_seconds: f64,
    /// The bare client's requests per second.
    pub bare_requests_per_second: f64,
    /// harness rate / bare rate (target: at least 0.5).
    pub ratio: f64,
    /// Replayed answers with the status the suite saw (a faithful replay: near 1).
    pub same_status: f64,
    /// Server restarts, in both runs.
    pub restarts: usize,
}

/// The embedded server's control, noting after how many exchanges each restart came.
struct Marked {
    inner: Arc<Embedded>,
    recording: tokenlife_harness::http::Recording,
    restarts: Arc<Mutex<Vec<usize>>>,
}

impl Control for Marked {
    fn restart(&self) -> BoxFuture<'_, Result<Option<(String, String)>, String>> {
        let at = self.recording.lock().map_or(0, |r| r.len());
        if let Ok(mut v) = self.restarts.lock() {
            v.push(at);
        }
        self.inner.restart()
    }
}

/// Rewrites a recorded request for the fresh server: its base URL, and every token or
/// code the fresh server answered in place of a recorded one.
fn rewrite(req: &Request, from: &str, to: &str, map: &HashMap<String, String>) -> Request {
    let mut r = req.clone();
    if let Some(rest) = r.url.strip_prefix(from) {
        r.url = format!("{to}{rest}");
    }
    for (name, value) in &mut r.headers {
        if name.eq_ignore_ascii_case("authorization") {
            if let Some(t) = value.strip_prefix("Bearer ") {
                if let Some(live) = map.get(t) {
                    *value = format!("Bearer {live}");
                }
            }
        }
    }
    if let Some(form) = &mut r.form {
        for (_, v) in form.iter_mut() {
            if let Some(live) = map.get(v.as_str()) {
                v.clone_from(live);
            }
        }
    }
    r
}

/// The code in a redirect's Location, if any.
fn code_of(r: &Response) -> Option<String> {
    let loc = r.header("location")?;
    let query = loc.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
}

/// Learns which fresh values stand for recorded ones from a pair of answers.
fn learn(recorded: &Response, live: &Response, map: &mut HashMap<String, String>) {
    if let (Some(a), Some(b)) = (code_of(recorded), code_of(live)) {
        map.insert(a, b);
    }
    let (Ok(a), Ok(b)) = (recorded.json_object(), live.json_object()) else {
        return;
    };
    for key in ["access_token", "refresh_token", "id_token"] {
        if let (Some(x), Some(y)) = (
            a.get(key).and_then(|v| v.as_str()),
            b.get(key).and_then(|v| v.as_str()),
        ) {
            map.insert(x.to_string(), y.to_string());
        }
    }
}

/// Runs the measurement.
pub async fn measure(policy: Policy, options: RunOptions) -> Result<Figures, Failure> {
    let recording: tokenlife_harness::http::Recording = Arc::new(Mutex::new(Vec::new()));
    let options = RunOptions {
        http: HttpConfig {
            record: Some(recording.clone()),
            ..options.http.clone()
        },
        ..options
    };
    let first = Arc::new(
        Embedded::start(policy.clone(), Defects::none())
            .await
            .map_err(Failure::unreachable)?,
    );
    let restarts = Arc::new(Mutex::new(Vec::new()));
    let control: Arc<dyn Control> = Arc::new(Marked {
        inner: first.clone(),
        recording: recording.clone(),
        restarts: restarts.clone(),
    });
    let set = tokenlife_harness::builtin::scenarios().map_err(Failure::usage)?;
    let t = Instant::now();
    let report = tokenlife_harness::run(first.target(), &set, options, Some(control))
        .await
        .map_err(Failure::unreachable)?;
    let harness_seconds = t.elapsed().as_secs_f64();
    let from = first.url().to_string();
    first.stop().await;
    let exchanges = std::mem::take(&mut *recording.lock().map_err(Failure::unreachable)?);

    let restarts = std::mem::take(&mut *restarts.lock().map_err(Failure::unreachable)?);
    let fresh = Embedded::start(policy.clone(), Defects::none())
        .await
        .map_err(Failure::unreachable)?;
    let mut to = fresh.url().to_string();
    let http = Http::new(HttpConfig {
        timeout: Duration::from_secs(10),
        ..HttpConfig::default()
    })
    .map_err(Failure::unreachable)?;
    let mut map: HashMap<String, String> = HashMap::with_capacity(exchanges.len() * 2);
    let mut same = 0usize;
    let t = Instant::now();
    let mut next_restart = restarts.iter().peekable();
    for (i, (req, recorded)) in exchanges.iter().enumerate() {
        while next_restart.next_if(|&&at| at <= i).is_some() {
            if let Some((_, new)) = fresh.restart().await.map_err(Failure::unreachable)? {
                to = new;
            }
        }
        let live = http
            .send(&rewrite(req, &from, &to, &map))
            .await
            .map_err(Failure::unreachable)?;
        if live.status == recorded.status {
            same += 1;
        }
        learn(recorded, &live, &mut map);
    }
    let bare_seconds = t.elapsed().as_secs_f64();
    fresh.stop().await;
    let n = exchanges.len();
    let harness_rate = n as f64 / harness_seconds.max(1e-9);
    let bare_rate = n as f64 / bare_seconds.max(1e-9);
    Ok(Figures {
        profile: policy.profile.clone(),
        requests: n,
        actions: report.actions,
        harness_seconds,
        harness_requests_per_second: harness_rate,
        bare_seconds,
        bare_requests_per_second: bare_rate,
        ratio: harness_rate / bare_rate.max(1e-9),
        same_status: same as f64 / (n.max(1)) as f64,
        restarts: restarts.len(),
    })
}

/// Runs `tokenlife bench harness`.
pub fn run(args: BenchHarnessArgs) -> u8 {
    exit_code(run_checked(&args))
}

fn run_checked(args: &BenchHarnessArgs) -> Result<u8, Failure> {
    let policy = profile_named(&args.profile)?;
    let options = suite_options(args.seed, args.depth, args.cases, args.budget);
    let f = runtime()?.block_on(measure(policy, options))?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&f).unwrap_or_default()),
        Format::Human => outln!(
            "tokenlife bench harness: profile {}, {} requests ({} judged actions, {} restarts), embedded server, same process\n  harness (judging)  {:>8.0} requests/s   {:.2} s\n  bare replay        {:>8.0} requests/s   {:.2} s   ({:.1}% same statuses)\n  harness / bare     {:.2}   (target: at least 0.50)",
            f.profile,
            f.requests,
            f.actions,
            f.restarts,
            f.harness_requests_per_second,
            f.harness_seconds,
            f.bare_requests_per_second,
            f.bare_seconds,
            f.same_status * 100.0,
            f.ratio
        ),
    }
    Ok(EXIT_OK)
}
