//! `tokenlife bench model`: the model checker's unique states per second, per profile.

use std::time::Instant;

use serde::Serialize;
use stateright::{Checker, Model};
use tokenlife_model::explore::{count_states, count_states_threads};
use tokenlife_model::model::{Bounds, LifecycleModel};
use tokenlife_model::policy::Policy;

use crate::outcome::{fail, outln, Format, EXIT_OK, EXIT_USAGE};

#[derive(Serialize)]
struct Row {
    profile: String,
    unique_states: usize,
    stateright_1_thread_per_second: f64,
    stateright_all_threads_per_second: f64,
    threads: usize,
    own_bfs_1_thread_per_second: f64,
    own_bfs_all_threads_per_second: f64,
}

fn best(runs: u32, mut f: impl FnMut() -> usize) -> (usize, f64) {
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        n = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (n, n as f64 / best)
}

/// Runs `tokenlife bench model` at these bounds, best of `runs`.
pub fn run(grants: u8, refreshes: u8, runs: u32, format: Format) -> u8 {
    let bounds = Bounds {
        grants,
        refreshes,
        depth: None,
    };
    if let Err(e) = bounds.validate() {
        return fail(EXIT_USAGE, e);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for p in Policy::profile_names().filter_map(Policy::profile) {
        let model = LifecycleModel::new(p.clone(), bounds);
        let sr = |t: usize| {
            let m = model.clone();
            move || {
                m.clone()
                    .checker()
                    .threads(t)
                    .spawn_bfs()
                    .join()
                    .unique_state_count()
            }
        };
        let (n, one) = best(runs, sr(1));
        let (_, all) = best(runs, sr(threads));
        let (_, own) = best(runs, || count_states(&model));
        let (_, own_all) = best(runs, || count_states_threads(&model, threads));
        rows.push(Row {
            profile: p.profile.clone(),
            unique_states: n,
            stateright_1_thread_per_second: one,
            stateright_all_threads_per_second: all,
            threads,
            own_bfs_1_thread_per_second: own,
            own_bfs_all_threads_per_second: own_all,
        });
        if format == Format::Human {
            let r = rows.last().unwrap_or_else(|| unreachable!());
            outln!(
                "{:<11} {:>9} states   stateright: 1 thread {:>8.0}/s, {} threads {:>8.0}/s   own BFS: 1 thread {:>8.0}/s, {} threads {:>8.0}/s",
                r.profile, r.unique_states, r.stateright_1_thread_per_second, threads,
                r.stateright_all_threads_per_second, r.own_bfs_1_thread_per_second, threads,
                r.own_bfs_all_threads_per_second
            );
        }
    }
    if format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    }
    EXIT_OK
}
