//! `lovebeat services …`: the operator's everyday tool, a client of a
//! running daemon's HTTP API.
//!
//! The daemon is found from `--url`, else `LOVEBEAT_URL`, else the `[http]
//! listen` of the configuration (`:8080` means `http://127.0.0.1:8080`).
//! `list` prints a table; `add` and `token` print the token (statuscope's
//! `Added. Token: …` and `Token: …`), `remove` prints `Removed.`, `ack`
//! (`POST /api/views/{name}/ack`) prints `Acknowledged.`; the other
//! commands print nothing on success. Any failure is one line on stderr
//! and exit status 1. `lovebeat status-page --out DIR` is a client too.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{ServicesCommand, Timeouts};
use lovebeat_config::ListenAddr;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a command failed.
#[derive(Debug)]
pub enum ClientError {
    /// No answer from the daemon.
    Unreachable { url: String, reason: String },
    /// The daemon said no: its status and one-line reason.
    Refused { status: u16, reason: String },
    /// An answer that is not what the API returns.
    BadAnswer(String),
    /// Writing the output failed.
    Output(io::Error),
    /// The HTTP client could not be set up.
    Start(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { url, reason } => {
                write!(f, "cannot reach lovebeat at {url}: {reason}")
            }
            ClientError::Refused { status, reason } => write!(f, "{reason} (HTTP {status})"),
            ClientError::BadAnswer(why) => write!(f, "unexpected answer from lovebeat: {why}"),
            ClientError::Output(e) => write!(f, "{e}"),
            ClientError::Start(why) => write!(f, "cannot start the HTTP client: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The daemon URL for a config's `[http] listen`: an unspecified address
/// means this machine.
pub fn url_of_listen(listen: &ListenAddr) -> String {
    match *listen {
        ListenAddr::Any(port) => format!("http://127.0.0.1:{port}"),
        ListenAddr::Addr(addr) => {
            let ip = match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
        }
    }
}

/// Where the daemon's HTTP API is, and the bearer token it wants (`[http]
/// write_tokens`), if any.
pub struct Api {
    pub url: String,
    pub token: Option<String>,
}

/// Runs one command against the daemon, writing to `out`.
pub fn run(api: &Api, command: &ServicesCommand, mut out: impl Write) -> Result<(), ClientError> {
    let client = Client::new(&api.url, api.token.as_deref())?;
    match command {
        ServicesCommand::List { view } => list(&client, view.as_deref(), &mut out),
        ServicesCommand::Beat { name, timeouts } => {
            client.post(&service_path(name, ""), &form(timeouts, None))
        }
        ServicesCommand::Set { name, timeouts } => {
            if timeouts.warn.is_none() && timeouts.err.is_none() && timeouts.schedule.is_none() {
                return Err(ClientError::BadAnswer(
                    "nothing to set: give --warn, --err or --schedule".into(),
                ));
            }
            client.post(&service_path(name, ""), &form(timeouts, Some(false)))
        }
        ServicesCommand::Mute { name } => client.post(&service_path(name, "/mute"), ""),
        ServicesCommand::Unmute { name } => client.post(&service_path(name, "/unmute"), ""),
        ServicesCommand::Delete { name } => client.delete(&service_path(name, "")),
        ServicesCommand::Fail { name, message } => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("status", "fail")
                .append_pair("message", message);
            client.post(&service_path(name, ""), &form.finish())
        }
        ServicesCommand::Ack {
            view,
            author,
            comment,
        } => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("author", author)
                .append_pair("comment", comment);
            let path = format!("/api/views/{}/ack", encode(view));
            client.post(&path, &form.finish())?;
            writeln!(out, "Acknowledged.").map_err(ClientError::Output)
        }
        ServicesCommand::Add {
            name,
            interval,
            team,
        } => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("interval", &interval.to_string());
            form.append_pair("team", team.as_deref().unwrap_or(""));
            let token = client.issue(name, &form.finish())?;
            writeln!(out, "Added. Token: {token}").map_err(ClientError::Output)
        }
        ServicesCommand::Token { name } => {
            let token = client.issue(name, "existing=true")?;
            writeln!(out, "Token: {token}").map_err(ClientError::Output)
        }
        ServicesCommand::Remove { name } => {
            client.delete(&format!("/api/tokens/{}", encode(name)))?;
            writeln!(out, "Removed.").map_err(ClientError::Output)
        }
    }
}

/// `lovebeat status-page --out DIR`: the daemon's status page, saved as
/// `DIR/index.html`; returns the file written.
pub fn save_status_page(
    base: &str,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf, ClientError> {
    let page = Client::new(base, None)?.get_page("/status-page")?;
    std::fs::create_dir_all(dir).map_err(ClientError::Output)?;
    let file = dir.join("index.html");
    // Write beside it and rename, so a web server never serves half a page.
    let partial = dir.join(".index.html.partial");
    std::fs::write(&partial, page).map_err(ClientError::Output)?;
    std::fs::rename(&partial, &file).map_err(ClientError::Output)?;
    Ok(file)
}

fn service_path(name: &str, suffix: &str) -> String {
    format!("/api/services/{}{suffix}", encode(name))
}

fn encode(part: &str) -> String {
    form_urlencoded::byte_serialize(part.as_bytes()).collect()
}

/// The form body of a beat or a timeout change.
fn form(timeouts: &Timeouts, beat: Option<bool>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    if let Some(warn) = &timeouts.warn {
        form.append_pair("warn-tmo", warn);
    }
    if let Some(err) = &timeouts.err {
        form.append_pair("err-tmo", err);
    }
    let schedule = [
        ("schedule", &timeouts.schedule),
        ("tz", &timeouts.tz),
        ("grace", &timeouts.grace),
    ];
    for (key, value) in schedule {
        if let Some(value) = value {
            form.append_pair(key, value);
        }
    }
    if let Some(beat) = beat {
        form.append_pair("beat", if beat { "true" } else { "false" });
    }
    form.finish()
}

/// The daemon's API over reqwest, on a current-thread runtime of its own:
/// each command is synchronous and sends one request.
struct Client {
    base: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    /// `Bearer TOKEN`, sent with every request when set.
    authorization: Option<String>,
}

impl Client {
    fn new(base: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Start(e.to_string()))?;
        let http = {
            let _inside = runtime.enter();
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .map_err(|e| ClientError::Start(lovebeat_alert::error_chain(&e)))?
        };
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            http,
            runtime,
            authorization: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// A request to `path`, with the token when there is one.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.authorization {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    /// Sends `request`; the body of a success, else why not.
    fn answer(&self, request: reqwest::RequestBuilder) -> Result<String, ClientError> {
        self.runtime.block_on(async {
            let response = request.send().await.map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                reason: lovebeat_alert::error_chain(&e),
            })?;
            let status = response.status().as_u16();
            let body = response
                .text()
                .await
                .map_err(|e| ClientError::BadAnswer(lovebeat_alert::error_chain(&e)))?;
            if status >= 400 {
                let mut reason = body.lines().next().unwrap_or("").trim().to_owned();
                if status == 401 || status == 403 {
                    reason.push_str(
                        " (give a write token of [http] write_tokens: --token or LOVEBEAT_TOKEN)",
                    );
                }
                return Err(ClientError::Refused { status, reason });
            }
            Ok(body)
        })
    }

    fn get(&self, path: &str) -> Result<String, ClientError> {
        let request = self
            .request(reqwest::Method::GET, path)
            .header("Accept", "application/json");
        self.answer(request)
    }

    fn post(&self, path: &str, form: &str) -> Result<(), ClientError> {
        self.answer(self.post_form(path, form)).map(drop)
    }

    fn post_form(&self, path: &str, form: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
    }

    /// A token from `POST /api/tokens/{name}`.
    fn issue(&self, name: &str, form: &str) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Issued {
            token: String,
        }
        let path = format!("/api/tokens/{}", encode(name));
        let body = self.answer(self.post_form(&path, form))?;
        let issued: Issued =
            serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        Ok(issued.token)
    }

    /// An HTML page.
    fn get_page(&self, path: &str) -> Result<String, ClientError> {
        self.answer(self.request(reqwest::Method::GET, path))
    }

    fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.answer(self.request(reqwest::Method::DELETE, path))
            .map(drop)
    }
}

/// A service as `/api/services` shows it (the fields the table uses).
#[derive(Debug, Deserialize)]
struct Service {
    name: String,
    state: String,
    last_beat: i64,
    timeout: i64,
    warn_timeout: i64,
    #[serde(default)]
    auto_timeout: Option<u64>,
    #[serde(default)]
    in_alarms: Vec<String>,
}

#[derive(Deserialize)]
struct Listing {
    services: Vec<Service>,
    now: i64,
}

fn list(client: &Client, view: Option<&str>, mut out: impl Write) -> Result<(), ClientError> {
    let path = match view {
        Some(view) => format!("/api/views/{}", encode(view)),
        None => "/api/services".to_owned(),
    };
    let body = client.get(&path)?;
    let listing: Listing =
        serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))?;
    out.write_all(table(&listing.services, listing.now).as_bytes())
        .map_err(ClientError::Output)
}

/// The services as an aligned table, in name order.
fn table(services: &[Service], now: i64) -> String {
    let header = ["NAME", "STATE", "LAST BEAT", "WARN", "ERR", "VIEWS"].map(str::to_owned);
    let mut rows = vec![header];
    let mut sorted: Vec<&Service> = services.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for s in sorted {
        rows.push([
            s.name.clone(),
            s.state.clone(),
            last_beat(s.last_beat, now),
            timeout(s.warn_timeout, s.auto_timeout),
            timeout(s.timeout, s.auto_timeout),
            if s.in_alarms.is_empty() {
                "-".to_owned()
            } else {
                s.in_alarms.join(",")
            },
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

fn last_beat(at: i64, now: i64) -> String {
    if at < 0 {
        "never".to_owned()
    } else {
        format!("{} ago", duration((now - at).max(0) as u64))
    }
}

/// A wire timeout (ms, 0 always, -1 never, -2 auto) for people.
fn timeout(wire: i64, auto: Option<u64>) -> String {
    match wire {
        -2 => match auto {
            Some(ms) => format!("auto ({})", duration(ms)),
            None => "auto (learning)".to_owned(),
        },
        0 => "always".to_owned(),
        ms if ms > 0 => duration(ms as u64),
        _ => "never".to_owned(),
    }
}

/// `1d2h`, `1h`, `1m30s`, `45s`, `0s`: the two largest units.
fn duration(ms: u64) -> String {
    let seconds = ms / 1000;
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let parts: Vec<String> = units
        .iter()
        .scan(seconds, |left, &(size, unit)| {
            let n = *left / size;
            *left %= size;
            Some((n, unit))
        })
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_become_local_urls() {
        assert_eq!(
            url_of_listen(&":8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            url_of_listen(&"0.0.0.0:81".parse().unwrap()),
            "http://127.0.0.1:81"
        );
        assert_eq!(
            url_of_listen(&"[::]:82".parse().unwrap()),
            "http://[::1]:82"
        );
        assert_eq!(
            url_of_listen(&"10.1.2.3:83".parse().unwrap()),
            "http://10.1.2.3:83"
        );
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(duration(93_784_000), "1d2h");
        assert_eq!(duration(86_400_000 + 5000), "1d");
    }

    #[test]
    fn timeouts_for_people() {
        assert_eq!(timeout(-1, None), "never");
        assert_eq!(timeout(0, None), "always");
        assert_eq!(timeout(60_000, None), "1m");
        assert_eq!(timeout(-2, Some(90_000)), "auto (1m30s)");
        assert_eq!(timeout(-2, None), "auto (learning)");
    }

    #[test]
    fn the_table_is_aligned_and_sorted() {
        let service = |name: &str, state: &str, last_beat| Service {
            name: name.into(),
            state: state.into(),
            last_beat,
            timeout: -1,
            warn_timeout: 30_000,
            auto_timeout: None,
            in_alarms: Vec::new(),
        };
        let services = [service("zeta", "warning", 1000), service("a", "new", -1)];
        assert_eq!(
            table(&services, 61_000),
            "NAME  STATE    LAST BEAT  WARN  ERR    VIEWS\n\
             a     new      never      30s   never  -\n\
             zeta  warning  1m ago     30s   never  -\n"
        );
    }

    #[test]
    fn set_sends_beat_false() {
        let timeouts = Timeouts {
            warn: Some("30".into()),
            err: Some("auto".into()),
            ..Timeouts::default()
        };
        assert_eq!(
            form(&timeouts, Some(false)),
            "warn-tmo=30&err-tmo=auto&beat=false"
        );
        assert_eq!(form(&Timeouts::default(), None), "");
        let scheduled = Timeouts {
            schedule: Some("0 2 * * 1-5".into()),
            tz: Some("Europe/Berlin".into()),
            grace: Some("30m".into()),
            ..Timeouts::default()
        };
        assert_eq!(
            form(&scheduled, Some(false)),
            "schedule=0+2+*+*+1-5&tz=Europe%2FBerlin&grace=30m&beat=false"
        );
    }
}
