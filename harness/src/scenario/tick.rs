//! A `tick` step's fields: `until` a token is dead, or `advance` to a named deadline of one
//! token (see [`crate::deadline`]), and which token a step that names none concerns.

use super::{Kind, StepKind, StepReader};
use crate::deadline::{Advance, Deadline};
use crate::scenario::ScenarioError;

/// A `tick` step: `until` a token is dead, or `advance` to a named deadline of `rt` / `at`
/// (else of the last token of its kind an earlier step used), one second short of it with
/// `before`.
pub(super) fn parse(
    r: &StepReader<'_>,
    last: &(Option<String>, Option<String>),
) -> Result<StepKind, ScenarioError> {
    let until = match r.str("until")? {
        None => None,
        Some(_) => Some(r.reference("until", &[Kind::Refresh, Kind::Access])?),
    };
    let Some(name) = r.str("advance")? else {
        if let Some(f) = ["before", "rt", "at"]
            .iter()
            .find(|f| r.table.contains_key(**f))
        {
            return Err(r.err(f, "goes with `advance`"));
        }
        return Ok(StepKind::Tick {
            until,
            advance: None,
        });
    };
    if until.is_some() {
        return Err(r.err("until", "a tick takes `until` or `advance`, not both"));
    }
    let to = Deadline::parse(&name).ok_or_else(|| {
        let all: Vec<&str> = Deadline::ALL.iter().map(|d| d.name()).collect();
        r.err(
            "advance",
            format!(
                "`{name}` is not a deadline; the deadlines are {}",
                all.join(", ")
            ),
        )
    })?;
    let (field, other, kind, fallback) = if to.of_access() {
        ("at", "rt", Kind::Access, &last.1)
    } else {
        ("rt", "at", Kind::Refresh, &last.0)
    };
    if r.table.contains_key(other) {
        return Err(r.err(other, format!("the {name} is a deadline of `{field}`")));
    }
    let token = match (r.str(field)?, fallback) {
        (Some(_), _) => r.reference(field, &[kind])?,
        (None, Some(t)) => t.clone(),
        (None, None) => {
            return Err(r.err(
                "advance",
                format!("no earlier step used {kind}: name one with `{field}`"),
            ))
        }
    };
    Ok(StepKind::Tick {
        until: None,
        advance: Some(Advance {
            to,
            before: r.bool("before", false)?,
            token,
        }),
    })
}

/// The tokens a step names or presents, in the order it uses them (the token it presents
/// before the one it names). A `tick` that names no token concerns the last one of the
/// deadline's kind an earlier step used.
pub(super) fn used_by(kind: &StepKind) -> Vec<&str> {
    match kind {
        StepKind::Authorize {
            access, refresh, ..
        } => [refresh, access]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect(),
        StepKind::Refresh {
            rt,
            access,
            refresh,
            ..
        }
        | StepKind::RefreshLost {
            rt,
            access,
            refresh,
        } => std::iter::once(rt)
            .chain([refresh, access].into_iter().flatten())
            .map(String::as_str)
            .collect(),
        StepKind::Race { rt: t, .. }
        | StepKind::UseAccess { at: t, .. }
        | StepKind::Revoke { token: t, .. }
        | StepKind::Introspect { token: t } => vec![t.as_str()],
        StepKind::Tick {
            advance: Some(a), ..
        } => vec![a.token.as_str()],
        _ => vec![],
    }
}
