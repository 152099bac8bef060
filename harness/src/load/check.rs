//! The checker: one family's history judged against the declared [`Policy`], in time linear
//! in the history (after grouping by token), with no false alarm.
//!
//! Requests on one family overlap, and some never got an answer, so the order in which the
//! server applied them is not known. The checker never guesses it. It flags a history only
//! when *every* order consistent with the intervals (a request takes effect somewhere
//! between being sent and being answered; an unanswered one at any time after it was sent,
//! or never) breaks the policy. Facts are bounded from the two sides of that window:
//!
//! - a token or family is *surely dead* from the answer of the request that killed it: a
//!   200 revocation, a refused replay under reuse detection (RFC 9700 §4.14.2);
//! - a token is *surely live* at a request when no request that could have consumed,
//!   revoked or killed it was sent before that request was answered.
//!
//! What is flagged ([`Kind`]): a refresh token rotated twice (RFC 9700 §4.14.2, strict
//! rotation), a consumed one honoured again, a grace reuse outside the window, count or
//! successor rules, anything honoured after it or its family was surely revoked (RFC 7009
//! §2.1; "nothing revoked ever comes back"), a surely live token refused (an acknowledged
//! rotation forgotten, RFC 6749 §6), a 5xx or a non-OAuth answer and a refusal other than
//! `400 invalid_grant` (RFC 6749 §5.2), rotation contrary to the policy.
//!
//! Deadlines (TTLs, idle timeout, absolute cap) are taken conservatively: near a possible
//! deadline a refusal is accepted and proves nothing. The conformance suite judges expiry
//! exactly; the load judges concurrency, crashes and durability.

use tokenlife_model::policy::{GraceSuccessor, Rotation};
use tokenlife_model::spec::Cascade;
use tokenlife_model::{ErrorCode, Policy};

use super::facts::{micros, Facts, First, RtFacts};
use super::history::{History, Op, Request, Response, Rt};
use crate::checks::{self, Check};

pub use super::facts::Clock;

/// One violation: the check of the shared catalogue it breaks, the requests that show it
/// (indices into the history's ops) and what happened, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The check it breaks.
    pub check: Check,
    /// The requests that show it, the violating one last.
    pub ops: Vec<usize>,
    /// What happened.
    pub message: String,
}

/// Checks one family's history against `policy`; every violation found, in request order.
pub fn check(policy: &Policy, clock: Clock, h: &History) -> Vec<Violation> {
    let f = Facts::gather(policy, clock, h);
    let mut out = Vec::new();
    let rotation = policy.rotation(h.client);
    let family_dead = f.family_death();
    let refresh_dead = f.refresh_death(family_dead);
    for (i, op) in h.ops.iter().enumerate() {
        judge_op(&f, i, op, family_dead, refresh_dead, &mut out);
    }
    for (x, t) in f.rts.iter().enumerate() {
        judge_rotations(&f, Rt(x as u32), t, rotation, &mut out);
    }
    out.sort_by_key(|v| v.ops.last().map(|&i| (h.ops[i].invoked, i)));
    out
}

fn violation(check: Check, ops: Vec<usize>, message: String) -> Violation {
    Violation {
        check,
        ops,
        message,
    }
}

/// The witnesses: the requests given, without duplicates, the violating one last.
fn witnesses(ops: impl IntoIterator<Item = Option<usize>>, last: usize) -> Vec<usize> {
    let mut v: Vec<usize> = Vec::new();
    for o in ops.into_iter().flatten() {
        if o != last && !v.contains(&o) {
            v.push(o);
        }
    }
    v.push(last);
    v
}

fn judge_op(
    f: &Facts<'_>,
    i: usize,
    op: &Op,
    family_dead: First,
    refresh_dead: First,
    out: &mut Vec<Violation>,
) {
    let cascades = f.cascades;
    let (inv, done) = (op.invoked, op.done());
    match (op.request, op.response) {
        (_, Response::Broken { status }) => out.push(violation(
            well_formed_check(op.request),
            vec![i],
            format!(
                "{} got {status} with no OAuth answer (RFC 6749 §5.2: an error is a 4xx with an `error` member); whether it took effect is unknown",
                op.request
            ),
        )),
        (Request::Refresh(x), Response::Tokens { .. })
        | (Request::IntrospectRefresh(x), Response::Honoured) => {
            let t = &f.rts[x.0 as usize];
            let what = format!("{x} was honoured ({})", op.response);
            honoured_after_death(f, i, refresh_dead.min(t.revocation.sure), t.issuer, &what, out);
            if matches!(op.request, Request::IntrospectRefresh(_)) && t.rotated.before(inv) {
                let s = t.rotated.op;
                out.push(violation(
                    checks::INTROSPECT_DEAD,
                    witnesses([t.issuer, Some(s)], i),
                    format!(
                        "{x} was introspected as active after its rotation to {} had been answered: a consumed refresh token came back",
                        f.successor(s).map_or("?".into(), |r| r.to_string())
                    ),
                ));
            }
        }
        (Request::UseAccess(a), Response::Honoured) => {
            let t = &f.ats[a.0 as usize];
            let what = format!("the resource honoured {a}");
            let dead = family_dead
                .min(t.revocation.sure)
                .min(f.at_ended_by_refresh(a));
            honoured_after_death(f, i, dead, t.issuer, &what, out);
        }
        (Request::Refresh(x), Response::Refused { status, error }) => {
            if (status, error) != (400, ErrorCode::InvalidGrant) {
                out.push(violation(
                    checks::TOKEN_ERROR_CODE,
                    vec![i],
                    format!("{x} was refused with {status} {error}; a refresh token that cannot be used gets 400 invalid_grant (RFC 6749 §5.2)"),
                ));
            }
            let t = &f.rts[x.0 as usize];
            let excused = t.consumer.before(done)
                || t.revocation.maybe.before(done)
                || f.rt_may_expire(x, done)
                || (cascades.replay && f.replays.not_of(x).before(done))
                || (cascades.rt_revocation_ends_rts() && f.rt_revoke_any.before(done))
                || (cascades.access.ends_refresh_tokens() && f.at_revoke_any.before(done));
            if !excused {
                out.push(violation(
                    checks::REFRESH_ACCEPTED,
                    witnesses([t.issuer], i),
                    format!(
                        "{x} was refused ({status} {error}) although nothing sent before this answer could have consumed, revoked or expired it: an acknowledged token was forgotten"
                    ),
                ));
            }
        }
        (Request::UseAccess(a), Response::Denied) => {
            let t = &f.ats[a.0 as usize];
            let excused = t.revocation.maybe.before(done)
                || f.at_may_expire(a, done)
                || f.at_may_be_ended_by_refresh(a, done)
                || (cascades.replay && f.replays.any().before(done))
                || (cascades.rt_revocation_ends_ats() && f.rt_revoke_any.before(done))
                || (cascades.access.ends_access_tokens() && f.at_revoke_any.before(done));
            if !excused {
                out.push(violation(
                    checks::RESOURCE_LIVE,
                    witnesses([t.issuer], i),
                    format!(
                        "the resource refused {a} although nothing sent before this answer could have revoked or expired it: an acknowledged token was forgotten"
                    ),
                ));
            }
        }
        _ => {}
    }
}

/// Request `i` was honoured; it is a violation when it was sent after `dead`.
fn honoured_after_death(
    f: &Facts<'_>,
    i: usize,
    dead: First,
    issuer: Option<usize>,
    what: &str,
    out: &mut Vec<Violation>,
) {
    if f.ops[i].invoked > dead.at {
        out.push(violation(
            killed_by(f, dead.op, f.ops[i].request),
            witnesses([issuer, Some(dead.op)], i),
            format!(
                "{what} although the {} had surely taken effect before this request was sent",
                describe_killer(f, dead.op)
            ),
        ));
    }
}

fn describe_killer(f: &Facts<'_>, op: usize) -> String {
    let o = &f.ops[op];
    match o.request {
        Request::Refresh(r) if matches!(o.response, Response::Tokens { .. }) => {
            format!("refresh with {r} (which ends the access tokens issued with {r})")
        }
        Request::Refresh(r) => {
            format!("refused replay of {r} (reuse detection revokes the family)")
        }
        Request::RevokeRefresh(r) if f.cascades.refresh == Cascade::Grant => {
            format!("revocation of {r} (which revokes the family)")
        }
        Request::RevokeAccess(a) if f.cascades.access == Cascade::Grant => {
            format!("revocation of {a} (which revokes the family)")
        }
        Request::RevokeAccess(a) if f.cascades.access.ends_refresh_tokens() => {
            format!("revocation of {a} (which revokes the family's refresh tokens)")
        }
        other => format!("{other}"),
    }
}

/// The check a token honoured after its death breaks: that of whatever killed it.
fn killed_by(f: &Facts<'_>, killer: usize, honoured: Request) -> Check {
    if let (Request::Refresh(_), Response::Tokens { .. }) =
        (f.ops[killer].request, f.ops[killer].response)
    {
        // Only a refresh ending the access tokens issued with its token kills with a 200.
        return checks::REFRESH_ENDS_ACCESS;
    }
    match (f.ops[killer].request, honoured) {
        (Request::RevokeRefresh(x), Request::Refresh(y) | Request::IntrospectRefresh(y))
            if x == y =>
        {
            checks::REVOKE_REFRESH
        }
        (Request::RevokeRefresh(_), Request::UseAccess(_)) => checks::REVOKE_CASCADE,
        (Request::RevokeRefresh(_), _) => checks::REFRESH_REVOKED,
        (Request::RevokeAccess(a), Request::UseAccess(b)) if a == b => checks::REVOKE_ACCESS,
        (Request::RevokeAccess(_), Request::UseAccess(_))
            if f.cascades.access.ends_access_tokens() =>
        {
            checks::REVOKE_ACCESS_CASCADE
        }
        (Request::RevokeAccess(_), Request::UseAccess(_)) => checks::RESOURCE_DEAD,
        (Request::RevokeAccess(_), _) => checks::REVOKE_ACCESS_CASCADE,
        _ => checks::REFRESH_FAMILY,
    }
}

/// The well-formedness check of the endpoint a request went to.
fn well_formed_check(r: Request) -> Check {
    match r {
        Request::Exchange | Request::Refresh(_) => checks::TOKEN_RESPONSE,
        Request::UseAccess(_) => checks::RESOURCE_RESPONSE,
        Request::RevokeRefresh(_) | Request::RevokeAccess(_) => checks::REVOKE_RESPONSE,
        Request::IntrospectRefresh(_) => checks::INTROSPECT_RESPONSE,
    }
}

fn judge_rotations(
    f: &Facts<'_>,
    x: Rt,
    t: &RtFacts,
    rotation: Rotation,
    out: &mut Vec<Violation>,
) {
    let ops = f.ops;
    match rotation {
        Rotation::Never => {
            if let Some(&s) = t.rotations.first() {
                out.push(violation(
                    checks::REFRESH_ROTATION,
                    vec![s],
                    format!(
                        "{x} was rotated although the policy never rotates this client's tokens"
                    ),
                ));
            }
        }
        Rotation::Always => {
            if let Some(&k) = t.keeps.first() {
                out.push(violation(
                    checks::REFRESH_ROTATION,
                    vec![k],
                    format!("a refresh with {x} returned no new refresh token although the policy always rotates"),
                ));
            }
        }
        Rotation::Any => {}
    }
    // A token a rotation returns is new, or (grace `same`) the successor of the same token.
    for &s in &t.rotations {
        let Some(y) = f.successor(s) else { continue };
        if let Some(first) = f.rts[y.0 as usize].issuer {
            if first != s && ops[first].request != Request::Refresh(x) {
                out.push(violation(
                    checks::REFRESH_ROTATION,
                    witnesses([Some(first)], s),
                    format!(
                        "the rotation of {x} returned {y}, which had been issued before by {}",
                        ops[first].request
                    ),
                ));
            }
        }
    }
    // A 200 that did not rotate, sent after a rotation of the same token was answered.
    for &k in &t.keeps {
        if t.rotated.before(ops[k].invoked) {
            out.push(violation(
                checks::REFRESH_REPLAY,
                witnesses([t.issuer, Some(t.rotated.op)], k),
                format!("{x} was honoured again after its rotation had been answered"),
            ));
        }
    }
    if t.rotations.len() < 2 || rotation == Rotation::Never {
        return;
    }
    let Some(g) = f.policy.grace else {
        let successors: Vec<String> = t
            .rotations
            .iter()
            .filter_map(|&s| f.successor(s).map(|r| r.to_string()))
            .collect();
        let mut w: Vec<usize> = t.rotations.clone();
        w.sort_by_key(|&s| ops[s].invoked);
        out.push(violation(
            checks::RACE,
            witnesses(
                t.issuer.into_iter().chain(w.iter().copied()).map(Some),
                *w.last().unwrap_or(&0),
            ),
            format!(
                "{x} was rotated {} times (to {}): under this policy a refresh token is single-use",
                t.rotations.len(),
                successors.join(", ")
            ),
        ));
        return;
    };
    let mut by_sending = t.rotations.clone();
    by_sending.sort_by_key(|&s| ops[s].invoked);
    // The successor rule.
    for (a, &s1) in by_sending.iter().enumerate() {
        for &s2 in &by_sending[a + 1..] {
            let (y1, y2) = (f.successor(s1), f.successor(s2));
            let wrong = match g.successor {
                GraceSuccessor::Same => y1 != y2,
                GraceSuccessor::New => y1 == y2,
            };
            if wrong {
                out.push(violation(
                    checks::REFRESH_GRACE,
                    witnesses([t.issuer, Some(s1)], s2),
                    format!(
                        "two refreshes with {x} returned {} and {}: the policy's grace reuse returns {}",
                        y1.map_or("?".into(), |r| r.to_string()),
                        y2.map_or("?".into(), |r| r.to_string()),
                        match g.successor {
                            GraceSuccessor::Same => "the same successor",
                            GraceSuccessor::New => "a new successor each time",
                        }
                    ),
                ));
                break;
            }
        }
    }
    // The reuse count.
    if let Some(m) = g.max_reuse {
        if t.rotations.len() - 1 > usize::from(m) {
            out.push(violation(
                checks::REFRESH_GRACE,
                witnesses(
                    t.issuer
                        .into_iter()
                        .chain(by_sending.iter().copied())
                        .map(Some),
                    *by_sending.last().unwrap_or(&0),
                ),
                format!(
                    "{x} was honoured {} times: its rotation plus at most {m} grace reuses",
                    t.rotations.len()
                ),
            ));
        }
    }
    // The window: the last one sent is a reuse if another was answered before it was sent,
    // and the first rotation happened no later than that answer.
    if let (Some(w), Clock::Real { tolerance }) = (g.window, f.clock) {
        if let Some((&last, rest)) = by_sending.split_last() {
            if let Some(&earliest) = rest.iter().min_by_key(|&&s| ops[s].done()) {
                if ops[last].invoked >= ops[earliest].done().saturating_add(micros(w) + tolerance) {
                    out.push(violation(
                        checks::REFRESH_GRACE,
                        witnesses([t.issuer, Some(earliest)], last),
                        format!("{x} was honoured again more than {w} after its rotation: outside the grace window"),
                    ));
                }
            }
        }
    }
    // A reuse is honoured only while the first successor is unconsumed.
    for &r in &t.rotations {
        let inv = ops[r].invoked;
        let surely_reuse = t.rotations.iter().any(|&o| o != r && ops[o].done() < inv);
        // A refresh without a definite answer may have been the first rotation, with a
        // successor nobody saw (and so nobody used).
        let unseen_first = t.uncertain.before(ops[r].done());
        if !surely_reuse || unseen_first {
            continue;
        }
        let mut candidates = t
            .rotations
            .iter()
            .copied()
            .filter(|&c| c != r && ops[c].invoked < ops[r].done());
        let used = |c: usize| {
            f.successor(c).and_then(|y| {
                let s = &f.rts[y.0 as usize];
                s.rotations
                    .iter()
                    .copied()
                    .find(|&u| ops[u].done() < inv)
                    .or((s.revocation.sure.at < inv).then_some(s.revocation.sure.op))
            })
        };
        if let Some(first) = candidates.next() {
            if let Some(use_of_first) = used(first) {
                if candidates.all(|c| used(c).is_some()) {
                    out.push(violation(
                        checks::REFRESH_GRACE,
                        witnesses([Some(first), Some(use_of_first)], r),
                        format!(
                            "{x} was honoured again after its successor {} had been used or revoked: a grace reuse needs an unused successor",
                            f.successor(first).map_or("?".into(), |r| r.to_string())
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
