//! `Secret`: a token, code or client secret that never reaches a log or a report.
//!
//! The type is the model's configuration vocabulary, shared with the reference server: its
//! `Debug` and `Display` print `<redacted>`; only [`Secret::expose`] gives the value, for
//! the one place it is needed (a request). Reports name tokens by their model ids
//! (`RT0`, `AT1`), and [`Redactor`] replaces any value that slips into a message (an
//! `error_description` that echoes a token) by that name. Clauses: none (hygiene).

pub use tokenlife_model::config::Secret;

/// Replaces known secret values in text by their labels.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    pairs: Vec<(Secret, String)>,
}

impl Redactor {
    /// Remembers that `value` is to be shown as `label`.
    pub fn add(&mut self, value: &Secret, label: impl Into<String>) {
        if value.expose().len() >= 4 && !self.pairs.iter().any(|(v, _)| v == value) {
            self.pairs.push((value.clone(), label.into()));
        }
    }

    /// `text` with every known value replaced by its label.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        // Longest first, so that a value containing another is replaced whole.
        let mut pairs: Vec<_> = self.pairs.iter().collect();
        pairs.sort_by_key(|(v, _)| std::cmp::Reverse(v.expose().len()));
        for (v, label) in pairs {
            if out.contains(v.expose()) {
                out = out.replace(v.expose(), label);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("tok-123456");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "tok-123456");
    }

    #[test]
    fn the_redactor_replaces_known_values() {
        let mut r = Redactor::default();
        r.add(&Secret::new("abcdef"), "RT0");
        r.add(&Secret::new("abcdefgh"), "AT1");
        assert_eq!(r.apply("x abcdefgh y abcdef"), "x AT1 y RT0");
    }
}
