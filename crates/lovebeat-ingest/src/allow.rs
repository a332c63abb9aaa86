//! Which sources may send beats over the line protocol: `[udp] allow` and
//! `[tcp] allow`, asked once per datagram or connection. No I/O here; the
//! config crate parses the lists with [`parse_network`].

use std::net::IpAddr;

use ipnet::IpNet;

/// Source networks allowed to send; empty allows everyone (the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow(pub Vec<IpNet>);

impl Allow {
    /// Whether `ip` may send. An IPv4 peer on a dual-stack socket
    /// (`::ffff:192.0.2.7`) counts as the IPv4 address it is.
    pub(crate) fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&ip))
    }
}

/// One source network: `10.0.0.0/8`, `2001:db8::/32`, or a single address
/// (`192.0.2.7`, a /32 or /128). The error is a one-line reason that
/// quotes the input.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!(
                "invalid network {s:?}: expected an address or ADDRESS/PREFIX, \
                 e.g. \"10.0.0.0/8\" or \"::1\""
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_network(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn allows(network: &str, peer: &str) -> bool {
        Allow(vec![net(network)]).permits(ip(peer))
    }

    #[test]
    fn networks_hold_their_addresses() {
        assert!(allows("10.0.0.0/8", "10.200.3.4"));
        assert!(!allows("10.0.0.0/8", "11.0.0.1"));
        assert!(allows("192.168.1.0/25", "192.168.1.127"));
        assert!(!allows("192.168.1.0/25", "192.168.1.128"));
        assert!(allows("0.0.0.0/0", "203.0.113.9"));
        assert!(allows("127.0.0.1", "127.0.0.1"));
        assert!(!allows("127.0.0.1", "127.0.0.2"));
        assert!(allows("2001:db8::/32", "2001:db8:1::5"));
        assert!(!allows("2001:db8::/32", "2001:db9::5"));
        assert!(!allows("::/0", "10.0.0.1"), "families differ");
    }

    #[test]
    fn ipv4_peers_of_a_dual_stack_socket_count_as_ipv4() {
        assert!(allows("127.0.0.0/8", "::ffff:127.0.0.1"));
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
            assert!(parse_network(bad).is_err(), "{bad}");
        }
        assert_eq!(net("10.1.0.0/16").to_string(), "10.1.0.0/16");
        assert_eq!(net("127.0.0.1").to_string(), "127.0.0.1/32");
    }

    #[test]
    fn an_empty_allow_list_allows_everyone() {
        assert!(Allow::default().permits(ip("203.0.113.9")));
        let only_local = Allow(vec![net("127.0.0.0/8"), net("::1")]);
        assert!(only_local.permits(ip("127.0.0.1")));
        assert!(only_local.permits(ip("::1")));
        assert!(!only_local.permits(ip("192.0.2.1")));
    }
}
