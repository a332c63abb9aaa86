//! The beats the load generator sends: `bench.sNNNNNN.beat:1|c` lines over
//! a fixed set of service names, in rotation.

/// Rotates over `services` names.
pub struct Lines {
    services: usize,
    next: usize,
}

impl Lines {
    pub fn new(services: usize) -> Lines {
        Lines {
            services: services.max(1),
            next: 0,
        }
    }

    /// Appends the next line (with its newline) to `out`.
    pub fn push(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("bench.s{:06}.beat:1|c\n", self.next).as_bytes());
        self.next = (self.next + 1) % self.services;
    }

    /// One datagram of `lines` lines.
    pub fn datagram(&mut self, lines: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(lines * 24);
        for _ in 0..lines {
            self.push(&mut out);
        }
        out
    }
}
