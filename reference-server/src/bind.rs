//! Where a server may listen: the one rule for `tokenlife serve --bind` and [`crate::start`].
//!
//! On a loopback address anything goes. Anywhere else the server is reachable by other
//! machines, so it must be asked for (`--allow-remote`), and two set-ups are refused even
//! then: the demo clients (their secret is printed at start and consent is automatic, so
//! anyone who can reach the server mints tokens) and the test clock (anyone could move the
//! server's time and expire every token).

use std::net::SocketAddr;

/// Why a server may not listen where it was asked to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindRefused {
    /// The test clock off loopback.
    #[error(
        "refusing --test-clock on {0}: anyone who reaches it could move the server's clock; \
         bind a loopback address (127.0.0.1) or drop --test-clock"
    )]
    TestClock(SocketAddr),
    /// The demo clients off loopback.
    #[error(
        "refusing the demo clients on {0}: their secret is printed and consent is automatic, \
         so anyone who reaches it could mint tokens; bind a loopback address (127.0.0.1) or \
         give --config with your own clients (and --allow-remote)"
    )]
    Demo(SocketAddr),
    /// Off loopback without the flag that asks for it.
    #[error(
        "{0} is not a loopback address: other machines could reach this server, which \
         approves every authorization request automatically; pass --allow-remote if that \
         is what you want, or bind 127.0.0.1"
    )]
    Remote(SocketAddr),
}

/// What decides whether a non-loopback address is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exposure {
    /// `--allow-remote` was given.
    pub allow_remote: bool,
    /// The built-in demo clients are served.
    pub demo: bool,
    /// The frozen test clock and `POST /test/clock` are on.
    pub test_clock: bool,
}

/// Whether `addr` is a loopback address (an IPv4-mapped IPv6 loopback counts).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Whether a server under `exposure` may listen on `addr`. The test clock is named first:
/// nothing makes it safe off loopback, whereas the demo clients can be replaced.
pub fn check(addr: SocketAddr, exposure: Exposure) -> Result<(), BindRefused> {
    if is_loopback(&addr) {
        return Ok(());
    }
    if exposure.test_clock {
        return Err(BindRefused::TestClock(addr));
    }
    if exposure.demo {
        return Err(BindRefused::Demo(addr));
    }
    if !exposure.allow_remote {
        return Err(BindRefused::Remote(addr));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn loopback_is_always_allowed() {
        for a in [
            "127.0.0.1:9000",
            "127.8.0.1:1",
            "[::1]:9000",
            "[::ffff:127.0.0.1]:80",
        ] {
            let all = Exposure {
                allow_remote: false,
                demo: true,
                test_clock: true,
            };
            assert_eq!(check(addr(a), all), Ok(()), "{a}");
        }
    }

    #[test]
    fn elsewhere_only_with_the_flag_and_never_with_demo_or_test_clock() {
        for a in [
            "0.0.0.0:9000",
            "[::]:9000",
            "192.0.2.1:9000",
            "[::ffff:192.0.2.1]:1",
        ] {
            let a = addr(a);
            let own = Exposure::default();
            assert_eq!(check(a, own), Err(BindRefused::Remote(a)));
            let allowed = Exposure {
                allow_remote: true,
                ..own
            };
            assert_eq!(check(a, allowed), Ok(()));
            let demo = Exposure {
                demo: true,
                ..allowed
            };
            assert_eq!(check(a, demo), Err(BindRefused::Demo(a)));
            let clock = Exposure {
                test_clock: true,
                ..allowed
            };
            assert_eq!(check(a, clock), Err(BindRefused::TestClock(a)));
        }
    }

    #[test]
    fn messages_name_what_to_change() {
        let a = addr("0.0.0.0:9000");
        assert!(BindRefused::Remote(a)
            .to_string()
            .contains("--allow-remote"));
        assert!(BindRefused::Demo(a).to_string().contains("--config"));
        assert!(BindRefused::TestClock(a)
            .to_string()
            .contains("--test-clock"));
    }
}
