//! The fixed label values of lovebeat's counters: one enum per label, with
//! `ALL` (every value, registered up front) and `as_str` (the label text).

/// The transports beats arrive on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Datagrams.
    Udp,
    /// Line-protocol connections.
    Tcp,
    /// The HTTP API.
    Http,
}

impl Protocol {
    pub(crate) const ALL: [Protocol; 3] = [Protocol::Udp, Protocol::Tcp, Protocol::Http];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Http => "http",
        }
    }
}

/// The `[limits]` keys that refuse or close something, each counted under
/// its key's name in `lovebeat_limited_total{limit}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A TCP connection refused, or an idle one closed to make room.
    TcpConnections,
    /// A TCP connection refused, or a silent one of the same source
    /// closed to make room, at the per-source cap.
    TcpConnectionsPerSource,
    /// A TCP connection closed for saying nothing for too long.
    TcpIdleTimeout,
    /// An HTTP connection refused, or one of a source holding more than the
    /// newcomer's closed to make room.
    HttpConnections,
    /// An HTTP connection refused, or an idle one of the same source
    /// closed to make room, at the per-source cap.
    HttpConnectionsPerSource,
    /// An HTTP connection closed because its answers were not read in time.
    HttpWriteTimeout,
    /// A large answer made whole refused (503): others still being written
    /// hold the memory set aside for them.
    HttpAnswerMemory,
    /// An HTTP request body over the limit (413).
    HttpBody,
    /// An HTTP request body that did not arrive in time (408).
    HttpReadTimeout,
    /// A websocket client refused (503).
    Websockets,
    /// A command naming a new service refused: the engine is full.
    Services,
    /// An HTTP request answered 503 because the engine queue stayed full.
    Queue,
}

impl Limit {
    pub(crate) const ALL: [Limit; 12] = [
        Limit::TcpConnections,
        Limit::TcpConnectionsPerSource,
        Limit::TcpIdleTimeout,
        Limit::HttpConnections,
        Limit::HttpConnectionsPerSource,
        Limit::HttpWriteTimeout,
        Limit::HttpAnswerMemory,
        Limit::HttpBody,
        Limit::HttpReadTimeout,
        Limit::Websockets,
        Limit::Services,
        Limit::Queue,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Limit::TcpConnections => "tcp_connections",
            Limit::TcpConnectionsPerSource => "tcp_connections_per_source",
            Limit::TcpIdleTimeout => "tcp_idle_timeout",
            Limit::HttpConnections => "http_connections",
            Limit::HttpConnectionsPerSource => "http_connections_per_source",
            Limit::HttpWriteTimeout => "http_write_timeout",
            Limit::HttpAnswerMemory => "http_answer_memory",
            Limit::HttpBody => "http_body",
            Limit::HttpReadTimeout => "http_read_timeout",
            Limit::Websockets => "websockets",
            Limit::Services => "services",
            Limit::Queue => "queue",
        }
    }
}

/// Why access was refused, with the protocol it came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// A datagram from outside `[udp] allow`.
    UdpSource,
    /// A connection from outside `[tcp] allow`.
    TcpSource,
    /// An HTTP request without a token good for it.
    HttpToken,
    /// A websocket from a page of another origin.
    WebsocketOrigin,
    /// An HTTP change a browser made for a page of another site.
    HttpCrossSite,
}

impl Denial {
    pub(crate) const ALL: [Denial; 5] = [
        Denial::UdpSource,
        Denial::TcpSource,
        Denial::HttpToken,
        Denial::WebsocketOrigin,
        Denial::HttpCrossSite,
    ];

    /// The `protocol` and `reason` labels.
    pub(crate) fn labels(self) -> (&'static str, &'static str) {
        match self {
            Denial::UdpSource => ("udp", "source"),
            Denial::TcpSource => ("tcp", "source"),
            Denial::HttpToken => ("http", "token"),
            Denial::WebsocketOrigin => ("websocket", "origin"),
            Denial::HttpCrossSite => ("http", "cross_site"),
        }
    }
}

/// The tasks that follow the engine's published changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscriber {
    /// The event log (`[eventlog]`).
    EventLog,
    /// The statsd output (`[metrics]`).
    Statsd,
    /// The process log's lines of the model's events.
    StateLog,
}

impl Subscriber {
    pub(crate) const ALL: [Subscriber; 3] = [
        Subscriber::EventLog,
        Subscriber::Statsd,
        Subscriber::StateLog,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Subscriber::EventLog => "eventlog",
            Subscriber::Statsd => "statsd",
            Subscriber::StateLog => "statelog",
        }
    }
}

/// The three autobeats lovebeat sends its `[[notify]]` peers (§7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMetric {
    /// The engine answered within the interval.
    Monitor,
    /// The alerter is alive.
    Alerter,
    /// A periodic store flush finished.
    Save,
}

impl PeerMetric {
    pub(crate) const ALL: [PeerMetric; 3] =
        [PeerMetric::Monitor, PeerMetric::Alerter, PeerMetric::Save];

    /// The label text, also the last part of the beaten service's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerMetric::Monitor => "monitor",
            PeerMetric::Alerter => "alerter",
            PeerMetric::Save => "save",
        }
    }
}

/// What became of one autobeat to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerResult {
    /// The peer took it.
    Sent,
    /// The post failed.
    Failed,
    /// The peer's queue was full (it is slow or down).
    Dropped,
}

impl PeerResult {
    pub(crate) const ALL: [PeerResult; 3] =
        [PeerResult::Sent, PeerResult::Failed, PeerResult::Dropped];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PeerResult::Sent => "sent",
            PeerResult::Failed => "failed",
            PeerResult::Dropped => "dropped",
        }
    }
}
