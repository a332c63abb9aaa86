//! UDP load: a `sendmmsg` sender, and the bare `recvmmsg` receiver that is
//! the baseline lovebeat is measured against.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use crate::payload::Lines;

/// Datagrams per `sendmmsg` / `recvmmsg` call.
const BATCH: usize = 64;

/// Sends datagrams of `per_datagram` lines for `duration`, at most `rate`
/// lines a second if given; returns the lines sent.
pub fn send(
    target: SocketAddr,
    per_datagram: usize,
    lines: &mut Lines,
    duration: Duration,
    rate: Option<u64>,
) -> io::Result<u64> {
    let socket = UdpSocket::bind(if target.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    })?;
    socket.connect(target)?;
    let datagrams: Vec<Vec<u8>> = (0..BATCH * 16)
        .map(|_| lines.datagram(per_datagram))
        .collect();
    let start = Instant::now();
    let mut sent_lines = 0u64;
    let mut next = 0;
    while start.elapsed() < duration {
        let batch = &datagrams[next..next + BATCH];
        next = (next + BATCH) % datagrams.len();
        let n = sendmmsg(&socket, batch)?;
        sent_lines += (n * per_datagram) as u64;
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent_lines as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(start.elapsed()) {
                thread::sleep(ahead);
            }
        }
    }
    Ok(sent_lines)
}

fn sendmmsg(socket: &UdpSocket, datagrams: &[Vec<u8>]) -> io::Result<usize> {
    let mut iovecs: Vec<libc::iovec> = datagrams
        .iter()
        .map(|d| libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        })
        .collect();
    // SAFETY: zeroed mmsghdr is a valid "no name, no control" header.
    let mut headers: Vec<libc::mmsghdr> = (0..datagrams.len())
        .map(|_| unsafe { std::mem::zeroed() })
        .collect();
    for (h, iov) in headers.iter_mut().zip(iovecs.iter_mut()) {
        h.msg_hdr.msg_iov = iov;
        h.msg_hdr.msg_iovlen = 1;
    }
    loop {
        // SAFETY: headers point at iovecs that point at live buffers.
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                headers.len() as u32,
                0,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        // A full socket buffer on loopback: the receiver is behind; retry.
        if e.raw_os_error() != Some(libc::ENOBUFS) && e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A bare receiver: `recvmmsg` in a loop, counting lines (newlines).
pub struct Baseline {
    pub addr: SocketAddr,
    pub lines: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Baseline {
    pub fn start() -> io::Result<Baseline> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        set_recv_buffer(&socket, 8 << 20);
        let addr = socket.local_addr()?;
        let lines = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (lines.clone(), stop.clone());
        let thread = thread::spawn(move || receive(&socket, &l, &s));
        Ok(Baseline {
            addr,
            lines,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn set_recv_buffer(socket: &UdpSocket, bytes: libc::c_int) {
    // SAFETY: a plain setsockopt with an int value.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
}

fn receive(socket: &UdpSocket, lines: &AtomicU64, stop: &AtomicBool) {
    let mut buffers = vec![[0u8; 2048]; BATCH];
    let mut iovecs: Vec<libc::iovec> = buffers
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: zeroed mmsghdr is valid; each points at its own iovec.
    let mut headers: Vec<libc::mmsghdr> =
        (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (h, iov) in headers.iter_mut().zip(iovecs.iter_mut()) {
        h.msg_hdr.msg_iov = iov;
        h.msg_hdr.msg_iovlen = 1;
    }
    let mut timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    while !stop.load(Relaxed) {
        // SAFETY: buffers outlive the call; the socket is open.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                &mut timeout,
            )
        };
        if n <= 0 {
            continue;
        }
        let mut count = 0;
        for (h, buf) in headers.iter().zip(buffers.iter()).take(n as usize) {
            count += buf[..h.msg_len as usize]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
        }
        lines.fetch_add(count, Relaxed);
    }
}
