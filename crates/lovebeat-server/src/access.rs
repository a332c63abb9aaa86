//! Who may talk to lovebeat: source networks for the line protocol
//! (`[udp] allow`, `[tcp] allow`) and bearer tokens for HTTP
//! (`[http] write_tokens`, `read_tokens`).
//!
//! Ingest asks [`Allow::permits`] once per datagram or connection; the HTTP
//! layer asks [`Tokens::grants`] once per request (`http::guard`). Nothing
//! here does I/O; the binary's config layer parses the lists.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use subtle::ConstantTimeEq;

/// One source network: `10.0.0.0/8`, `2001:db8::/32`, or a single address
/// (`192.0.2.7`, a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this network. An IPv4 peer on a dual-stack socket
    /// (`::ffff:192.0.2.7`) counts as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

impl FromStr for Cidr {
    /// A one-line reason that quotes the input.
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let invalid = || {
            format!(
                "invalid network {s:?}: expected an address or ADDRESS/PREFIX, \
                 e.g. \"10.0.0.0/8\" or \"::1\""
            )
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(invalid)?,
            Some(_) => return Err(invalid()),
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Source networks allowed to send; empty allows everyone (the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow(pub Vec<Cidr>);

impl Allow {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|net| net.contains(ip))
    }
}

/// What a request needs: nothing, a read token or a write token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Nothing,
    Read,
    Write,
}

/// What a request presented, measured against [`Tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    /// No token, or one lovebeat does not know: 401.
    Unauthenticated,
    /// A read token on a write: 403.
    Forbidden,
}

/// `[http] write_tokens`, `read_tokens` and which reads stay public.
///
/// Writes need a write token when any is set; reads need a read (or write)
/// token when any read token is set. `/status` and `/metrics` may stay
/// public (`public_status`, `public_metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub write: Vec<String>,
    pub read: Vec<String>,
    pub public_status: bool,
    pub public_metrics: bool,
}

impl Tokens {
    /// Whether anything is protected at all.
    pub fn is_open(&self) -> bool {
        self.write.is_empty() && self.read.is_empty()
    }

    /// Whether `presented` (a bearer token, if any) may do what `need` asks.
    pub fn grants(&self, need: Need, presented: Option<&str>) -> Verdict {
        let is_write = presented.is_some_and(|t| known(&self.write, t));
        let is_read = is_write || presented.is_some_and(|t| known(&self.read, t));
        let allowed = match need {
            Need::Nothing => true,
            Need::Read => self.read.is_empty() || is_read,
            Need::Write => self.write.is_empty() || is_write,
        };
        match () {
            _ if allowed => Verdict::Granted,
            _ if is_read => Verdict::Forbidden,
            _ => Verdict::Unauthenticated,
        }
    }
}

/// Whether `token` is one of `tokens`, comparing in time that does not
/// depend on where the first difference is.
fn known(tokens: &[String], token: &str) -> bool {
    tokens.iter().fold(false, |found, t| {
        found | bool::from(t.as_bytes().ct_eq(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_hold_their_addresses() {
        assert!(net("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.168.1.0/25").contains(ip("192.168.1.127")));
        assert!(!net("192.168.1.0/25").contains(ip("192.168.1.128")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(!net("::/0").contains(ip("10.0.0.1")), "families differ");
    }

    #[test]
    fn ipv4_peers_of_a_dual_stack_socket_count_as_ipv4() {
        assert!(net("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn bad_networks_are_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "x",
            "1.2.3.4/+8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(net("10.1.0.0/16").to_string(), "10.1.0.0/16");
    }

    #[test]
    fn an_empty_allow_list_allows_everyone() {
        assert!(Allow::default().permits(ip("203.0.113.9")));
        let only_local = Allow(vec![net("127.0.0.0/8"), net("::1")]);
        assert!(only_local.permits(ip("127.0.0.1")));
        assert!(only_local.permits(ip("::1")));
        assert!(!only_local.permits(ip("192.0.2.1")));
    }

    #[test]
    fn without_tokens_everything_is_granted() {
        let open = Tokens::default();
        assert!(open.is_open());
        assert_eq!(open.grants(Need::Write, None), Verdict::Granted);
        assert_eq!(open.grants(Need::Read, Some("x")), Verdict::Granted);
    }

    #[test]
    fn write_tokens_guard_writes_only() {
        let t = Tokens {
            write: vec!["w".into()],
            ..Tokens::default()
        };
        assert_eq!(t.grants(Need::Write, None), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Write, Some("x")), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Write, Some("w")), Verdict::Granted);
        assert_eq!(t.grants(Need::Read, None), Verdict::Granted);
    }

    #[test]
    fn read_tokens_guard_reads_and_write_tokens_read_too() {
        let t = Tokens {
            write: vec!["w".into()],
            read: vec!["r".into()],
            ..Tokens::default()
        };
        assert_eq!(t.grants(Need::Read, None), Verdict::Unauthenticated);
        assert_eq!(t.grants(Need::Read, Some("r")), Verdict::Granted);
        assert_eq!(t.grants(Need::Read, Some("w")), Verdict::Granted);
        assert_eq!(t.grants(Need::Write, Some("r")), Verdict::Forbidden);
        assert_eq!(t.grants(Need::Nothing, None), Verdict::Granted);
    }

    #[test]
    fn tokens_compare_whole() {
        let tokens = ["secret".to_owned(), "other".to_owned()];
        assert!(!known(&tokens, "secre"));
        assert!(!known(&tokens, "secreT"));
        assert!(!known(&tokens, "secretsecret"));
        assert!(known(&tokens, "secret"));
        assert!(known(&tokens, "other"));
    }
}
