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
//! only steps the failure needs. A removed step that minted tokens takes its ids with it:
//! later ids are renumbered, and a later use of a removed refresh's tokens becomes a use of
//! what that refresh was issued from ([`without_step`]). Each pass has its own budget of runs against the target
//! (`session::sequence`'s `SHRINK_RUNS`, `DROP_RUNS`, `FINAL_PASS_RUNS`).
//! Clauses: every clause the spec encodes.

use proptest::strategy::{Strategy as _, ValueTree as _};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tokenlife_model::observe::observe;
use tokenlife_model::spec::{Hint, TokenRef};
use tokenlife_model::state::Scope;
use tokenlife_model::{Action, Actor, ClientType, Outcome, Policy, State};

use crate::generate::Reach;
use crate::scenario::{Expect, Requires};

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

/// `seq` without step `i`, with every later step naming the tokens it would name in the
/// model's numbering: the ids step `i` minted are gone and the later ones move down by one.
/// A refresh's successor and new access token stand in for what it was issued from, so a
/// later step that used them uses the presented refresh token and the access token issued
/// with it instead (the walk without the rotation); for anything else step `i` minted that a
/// later step names, `None`. `outcomes` are the model outcomes of the steps; `None` too when
/// what step `i` minted cannot be told from its outcome.
pub fn without_step(seq: &[Action], i: usize, outcomes: &[Option<Outcome>]) -> Option<Vec<Action>> {
    use tokenlife_model::state::{AtId, GrantId, RtId};
    let step = seq.get(i)?;
    let minted = |j: usize| match outcomes.get(j).copied().flatten() {
        Some(Outcome::Tokens {
            access,
            refresh,
            refresh_is_new,
            ..
        }) => Some((access, refresh.filter(|_| refresh_is_new))),
        _ => None,
    };
    // What step `i` minted: (gone, stand-in) per kind.
    let (mut at, mut rt, mut grant) = ((None, None), (None, None), None);
    match (step, minted(i)) {
        (Action::Authorize { .. }, Some((access, refresh))) => {
            at.0 = Some(access.0);
            rt.0 = refresh.map(|r| r.0);
            let earlier = (0..i)
                .filter(|&j| matches!(seq[j], Action::Authorize { .. }) && minted(j).is_some());
            grant = Some(u8::try_from(earlier.count()).ok()?);
        }
        // An authorization answered otherwise may or may not have made a grant.
        (Action::Authorize { .. }, None) => return None,
        (
            Action::Refresh { rt: presented, .. } | Action::RefreshLost { rt: presented },
            Some((access, refresh)),
        ) => {
            // The access token issued with the presented refresh token, if a step minted it.
            let issued_with = (0..i)
                .filter_map(minted)
                .find(|(_, r)| *r == Some(*presented))
                .map(|(a, _)| a.0);
            at = (Some(access.0), issued_with);
            rt = (refresh.map(|r| r.0), refresh.map(|_| presented.0));
        }
        _ => {}
    }
    // The id after the removal; `None` for one that is gone with no stand-in.
    fn renumber(id: u8, (gone, stand_in): (Option<u8>, Option<u8>)) -> Option<u8> {
        match gone {
            Some(g) if id == g => stand_in,
            Some(g) if id > g => Some(id - 1),
            _ => Some(id),
        }
    }
    let rt_of = |r: RtId| renumber(r.0, rt).map(RtId);
    let at_of = |a: AtId| renumber(a.0, at).map(AtId);
    let token_of = |t: TokenRef| match t {
        TokenRef::Refresh(r) => rt_of(r).map(TokenRef::Refresh),
        TokenRef::Access(a) => at_of(a).map(TokenRef::Access),
    };
    let mut out = seq[..i].to_vec();
    for a in &seq[i + 1..] {
        out.push(match *a {
            Action::ReplayCode { grant: g } => Action::ReplayCode {
                grant: GrantId(renumber(g.0, (grant, None))?),
            },
            Action::Refresh { by, rt: r, scope } => Action::Refresh {
                by,
                rt: rt_of(r)?,
                scope,
            },
            Action::RefreshLost { rt: r } => Action::RefreshLost { rt: rt_of(r)? },
            Action::Steal { rt: r } => Action::Steal { rt: rt_of(r)? },
            Action::UseAccess { at: t } => Action::UseAccess { at: at_of(t)? },
            Action::Unproven { token, fault } => Action::Unproven {
                token: token_of(token)?,
                fault,
            },
            Action::Revoke { by, token, hint } => Action::Revoke {
                by,
                token: token_of(token)?,
                hint,
            },
            Action::Introspect { token } => Action::Introspect {
                token: token_of(token)?,
            },
            Action::Advance { to, token, before } => Action::Advance {
                to,
                token: token_of(token)?,
                before,
            },
            other @ (Action::Authorize { .. } | Action::Tick | Action::Restart) => other,
        });
    }
    Some(out)
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
    write_scenario(
        &Header {
            name,
            description,
            requires: None,
        },
        actions,
        outcomes,
        &[],
        owner,
    )
}

/// What a written scenario says before its steps.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its description.
    pub description: &'a str,
    /// The policy conditions it needs, if any.
    pub requires: Option<&'a Requires>,
}

/// The one writer of scenario files from model actions: a shrunk random failure and a
/// model-checker counterexample (`counterexample`) both come out here. `outcomes` (what each
/// action was answered, or would be) name the tokens each step mints; `expects` pins a
/// step's expectation (missing entries pin nothing); `owner` says whose token an action
/// presents, so the file can say `owner` or `other`. A theft (`Steal`) is no request: the
/// attacker's later refresh says `by = "no-auth"`.
pub fn write_scenario(
    header: &Header<'_>,
    actions: &[Action],
    outcomes: &[Option<Outcome>],
    expects: &[Option<Expect>],
    owner: impl Fn(&Action) -> Option<ClientType>,
) -> String {
    // `'` for `"` keeps the description one basic TOML string.
    let mut out = format!(
        "name = \"{}\"\ndescription = \"{}\"\n",
        header.name,
        header.description.replace('"', "'").replace('\\', "/")
    );
    if let Some(table) = header
        .requires
        .and_then(|r| toml::to_string(r).ok())
        .filter(|t| !t.trim().is_empty())
    {
        out.push_str(&format!("\n[requires]\n{table}"));
    }
    let token = |t: TokenRef| match t {
        TokenRef::Refresh(r) => format!("rt{}", r.0),
        TokenRef::Access(a) => format!("at{}", a.0),
    };
    let by = |by: Actor, owner: Option<ClientType>| match (by, owner) {
        (Actor::Attacker, _) => "no-auth",
        (Actor::Client(c), Some(o)) if c == o => "owner",
        (Actor::Client(_), _) => "other",
    };
    // The model numbers grants by the authorizations that made one.
    let mut grants = 0;
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
                    "\n[[steps]]\naction = \"authorize\"\nclient = \"{}\"\nscope = \"{}\"\noffline = {offline}\ngrant = \"g{grants}\"\n",
                    if client == ClientType::Public { "public" } else { "confidential" },
                    scope_text(scope)
                ));
                if matches!(o, None | Some(Outcome::Tokens { .. })) {
                    grants += 1;
                }
                names(&mut out);
            }
            Action::ReplayCode { grant } => out.push_str(&format!(
                "\n[[steps]]\naction = \"replay-code\"\ngrant = \"g{}\"\n",
                grant.0
            )),
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
            Action::Unproven {
                token: TokenRef::Access(at),
                fault,
            } => out.push_str(&format!(
                "\n[[steps]]\naction = \"use-access\"\nat = \"at{}\"\nproof = \"{}\"\n",
                at.0,
                fault.name()
            )),
            Action::Unproven {
                token: TokenRef::Refresh(rt),
                fault,
            } => {
                out.push_str(&format!(
                    "\n[[steps]]\naction = \"refresh\"\nrt = \"rt{}\"\nby = \"owner\"\nproof = \"{}\"\n",
                    rt.0,
                    fault.name()
                ));
                names(&mut out);
            }
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
            Action::Advance {
                to,
                token: t,
                before,
            } => {
                let field = if to.of_access() { "at" } else { "rt" };
                out.push_str(&format!(
                    "\n[[steps]]\naction = \"tick\"\nadvance = \"{to}\"\n{field} = \"{}\"\n",
                    token(t)
                ));
                if before {
                    out.push_str("before = true\n");
                }
            }
            Action::Restart => out.push_str("\n[[steps]]\naction = \"restart\"\n"),
            Action::Steal { .. } => continue,
        }
        if let Some(x) = expects.get(i).copied().flatten() {
            out.push_str(&format!("expect = \"{x}\"\n"));
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

    /// Plays `seq` on the bcp spec, taking the first allowed outcome each time.
    fn play(seq: &[Action]) -> Vec<Option<Outcome>> {
        let p = Policy::profile("bcp").unwrap_or_default();
        let spec = tokenlife_model::Spec::new(p.clone());
        let mut s = State::default();
        let mut outs = Vec::new();
        for a in seq {
            let (o, mut post) = spec.step(&s, a).unwrap().swap_remove(0);
            observe(&p, &s, a, &o, &mut post);
            s = post;
            outs.push(Some(o));
        }
        outs
    }

    #[test]
    fn dropping_a_minting_step_renumbers_the_later_ids() {
        use tokenlife_model::state::{AtId, RtId};
        let auth = Action::Authorize {
            client: ClientType::Confidential,
            scope: Scope::ALL,
            offline: true,
        };
        let owner = Actor::Client(ClientType::Confidential);
        let refresh = |r: u8| Action::Refresh {
            by: owner,
            rt: RtId(r),
            scope: None,
        };
        // Grant 0 (AT0, RT0), grant 1 (AT1, RT1), RT1 refreshed (AT2, RT2), AT2 used.
        let seq = [auth, auth, refresh(1), Action::UseAccess { at: AtId(2) }];
        let outs = play(&seq);
        // Without grant 0, the same walk names RT0 and AT1.
        let shorter = without_step(&seq, 0, &outs).unwrap();
        assert_eq!(
            shorter,
            vec![auth, refresh(0), Action::UseAccess { at: AtId(1) }]
        );
        // The renumbered walk mints what it names: its refresh rotates RT0, and AT1 is the
        // access token that refresh issues.
        let again = play(&shorter);
        assert!(matches!(
            again[1],
            Some(Outcome::Tokens {
                access: AtId(1),
                refresh: Some(RtId(1)),
                refresh_is_new: true,
                ..
            })
        ));
        // An authorization whose tokens a later step uses stays.
        assert_eq!(without_step(&seq, 1, &outs), None);
        // Without the rotation, the walk uses what the refresh was issued from: RT1 is
        // refreshed again and AT1, issued with it, is the one used.
        assert_eq!(
            without_step(&seq, 2, &outs).unwrap(),
            vec![auth, auth, Action::UseAccess { at: AtId(1) }]
        );
        let rotated_twice = [
            auth,
            refresh(0),
            refresh(1),
            Action::UseAccess { at: AtId(2) },
        ];
        let outs = play(&rotated_twice);
        assert_eq!(
            without_step(&rotated_twice, 1, &outs).unwrap(),
            vec![auth, refresh(0), Action::UseAccess { at: AtId(1) }]
        );
        // A step that mints nothing is just removed.
        let revoked = [auth, Action::Tick, refresh(0)];
        assert_eq!(
            without_step(&revoked, 1, &play(&revoked)).unwrap(),
            vec![auth, refresh(0)]
        );
    }
}
