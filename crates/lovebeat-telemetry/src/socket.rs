//! What the kernel knows of the UDP socket and lovebeat does not: the
//! datagrams it dropped because the receive buffer was full, before any
//! read. Read at each scrape from `/proc/net/udp` and `/proc/net/udp6`,
//! the row whose inode is the socket's.

use std::fmt;
use std::os::fd::RawFd;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::names;

/// Reports the kernel's drop counter of one UDP socket.
#[derive(Debug)]
pub struct UdpDrops {
    inode: u64,
}

impl UdpDrops {
    /// The collector of the socket open as `fd`; None where `/proc` does
    /// not tell which socket that is (not Linux).
    pub fn of(fd: RawFd) -> Option<UdpDrops> {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
        let inode = link
            .to_str()?
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        Some(UdpDrops { inode })
    }

    /// The drops of the socket, if its row is found.
    fn drops(&self) -> Option<u64> {
        ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .filter_map(|table| std::fs::read_to_string(table).ok())
            .find_map(|text| drops_of(&text, self.inode))
    }
}

/// The `drops` column (the last) of the row whose `inode` column (the
/// tenth) is `inode`, in the text of `/proc/net/udp`.
fn drops_of(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let matches = fields.get(9)?.parse::<u64>().ok()? == inode;
        matches.then(|| fields.last()?.parse().ok()).flatten()
    })
}

impl Collector for UdpDrops {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let Some(drops) = self.drops() else {
            return Ok(());
        };
        let counter = ConstCounter::new(drops);
        let mut metric = encoder.encode_descriptor(
            names::INGEST_KERNEL_DROPPED,
            "Datagrams the kernel dropped before lovebeat read them (receive buffer full).",
            None,
            MetricType::Counter,
        )?;
        counter.encode(metric.encode_family(&[("protocol", "udp")])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_of_the_inode_gives_its_drops() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                     \x20 12: 0100007F:1FC7 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
                     \x20 13: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 999 2 0000000000000000 0\n";
        assert_eq!(drops_of(table, 4242), Some(17));
        assert_eq!(drops_of(table, 999), Some(0));
        assert_eq!(drops_of(table, 1), None);
    }

    #[test]
    fn a_socket_of_this_process_is_found_with_no_drops() {
        use std::os::fd::AsRawFd;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let drops = UdpDrops::of(socket.as_raw_fd()).expect("Linux names its sockets in /proc");
        assert_eq!(drops.drops(), Some(0));
    }
}
