//! Random sequences: seeded walks of the model, run against the target and judged by the
//! same oracle; a failing one is shrunk and written out as a scenario file that replays it.
//!
//! Each case walks the spec from the initial state with the model checker's action alphabet
//! (one grant), choosing uniformly with a seeded RNG, so `--seed` replays a run exactly on
//! the model side. Shrinking drops steps that mint nothing (resource calls, introspection,
//! revocation, code replay, time, restarts), one at a time while the same check still
//! fails; steps that mint tokens stay, since removing one renumbers every later token.
//! Clauses: every clause the spec encodes.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokenlife_model::model::{Bounds, LifecycleModel, Step};
use tokenlife_model::observe::observe;
use tokenlife_model::spec::{Hint, TokenRef};
use tokenlife_model::state::Scope;
use tokenlife_model::{Action, Actor, ClientType, Outcome, Policy, Spec, State};

/// `cases` sequences of at most `len` actions from `seed`.
pub fn sequences(
    policy: &Policy,
    seed: u64,
    cases: u32,
    len: u16,
    restarts: bool,
) -> Vec<Vec<Action>> {
    let model = LifecycleModel::new(
        policy.clone(),
        Bounds {
            grants: 1,
            refreshes: len.min(8) as u8,
            depth: Some(len),
        },
    );
    let spec = Spec::new(policy.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(cases as usize);
    let mut steps: Vec<Step> = Vec::new();
    for _ in 0..cases {
        let mut s = State::default();
        let mut seq = Vec::new();
        for _ in 0..len {
            steps.clear();
            model.steps(&s, &mut steps);
            let mut actions: Vec<Action> = Vec::new();
            for st in &steps {
                if !actions.contains(&st.action) {
                    actions.push(st.action);
                }
            }
            if restarts && s.n_grants > 0 {
                actions.push(Action::Restart);
            }
            if actions.is_empty() {
                break;
            }
            let a = actions[rng.random_range(0..actions.len())];
            let Ok(mut outs) = spec.step(&s, &a) else {
                break;
            };
            if outs.is_empty() {
                break;
            }
            let (o, mut post) = outs.swap_remove(rng.random_range(0..outs.len()));
            observe(policy, &s, &a, &o, &mut post);
            s = post;
            seq.push(a);
        }
        out.push(seq);
    }
    out
}

/// Whether dropping this action cannot renumber later tokens.
pub fn droppable(a: &Action) -> bool {
    !matches!(
        a,
        Action::Authorize { .. }
            | Action::Refresh { .. }
            | Action::RefreshLost { .. }
            | Action::Steal { .. }
    )
}

fn scope_text(s: Scope) -> String {
    s.to_string()
}

/// A scenario file replaying `actions` (with the outcomes the run saw, to name tokens).
pub fn to_scenario(
    name: &str,
    description: &str,
    actions: &[Action],
    outcomes: &[Option<Outcome>],
    owner: impl Fn(&Action) -> Option<ClientType>,
) -> String {
    let mut out = format!(
        "name = \"{name}\"\ndescription = \"{}\"\n",
        description.replace('"', "'")
    );
    let token = |t: TokenRef| match t {
        TokenRef::Refresh(r) => format!("rt{}", r.0),
        TokenRef::Access(a) => format!("at{}", a.0),
    };
    let by = |by: Actor, owner: Option<ClientType>| match (by, owner) {
        (Actor::Attacker, _) => "no-auth",
        (Actor::Client(c), Some(o)) if c == o => "owner",
        (Actor::Client(_), _) => "other",
    };
    for (i, a) in actions.iter().enumerate() {
        let o = outcomes.get(i).copied().flatten();
        let names = |out: &mut String| {
            if let Some(Outcome::Tokens {
                access,
                refresh,
                refresh_is_new,
                ..
            }) = o
            {
                out.push_str(&format!("access = \"at{}\"\n", access.0));
                if let (Some(r), true) = (refresh, refresh_is_new) {
                    out.push_str(&format!("refresh = \"rt{}\"\n", r.0));
                }
            }
        };
        match *a {
            Action::Authorize {
                client,
                scope,
                offline,
            } => {
                out.push_str(&format!(
                    "\n[[steps]]\naction = \"authorize\"\nclient = \"{}\"\nscope = \"{}\"\noffline = {offline}\ngrant = \"g0\"\n",
                    if client == ClientType::Public { "public" } else { "confidential" },
                    scope_text(scope)
                ));
                names(&mut out);
            }
            Action::ReplayCode { .. } => {
                out.push_str("\n[[steps]]\naction = \"replay-code\"\ngrant = \"g0\"\n")
            }
            Action::Refresh { by: b, rt, scope } => {
                out.push_str(&format!(
                    "\n[[steps]]\naction = \"refresh\"\nrt = \"rt{}\"\nby = \"{}\"\n",
                    rt.0,
                    by(b, owner(a))
                ));
                if let Some(s) = scope {
                    out.push_str(&format!("scope = \"{}\"\n", scope_text(s)));
                }
                names(&mut out);
            }
            Action::RefreshLost { rt } => {
                out.push_str(&format!(
                    "\n[[steps]]\naction = \"refresh-lost\"\nrt = \"rt{}\"\n",
                    rt.0
                ));
                names(&mut out);
            }
            Action::UseAccess { at } => out.push_str(&format!(
                "\n[[steps]]\naction = \"use-access\"\nat = \"at{}\"\n",
                at.0
            )),
            Action::Revoke {
                by: b,
                token: t,
                hint,
            } => out.push_str(&format!(
                "\n[[steps]]\naction = \"revoke\"\ntoken = \"{}\"\nby = \"{}\"\nhint = \"{}\"\n",
                token(t),
                by(b, owner(a)),
                match hint {
                    Hint::None => "none",
                    Hint::Right => "right",
                    Hint::Wrong => "wrong",
                }
            )),
            Action::Introspect { token: t } => out.push_str(&format!(
                "\n[[steps]]\naction = \"introspect\"\ntoken = \"{}\"\n",
                token(t)
            )),
            Action::Tick => out.push_str("\n[[steps]]\naction = \"tick\"\n"),
            Action::Restart => out.push_str("\n[[steps]]\naction = \"restart\"\n"),
            Action::Steal { .. } => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequences() {
        let p = Policy::profile("bcp").unwrap_or_default();
        let a = sequences(&p, 7, 5, 6, false);
        assert_eq!(a, sequences(&p, 7, 5, 6, false));
        assert_ne!(a, sequences(&p, 8, 5, 6, false));
        assert!(a
            .iter()
            .all(|s| matches!(s.first(), Some(Action::Authorize { .. }))));
    }
}
