use tokenlife_model::check::check;
use tokenlife_model::{Bounds, Policy};

#[test]
#[ignore]
fn scratch() {
    for name in Policy::profile_names() {
        let p = Policy::profile(name).unwrap();
        let r = check(&p, Bounds::default(), 1);
        println!(
            "{name}: {} states {:.2}s {:.0}/s witness {:.2}s",
            r.unique_states, r.seconds, r.states_per_second, r.witness_seconds
        );
        for pr in &r.properties {
            if pr.status.as_str() == "violated" {
                println!("   {} {}", pr.status.as_str(), pr.name);
                for (i, st) in pr.counterexample.as_ref().unwrap().iter().enumerate() {
                    println!("      {}. {} -> {}", i + 1, st.action, st.outcome);
                }
            }
        }
    }
}

#[test]
#[ignore]
fn scratch_own() {
    for name in Policy::profile_names() {
        let p = Policy::profile(name).unwrap();
        let m = tokenlife_model::LifecycleModel::new(p, Bounds::default());
        let t = std::time::Instant::now();
        let n = tokenlife_model::explore::count_states(&m);
        let s = t.elapsed().as_secs_f64();
        println!("own {name}: {n} states {s:.2}s {:.0}/s", n as f64 / s);
    }
}

#[test]
#[ignore]
fn sizes() {
    use tokenlife_model::state::*;
    println!(
        "State {} RT {} AT {} Grant {}",
        std::mem::size_of::<State>(),
        std::mem::size_of::<RefreshToken>(),
        std::mem::size_of::<AccessToken>(),
        std::mem::size_of::<Grant>()
    );
}
