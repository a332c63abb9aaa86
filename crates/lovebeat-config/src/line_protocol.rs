//! `[udp]` and `[tcp]`: where the line protocol is served, and from which
//! source networks ([`Allow`]) into the ingest settings.

use lovebeat_ingest::{Allow, parse_network};

use crate::check::Checker;
use crate::{Config, raw};

/// `[udp]` and `[tcp]` over the defaults in `config`.
pub(crate) fn apply(
    c: &mut Checker<'_>,
    config: &mut Config,
    udp: raw::Listener,
    tcp: raw::Listener,
) {
    let ingest = &mut config.ingest;
    c.set(&mut config.udp_listen, "[udp] listen", udp.listen, |s| {
        s.parse()
    });
    c.set(&mut ingest.udp_allow, "[udp] allow", udp.allow, allow);
    c.set(&mut config.tcp_listen, "[tcp] listen", tcp.listen, |s| {
        s.parse()
    });
    c.set(&mut ingest.tcp_allow, "[tcp] allow", tcp.allow, allow);
}

/// `[udp] allow`, `[tcp] allow`: networks, each `ADDRESS[/PREFIX]`.
fn allow(networks: Vec<String>) -> Result<Allow, String> {
    let nets = networks.iter().map(|n| parse_network(n));
    nets.collect::<Result<Vec<_>, _>>().map(Allow)
}
