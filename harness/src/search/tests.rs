use super::*;

fn profile(name: &str) -> Policy {
    Policy::profile(name).unwrap_or_default()
}

#[test]
fn sizes() {
    for p in tokenlife_model::policy::PROFILES {
        let policy = profile(p.name);
        let t = std::time::Instant::now();
        let r = reachable(&policy, Reach::full(false), 8);
        let plan = plan(&policy, Reach::full(false), 1, DEFAULT_BUDGET, 8, &HashSet::new());
        eprintln!(
            "{}: {} pairs, {} situations, complete {}, {:?}; plan {} walks {} requests {} pairs",
            p.name,
            r.pairs.len(),
            r.situations.len(),
            r.complete,
            t.elapsed(),
            plan.walks.len(),
            plan.requests,
            plan.planned_pairs
        );
    }
}
