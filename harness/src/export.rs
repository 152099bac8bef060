//! Report files: `report.json`, `junit.xml` (one testcase per scenario and check, for CI)
//! and `report.md` (a summary and a mermaid `sequenceDiagram` of each failing trace); and
//! the expected-divergences file that lets CI gate on regressions only.
//!
//! The expected-divergences file is TOML, `[[divergence]]` entries with `check` (a check
//! id), `reason`, and optionally `scenario` and `intermittent`; a failure it matches is
//! reported as expected and does not fail the run, and an entry that matches nothing is
//! stale and fails it (as rustls's BoGo shim keeps its skipped tests), unless it is
//! `intermittent = true`: a divergence that needs a timing the run may not produce (a race
//! the server happened to serialise), noted when not seen. Clauses: those of the checks reported.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checks::Verdict;
use crate::report::{Finding, Report};
use crate::target::toml_message;

/// One accepted divergence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDivergence {
    /// The check id.
    pub check: String,
    /// Why it is accepted.
    pub reason: String,
    /// Only in this scenario (default: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Shows only in runs whose timing produces it (a race): when not seen, noted, not stale.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intermittent: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFile {
    #[serde(default)]
    divergence: Vec<ExpectedDivergence>,
}

/// Reads an expected-divergences file; unknown check ids are errors.
pub fn load_expected(path: &Path) -> Result<Vec<ExpectedDivergence>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read {}: {e}", path.display()))?;
    let f: ExpectedFile = toml::from_str(&text)
        .map_err(|e| format!("{}: {}", path.display(), toml_message(&text, &e)))?;
    for (i, d) in f.divergence.iter().enumerate() {
        if crate::checks::by_id(&d.check).is_none() {
            return Err(format!(
                "{}: divergence[{i}].check: `{}` is not a check id",
                path.display(),
                d.check
            ));
        }
        if d.reason.trim().is_empty() {
            return Err(format!(
                "{}: divergence[{i}].reason: say why it is accepted",
                path.display()
            ));
        }
    }
    Ok(f.divergence)
}

/// Moves the failures `expected` matches to `report.expected`; entries that match nothing
/// are recorded as stale (which fails the run).
pub fn apply_expected(report: &mut Report, expected: &[ExpectedDivergence]) {
    let mut used = vec![false; expected.len()];
    let mut keep = Vec::new();
    for f in std::mem::take(&mut report.failures) {
        let hit = expected
            .iter()
            .position(|e| e.check == f.id && e.scenario.as_ref().is_none_or(|s| *s == f.scenario));
        match hit {
            Some(i) => {
                used[i] = true;
                report.expected.push(f);
            }
            None => keep.push(f),
        }
    }
    report.failed = keep.len();
    report.failures = keep;
    for (e, used) in expected.iter().zip(used) {
        if used {
            continue;
        }
        let what = format!(
            "{}{}",
            e.check,
            e.scenario
                .as_ref()
                .map(|s| format!(" in {s}"))
                .unwrap_or_default()
        );
        if report.interrupted() {
            // The run may have stopped before the divergence: not tested, not stale.
            report.notes.push(format!(
                "{what}: expected to diverge, not seen; not confirmed stale because some requests got no answer"
            ));
        } else if e.intermittent {
            report.notes.push(format!(
                "{what}: expected to diverge intermittently, not seen in this run"
            ));
        } else {
            report.stale.push(format!(
                "{what}: expected to diverge ({}), but it held",
                e.reason
            ));
        }
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one testcase per (scenario, check).
pub fn junit(r: &Report) -> String {
    let mut cases = String::new();
    let (mut tests, mut failures) = (0, 0);
    for s in &r.scenarios {
        let mut worst: std::collections::BTreeMap<&str, &crate::report::Evaluation> =
            Default::default();
        for e in &s.evaluations {
            let w = worst.entry(e.id).or_insert(e);
            if e.verdict > w.verdict {
                *w = e;
            }
        }
        for (id, e) in worst {
            tests += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{} [{} {}]\">",
                xml(&s.name),
                xml(id),
                xml(e.clause),
                e.level
            );
            let expected = r
                .expected
                .iter()
                .any(|f| f.id == id && f.scenario == s.name);
            match e.verdict {
                Verdict::Failed if !expected => {
                    failures += 1;
                    let trace = e.trace.clone().unwrap_or_default().join("\n");
                    let _ = write!(
                        cases,
                        "<failure message=\"{}\">{}</failure>",
                        xml(e.message.as_deref().unwrap_or_default()),
                        xml(&trace)
                    );
                }
                Verdict::Failed => {
                    let _ = write!(
                        cases,
                        "<system-out>expected divergence: {}</system-out>",
                        xml(e.message.as_deref().unwrap_or_default())
                    );
                }
                Verdict::Warning => {
                    let _ = write!(
                        cases,
                        "<system-out>warning: {}</system-out>",
                        xml(e.message.as_deref().unwrap_or_default())
                    );
                }
                Verdict::Passed => {}
            }
            cases.push_str("</testcase>\n");
        }
    }
    // An infrastructure problem is an error of the run, not a failure of the server; so is
    // a run that could not start or stopped before it finished.
    let mut errors = r.infrastructure.len();
    for (name, what) in [("not run", &r.error), ("partial run", &r.partial)] {
        if let Some(m) = what {
            tests += 1;
            errors += 1;
            let _ = writeln!(
                cases,
                "    <testcase classname=\"run\" name=\"{name}\"><error message=\"{}\"/></testcase>",
                xml(m)
            );
        }
    }
    for i in &r.infrastructure {
        tests += 1;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}\" name=\"infrastructure (step {})\"><error message=\"{}\">{}</error></testcase>",
            xml(&i.scenario),
            i.step,
            xml(&i.message),
            xml(&i.trace.join("\n"))
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n    <properties><property name=\"target\" value=\"{}\"/><property name=\"policy\" value=\"{}\"/><property name=\"seed\" value=\"{}\"/><property name=\"scenarios_hash\" value=\"{}\"/></properties>\n{cases}  </testsuite>\n</testsuites>\n",
        xml(&r.tool),
        xml(&r.target),
        xml(&r.profile),
        r.seed,
        xml(&r.scenarios_hash)
    )
}

fn mermaid_text(s: &str) -> String {
    s.replace(['"', ';', '#'], "'").replace('→', "->")
}

/// A mermaid `sequenceDiagram` of a trace (`n. action → outcome` lines).
pub fn mermaid(trace: &[String]) -> String {
    let mut out = String::from(
        "```mermaid\nsequenceDiagram\n    participant C as Client\n    participant S as Server\n",
    );
    for line in trace {
        let body = line.split_once(". ").map_or(line.as_str(), |(_, b)| b);
        match body.split_once(" → ") {
            Some((action, outcome)) => {
                let _ = writeln!(out, "    C->>S: {}", mermaid_text(action));
                let _ = writeln!(out, "    S-->>C: {}", mermaid_text(outcome));
            }
            None => {
                let _ = writeln!(out, "    Note over C,S: {}", mermaid_text(body));
            }
        }
    }
    out.push_str("```\n");
    out
}

fn finding_md(out: &mut String, title: &str, f: &Finding) {
    let _ = writeln!(out, "### {title} `{}` in `{}`\n", f.id, f.scenario);
    let _ = writeln!(
        out,
        "{} **{}** {} — {}\n",
        f.clause, f.level, f.check, f.message
    );
    out.push_str(&mermaid(&f.trace));
    out.push('\n');
}

/// The Markdown report.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# tokenlife report\n");
    let _ = writeln!(
        out,
        "- tool: {}\n- target: {}\n- policy: {}\n- seed: {}\n- scenarios: {}\n- checks: {} ({} passed, {} failed, {} warnings, {} expected)\n- actions: {}\n",
        r.tool,
        r.target,
        r.profile,
        r.seed,
        r.scenarios_hash,
        r.checks,
        r.passed,
        r.failed,
        r.warnings,
        r.expected.len(),
        r.actions
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "**Not run:** {e}\n");
    }
    if let Some(p) = &r.partial {
        let _ = writeln!(
            out,
            "**Partial report:** {p}; what the run had not reached is not tested.\n"
        );
    }
    if !r.credentials_sent_to.is_empty() {
        let _ = writeln!(
            out,
            "Credentials (client secrets, tokens) sent to: {}.\n",
            r.credentials_sent_to.join(", ")
        );
    }
    if let Some(c) = &r.coverage {
        let _ = writeln!(out, "Exhaustive to depth {}: {}.\n", c.depth, c.summary());
    }
    if let Some(c) = &r.search {
        let _ = writeln!(out, "Aimed search: {}.\n", c.summary());
    }
    out.push_str("| scenario | status | note |\n|---|---|---|\n");
    for s in &r.scenarios {
        let _ = writeln!(
            out,
            "| {} | {:?} | {} |",
            s.name,
            s.status,
            s.reason.as_deref().unwrap_or("").replace('|', "/")
        );
    }
    out.push('\n');
    for f in &r.failures {
        finding_md(&mut out, "Failed", f);
    }
    for f in &r.warning_list {
        finding_md(&mut out, "Warning", f);
    }
    for f in &r.expected {
        finding_md(&mut out, "Expected divergence", f);
    }
    for s in &r.stale {
        let _ = writeln!(out, "- stale expected divergence: {s}");
    }
    if let Some(line) = r.infrastructure_summary() {
        let _ = writeln!(out, "## Infrastructure problems\n\n{line}.\n");
        out.push_str(
            "| scenario or sequence | step | requests | what happened |\n|---|---|---|---|\n",
        );
        for i in &r.infrastructure {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                i.scenario,
                i.step,
                i.requests,
                i.message.replace('|', "/")
            );
        }
        out.push('\n');
    }
    out.push_str("\n<details><summary>Resolved policy</summary>\n\n```toml\n");
    out.push_str(&r.policy);
    out.push_str("```\n</details>\n");
    out
}

/// Writes `report.json`, `junit.xml` and `report.md` into `dir` (created if missing).
pub fn write_dir(r: &Report, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    for (name, text) in [
        ("report.json", json),
        ("junit.xml", junit(r)),
        ("report.md", markdown(r)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
    }
    for replay in &r.replays {
        let path = dir.join(format!("{}.toml", replay.name));
        std::fs::write(&path, &replay.scenario)
            .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_turns_a_trace_into_messages() {
        let m = mermaid(&[
            "1. public client refreshes with RT0 → 400 invalid_grant  ✗ x".into(),
            "2. time passes: 300 s".into(),
        ]);
        assert!(m.contains("C->>S: public client refreshes with RT0"), "{m}");
        assert!(m.contains("S-->>C: 400 invalid_grant"), "{m}");
        assert!(m.contains("Note over C,S: time passes: 300 s"), "{m}");
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
