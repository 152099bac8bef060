//! `tokenlife load --bench-checker N`: the history checker alone, timed on `N` simulated
//! histories of a correct server.

use rand::SeedableRng as _;
use tokenlife_harness::load::sim::{simulate, SimOptions};
use tokenlife_harness::load::{self, check_all, Clock};
use tokenlife_model::{ClientType, Policy};

use crate::outcome::{out, Format, EXIT_FINDINGS, EXIT_OK};

/// The checker alone: `n` simulated histories of a correct server, then timed checks.
pub fn bench_checker(policy: &Policy, n: usize, seed: u64, format: Format) -> u8 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let histories: Vec<_> = (0..n)
        .map(|i| {
            let client = if i % 2 == 0 {
                ClientType::Confidential
            } else {
                ClientType::Public
            };
            simulate(policy, client, &mut rng, SimOptions::default())
        })
        .collect();
    let mut best = f64::INFINITY;
    let mut checked = load::Checked::default();
    for _ in 0..3 {
        checked = check_all(policy, Clock::real(2), &histories);
        best = best.min(checked.seconds);
    }
    let ops = checked.operations;
    let v = serde_json::json!({
        "profile": policy.profile,
        "histories": n,
        "operations": ops,
        "seconds": best,
        "histories_per_second": n as f64 / best.max(1e-9),
        "operations_per_second": ops as f64 / best.max(1e-9),
        "violations": checked.violations.len(),
    });
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
        Format::Human => format!(
            "checker, profile {}: {n} simulated histories ({ops} requests) in {:.2} ms (best of 3): {:.0} histories/s, {:.0} requests/s; {} violations\n",
            policy.profile,
            best * 1000.0,
            n as f64 / best.max(1e-9),
            ops as f64 / best.max(1e-9),
            checked.violations.len()
        ),
    };
    out!("{text}");
    if checked.violations.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}
