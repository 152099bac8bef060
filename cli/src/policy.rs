//! The policy a subcommand runs under: a built-in profile by name (`--profile`, default
//! `bcp`) or a policy file (`--policy`), with the exit code of each way it can be wrong.

use std::path::PathBuf;

use tokenlife_model::policy::Policy;

use crate::outcome::Failure;

/// Loads the policy named by `--profile` / `--policy`.
pub fn load_policy(profile: Option<&str>, file: Option<&PathBuf>) -> Result<Policy, Failure> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_file(format!(
                "failed to read policy file {}: {e}",
                path.display()
            ))
        })?;
        return Policy::from_toml(&text)
            .map_err(|e| Failure::bad_file(format!("{}: {e}", path.display())));
    }
    profile_named(profile.unwrap_or(tokenlife_model::policy::DEFAULT_PROFILE))
}

/// The built-in profile `name`; an unknown name is bad usage, and the message lists them.
pub fn profile_named(name: &str) -> Result<Policy, Failure> {
    Policy::profile(name).ok_or_else(|| {
        Failure::usage(format!(
            "unknown profile `{name}`; the built-in profiles are: {}",
            Policy::profile_names().collect::<Vec<_>>().join(", ")
        ))
    })
}
