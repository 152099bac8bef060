//! Scopes: RFC 6749 §3.3 (`scope = scope-token *( SP scope-token )`, order-free sets).
//!
//! RFC 6749 §6: a refresh may ask for a subset of the original scope; OIDC Core §11:
//! `offline_access` asks for a refresh token.

use std::collections::BTreeSet;
use std::fmt;

/// The scope that asks for a refresh token (OpenID Connect Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A set of scope tokens, printed sorted and space-separated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// Parses a `scope` parameter. `None` when it is empty or has a character RFC 6749 §3.3
    /// does not allow (`%x21 / %x23-5B / %x5D-7E`).
    pub fn parse(text: &str) -> Option<Scope> {
        let mut set = BTreeSet::new();
        for token in text.split(' ') {
            if token.is_empty() {
                // Extra spaces are tolerated, as most servers do.
                continue;
            }
            let ok = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !ok {
                return None;
            }
            set.insert(token.to_string());
        }
        (!set.is_empty()).then_some(Scope(set))
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the set holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether there is no token.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The set without `token`.
    pub fn without(&self, token: &str) -> Scope {
        Scope(self.0.iter().filter(|t| *t != token).cloned().collect())
    }

    /// The union of two sets.
    pub fn union(&self, other: &Scope) -> Scope {
        Scope(self.0.union(&other.0).cloned().collect())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_sets() {
        let a = Scope::parse("write read  read").unwrap();
        assert_eq!(a.to_string(), "read write");
        assert!(Scope::parse("read").unwrap().is_subset(&a));
        assert!(!Scope::parse("admin").unwrap().is_subset(&a));
        assert_eq!(Scope::parse(""), None);
        assert_eq!(Scope::parse("a\"b"), None);
        assert_eq!(Scope::parse("a\\b"), None);
        assert_eq!(a.without("read").to_string(), "write");
    }
}
