//! `Secret`: a token, code or client secret that never reaches a log or a report.
//!
//! The type is the model's configuration vocabulary, shared with the reference server: its
//! `Debug` and `Display` print `<redacted>`; only [`Secret::expose`] gives the value, for
//! the one place it is needed (a request). Reports name tokens by their model ids
//! (`RT0`, `AT1`), and [`Redactor`] replaces any value that slips into a message (an
//! `error_description` that echoes a token) by that name: the value itself and every form
//! a request gave it (form-urlencoded, percent-encoded, JSON-escaped, and a client's HTTP
//! Basic credentials, RFC 6749 §2.3.1, RFC 7617). The redactor is also the one place that
//! cuts a response body for a message ([`preview`]): after the replacement, so no prefix
//! of a secret survives a cut. Clauses: none (hygiene).

use base64::Engine as _;

pub use tokenlife_model::config::Secret;

/// How many characters of a response body a message shows.
pub const PREVIEW_CHARS: usize = 60;

/// How much of a body a preview carries to the redactor (a secret longer than this is not
/// one a target file names).
const PREVIEW_SOURCE: usize = 64 * 1024;

/// Marks where a [`preview`] begins and ends (private-use characters, taken out of bodies).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// A body excerpt for a message, to be cut by [`Redactor::apply`] to [`PREVIEW_CHARS`]
/// once every secret in it has been replaced; every text that reaches a report goes
/// through a redactor.
pub fn preview(body: &[u8]) -> String {
    let end = body.len().min(PREVIEW_SOURCE);
    let text: String = String::from_utf8_lossy(&body[..end])
        .chars()
        .map(|c| {
            if c == OPEN || c == CLOSE {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    format!("{OPEN}{text}{CLOSE}")
}

/// Replaces known secret values in text by their labels.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest value first, so that a value containing another is replaced whole.
    pairs: Vec<(Secret, String)>,
}

impl Redactor {
    /// Remembers that `value`, and each encoded form a request or a body can give it, is
    /// to be shown as `label`.
    pub fn add(&mut self, value: &Secret, label: impl Into<String>) {
        let label = label.into();
        for form in forms(value.expose()) {
            self.add_one(Secret::new(form), &label);
        }
    }

    /// Remembers a client's secret as [`Redactor::add`] does, and its HTTP Basic
    /// credentials: base64 of `id:secret`, raw and with both form-urlencoded first as RFC
    /// 6749 §2.3.1 says.
    pub fn add_client(&mut self, client_id: &str, secret: &Secret, label: impl Into<String>) {
        let label = label.into();
        self.add(secret, label.clone());
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = format!("{client_id}:{}", secret.expose());
        let encoded = format!("{}:{}", urlencoded(client_id), urlencoded(secret.expose()));
        for pair in [raw, encoded] {
            let basic = b64.encode(pair.as_bytes());
            self.add_one(Secret::new(basic.trim_end_matches('=')), &label);
            self.add_one(Secret::new(basic), &label);
        }
    }

    fn add_one(&mut self, value: Secret, label: &str) {
        let len = value.expose().len();
        if len < 4 || self.pairs.iter().any(|(v, _)| *v == value) {
            return;
        }
        let at = self
            .pairs
            .iter()
            .position(|(v, _)| v.expose().len() < len)
            .unwrap_or(self.pairs.len());
        self.pairs.insert(at, (value, label.to_string()));
    }

    /// `text` with every known value replaced by its label, then every [`preview`] cut.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (v, label) in &self.pairs {
            if out.contains(v.expose()) {
                out = out.replace(v.expose(), label);
            }
        }
        if out.contains(OPEN) {
            out = cut_previews(&out);
        }
        out
    }
}

/// `value` and the forms a request or an echoing body gives it.
fn forms(value: &str) -> Vec<String> {
    let component: String =
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(value)
        .to_string();
    vec![value.to_string(), urlencoded(value), component, json]
}

/// `application/x-www-form-urlencoded` (RFC 6749 Appendix B).
fn urlencoded(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Each marked preview cut to [`PREVIEW_CHARS`] and shown quoted.
fn cut_previews(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1024));
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len_utf8()..];
        let (inner, tail) = match after.find(CLOSE) {
            Some(end) => (&after[..end], &after[end + CLOSE.len_utf8()..]),
            None => (after, ""),
        };
        let shown: String = inner.chars().take(PREVIEW_CHARS).collect();
        out.push_str(&format!("{shown:?}"));
        if inner.chars().nth(PREVIEW_CHARS).is_some() {
            out.push('…');
        }
        rest = tail;
    }
    out.push_str(rest);
    out
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

    #[test]
    fn encoded_forms_and_basic_credentials_are_replaced() {
        let mut r = Redactor::default();
        r.add_client("app a", &Secret::new("s3 cr+t/\"x"), "<secret of app a>");
        let b64 = base64::engine::general_purpose::STANDARD;
        for form in [
            "s3 cr+t/\"x".to_string(),
            "s3+cr%2Bt%2F%22x".to_string(),
            "s3%20cr%2Bt%2F%22x".to_string(),
            "s3 cr+t/\\\"x".to_string(),
            b64.encode("app a:s3 cr+t/\"x"),
            b64.encode("app+a:s3+cr%2Bt%2F%22x"),
        ] {
            let out = r.apply(&format!("echo {form} end"));
            assert_eq!(out, "echo <secret of app a> end", "{form}");
        }
    }

    #[test]
    fn a_preview_is_cut_after_the_secrets_are_replaced() {
        let mut r = Redactor::default();
        let token = "T".repeat(30) + "0123456789abcdef0123456789abcdef";
        r.add(&Secret::new(token.clone()), "RT0");
        // The token straddles the 60th character: cut first, its first 30 characters
        // would survive.
        let body = format!("{}{token} and more", "x".repeat(50));
        let out = r.apply(&format!("not JSON: {}", preview(body.as_bytes())));
        assert!(out.contains("RT0"), "{out}");
        assert!(!out.contains("TTTT"), "{out}");
        assert!(!out.contains(OPEN) && !out.contains(CLOSE), "{out}");
        // With no secret at all, the preview is still cut.
        let out = Redactor::default().apply(&preview("y".repeat(500).as_bytes()));
        assert_eq!(out, format!("{:?}…", "y".repeat(PREVIEW_CHARS)));
    }
}
