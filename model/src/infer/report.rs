//! The inferred policy as a policy file: every knob written out, and before each inferred
//! knob one comment saying how it was decided (the experiment's steps, the answers, the
//! clause that leaves the choice to the server), "consistent with …" when the answers could
//! not tell its values apart, or the contradiction when no value allowed them. Each
//! measured lifetime gets one comment too: how it was measured (the server's `expires_in`,
//! the probes and their answers), where the target declares another value, and the clause.

use std::fmt::Write as _;

use super::decide::{Finding, Inference};
use super::lifetimes::{Lifetimes, Measured};
use super::product::Step;
use crate::action::Outcome;
use crate::policy::Policy;

fn numbered<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(i, x)| format!("{}. {x}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

fn values(f: &Finding, of: &[usize]) -> String {
    of.iter()
        .map(|v| format!("\"{}\"", f.knob.value(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comment lines for one knob, each starting with `#`.
pub fn comment(f: &Finding) -> Vec<String> {
    let k = f.knob;
    let mut out = Vec::new();
    let head = match (&f.contradiction, f.decided()) {
        (Some(c), _) => format!(
            "{}: CONTRADICTION: no value of {} allows the answers below; written as before it",
            k.name,
            values(f, &c.candidates)
        ),
        (None, Some(_)) if f.experiments.is_empty() => format!(
            "{}: the only value the other knobs allow",
            k.name
        ),
        (None, Some(_)) => format!("{}: decided", k.name),
        (None, None) => format!(
            "{}: consistent with {} (no experiment within the bounds tells them apart; the most permissive is written)",
            k.name,
            values(f, &f.candidates)
        ),
    };
    out.push(format!("# {head}"));
    let show = |out: &mut Vec<String>, between: &str, steps: &[Step], answers: &[Outcome]| {
        out.push(format!("#   experiment ({between}): {}", numbered(steps)));
        out.push(format!("#   answers: {}", numbered(answers)));
    };
    if let Some(c) = &f.contradiction {
        show(&mut out, "the contradicting one", &c.steps, &c.answers);
    }
    for e in &f.experiments {
        let between = format!(
            "\"{}\" vs \"{}\", kept {}",
            k.value(e.between[0]),
            k.value(e.between[1]),
            values(f, &e.kept)
        );
        match &e.not_run {
            Some(why) => out.push(format!(
                "#   experiment ({between}): {}; not run: {why}",
                numbered(&e.steps)
            )),
            None => show(&mut out, &between, &e.steps, &e.answers),
        }
    }
    out.push(format!("#   clause: {}", k.clause));
    out
}

/// The comment lines for one measured lifetime, each starting with `#`: `written` is the
/// line the file carries for it, `declared` the target's own line, if it has another.
pub fn lifetime_comment(m: &Measured, written: &str, declared: Option<&str>) -> Vec<String> {
    let mut out = vec![format!("# {}: measured: {}", m.knob, m.how)];
    if !m.answers.is_empty() {
        let probes: Vec<String> = m
            .answers
            .iter()
            .map(|(p, alive)| format!("{p} → {}", if *alive { "honoured" } else { "refused" }))
            .collect();
        out.push(format!("#   probes: {}", numbered(&probes)));
    }
    if let Some(d) = declared.filter(|d| d.trim() != written.trim()) {
        out.push(format!(
            "#   the target declares {}: the measurement disagrees",
            d.trim()
        ));
    }
    out.push(format!("#   clause: {}", m.clause));
    out
}

/// The policy file: `inference.policy` with every knob, each inferred knob after its comment.
/// A knob the file has no line for (a grace successor without a grace window) gets its
/// comment and a commented-out line after the profile. The lifetimes are the base policy's.
pub fn policy_file(inference: &Inference) -> String {
    policy_file_measured(inference, &Lifetimes::default(), None)
}

/// [`policy_file`] with the measured `lifetimes`, each after its comment, compared with
/// the target's `declared` policy where it has one.
pub fn policy_file_measured(
    inference: &Inference,
    lifetimes: &Lifetimes,
    declared: Option<&Policy>,
) -> String {
    let body = inference.policy.to_toml();
    let key = |line: &str| line.split_once('=').map(|(k, _)| k.trim().to_string());
    let declared_toml = declared.map(Policy::to_toml).unwrap_or_default();
    let declared_line = |k: &str| {
        declared_toml
            .lines()
            .find(|l| key(l).as_deref() == Some(k))
            .map(str::to_string)
    };
    let mut text = String::from(
        "# Inferred from the server's answers to distinguishing experiments (tokenlife infer).\n",
    );
    text.push_str(if lifetimes.knobs.is_empty() {
        "# Lifetimes are the base policy's, not inferred.\n"
    } else {
        "# Lifetimes measured first, by probes from fresh grants; the experiments wait for them.\n"
    });
    let mut missing: Vec<&Finding> = inference
        .findings
        .iter()
        .filter(|f| !body.lines().any(|l| key(l).as_deref() == Some(f.knob.name)))
        .collect();
    for line in body.lines() {
        if let Some(m) = lifetimes
            .knobs
            .iter()
            .find(|m| key(line).as_deref() == Some(m.knob))
        {
            let declared = declared_line(m.knob);
            for c in lifetime_comment(m, line, declared.as_deref()) {
                let _ = writeln!(text, "{c}");
            }
        }
        if let Some(f) = inference
            .findings
            .iter()
            .find(|f| key(line).as_deref() == Some(f.knob.name))
        {
            for c in comment(f) {
                let _ = writeln!(text, "{c}");
            }
            if f.knob.name == "refresh_ttl_anchor"
                && lifetimes
                    .get("refresh_ttl")
                    .is_some_and(|m| m.value.is_some())
            {
                let _ = writeln!(
                    text,
                    "#   refresh_ttl was measured from the issue: this names how the file counts it, which no answer tells from how the server does"
                );
            }
        }
        let _ = writeln!(text, "{line}");
        if key(line).as_deref() == Some("profile") {
            for f in missing.drain(..) {
                for c in comment(f) {
                    let _ = writeln!(text, "{c}");
                }
                let value = f.chosen().map_or("?", |v| f.knob.value(v));
                let _ = writeln!(text, "# {} = \"{value}\"", f.knob.name);
            }
        }
    }
    text
}
