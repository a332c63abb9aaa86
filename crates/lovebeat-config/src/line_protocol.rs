//! `[udp]` and `[tcp]`: where the line protocol is served, from which
//! source networks ([`Allow`]), and the UDP socket's receive buffer, into
//! the ingest settings.

use lovebeat_ingest::{Allow, parse_network};

use crate::check::Checker;
use crate::{Config, raw};

/// `[udp]` and `[tcp]` over the defaults in `config`.
pub(crate) fn apply(c: &mut Checker<'_>, config: &mut Config, udp: raw::Udp, tcp: raw::Listener) {
    let ingest = &mut config.ingest;
    c.set(&mut config.udp_listen, "[udp] listen", udp.listen, |s| {
        s.parse()
    });
    c.set(&mut ingest.udp_allow, "[udp] allow", udp.allow, allow);
    c.set(
        &mut ingest.udp_receive_buffer,
        "[udp] receive_buffer",
        udp.receive_buffer,
        |bytes| {
            usize::try_from(bytes)
                .ok()
                .filter(|b| (4096..=1 << 30).contains(b))
                .ok_or_else(|| format!("must be from 4096 to 1073741824 bytes (got {bytes})"))
        },
    );

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
