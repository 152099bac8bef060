//! `tokenlife load` refuses a target that is not on a loopback address unless
//! `--allow-remote`: a load test can hurt a server.

use tokenlife_harness::target::Target;

/// The first URL of a target that is not on a loopback address, if any.
pub fn remote_url(t: &Target) -> Option<String> {
    let e = &t.endpoints;
    [
        t.issuer.as_ref(),
        e.token.as_ref(),
        e.authorization.as_ref(),
        e.revocation.as_ref(),
        e.introspection.as_ref(),
        t.resource_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    .find(|u| !is_loopback(u))
    .cloned()
}

/// Whether an http(s) URL names a loopback host (`localhost`, 127.0.0.0/8, `[::1]`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        for url in [
            "http://127.0.0.1:9000",
            "http://localhost/x",
            "https://[::1]:8443/t",
            "http://127.8.0.1",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://auth.example.com",
            "http://10.0.0.1:80",
            "http://127.0.0.1.evil.test/",
            "http://localhost@evil.test/",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
