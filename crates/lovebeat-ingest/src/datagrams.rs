//! Receiving many UDP datagrams per wake-up: one `recvmmsg(2)` takes up to
//! [`PER_CALL`] datagrams on Linux (one `recv_from` elsewhere), so a busy
//! UDP port costs one system call, one task wake-up and one batch for the
//! actor per burst instead of per datagram.

use std::io;
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Largest UDP payload: a datagram is always read whole.
pub(crate) const MAX_DATAGRAM: usize = 65_536;
/// Datagrams taken per call at most.
pub(crate) const PER_CALL: usize = 32;

/// Buffers for one call's datagrams, reused from call to call.
pub(crate) struct Datagrams {
    buf: Vec<u8>,
    received: Vec<(usize, Option<SocketAddr>)>,
}

impl Datagrams {
    pub(crate) fn new() -> Datagrams {
        Datagrams {
            buf: vec![0; MAX_DATAGRAM * PER_CALL],
            received: Vec::with_capacity(PER_CALL),
        }
    }

    /// Waits until `socket` is readable, then takes what is queued (at
    /// least one datagram, at most [`PER_CALL`]).
    ///
    /// `async_io` spends tokio's cooperative budget on every call, so a
    /// flood that keeps the socket readable still hands the worker thread
    /// back now and then (`readable` + `try_io` would not, and starved
    /// HTTP and timers on a two-core machine).
    pub(crate) async fn receive(&mut self, socket: &UdpSocket) -> io::Result<()> {
        socket
            .async_io(Interest::READABLE, || self.take(socket))
            .await
    }

    /// Each datagram of the last call and where it came from (None for an
    /// address family lovebeat does not listen on).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Option<SocketAddr>, &[u8])> {
        (self.received.iter().enumerate())
            .map(|(i, &(len, peer))| (peer, &self.buf[i * MAX_DATAGRAM..][..len]))
    }

    /// The bytes of every datagram of the last call.
    pub(crate) fn total_len(&self) -> usize {
        self.received.iter().map(|&(len, _)| len).sum()
    }

    #[cfg(target_os = "linux")]
    fn take(&mut self, socket: &UdpSocket) -> io::Result<()> {
        use std::os::fd::AsRawFd;

        self.received.clear();
        let mut slots = self.buf.chunks_exact_mut(MAX_DATAGRAM);
        let mut iovecs: [libc::iovec; PER_CALL] = std::array::from_fn(|_| {
            let slot = slots.next().expect("PER_CALL slots");
            libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: slot.len(),
            }
        });
        // SAFETY: sockaddr_storage and mmsghdr are plain data, for which
        // all zeroes is a valid value.
        let mut names: [libc::sockaddr_storage; PER_CALL] = unsafe { std::mem::zeroed() };
        let mut headers: [libc::mmsghdr; PER_CALL] = unsafe { std::mem::zeroed() };
        for ((header, iovec), name) in headers.iter_mut().zip(&mut iovecs).zip(&mut names) {
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: every header points at one iovec over its own slot of
        // `self.buf` and at its own sockaddr_storage, all alive and
        // unaliased for the length of the call; the kernel writes at most
        // iov_len bytes and msg_namelen bytes into them.
        let taken = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                PER_CALL as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if taken < 0 {
            return Err(io::Error::last_os_error());
        }
        for (header, name) in headers.iter().zip(&names).take(taken as usize) {
            let len = (header.msg_len as usize).min(MAX_DATAGRAM);
            self.received.push((len, socket_addr(name)));
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn take(&mut self, socket: &UdpSocket) -> io::Result<()> {
        self.received.clear();
        let (len, peer) = socket.try_recv_from(&mut self.buf[..MAX_DATAGRAM])?;
        self.received.push((len, Some(peer)));
        Ok(())
    }
}

/// The IPv4 or IPv6 address the kernel wrote into `name`.
#[cfg(target_os = "linux")]
fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    let family = libc::c_int::from(name.ss_family);
    let name: *const libc::sockaddr_storage = name;
    match family {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in,
            // which it is large and aligned enough for.
            let v4 = unsafe { &*name.cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 = unsafe { &*name.cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            let port = u16::from_be(v6.sin6_port);
            Some(SocketAddrV6::new(ip, port, v6.sin6_flowinfo, v6.sin6_scope_id).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_is_taken_in_one_call_with_its_senders() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        for i in 0..5 {
            sender
                .send_to(format!("s{i}.beat:1|c").as_bytes(), to)
                .unwrap();
        }
        let big = vec![b'x'; 60_000];
        sender.send_to(&big, to).unwrap();
        let mut datagrams = Datagrams::new();
        let mut seen = Vec::new();
        while seen.len() < 6 {
            datagrams.receive(&socket).await.unwrap();
            for (peer, bytes) in datagrams.iter() {
                assert_eq!(peer, Some(sender.local_addr().unwrap()));
                seen.push(bytes.to_vec());
            }
        }
        assert_eq!(seen[0], b"s0.beat:1|c");
        assert_eq!(seen[4], b"s4.beat:1|c");
        assert_eq!(seen[5], big, "a large datagram is read whole");
    }

    /// A flood keeps the socket readable; the receiving task must still
    /// give its thread to others (here: a task spawned beside it on a
    /// one-thread runtime, which runs only when the receiver yields).
    #[tokio::test(flavor = "current_thread")]
    async fn a_socket_that_stays_readable_still_lets_other_tasks_run() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let mut datagrams = Datagrams::new();
        // The first datagram makes the runtime learn the socket is readable.
        sender.send_to(b"flood.beat:1|c", to).unwrap();
        datagrams.receive(&socket).await.unwrap();
        let bystander = tokio::spawn(async {});
        for _ in 0..1_000 {
            sender.send_to(b"flood.beat:1|c", to).unwrap();
            datagrams.receive(&socket).await.unwrap();
        }
        assert!(bystander.is_finished(), "the receiver never yielded");
    }
}
