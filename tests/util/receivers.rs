//! Real receivers for alerts, on free loopback ports: an SMTP server that
//! keeps every message, an HTTP server that records every request and
//! answers 200, another status, a status its judge gives the request, or
//! not at all, and a server that answers garbage.
//!
//! Both speak their protocol for real over TCP (lovebeat's lettre and
//! reqwest clients talk to them unmodified). Every loop is bounded: accept
//! and read loops wake every few ms to check the stop flag, and a
//! connection that says nothing for [`IDLE`] is closed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a connection may stay silent (or a hanging answer may wait).
const IDLE: Duration = Duration::from_secs(30);
/// How often blocked loops look at the stop flag.
const TICK: Duration = Duration::from_millis(10);

/// The accept loop both servers share: a thread per connection.
struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    fn start<F>(addr: SocketAddr, handle: F) -> Acceptor
    where
        F: Fn(TcpStream, &AtomicBool) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr).expect("receiver binds");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, handle) = (stop.clone(), Arc::new(handle));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (flag, handle) = (flag.clone(), handle.clone());
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(TICK)).unwrap();
                        std::thread::spawn(move || handle(stream, &flag));
                    }
                    Err(_) => std::thread::sleep(TICK),
                }
            }
        });
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops accepting and closes the listener; open connections end at
    /// their next read.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one `\n`-terminated line, waiting at most [`IDLE`]; None when the
/// peer closed, went silent or the server stops.
fn read_line(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<String> {
    let mut line = Vec::new();
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < IDLE {
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return None,
            Ok(_) if line.ends_with(b"\n") => {
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return None,
        }
    }
    None
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// One message the SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent (CRLF line ends, dot-stuffing undone).
    pub data: String,
}

impl Mail {
    /// The value of a header (first occurrence), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let prefix = format!("{}:", name.to_ascii_lowercase());
        head.split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// Everything after the headers.
    pub fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_owned())
    }
}

/// A server that answers every connection with bytes of no protocol (a
/// misconfigured port, a broken proxy) and closes it.
pub struct GarbageServer {
    acceptor: Acceptor,
    pub addr: SocketAddr,
}

impl GarbageServer {
    /// On a free loopback port.
    pub fn start() -> GarbageServer {
        let acceptor = Acceptor::start(SocketAddr::from(([127, 0, 0, 1], 0)), |mut stream, _| {
            let _ = stream.write_all(b"\x00\xff\xfe garbage \x1b[2J\r\n\xc3\x28 HTTP/9.9 ?\r\n");
        });
        GarbageServer {
            addr: acceptor.addr,
            acceptor,
        }
    }

    /// Stops the server: the port is free to be taken again.
    pub fn stop(mut self) {
        self.acceptor.stop();
    }
}

/// A minimal SMTP server (RFC 5321 without extensions) that keeps mail.
pub struct SmtpServer {
    acceptor: Acceptor,
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    /// On a free loopback port.
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// On `addr` (to come back on the port of a stopped one).
    pub fn start_on(addr: SocketAddr) -> SmtpServer {
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = mails.clone();
        let acceptor = Acceptor::start(addr, move |stream, stop| {
            smtp_session(stream, stop, &sink);
        });
        SmtpServer {
            addr: acceptor.addr,
            acceptor,
            mails,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Stops the server: the port refuses connections afterwards.
    pub fn stop(mut self) {
        self.acceptor.stop();
    }
}

fn smtp_session(stream: TcpStream, stop: &AtomicBool, mails: &Mutex<Vec<Mail>>) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = |text: &str| out.write_all(text.as_bytes()).is_ok();
    reply("220 localhost test SMTP\r\n");
    let mut mail = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    while let Some(line) = read_line(&mut reader, stop) {
        let upper = line.trim_end().to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-localhost\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line.trim_end()[10..].trim().to_owned();
            "250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(line.trim_end()[8..].trim().to_owned());
            "250 OK\r\n"
        } else if upper == "DATA" {
            reply("354 go ahead\r\n");
            let Some(data) = read_data(&mut reader, stop) else {
                return;
            };
            mail.data = data;
            mails.lock().unwrap().push(std::mem::replace(
                &mut mail,
                Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                },
            ));
            "250 OK queued\r\n"
        } else if upper == "QUIT" {
            reply("221 bye\r\n");
            return;
        } else if upper.starts_with("HELO") || upper == "RSET" || upper == "NOOP" {
            "250 OK\r\n"
        } else {
            "502 not implemented\r\n"
        };
        if !reply(answer) {
            return;
        }
    }
}

/// The DATA section up to the lone `.`, dot-stuffing undone.
fn read_data(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<String> {
    let mut data = String::new();
    loop {
        let line = read_line(reader, stop)?;
        if line == ".\r\n" {
            return Some(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}

/// How the HTTP server answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Reads the request and never answers (until stopped, or [`IDLE`]).
    Hang,
    /// The status this function gives the request (a receiver that
    /// checks requests as a real service does).
    Judge(fn(&Request) -> u16),
}

/// One request the HTTP server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// What it was answered (None: hung).
    pub answered: Option<u16>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// An HTTP/1.1 server that records requests; one request per connection.
pub struct HttpRecorder {
    _acceptor: Acceptor,
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    answer: Arc<Mutex<Answer>>,
}

impl HttpRecorder {
    pub fn start(answer: Answer) -> HttpRecorder {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new(answer));
        let (sink, mode) = (requests.clone(), answer.clone());
        let acceptor = Acceptor::start(SocketAddr::from(([127, 0, 0, 1], 0)), move |s, stop| {
            http_exchange(s, stop, &sink, &mode);
        });
        HttpRecorder {
            addr: acceptor.addr,
            _acceptor: acceptor,
            requests,
            answer,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How later requests are answered.
    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests answered with a 2xx.
    pub fn delivered(&self) -> Vec<Request> {
        let ok = |r: &Request| r.answered.is_some_and(|s| (200..300).contains(&s));
        self.requests().into_iter().filter(ok).collect()
    }
}

fn http_exchange(
    stream: TcpStream,
    stop: &AtomicBool,
    requests: &Mutex<Vec<Request>>,
    answer: &Mutex<Answer>,
) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let Some(mut request) = read_request(&mut reader, stop) else {
        return;
    };
    let answer = match *answer.lock().unwrap() {
        Answer::Judge(judge) => Answer::Status(judge(&request)),
        answer => answer,
    };
    if let Answer::Status(code) = answer {
        request.answered = Some(code);
    }
    requests.lock().unwrap().push(request);
    match answer {
        Answer::Status(code) => {
            let head =
                format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = out.write_all(head.as_bytes());
        }
        Answer::Hang | Answer::Judge(_) => {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < IDLE {
                std::thread::sleep(TICK);
            }
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<Request> {
    let first = read_line(reader, stop)?;
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, stop)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body = read_body(reader, length, stop)?;
    Some(Request {
        method,
        path,
        headers,
        body,
        answered: None,
    })
}

fn read_body(
    reader: &mut BufReader<TcpStream>,
    length: usize,
    stop: &AtomicBool,
) -> Option<String> {
    let mut body = vec![0; length];
    let mut filled = 0;
    let start = Instant::now();
    while filled < length {
        if stop.load(Ordering::Relaxed) || start.elapsed() > IDLE {
            return None;
        }
        match reader.read(&mut body[filled..]) {
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(e) if is_timeout(&e) => {}
            Err(_) => return None,
        }
    }
    Some(String::from_utf8_lossy(&body).into_owned())
}
