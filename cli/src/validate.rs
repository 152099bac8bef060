//! `tokenlife validate FILE`: checks a target, server config, policy or scenario file
//! without running anything. The kind is taken from the file's tables (`[server]`: a
//! target; `[[divergence]]`: expected divergences; `[[steps]]`: a scenario; `[[clients]]`:
//! a server config; otherwise a policy) or
//! from `--kind`. Exit codes: 0 valid, 3 invalid (the message names the field), 2 usage.

use std::path::PathBuf;

use tokenlife_model::Policy;

use crate::outcome::{fail, outln, EXIT_BAD_FILE, EXIT_OK};

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A target file (`tokenlife run --target`).
    Target,
    /// A reference-server config file (`tokenlife serve --config`).
    Config,
    /// A policy file (`tokenlife check --policy`).
    Policy,
    /// A scenario file (`scenarios/*.toml`).
    Scenario,
    /// An expected-divergences file (`tokenlife run --expect-divergences`).
    Divergences,
}

/// Arguments of `tokenlife validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The file.
    pub file: PathBuf,
    /// Its kind; guessed from its tables when omitted.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
}

/// The kind of a file from its top-level tables, and from its name when the tables do not
/// tell: a file without any table or key (comments only) named `*divergences*` is an
/// expected-divergences file listing none, not a policy that is plain `bcp`.
pub fn guess(name: &str, text: &str) -> Kind {
    let has = |header: &str| text.lines().any(|l| l.trim() == header);
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank && name.contains("divergence") {
        Kind::Divergences
    } else if has("[server]") {
        Kind::Target
    } else if has("[[divergence]]") {
        Kind::Divergences
    } else if has("[[steps]]") {
        Kind::Scenario
    } else if has("[[clients]]") {
        Kind::Config
    } else {
        Kind::Policy
    }
}

/// Checks `text` as `kind`; `Ok` describes what it is.
pub fn check(path: &std::path::Path, text: &str, kind: Kind) -> Result<String, String> {
    match kind {
        Kind::Target => {
            let t = tokenlife_harness::target::load(path).map_err(|e| e.to_string())?;
            Ok(format!(
                "a valid target file: {} client(s), policy {}, endpoints from {}",
                t.clients.len(),
                t.policy.profile,
                if t.issuer.is_some() {
                    "discovery"
                } else {
                    "the file"
                }
            ))
        }
        Kind::Scenario => {
            let s = tokenlife_harness::scenario::parse(&path.display().to_string(), text)
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "a valid scenario file: `{}`, {} step(s)",
                s.name,
                s.steps.len()
            ))
        }
        Kind::Config => {
            let c = tokenlife_server::config::load_file(path).map_err(|e| e.to_string())?;
            Ok(format!(
                "a valid server config file: {} client(s)",
                c.clients.len()
            ))
        }
        Kind::Policy => {
            let p = Policy::from_toml(text).map_err(|e| e.to_string())?;
            Ok(format!("a valid policy file: {}", p.profile))
        }
        Kind::Divergences => {
            let prefix = format!("{}: ", path.display());
            let d = tokenlife_harness::export::load_expected(path)
                .map_err(|e| e.strip_prefix(&prefix).unwrap_or(&e).to_string())?;
            Ok(format!(
                "a valid expected-divergences file: {} entr{}",
                d.len(),
                if d.len() == 1 { "y" } else { "ies" }
            ))
        }
    }
}

/// Runs `tokenlife validate`.
pub fn run(args: ValidateArgs) -> u8 {
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                EXIT_BAD_FILE,
                format!("failed to read {}: {e}", args.file.display()),
            )
        }
    };
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = args.kind.unwrap_or_else(|| guess(&name, &text));
    match check(&args.file, &text, kind) {
        Ok(what) => {
            outln!("{}: {what}", args.file.display());
            EXIT_OK
        }
        Err(e) => fail(EXIT_BAD_FILE, format!("{}: {e}", args.file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_guessed_from_tables() {
        assert_eq!(guess("f.toml", "[server]\nissuer = \"x\"\n"), Kind::Target);
        assert_eq!(guess("f.toml", "name = \"a\"\n[[steps]]\n"), Kind::Scenario);
        assert_eq!(guess("f.toml", "[[clients]]\nid = \"a\"\n"), Kind::Config);
        assert_eq!(guess("f.toml", "profile = \"bcp\"\n"), Kind::Policy);
        assert_eq!(
            guess("f.toml", "[[divergence]]\ncheck = \"x\"\n"),
            Kind::Divergences
        );
    }

    #[test]
    fn a_file_of_comments_is_told_apart_by_its_name() {
        let none = "# nothing expected\n\n";
        assert_eq!(guess("expected-divergences.toml", none), Kind::Divergences);
        assert_eq!(guess("policy.toml", none), Kind::Policy);
        // A divergences-named file with knobs in it is still judged by its content.
        assert_eq!(
            guess("divergences.toml", "profile = \"bcp\"\n"),
            Kind::Policy
        );
    }

    #[test]
    fn shipped_scenarios_validate_and_bad_policies_do_not() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let path = dir.join("ten-step-flow.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(check(&path, &text, guess("ten-step-flow.toml", &text))
            .unwrap()
            .contains("ten-step-flow"));
        let err = check(&path, "rotaton = \"always\"\n", Kind::Policy).unwrap_err();
        assert!(err.contains("rotaton"), "{err}");
    }
}
