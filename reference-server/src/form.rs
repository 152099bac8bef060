//! Strict parsing of `application/x-www-form-urlencoded` bodies and query strings.
//!
//! RFC 6749 §3.1 / §3.2: "Request and response parameters MUST NOT be included more than
//! once", and parameters sent without a value MUST be treated as omitted. Invalid
//! percent-encoding or UTF-8 is refused instead of replaced, so nothing is guessed.

use std::collections::BTreeMap;

use percent_encoding::percent_decode;

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A parameter appears more than once.
    #[error("parameter `{0}` is repeated")]
    Repeated(String),
    /// A name or value is not UTF-8 after percent-decoding.
    #[error("the request is not valid UTF-8 after percent-decoding")]
    InvalidUtf8,
}

/// The parameters of a form or query string, each at most once; empty values dropped.
#[derive(Debug, Default, Clone)]
pub struct Params {
    map: BTreeMap<String, String>,
    repeated: Option<String>,
}

impl Params {
    /// Parses `input`. A repeated parameter is remembered, not fatal, so that the caller can
    /// decide which error it gets (at `/authorize` a repeated `redirect_uri` must not be
    /// redirected to, RFC 6749 §4.1.2.1).
    pub fn parse(input: &[u8]) -> Result<Params, FormError> {
        let mut params = Params::default();
        for pair in input.split(|b| *b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if value.is_empty() {
                continue;
            }
            if params.map.contains_key(&name) {
                params.repeated.get_or_insert_with(|| name.clone());
                continue;
            }
            params.map.insert(name, value);
        }
        Ok(params)
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The first repeated parameter, if any.
    pub fn repeated(&self) -> Option<&str> {
        self.repeated.as_deref()
    }

    /// Fails on the first repeated parameter.
    pub fn no_repeats(&self) -> Result<(), FormError> {
        match &self.repeated {
            Some(name) => Err(FormError::Repeated(name.clone())),
            None => Ok(()),
        }
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&plus)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| FormError::InvalidUtf8)
}

/// Encodes `pairs` as a query string.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_flags_repeats() {
        let p = Params::parse(b"a=1&b=x+y%21&c=&a=2").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y!"));
        assert_eq!(p.get("c"), None);
        assert_eq!(p.repeated(), Some("a"));
        assert_eq!(p.no_repeats(), Err(FormError::Repeated("a".into())));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(
            Params::parse(b"a=%ff%fe").unwrap_err(),
            FormError::InvalidUtf8
        );
        assert_eq!(
            Params::parse(b"a=\xff").unwrap_err(),
            FormError::InvalidUtf8
        );
    }
}
