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
    config.udp_listen = c.value("[udp] listen", udp.listen, config.udp_listen, |s| s.parse());
    ingest.udp_allow = c.value("[udp] allow", udp.allow, Allow::default(), allow);
    config.tcp_listen = c.value("[tcp] listen", tcp.listen, config.tcp_listen, |s| s.parse());
    ingest.tcp_allow = c.value("[tcp] allow", tcp.allow, Allow::default(), allow);
}

/// `[udp] allow`, `[tcp] allow`: networks, each `ADDRESS[/PREFIX]`.
fn allow(networks: Vec<String>) -> Result<Allow, String> {
    let nets = networks.iter().map(|n| parse_network(n));
    nets.collect::<Result<Vec<_>, _>>().map(Allow)
}
