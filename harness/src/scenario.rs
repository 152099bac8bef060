//! Scenario files: a named sequence of model actions, with the policy conditions it needs.
//!
//! Schema (documented in `scenarios/README.md`, JSON Schema in `scenarios/schema.json`):
//! top-level `name`, `description`, optional `[requires]` (policy conditions) and
//! `[[steps]]`, each with an `action` and the fields that action takes. Steps refer to
//! grants and tokens by the names earlier steps gave them. Loading checks everything that
//! does not depend on the target; an error names the file, the step and the field.
//! Expected outcomes come from the model under the target's policy; a step's optional
//! `expect` pins one for readers, and one the model contradicts is a scenario error.
//! Clauses: those of the actions (RFC 6749 §4.1.2, §6; RFC 7009; RFC 7662; RFC 6750).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokenlife_model::dpop::ProofFault;
use tokenlife_model::spec::Hint;
use tokenlife_model::state::Scope;
use tokenlife_model::{ClientType, ErrorCode, Outcome};

pub use crate::deadline::{Advance, Deadline};
use crate::target::toml_message;

mod requires;
mod tick;
pub use requires::Requires;

/// Why a scenario file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{reason}", step.map(|s| format!(": step {s}")).unwrap_or_default(), field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// The step (1-based), if the fault is in one.
    pub step: Option<usize>,
    /// The field, if the fault is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Who presents a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// The client the token was issued to.
    Owner,
    /// The other client type.
    Other,
    /// No client authentication (the owner's `client_id`, no secret): the model's attacker.
    NoAuth,
    /// A client of this type.
    Client(ClientType),
}

/// What a step pins for readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A 200 token response.
    Tokens,
    /// A 200 token response with a new refresh token.
    Rotated,
    /// An OAuth error.
    Error(ErrorCode),
    /// The resource honours the token, or revocation answers 200.
    Ok,
    /// The resource refuses the token, or revocation is refused.
    Rejected,
    /// Introspection says active.
    Active,
    /// Introspection says inactive.
    Inactive,
}

impl Expect {
    fn parse(s: &str) -> Option<Expect> {
        Some(match s {
            "tokens" => Expect::Tokens,
            "rotated" => Expect::Rotated,
            "ok" => Expect::Ok,
            "rejected" => Expect::Rejected,
            "active" => Expect::Active,
            "inactive" => Expect::Inactive,
            other => Expect::Error(other.parse().ok()?),
        })
    }

    /// Whether an outcome is what this expectation says.
    pub fn allows(self, o: &Outcome) -> bool {
        match (self, o) {
            (Expect::Tokens, Outcome::Tokens { .. }) => true,
            (Expect::Rotated, Outcome::Tokens { refresh_is_new, .. }) => *refresh_is_new,
            (Expect::Error(e), Outcome::Error { error, .. }) => e == *error,
            (Expect::Ok, Outcome::Resource { ok } | Outcome::Revocation { ok }) => *ok,
            (Expect::Rejected, Outcome::Resource { ok } | Outcome::Revocation { ok }) => !*ok,
            (Expect::Active, Outcome::Introspection { active }) => *active,
            (Expect::Inactive, Outcome::Introspection { active }) => !*active,
            _ => false,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Tokens => f.write_str("tokens"),
            Expect::Rotated => f.write_str("rotated"),
            Expect::Error(e) => e.fmt(f),
            Expect::Ok => f.write_str("ok"),
            Expect::Rejected => f.write_str("rejected"),
            Expect::Active => f.write_str("active"),
            Expect::Inactive => f.write_str("inactive"),
        }
    }
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Authorization code flow + code exchange.
    Authorize {
        /// The client type.
        client: ClientType,
        /// The requested resource scope.
        scope: Scope,
        /// Whether `offline_access` is asked for.
        offline: bool,
        /// A name for the grant.
        grant: Option<String>,
        /// A name for the access token.
        access: Option<String>,
        /// A name for the refresh token.
        refresh: Option<String>,
    },
    /// A second exchange of a grant's code.
    ReplayCode {
        /// The grant.
        grant: String,
    },
    /// A refresh.
    Refresh {
        /// The refresh token presented.
        rt: String,
        /// Who presents it.
        by: By,
        /// The `scope` asked for; `None`: omitted.
        scope: Option<Scope>,
        /// A name for the new access token.
        access: Option<String>,
        /// A name for the refresh token the client holds afterwards (new, or the same).
        refresh: Option<String>,
        /// A faulty DPoP proof (its owner's refresh, scope omitted): `Action::Unproven`.
        proof: Option<ProofFault>,
    },
    /// A refresh whose response the client loses.
    RefreshLost {
        /// The refresh token presented.
        rt: String,
        /// A name for the access token the client never saw.
        access: Option<String>,
        /// A name for the refresh token the client never saw.
        refresh: Option<String>,
    },
    /// A call to the protected resource.
    UseAccess {
        /// The access token.
        at: String,
        /// A faulty DPoP proof: `Action::Unproven`.
        proof: Option<ProofFault>,
    },
    /// RFC 7009 revocation.
    Revoke {
        /// The token.
        token: String,
        /// Who asks.
        by: By,
        /// The hint sent.
        hint: Hint,
    },
    /// RFC 7662 introspection.
    Introspect {
        /// The token.
        token: String,
    },
    /// Time passes to the next deadline, until a token is dead, or to a named deadline.
    Tick {
        /// Tick until this token is past a deadline.
        until: Option<String>,
        /// Move to this deadline of this token (or one second before it).
        advance: Option<Advance>,
    },
    /// The server restarts on its store.
    Restart,
    /// `count` concurrent requests on one refresh token by its owner: refreshes, and one
    /// revocation when `revoke`.
    Race {
        /// The refresh token.
        rt: String,
        /// How many requests at once.
        count: u8,
        /// Whether one of them is a revocation of the token by its owner.
        revoke: bool,
    },
    /// RFC 7009 §2.2: revocation of a token the server never issued answers 200 (no model
    /// action: the harness judges it alone).
    RevokeUnknown,
    /// RFC 7662 §2.2: an unknown token introspects as `{"active": false}` and nothing else.
    IntrospectUnknown,
}

/// A step with its reader's notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What happens.
    pub kind: StepKind,
    /// The pinned expectation.
    pub expect: Option<Expect>,
    /// A note for readers.
    pub note: Option<String>,
}

/// A loaded scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its name (unique in a run).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The file it came from.
    pub file: String,
    /// Policy conditions.
    pub requires: Requires,
    /// The steps.
    pub steps: Vec<Step>,
}

/// What a name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Grant,
    Refresh,
    Access,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Grant => "a grant",
            Kind::Refresh => "a refresh token",
            Kind::Access => "an access token",
        })
    }
}

const ACTIONS: &[&str] = &[
    "authorize",
    "replay-code",
    "refresh",
    "refresh-lost",
    "use-access",
    "revoke",
    "introspect",
    "tick",
    "restart",
    "revoke-unknown",
    "introspect-unknown",
    "race",
];

fn fields_of(action: &str) -> &'static [&'static str] {
    match action {
        "authorize" => &["client", "scope", "offline", "grant", "access", "refresh"],
        "replay-code" => &["grant"],
        "refresh" => &["rt", "by", "scope", "access", "refresh", "proof"],
        "refresh-lost" => &["rt", "access", "refresh"],
        "use-access" => &["at", "proof"],
        "revoke" => &["token", "by", "hint"],
        "introspect" => &["token"],
        "tick" => &["until", "advance", "before", "rt", "at"],
        "race" => &["rt", "count", "revoke"],
        _ => &[],
    }
}

struct StepReader<'a> {
    file: &'a str,
    step: usize,
    table: &'a toml::Table,
    names: &'a mut BTreeMap<String, Kind>,
}

impl StepReader<'_> {
    fn err(&self, field: &str, reason: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            step: Some(self.step),
            field: Some(field.to_string()),
            reason: reason.into(),
        }
    }

    fn str(&self, field: &str) -> Result<Option<String>, ScenarioError> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(
                field,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    fn required(&self, field: &str) -> Result<String, ScenarioError> {
        self.str(field)?
            .ok_or_else(|| self.err(field, "is required for this action"))
    }

    fn bool(&self, field: &str, default: bool) -> Result<bool, ScenarioError> {
        match self.table.get(field) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(other) => Err(self.err(
                field,
                format!("expected true or false, found {}", other.type_str()),
            )),
        }
    }

    /// A reference to an earlier name of one of `kinds`.
    fn reference(&self, field: &str, kinds: &[Kind]) -> Result<String, ScenarioError> {
        let name = self.required(field)?;
        match self.names.get(&name) {
            None => Err(self.err(field, format!("`{name}` is not named by an earlier step"))),
            Some(k) if !kinds.contains(k) => Err(self.err(
                field,
                format!(
                    "`{name}` is {k}, not {}",
                    kinds
                        .iter()
                        .map(Kind::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            )),
            Some(_) => Ok(name),
        }
    }

    /// A new name.
    fn define(&mut self, field: &str, kind: Kind) -> Result<Option<String>, ScenarioError> {
        let Some(name) = self.str(field)? else {
            return Ok(None);
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err(
                field,
                format!("`{name}` is not a name: use letters, digits, - and _"),
            ));
        }
        if self.names.contains_key(&name) {
            return Err(self.err(
                field,
                format!("`{name}` is already named by an earlier step"),
            ));
        }
        self.names.insert(name.clone(), kind);
        Ok(Some(name))
    }

    fn scope(&self, field: &str) -> Result<Option<Scope>, ScenarioError> {
        let Some(text) = self.str(field)? else {
            return Ok(None);
        };
        let mut bits = 0u8;
        for word in text.split_whitespace() {
            match Scope::NAMES.iter().position(|n| *n == word) {
                Some(i) => bits |= 1 << i,
                None => {
                    return Err(self.err(
                        field,
                        format!("`{word}` is not a model scope: use \"read\", \"write\" or \"read write\" (they map to the client's first two resource scopes)"),
                    ))
                }
            }
        }
        if bits == 0 {
            return Err(self.err(field, "must name at least one scope"));
        }
        Ok(Some(Scope(bits)))
    }

    fn client(&self, field: &str) -> Result<ClientType, ScenarioError> {
        match self.str(field)?.as_deref() {
            None | Some("confidential") => Ok(ClientType::Confidential),
            Some("public") => Ok(ClientType::Public),
            Some(other) => Err(self.err(
                field,
                format!("`{other}` is not a client: use \"confidential\" or \"public\""),
            )),
        }
    }

    fn by(&self) -> Result<By, ScenarioError> {
        match self.str("by")?.as_deref() {
            None | Some("owner") => Ok(By::Owner),
            Some("other") => Ok(By::Other),
            Some("no-auth") => Ok(By::NoAuth),
            Some("confidential") => Ok(By::Client(ClientType::Confidential)),
            Some("public") => Ok(By::Client(ClientType::Public)),
            Some(other) => Err(self.err(
                "by",
                format!("`{other}` is not a presenter: use \"owner\", \"other\", \"no-auth\", \"confidential\" or \"public\""),
            )),
        }
    }

    fn hint(&self) -> Result<Hint, ScenarioError> {
        match self.str("hint")?.as_deref() {
            None | Some("right") => Ok(Hint::Right),
            Some("none") => Ok(Hint::None),
            Some("wrong") => Ok(Hint::Wrong),
            Some(other) => Err(self.err(
                "hint",
                format!("`{other}` is not a hint: use \"right\", \"wrong\" or \"none\""),
            )),
        }
    }

    /// A faulty DPoP proof, for a refresh (`at_token_endpoint`) or a resource call.
    fn proof(&self, at_token_endpoint: bool) -> Result<Option<ProofFault>, ScenarioError> {
        let Some(name) = self.str("proof")? else {
            return Ok(None);
        };
        let fits = |f: &ProofFault| {
            if at_token_endpoint {
                f.at_token_endpoint()
            } else {
                f.at_resource()
            }
        };
        match ProofFault::parse(&name).filter(fits) {
            Some(f) => Ok(Some(f)),
            None => {
                let names: Vec<String> = ProofFault::ALL
                    .iter()
                    .filter(|f| fits(f))
                    .map(|f| format!("\"{}\"", f.name()))
                    .collect();
                Err(self.err(
                    "proof",
                    format!("`{name}` is no proof fault here: use {}", names.join(", ")),
                ))
            }
        }
    }
}

/// Parses one scenario file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let top_err = |field: Option<&str>, reason: String| ScenarioError {
        file: file.to_string(),
        step: None,
        field: field.map(String::from),
        reason,
    };
    let table: toml::Table =
        toml::from_str(text).map_err(|e| top_err(None, toml_message(text, &e)))?;
    for key in table.keys() {
        if !["name", "description", "requires", "steps"].contains(&key.as_str()) {
            return Err(top_err(
                Some(key),
                "unknown key; a scenario has name, description, requires and steps".into(),
            ));
        }
    }
    let string = |key: &str| -> Result<String, ScenarioError> {
        match table.get(key) {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(toml::Value::String(_)) => Err(top_err(Some(key), "must not be empty".into())),
            Some(v) => Err(top_err(
                Some(key),
                format!("expected a string, found {}", v.type_str()),
            )),
            None => Err(top_err(Some(key), "is required".into())),
        }
    };
    let name = string("name")?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(top_err(
            Some("name"),
            format!("`{name}` is not a name: use letters, digits, - and _"),
        ));
    }
    let description = string("description")?;
    let requires = match table.get("requires") {
        None => Requires::default(),
        Some(v) => Requires::deserialize(v.clone()).map_err(|e| {
            let msg = e.to_string().trim().replace('\n', " ");
            let field = msg
                .split('`')
                .nth(1)
                .map_or("requires".to_string(), |f| format!("requires.{f}"));
            top_err(Some(&field), msg)
        })?,
    };
    let steps_value = match table.get("steps") {
        Some(toml::Value::Array(a)) if !a.is_empty() => a,
        Some(toml::Value::Array(_)) | None => {
            return Err(top_err(
                Some("steps"),
                "declare at least one [[steps]]".into(),
            ))
        }
        Some(v) => {
            return Err(top_err(
                Some("steps"),
                format!("expected [[steps]] tables, found {}", v.type_str()),
            ))
        }
    };
    let mut names = BTreeMap::new();
    // The last refresh and access token a step used: a `tick` that names a deadline but no
    // token means that token's.
    let mut last: (Option<String>, Option<String>) = (None, None);
    let mut steps = Vec::with_capacity(steps_value.len());
    for (i, v) in steps_value.iter().enumerate() {
        let n = i + 1;
        let toml::Value::Table(t) = v else {
            return Err(ScenarioError {
                file: file.to_string(),
                step: Some(n),
                field: None,
                reason: "a step is a table".into(),
            });
        };
        let mut r = StepReader {
            file,
            step: n,
            table: t,
            names: &mut names,
        };
        let action = r.required("action")?;
        if !ACTIONS.contains(&action.as_str()) {
            return Err(r.err(
                "action",
                format!(
                    "`{action}` is not an action; the actions are {}",
                    ACTIONS.join(", ")
                ),
            ));
        }
        let allowed = fields_of(&action);
        for key in t.keys() {
            if !["action", "expect", "note"].contains(&key.as_str())
                && !allowed.contains(&key.as_str())
            {
                return Err(r.err(
                    key,
                    format!(
                        "unknown field for `{action}`; it takes {}",
                        if allowed.is_empty() {
                            "no fields".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                ));
            }
        }
        let expect = match r.str("expect")? {
            None => None,
            Some(e) => Some(Expect::parse(&e).ok_or_else(|| {
                r.err("expect", format!("`{e}` is not an expectation: use tokens, rotated, an OAuth error code, ok, rejected, active or inactive"))
            })?),
        };
        let note = r.str("note")?;
        let kind = match action.as_str() {
            "authorize" => {
                let client = r.client("client")?;
                let scope = r.scope("scope")?.unwrap_or(Scope::ALL);
                let offline = r.bool("offline", true)?;
                StepKind::Authorize {
                    client,
                    scope,
                    offline,
                    grant: r.define("grant", Kind::Grant)?,
                    access: r.define("access", Kind::Access)?,
                    refresh: r.define("refresh", Kind::Refresh)?,
                }
            }
            "replay-code" => StepKind::ReplayCode {
                grant: r.reference("grant", &[Kind::Grant])?,
            },
            "refresh" => {
                let rt = r.reference("rt", &[Kind::Refresh])?;
                let by = r.by()?;
                let scope = r.scope("scope")?;
                let proof = r.proof(true)?;
                if proof.is_some() && (by != By::Owner || scope.is_some()) {
                    return Err(r.err(
                        "proof",
                        "a faulty proof goes with the owner's refresh (by = \"owner\"), scope omitted",
                    ));
                }
                StepKind::Refresh {
                    rt,
                    by,
                    scope,
                    access: r.define("access", Kind::Access)?,
                    refresh: r.define("refresh", Kind::Refresh)?,
                    proof,
                }
            }
            "refresh-lost" => StepKind::RefreshLost {
                rt: r.reference("rt", &[Kind::Refresh])?,
                access: r.define("access", Kind::Access)?,
                refresh: r.define("refresh", Kind::Refresh)?,
            },
            "use-access" => StepKind::UseAccess {
                at: r.reference("at", &[Kind::Access])?,
                proof: r.proof(false)?,
            },
            "revoke" => StepKind::Revoke {
                token: r.reference("token", &[Kind::Refresh, Kind::Access])?,
                by: r.by()?,
                hint: r.hint()?,
            },
            "introspect" => StepKind::Introspect {
                token: r.reference("token", &[Kind::Refresh, Kind::Access])?,
            },
            "tick" => tick::parse(&r, &last)?,
            "race" => {
                let rt = r.reference("rt", &[Kind::Refresh])?;
                let count = match t.get("count") {
                    None => 5,
                    Some(toml::Value::Integer(n)) if (2..=8).contains(n) => *n as u8,
                    Some(_) => return Err(r.err("count", "must be a whole number from 2 to 8")),
                };
                let revoke = r.bool("revoke", false)?;
                StepKind::Race { rt, count, revoke }
            }
            "revoke-unknown" => StepKind::RevokeUnknown,
            "introspect-unknown" => StepKind::IntrospectUnknown,
            _ => StepKind::Restart,
        };
        for name in tick::used_by(&kind) {
            match names.get(name) {
                Some(Kind::Refresh) => last.0 = Some(name.to_string()),
                Some(Kind::Access) => last.1 = Some(name.to_string()),
                _ => {}
            }
        }
        steps.push(Step { kind, expect, note });
    }
    Ok(Scenario {
        name,
        description,
        file: file.to_string(),
        requires,
        steps,
    })
}

/// Reads one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        step: None,
        field: None,
        reason: format!("failed to read: {e}"),
    })?;
    parse(&file, &text)
}

/// A set of scenarios with the hash of their texts (for reports).
#[derive(Clone, Debug)]
pub struct ScenarioSet {
    /// The scenarios, in file-name order.
    pub scenarios: Vec<Scenario>,
    /// SHA-256 of the file names and texts, hex, first 16 characters.
    pub hash: String,
}

/// Parses `(file name, text)` pairs; names must be unique.
pub fn from_texts<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ScenarioSet, ScenarioError> {
    let mut files: Vec<(&str, &str)> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    let mut scenarios: Vec<Scenario> = Vec::with_capacity(files.len());
    for (file, text) in files {
        h.update(file.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
        let s = parse(file, text)?;
        if let Some(other) = scenarios.iter().find(|o| o.name == s.name) {
            return Err(ScenarioError {
                file: file.to_string(),
                step: None,
                field: Some("name".into()),
                reason: format!("`{}` is also the name of {}", s.name, other.file),
            });
        }
        scenarios.push(s);
    }
    let hash: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(ScenarioSet { scenarios, hash })
}

/// Reads every `*.toml` of a folder.
pub fn load_dir(dir: &Path) -> Result<ScenarioSet, ScenarioError> {
    let dir_err = |reason: String| ScenarioError {
        file: dir.display().to_string(),
        step: None,
        field: None,
        reason,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| dir_err(format!("failed to read the folder: {e}")))?;
    let mut texts = Vec::new();
    for e in entries {
        let path = e.map_err(|e| dir_err(e.to_string()))?.path();
        if path.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| ScenarioError {
                file: path.display().to_string(),
                step: None,
                field: None,
                reason: format!("failed to read: {e}"),
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            texts.push((name, text));
        }
    }
    if texts.is_empty() {
        return Err(dir_err("no *.toml scenario files".into()));
    }
    from_texts(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife_model::policy::Rotation;
    use tokenlife_model::Policy;

    const OK: &str = r#"
name = "replay"
description = "a rotated refresh token is refused"
[requires]
rotation = "always"
[[steps]]
action = "authorize"
refresh = "rt1"
access = "at1"
[[steps]]
action = "refresh"
rt = "rt1"
refresh = "rt2"
expect = "rotated"
[[steps]]
action = "refresh"
rt = "rt1"
expect = "invalid_grant"
"#;

    #[test]
    fn a_scenario_loads() {
        let s = parse("x.toml", OK).unwrap();
        assert_eq!(s.steps.len(), 3);
        assert_eq!(s.requires.rotation, Some(Rotation::Always));
        assert_eq!(
            s.steps[2].expect,
            Some(Expect::Error(ErrorCode::InvalidGrant))
        );
        assert!(s.requires.unmet(&Policy::profile("bcp").unwrap()).is_none());
        assert!(s
            .requires
            .unmet(&Policy::profile("rfc6749").unwrap())
            .is_some());
    }

    #[test]
    fn errors_name_file_step_and_field() {
        let e = parse(
            "x.toml",
            &OK.replace("rt = \"rt1\"\nexpect = \"invalid_grant\"", "rt = \"rt9\""),
        )
        .unwrap_err();
        assert_eq!((e.step, e.field.as_deref()), (Some(3), Some("rt")));
        assert!(
            e.to_string().starts_with("x.toml: step 3: field `rt`"),
            "{e}"
        );
        let e = parse(
            "x.toml",
            &OK.replace("rotation = \"always\"", "rotashun = \"always\""),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("requires.rotashun"));
        let e = parse(
            "x.toml",
            &OK.replace("expect = \"rotated\"", "expect = \"maybe\""),
        )
        .unwrap_err();
        assert_eq!((e.step, e.field.as_deref()), (Some(2), Some("expect")));
        let e = parse(
            "x.toml",
            &OK.replace("refresh = \"rt2\"", "colour = \"red\""),
        )
        .unwrap_err();
        assert_eq!((e.step, e.field.as_deref()), (Some(2), Some("colour")));
    }
}
