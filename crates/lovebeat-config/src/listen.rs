//! A `listen` address as the config spells it (`:8127`, `127.0.0.1:8127`,
//! `[::1]:8127`, `localhost:8127`), and the socket addresses it binds.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// A `listen` address: `:PORT` (every interface), `IP:PORT`, `[IPv6]:PORT`
/// or `localhost:PORT`. Port 0 lets the OS pick. Host names other than
/// `localhost` are not resolved: config does no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddr {
    /// `:PORT`: every interface, IPv6 and IPv4.
    Any(u16),
    /// One address.
    Addr(SocketAddr),
}

impl ListenAddr {
    /// The addresses to try binding, in order, until one works: for `Any`,
    /// dual-stack `[::]` and then `0.0.0.0` for hosts without IPv6.
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        match *self {
            ListenAddr::Any(port) => vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            ],
            ListenAddr::Addr(addr) => vec![addr],
        }
    }
}

impl FromStr for ListenAddr {
    /// A one-line reason that quotes the input.
    type Err = String;

    fn from_str(s: &str) -> Result<ListenAddr, String> {
        let invalid = |why: &str| format!("invalid address {s:?}: {why}");
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected [HOST]:PORT, e.g. \":8127\""))?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("the port must be a number from 0 to 65535"))?;
        if host.is_empty() {
            return Ok(ListenAddr::Any(port));
        }
        if host.eq_ignore_ascii_case("localhost") {
            return Ok(ListenAddr::Addr(SocketAddr::new(
                Ipv4Addr::LOCALHOST.into(),
                port,
            )));
        }
        let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().map(IpAddr::V6),
            None => host.parse::<Ipv4Addr>().map(IpAddr::V4),
        };
        let ip = ip.map_err(|_| {
            invalid("the host must be an IP address (IPv6 in brackets) or localhost")
        })?;
        Ok(ListenAddr::Addr(SocketAddr::new(ip, port)))
    }
}

/// The config spelling: `:8127`, `127.0.0.1:8127`, `[::1]:8127`.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Any(port) => write!(f, ":{port}"),
            ListenAddr::Addr(addr) => write!(f, "{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_forms() {
        let addr = |s: &str| s.parse::<ListenAddr>();
        assert_eq!(addr(":8127"), Ok(ListenAddr::Any(8127)));
        assert_eq!(addr(":0"), Ok(ListenAddr::Any(0)));
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(addr("127.0.0.1:80"), Ok(ListenAddr::Addr(v4)));
        assert_eq!(addr("localhost:80"), Ok(ListenAddr::Addr(v4)));
        assert_eq!(addr("LocalHost:80"), Ok(ListenAddr::Addr(v4)));
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(addr("[::1]:80"), Ok(ListenAddr::Addr(v6)));
        let any4: SocketAddr = "0.0.0.0:5".parse().unwrap();
        assert_eq!(addr("0.0.0.0:5"), Ok(ListenAddr::Addr(any4)));
        for bad in [
            "", "8127", "foo:bar", "host:80", "::1:80", ":65536", ":-1", "1.2.3:4",
        ] {
            let err = addr(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid address {bad:?}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn listen_address_round_trips_through_display() {
        for s in [":8127", "127.0.0.1:80", "[::1]:80", "0.0.0.0:0"] {
            assert_eq!(s.parse::<ListenAddr>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn listen_any_tries_ipv6_then_ipv4() {
        let addrs = ListenAddr::Any(8127).bind_addrs();
        let expected: Vec<SocketAddr> = vec![
            "[::]:8127".parse().unwrap(),
            "0.0.0.0:8127".parse().unwrap(),
        ];
        assert_eq!(addrs, expected);
        let one: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(ListenAddr::Addr(one).bind_addrs(), vec![one]);
    }
}
