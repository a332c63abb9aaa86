//! The S3 copy of the database (`[database] remote_s3_*`, reference §6):
//! the whole store, in the Go lovebeat format, kept in one S3 object, so a
//! lovebeat whose disk is gone starts again where it was.
//!
//! * **Upload**: the `Uploader` task, beside the actor (never on it, and
//!   never on the store's writer thread). Every `interval` it takes a
//!   [`Store::snapshot`] (the state between two saves, so consistent) and,
//!   when it differs from the last one uploaded, PUTs it whole; S3 replaces
//!   an object atomically, so a reader gets the old copy or the new one. A
//!   failed upload is logged, counted (`lovebeat_s3_upload_errors_total`)
//!   and retried with backoff (`RETRY_FIRST` doubling, at most the
//!   interval), each time with a fresh snapshot; lovebeat goes on without
//!   it. At shutdown, after the last save, one more upload is tried for at
//!   most `FINAL_UPLOAD_DEADLINE`.
//! * **Download**: [`S3Copy::download_at_startup`], which `main` calls when
//!   the local store is empty. "No such key" (S3 answers the same for a
//!   missing bucket) means there is no copy yet: lovebeat starts empty, and
//!   its first upload creates it. Any other failure is tried
//!   [`STARTUP_ATTEMPTS`] times and then stops lovebeat: starting empty
//!   would overwrite the copy with an empty snapshot an interval later.
//!
//! The object is a Go lovebeat database (`lovebeat_store::golang`): a Go
//! lovebeat's S3 copy restores into this one, and ours into Go's.
//!
//! Credentials: `remote_s3_access_key_id` and `remote_s3_secret_access_key`
//! when set, else AWS's environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, also `AWS_ENDPOINT`…),
//! else the instance's (web identity, ECS, EC2 metadata), through
//! object_store's S3 client.

use std::fmt;
use std::hash::{DefaultHasher, Hasher};
use std::sync::{Arc, Once};
use std::time::Duration;

use lovebeat_core::Millis;
use lovebeat_store::golang::write_go_database;
use lovebeat_store::{Store, StoreError};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStoreExt, PutPayload, RetryConfig};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lovebeat_engine::StoreStatus;
use lovebeat_telemetry::Metrics;
use lovebeat_telemetry::events::{S3Unchanged, S3UploadFailed, S3UploadRecovered, S3Uploaded};
use tokio::sync::watch;

/// Tries of the startup download before lovebeat gives up.
pub const STARTUP_ATTEMPTS: u32 = 5;
/// The pause after the first failed startup download; it doubles.
const STARTUP_RETRY_FIRST: Duration = Duration::from_millis(500);
/// The pause after the first failed upload; it doubles up to the interval.
pub(crate) const RETRY_FIRST: Duration = Duration::from_secs(1);
/// How long shutdown waits for the last upload.
pub(crate) const FINAL_UPLOAD_DEADLINE: Duration = Duration::from_secs(3);
/// One request's limits.
const REQUEST_TIMEOUT: &str = "30 seconds";
const CONNECT_TIMEOUT: &str = "5 seconds";

/// `[database] remote_s3_*`, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `s3://BUCKET/KEY`.
    pub url: String,
    /// The bucket's region.
    pub region: String,
    /// An S3-compatible store's `http(s)://HOST[:PORT]`; None: AWS.
    pub endpoint: Option<String>,
    /// Both or neither; None: the environment's or the instance's.
    pub access_key_id: Option<String>,
    /// Goes with `access_key_id`.
    pub secret_access_key: Option<String>,
    /// The most often a snapshot is uploaded.
    pub interval: Duration,
}

/// Everything but the secret.
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Why the S3 copy could not be used.
#[derive(Debug)]
pub enum S3Error {
    /// The settings make no client (a bad URL or key).
    Setup {
        /// The copy's `s3://` URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// A request failed.
    Request {
        /// The copy's `s3://` URL.
        url: String,
        /// What the request was for.
        action: &'static str,
        /// What S3 or the network said.
        detail: String,
    },
    /// The local store could not give a snapshot.
    Snapshot(StoreError),
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Error::Setup { url, detail } => write!(f, "cannot use the S3 copy {url}: {detail}"),
            S3Error::Request {
                url,
                action,
                detail,
            } => write!(f, "cannot {action} the S3 copy {url}: {detail}"),
            S3Error::Snapshot(e) => write!(f, "cannot take a snapshot for S3: {e}"),
        }
    }
}

impl std::error::Error for S3Error {}

/// The S3 object that holds the copy; cheap to clone.
#[derive(Clone)]
pub struct S3Copy {
    client: Arc<AmazonS3>,
    key: Path,
    url: Arc<str>,
    interval: Duration,
}

/// The object and the interval; the client's setup stays out of logs.
impl fmt::Debug for S3Copy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Copy")
            .field("url", &self.url)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl S3Copy {
    /// A client for `settings.url`; no request is made yet.
    pub fn new(settings: &S3Settings) -> Result<S3Copy, S3Error> {
        install_crypto_provider();
        let setup = |detail: String| S3Error::Setup {
            url: settings.url.clone(),
            detail,
        };
        let (bucket, key) = split_url(&settings.url)
            .ok_or_else(|| setup("expected s3://BUCKET/PATH/TO/OBJECT".to_owned()))?;
        let key = Path::parse(key).map_err(|e| setup(error_chain(&e)))?;
        let client_option = |key, value: &str| (AmazonS3ConfigKey::Client(key), value.to_owned());
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&settings.region)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 1,
                retry_timeout: Duration::from_secs(10),
            });
        for (key, value) in [
            client_option(ClientConfigKey::Timeout, REQUEST_TIMEOUT),
            client_option(ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT),
        ] {
            builder = builder.with_config(key, value);
        }
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        let client = builder.build().map_err(|e| setup(error_chain(&e)))?;
        Ok(S3Copy {
            client: Arc::new(client),
            key,
            url: settings.url.as_str().into(),
            interval: settings.interval,
        })
    }

    /// `s3://BUCKET/KEY`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object's bytes, or None when there is no such key.
    pub(crate) async fn download(&self) -> Result<Option<Vec<u8>>, S3Error> {
        let got = match self.client.get(&self.key).await {
            Ok(got) => got.bytes().await,
            Err(e) => Err(e),
        };
        match got {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.request_error("download", &e)),
        }
    }

    /// Replaces the object with `bytes`.
    pub(crate) async fn upload(&self, bytes: Vec<u8>) -> Result<(), S3Error> {
        self.client
            .put(&self.key, PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(|e| self.request_error("upload", &e))
    }

    /// `S3Copy::download`, tried up to [`STARTUP_ATTEMPTS`] times while
    /// it fails with anything but "no such key"; each failure is logged.
    pub async fn download_at_startup(&self) -> Result<Option<Vec<u8>>, S3Error> {
        let mut pause = STARTUP_RETRY_FIRST;
        let mut attempt = 1;
        loop {
            match self.download().await {
                Ok(found) => return Ok(found),
                Err(e) if attempt >= STARTUP_ATTEMPTS => return Err(e),
                Err(e) => tracing::warn!(
                    "{e} (attempt {attempt} of {STARTUP_ATTEMPTS}); retrying in {pause:?}"
                ),
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }

    fn request_error(&self, action: &'static str, e: &object_store::Error) -> S3Error {
        S3Error::Request {
            url: self.url.to_string(),
            action,
            detail: error_chain(e),
        }
    }
}

/// `s3://BUCKET/KEY` → (BUCKET, KEY).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (bucket, key) = url.strip_prefix("s3://")?.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// An error and its sources on one line, each cause once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// reqwest is built without a default TLS crypto provider (it would be
/// aws-lc-rs, a C build); ring, which lettre uses too, is installed instead.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err: a provider was installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The task that keeps the S3 copy up to date.
pub struct Uploader {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Uploader {
    /// Uploads `store` to `copy` every interval, counting in `metrics`;
    /// `store_status` says what each upload holds.
    pub fn start(
        copy: S3Copy,
        store: Store,
        metrics: Arc<Metrics>,
        store_status: watch::Receiver<StoreStatus>,
    ) -> Uploader {
        let stop = CancellationToken::new();
        let upload = Upload {
            copy,
            store,
            metrics,
            store_status,
            last: None,
            failures: 0,
        };
        let task = tokio::spawn(upload.run(stop.clone()));
        Uploader { stop, task }
    }

    /// After the last save: uploads what changed since the last upload,
    /// waiting at most `FINAL_UPLOAD_DEADLINE`.
    pub async fn finish(self) {
        self.stop.cancel();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(FINAL_UPLOAD_DEADLINE, self.task)
            .await
            .is_err()
        {
            abort.abort();
            tracing::error!(
                "the last upload to S3 did not finish in {FINAL_UPLOAD_DEADLINE:?}; the S3 copy \
                 may miss the changes since the previous upload"
            );
        }
    }
}

/// What was uploaded last.
#[derive(Debug, Clone, Copy)]
struct Uploaded {
    generation: u64,
    hash: u64,
}

/// A snapshot ready to go.
struct Snapshot {
    generation: u64,
    hash: u64,
    bytes: Vec<u8>,
    services: usize,
}

struct Upload {
    copy: S3Copy,
    store: Store,
    metrics: Arc<Metrics>,
    /// The write-behind's word on what is saved.
    store_status: watch::Receiver<StoreStatus>,
    last: Option<Uploaded>,
    /// Failed uploads since the last one that went through.
    failures: u64,
}

impl Upload {
    async fn run(mut self, stop: CancellationToken) {
        let interval = self.copy.interval;
        let mut retry = RETRY_FIRST.min(interval);
        let mut next = Instant::now() + interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.cancelled() => break,
            }
            match self.once().await {
                Ok(()) => {
                    retry = RETRY_FIRST.min(interval);
                    next = Instant::now() + interval;
                }
                Err(e) => {
                    self.failed(&e, Some(retry));
                    next = Instant::now() + retry;
                    retry = (retry * 2).min(interval);
                }
            }
        }
        match self.once().await {
            Ok(()) => tracing::debug!("the S3 copy is up to date"),
            Err(e) => self.failed(&e, None),
        }
    }

    /// Uploads a snapshot unless it is the one uploaded last.
    async fn once(&mut self) -> Result<(), S3Error> {
        // Read first: the snapshot holds every change saved by then.
        let saved_at: Millis = self.store_status.borrow().saved_through;
        let store = self.store.clone();
        let last = self.last;
        let snapshot = tokio::task::spawn_blocking(move || take_snapshot(&store, last))
            .await
            .expect("taking a snapshot does not panic")
            .map_err(S3Error::Snapshot)?;
        let Some(snapshot) = snapshot else {
            S3Unchanged { saved_at }.emit(&self.metrics);
            return Ok(());
        };
        let uploaded = Uploaded {
            generation: snapshot.generation,
            hash: snapshot.hash,
        };
        if self.last.is_some_and(|last| last.hash == snapshot.hash) {
            self.last = Some(uploaded);
            S3Unchanged { saved_at }.emit(&self.metrics);
            return Ok(());
        }
        let (bytes, services) = (snapshot.bytes.len(), snapshot.services);
        let started = Instant::now();
        self.copy.upload(snapshot.bytes).await?;
        self.last = Some(uploaded);
        S3Uploaded {
            url: self.copy.url(),
            bytes,
            services,
            saved_at,
            duration: started.elapsed(),
        }
        .emit(&self.metrics);
        if self.failures > 0 {
            S3UploadRecovered {
                url: self.copy.url(),
                failures: std::mem::take(&mut self.failures),
            }
            .emit();
        }
        Ok(())
    }

    /// `retry`: when it is tried again; None: never, lovebeat is stopping.
    fn failed(&mut self, e: &S3Error, retry: Option<Duration>) {
        self.failures += 1;
        S3UploadFailed {
            url: self.copy.url(),
            error: &e.to_string(),
            retry,
        }
        .emit(&self.metrics);
    }
}

/// The store as a Go database, unless nothing was saved since `last`.
fn take_snapshot(store: &Store, last: Option<Uploaded>) -> Result<Option<Snapshot>, StoreError> {
    if last.is_some_and(|last| last.generation == store.generation()) {
        return Ok(None);
    }
    let (generation, contents) = store.snapshot()?;
    let mut bytes = Vec::new();
    write_go_database(&mut bytes, &contents).expect("writing to memory does not fail");
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    Ok(Some(Snapshot {
        generation,
        hash: hasher.finish(),
        bytes,
        services: contents.services.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_store::Save;

    fn settings(url: &str) -> S3Settings {
        S3Settings {
            url: url.to_owned(),
            region: "eu-west-1".to_owned(),
            endpoint: Some("http://127.0.0.1:1".to_owned()),
            access_key_id: Some("id".to_owned()),
            secret_access_key: Some("secret".to_owned()),
            interval: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_url_names_the_bucket_and_the_key() {
        assert_eq!(split_url("s3://b/a/k.db"), Some(("b", "a/k.db")));
        assert_eq!(split_url("s3://b/"), None);
        assert_eq!(split_url("http://b/k"), None);
        let copy = S3Copy::new(&settings("s3://bucket/path/to/lovebeat.db")).unwrap();
        assert_eq!(copy.key.as_ref(), "path/to/lovebeat.db");
        assert_eq!(copy.url(), "s3://bucket/path/to/lovebeat.db");
    }

    #[test]
    fn a_bad_url_is_a_setup_error() {
        let err = S3Copy::new(&settings("s3://bucket")).unwrap_err();
        assert!(matches!(err, S3Error::Setup { .. }), "{err:?}");
        assert!(!format!("{:?}", settings("s3://b/k")).contains("secret"));
    }

    #[test]
    fn a_snapshot_is_skipped_when_nothing_was_saved() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let first = take_snapshot(&store, None).unwrap().unwrap();
        let last = Uploaded {
            generation: first.generation,
            hash: first.hash,
        };
        assert!(take_snapshot(&store, Some(last)).unwrap().is_none());
        store.save(&Save::default()).unwrap();
        let same = take_snapshot(&store, Some(last)).unwrap().unwrap();
        assert_eq!(same.hash, first.hash, "same contents, same bytes");
        assert_ne!(same.generation, first.generation);
    }
}
