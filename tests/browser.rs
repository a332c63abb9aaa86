//! A real headless Chromium for the dashboard tests, driven over WebDriver.
//!
//! Each [`Browser`] starts its own `chromedriver` (Debian's `chromium-driver`)
//! on a port it picks itself (`--port=0`, read back from its output) and one
//! Chromium session with a fresh profile; dropping it ends both. The calls
//! are synchronous, like the rest of the harness: fantoccini runs on a
//! private single-thread runtime. Waiting is [`Browser::wait`], a bounded
//! poll, never a sleep.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::util::eventually;

/// The flags Chromium needs here: no sandbox and no GPU in a container,
/// nothing that phones home, a fixed window.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,800",
];

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a Chromium session.
    pub fn start() -> Browser {
        let profile = tempfile::tempdir().expect("a temp dir");
        let (driver, port) = start_driver();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut options = json!({ "args": args });
        if let Ok(binary) = std::env::var("LOVEBEAT_CHROMIUM") {
            options["binary"] = binary.into();
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = runtime
            .block_on(
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}"));
        Browser {
            runtime,
            client: Some(client),
            driver,
            _profile: profile,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    pub fn goto(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Runs `script` (a function body: say `return`) in the page.
    pub fn js(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.client().execute(script, vec![]))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than null, false or
    /// undefined; returns that.
    pub fn wait(&self, what: &str, script: &str) -> Value {
        eventually(what, || {
            let value = self.js(script);
            (!value.is_null() && value != Value::Bool(false)).then_some(value)
        })
    }

    pub fn click(&self, css: &str) {
        self.runtime
            .block_on(async {
                let element = self.client().find(Locator::Css(css)).await?;
                element.click().await
            })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the value of the input at `css` by typing `text`.
    pub fn type_into(&self, css: &str, text: &str) {
        self.runtime
            .block_on(async {
                let element = self.client().find(Locator::Css(css)).await?;
                element.clear().await?;
                element.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Saves what the window shows as a PNG.
    pub fn screenshot(&self, path: &Path) {
        let png = self
            .runtime
            .block_on(self.client().screenshot())
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a free port; returns it and the port. A
/// chromedriver that exits before it listens (with `--port=0` it takes a
/// free IPv4 port and exits 1 when the same number is taken on IPv6, which
/// a busy machine running the whole suite sometimes has) is started again,
/// up to three times.
fn start_driver() -> (Child, u16) {
    let mut output = Vec::new();
    for _ in 0..3 {
        match try_start_driver() {
            Ok(started) => return started,
            Err(said) => output.extend(said),
        }
    }
    panic!(
        "chromedriver exited before it listened, three times; it said:\n{}",
        output.join("\n")
    );
}

/// One chromedriver start: it and its port, or what it printed before it
/// exited.
fn try_start_driver() -> Result<(Child, u16), Vec<String>> {
    let mut driver = Command::new("chromedriver")
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run chromedriver ({e}): apt-get install chromium chromium-driver")
        });
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stdout = driver.stdout.take().expect("stdout is piped");
    let stderr = driver.stderr.take().expect("stderr is piped");
    let outputs = [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ];
    let readers: Vec<_> = (outputs.into_iter())
        .map(|output| {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            })
        })
        .collect();
    let started = eventually("chromedriver to listen or exit", || {
        let port = lines.lock().unwrap().iter().find_map(|line| {
            let rest = line.split_once("started successfully on port ")?.1;
            rest.trim_end_matches('.').parse::<u16>().ok()
        });
        match (port, driver.try_wait()) {
            (Some(port), _) => Some(Some(port)),
            (None, Ok(Some(_))) => Some(None),
            (None, _) => None,
        }
    });
    match started {
        Some(port) => Ok((driver, port)),
        None => {
            // It has exited: its output ends, and so do the readers.
            readers.into_iter().for_each(|r| r.join().unwrap());
            Err(lines.lock().unwrap().clone())
        }
    }
}
