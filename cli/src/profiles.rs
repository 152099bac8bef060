//! `tokenlife profiles`: the built-in profiles with every knob.

use tokenlife_model::policy::{Policy, PROFILES};

use crate::outcome::{outln, Format, EXIT_OK};

/// Arguments of `tokenlife profiles`.
#[derive(Debug, clap::Args)]
pub struct ProfilesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs `tokenlife profiles`.
pub fn run(args: ProfilesArgs) -> u8 {
    let all: Vec<(&tokenlife_model::policy::Profile, Policy)> = PROFILES
        .iter()
        .filter_map(|p| Policy::profile(p.name).map(|pol| (p, pol)))
        .collect();
    match args.format {
        Format::Json => {
            let v: Vec<serde_json::Value> = all
                .iter()
                .map(|(info, p)| {
                    serde_json::json!({
                        "name": info.name,
                        "summary": info.summary,
                        "clause": info.clause,
                        "policy": p,
                        "notes": p.notes(),
                    })
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Format::Human => {
            for (i, (info, p)) in all.iter().enumerate() {
                if i > 0 {
                    outln!();
                }
                outln!("{} — {}", info.name, info.summary);
                outln!("  clause: {}", info.clause);
                for line in p.to_toml().lines().filter(|l| !l.starts_with("profile")) {
                    outln!("  {line}");
                }
                for note in p.notes() {
                    outln!("  note: {note}");
                }
            }
        }
    }
    EXIT_OK
}
