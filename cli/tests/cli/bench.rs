//! `tokenlife bench infer` as a command: one combination of a seed's draw replayed alone, its
//! JSON, and `--only` outside the draw refused as usage. The seeded slice of five is a unit
//! test beside the benchmark (`bench::infer`).

use crate::{stderr, tokenlife};

#[test]
fn bench_infer_replays_one_combination_of_a_seed_as_json() {
    let o = tokenlife(&[
        "bench", "infer", "--seed", "1", "--combos", "2", "--only", "2", "--depth", "5", "--nodes",
        "4000", "--format", "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["seed"], 1);
    let combos = v["combos"].as_array().unwrap();
    assert_eq!(combos.len(), 1);
    assert_eq!(combos[0]["number"], 2);
    assert!(combos[0]["policy"]
        .as_str()
        .unwrap()
        .starts_with("profile = "));
    assert!(combos[0]["requests"].as_u64().unwrap() > 0);
    assert_eq!(v["recovered"], v["decidable"]);
    assert_eq!(v["recovery_rate"], 1.0);
    assert_eq!(v["contradictions"], 0);

    let o = tokenlife(&["bench", "infer", "--combos", "2", "--only", "3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--only 3"), "{}", stderr(&o));
}
