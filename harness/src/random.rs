//! Random sequences: seeded walks of the model, run against the target and judged by the
//! same oracle; a failing one is shrunk and written out as a scenario file that replays it.
//!
//! Each case is a proptest value: a vector of choices, decoded into a walk of the spec from
//! the initial state with the model checker's action alphabet (one grant). The cases come
//! from proptest's ChaCha generator seeded with `--seed`, so a seed replays a run exactly
//! on the model side. A failing case is shrunk by proptest's value tree (fewer choices,
//! lower choices: shorter, simpler walks), each candidate run against the target and kept
//! while the same check still fails; then steps that mint nothing (resource calls,
//! introspection, revocation, code replay, time, restarts) are dropped one at a time the
//! same way; last, one greedy pass tries removing each remaining step, and keeps a removal
//! when the shorter walk still fails the same check at its last step, so the trace holds
//! only steps the failure needs. Each pass has its own budget of runs against the target
//! (`session::sequence`'s `SHRINK_RUNS`, `DROP_RUNS`, `FINAL_PASS_RUNS`).
//! Clauses: every clause the spec encodes.

use proptest::strategy::{Strategy as _, ValueTree as _};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tokenlife_model::observe::observe;
use tokenlife_model::spec::{Hint, TokenRef};
use tokenlife_model::state::Scope;
use tokenlife_model::{Action, Actor, ClientType, Outcome, Policy, State};

use crate::generate::Reach;

/// One random case: proptest's choice vector (which enabled action, which allowed
/// outcome, at each step), which shrinks by dropping choices and lowering them.
pub type Choices = Vec<(u16, u16)>;

/// A case's value tree: its current choices, and the means to shrink them.
pub struct Case(Box<dyn proptest::strategy::ValueTree<Value = Choices> + Send>);

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Case").field(&self.0.current()).finish()
    }
}

impl Case {
    /// The current choices.
    pub fn current(&self) -> Choices {
        self.0.current()
    }

    /// A simpler candidate; `false` when there is none left.
    pub fn simplify(&mut self) -> bool {
        self.0.simplify()
    }

    /// Back off the last simplification (it passed); `false` when there is nothing to undo.
    pub fn complicate(&mut self) -> bool {
        self.0.complicate()
    }
}

fn strategy(len: u16) -> impl proptest::strategy::Strategy<Value = Choices, Tree: Send + 'static> {
    proptest::collection::vec(
        (proptest::num::u16::ANY, proptest::num::u16::ANY),
        1..=len.max(1) as usize,
    )
}

/// `cases` proptest cases of at most `len` choices from `seed` (the same seed, the same
/// cases).
pub fn cases(seed: u64, cases: u32, len: u16) -> Vec<Case> {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&seed.rotate_left(i as u32 * 16).to_le_bytes());
    }
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let strategy = strategy(len);
    (0..cases)
        .filter_map(|_| {
            strategy
                .new_tree(&mut runner)
                .ok()
                .map(|t| Case(Box::new(t)))
        })
        .collect()
}

/// Decodes proptest choices into a walk of the model from the initial state, with the
/// model checker's action alphabet (one grant): each step takes the enabled action and
/// the allowed outcome its choice picks (modulo how many there are). The walk stops
/// early when nothing is enabled.
pub fn decode(policy: &Policy, choices: &[(u16, u16)], reach: Reach) -> Vec<Action> {
    let len = choices.len().min(u16::MAX as usize) as u16;
    let mut walker = crate::generate::Walker::new(policy, len, reach);
    let mut s = State::default();
    let mut seq = Vec::with_capacity(choices.len());
    for &(pick, outcome) in choices {
        let actions = walker.enabled(&s);
        if actions.is_empty() {
            break;
        }
        let a = actions[pick as usize % actions.len()];
        let Ok(mut outs) = walker.spec.step(&s, &a) else {
            break;
        };
        if outs.is_empty() {
            break;
        }
        let (o, mut post) = outs.swap_remove(outcome as usize % outs.len());
        observe(policy, &s, &a, &o, &mut post);
        s = post;
        seq.push(a);
    }
    seq
}

/// `cases` sequences of at most `len` actions from `seed`.
pub fn sequences(
    policy: &Policy,
    seed: u64,
    cases: u32,
    len: u16,
    reach: Reach,
) -> Vec<Vec<Action>> {
    self::cases(seed, cases, len)
        .iter()
        .map(|c| decode(policy, &c.current(), reach))
        .collect()
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
        let a = sequences(&p, 7, 5, 6, Reach::full(false));
        assert_eq!(a, sequences(&p, 7, 5, 6, Reach::full(false)));
        assert_ne!(a, sequences(&p, 8, 5, 6, Reach::full(false)));
        assert!(a
            .iter()
            .all(|s| matches!(s.first(), Some(Action::Authorize { .. }))));
        assert!(a.iter().all(|s| !s.is_empty() && s.len() <= 6));
    }

    #[test]
    fn shrinking_ends_at_a_shorter_walk() {
        let p = Policy::profile("bcp").unwrap_or_default();
        let mut case = cases(11, 1, 8).pop().unwrap();
        let first = decode(&p, &case.current(), Reach::full(false));
        // Accept every simplification: the walk only gets shorter, ending at one step.
        let mut rounds = 0;
        while case.simplify() && rounds < 10_000 {
            rounds += 1;
        }
        let last = decode(&p, &case.current(), Reach::full(false));
        assert!(last.len() <= first.len());
        assert_eq!(last.len(), 1, "{last:?}");
        assert!(matches!(last[0], Action::Authorize { .. }));
    }
}
