//! The deadlines a scenario's `tick` can move time to by name (`advance = "grace-end"`,
//! `before = true`): which deadline of the model's state each name is, and when it comes
//! in a set of states. "Time passes to the next deadline" lands on whichever deadline comes
//! first, which depends on the lifetimes; a scenario that means one deadline names it, so
//! it stays valid under every lifetime its `[requires]` admits.
//!
//! Clauses: RFC 6749 §5.2 (an expired token is `invalid_grant`), RFC 9700 §4.14.2 (grace
//! window, idle timeout), the browser-apps draft (absolute cap).

use std::fmt;

pub use tokenlife_model::action::Deadline;
use tokenlife_model::spec::TokenRef;
use tokenlife_model::State;

/// A `tick` step's target: a named deadline of one token, or one second before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advance {
    /// Which deadline.
    pub to: Deadline,
    /// One second before it (`before = true`) rather than exactly on it.
    pub before: bool,
    /// The scenario's name of the token whose deadline it is.
    pub token: String,
}

impl fmt::Display for Advance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.before {
            f.write_str("just before ")?;
        }
        write!(f, "the {} of {}", self.to, self.token)
    }
}

/// The model time of `adv`'s deadline for `token` in a set of states, each at its own
/// model time (`times`): every state must have it pending. With `exact` (a test clock, the
/// model alone) they must also agree on when it comes, so the step moves to one moment
/// whatever the hidden choices were. Without it (a real clock, where each reading of the
/// clock is a state of its own) the moment is the one past the deadline in every reading,
/// or with `before` ahead of it in every reading. Else why not, naming it.
pub fn due(
    states: &[State],
    times: &[u32],
    adv: &Advance,
    token: TokenRef,
    exact: bool,
) -> Result<u32, String> {
    let mut whens = Vec::with_capacity(states.len());
    for (s, t) in states.iter().zip(times) {
        let Some(d) = adv.to.remaining(s, token) else {
            return Err(format!(
                "the {} of {} is not pending here (passed, or the policy has none)",
                adv.to, adv.token
            ));
        };
        whens.push(t.saturating_add(d));
    }
    let (Some(first), Some(last)) = (whens.iter().min(), whens.iter().max()) else {
        return Err("no model state is left".into());
    };
    if exact && first != last {
        return Err(format!(
            "when the {} of {} comes depends on answers not yet seen",
            adv.to, adv.token
        ));
    }
    Ok(if adv.before { first - 1 } else { *last })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife_model::state::{AtId, RtId, NEVER};

    fn adv(to: Deadline, before: bool) -> Advance {
        Advance {
            to,
            before,
            token: "t".into(),
        }
    }

    #[test]
    fn a_named_deadline_is_when_every_state_says_and_one_second_less_before_it() {
        let mut s = State {
            n_rts: 1,
            n_ats: 1,
            ..State::default()
        };
        s.rts[0].grace = 30;
        s.rts[0].exp = NEVER;
        s.ats[0].exp = 20;
        let rt = TokenRef::Refresh(RtId(0));
        let g = adv(Deadline::GraceEnd, false);
        assert_eq!(due(&[s.clone()], &[5], &g, rt, true), Ok(35));
        assert_eq!(
            due(&[s.clone()], &[5], &adv(Deadline::GraceEnd, true), rt, true),
            Ok(34)
        );
        let at = TokenRef::Access(AtId(0));
        assert_eq!(
            due(
                &[s.clone()],
                &[0],
                &adv(Deadline::AccessExpiry, false),
                at,
                true
            ),
            Ok(20)
        );
        // No lifetime, or the wrong kind of token: not pending, an error naming it.
        let e = due(
            &[s.clone()],
            &[0],
            &adv(Deadline::RefreshExpiry, false),
            rt,
            true,
        );
        assert!(e.is_err_and(|m| m.contains("refresh-expiry of t")));
        assert!(due(
            &[s.clone()],
            &[0],
            &adv(Deadline::GraceEnd, false),
            at,
            true
        )
        .is_err());
        // The end of a refresh token: the first of its own deadlines (not the window).
        let mut capped = s.clone();
        capped.n_grants = 1;
        capped.grants[0].cap = 50;
        capped.rts[0].idle = 40;
        let end = adv(Deadline::RefreshEnd, false);
        assert_eq!(due(&[capped.clone()], &[0], &end, rt, true), Ok(40));
        capped.rts[0].idle = NEVER;
        assert_eq!(due(&[capped], &[0], &end, rt, true), Ok(50));
        assert!(due(&[s.clone()], &[0], &end, rt, true).is_err());
        // Two readings that disagree on when it comes: no single moment to move to.
        let mut later = s.clone();
        later.rts[0].grace = 40;
        let both = [s, later];
        assert!(due(&both, &[0, 0], &g, rt, true).is_err());
        // On a real clock: past it in every reading, or before it in every reading.
        assert_eq!(due(&both, &[0, 0], &g, rt, false), Ok(40));
        let before = adv(Deadline::GraceEnd, true);
        assert_eq!(due(&both, &[0, 0], &before, rt, false), Ok(29));
    }

    #[test]
    fn every_name_reads_back() {
        for d in Deadline::ALL {
            assert_eq!(Deadline::parse(d.name()), Some(d));
        }
        assert_eq!(Deadline::parse("next"), None);
    }
}
