//! A registry over HTTP(S), through `oci-client`: push a fixture layout with
//! its digests intact, and read evidence back through the `Store` trait.
//! Manifests are pushed as raw bytes (`push_manifest_raw`): re-serialising
//! them would change digests, and oci-client's own manifest writer emits PEM
//! annotations with raw newlines, which the registry rejects.
//!
//! Referrers: the OCI 1.1 referrers API where the registry has it, else the
//! referrers tag schema (`<repo>:sha256-<hex>` holding an image index of the
//! referrers), which the pusher maintains. Debian's distribution 2.8 has no
//! referrers API.
//!
//! Every request is bounded ([`Timeouts`]): a connect timeout, a read timeout
//! (the longest silence while waiting for a response or its body) and a
//! deadline per operation; transient failures (connection refused or reset,
//! 5xx) are retried a bounded number of times. A registry that cannot be
//! reached, times out or keeps failing is a [`StoreError::Transport`], which
//! the CLI reports as "could not decide" (exit 3), never as a refusal.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::oci::spec::ImageIndex;
use super::oci::{Descriptor, Digest, Document, Layout};
use super::store::{Store, StoreError, check_digest};

/// Network limits of one registry client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for the TCP (and TLS) connection.
    pub connect: Duration,
    /// Longest silence while waiting for a response or the next part of its
    /// body; one operation (a push or pull of one manifest or blob, which may
    /// take several requests) ends after `connect + 4 x read` at the latest.
    pub read: Duration,
    /// Attempts per operation for transient failures (connection refused or
    /// reset, 5xx); at least 1. Timeouts are not retried: the limit is the
    /// user's.
    pub attempts: u32,
}

impl Timeouts {
    pub const DEFAULT_CONNECT_SECS: u64 = 10;
    pub const DEFAULT_READ_SECS: u64 = 30;
    pub const DEFAULT_ATTEMPTS: u32 = 3;

    /// The deadline of one operation.
    pub fn operation(&self) -> Duration {
        self.connect.saturating_add(self.read.saturating_mul(4))
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(Self::DEFAULT_CONNECT_SECS),
            read: Duration::from_secs(Self::DEFAULT_READ_SECS),
            attempts: Self::DEFAULT_ATTEMPTS,
        }
    }
}

/// Largest blob pulled into memory: the verifier reads signature layers,
/// attestations and bundles, never image layers (cosign's default cap on an
/// attachment is the same).
pub const MAX_PULLED_BLOB_BYTES: u64 = 128 * 1024 * 1024;

const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A registry at `host[:port]`. Plain HTTP only for loopback hosts.
pub struct Registry {
    host: String,
    client: Client,
    /// The process's runtime ([`trustswap_io::runtime::shared`]).
    rt: &'static tokio::runtime::Runtime,
    timeouts: Timeouts,
}

/// What `push_layout` pushed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    pub tags: usize,
    pub referrers: usize,
    pub blobs: usize,
}

fn loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

impl Registry {
    /// A client for `host` with the default [`Timeouts`].
    pub fn connect(host: &str) -> Result<Registry, StoreError> {
        Registry::connect_with(host, Timeouts::default())
    }

    /// A client for `host` with these network limits. Nothing is sent yet.
    pub fn connect_with(host: &str, timeouts: Timeouts) -> Result<Registry, StoreError> {
        let err = |message: String| StoreError::Registry {
            registry: host.to_owned(),
            operation: "connect",
            target: String::new(),
            message,
        };
        let protocol = if loopback(host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        // `Client::new` silently falls back to a default (unbounded) client
        // when the configuration is refused; `try_from` does not.
        let client = Client::try_from(ClientConfig {
            protocol,
            connect_timeout: Some(timeouts.connect),
            read_timeout: Some(timeouts.read),
            ..Default::default()
        })
        .map_err(|e| err(chain(&e)))?;
        let rt = trustswap_io::runtime::shared().map_err(|e| err(e.to_string()))?;
        Ok(Registry {
            host: host.to_owned(),
            client,
            rt,
            timeouts: Timeouts {
                attempts: timeouts.attempts.max(1),
                ..timeouts
            },
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Run one registry operation under the operation deadline, retrying
    /// transient failures with a short backoff (0.5 s, 1 s, ...). A failure
    /// that leaves the question open (unreachable, timed out, 5xx) is a
    /// [`StoreError::Transport`]; any other is a [`StoreError::Registry`].
    fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        target: &str,
        mut attempt: F,
    ) -> Result<T, OciFailure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
    {
        let deadline = self.timeouts.operation();
        let mut tries = 0;
        loop {
            tries += 1;
            let outcome = self
                .rt
                .block_on(async { tokio::time::timeout(deadline, attempt()).await });
            let failure = match outcome {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => Failure::of(e),
                Err(_) => Failure::Deadline,
            };
            if failure.transient() && tries < self.timeouts.attempts {
                std::thread::sleep(Duration::from_millis(500 << (tries - 1).min(4)));
                continue;
            }
            return Err(OciFailure {
                failure,
                tries,
                operation,
                target: target.to_owned(),
            });
        }
    }

    /// The store error of a failed operation.
    fn store_error(&self, f: OciFailure) -> StoreError {
        let t = self.timeouts;
        let (transport, message) = match f.failure {
            Failure::Deadline => (
                true,
                format!(
                    "not finished within {} s (the operation deadline: --connect-timeout + 4 x --read-timeout)",
                    t.operation().as_secs()
                ),
            ),
            Failure::ConnectTimeout => (
                true,
                format!(
                    "no connection within {} s (--connect-timeout)",
                    t.connect.as_secs()
                ),
            ),
            Failure::ReadTimeout => (
                true,
                format!("no response within {} s (--read-timeout)", t.read.as_secs()),
            ),
            Failure::Unreachable(m) | Failure::Reset(m) => (true, m),
            Failure::Server(code, m) => (true, format!("HTTP {code}: {m}")),
            Failure::Other(e) => (false, chain(&e)),
        };
        let message = if f.tries > 1 {
            format!("{message} (after {} attempts)", f.tries)
        } else {
            message
        };
        if transport {
            StoreError::Transport {
                registry: self.host.clone(),
                operation: f.operation,
                target: f.target,
                message,
            }
        } else {
            StoreError::Registry {
                registry: self.host.clone(),
                operation: f.operation,
                target: f.target,
                message,
            }
        }
    }

    fn tag_ref(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repo.to_owned(), tag.to_owned())
    }

    fn digest_ref(&self, repo: &str, digest: &Digest) -> Reference {
        Reference::with_digest(self.host.clone(), repo.to_owned(), digest.to_string())
    }

    fn fail(
        &self,
        operation: &'static str,
        target: String,
        e: impl std::fmt::Display,
    ) -> StoreError {
        StoreError::Registry {
            registry: self.host.clone(),
            operation,
            target,
            message: e.to_string(),
        }
    }

    /// Push every tag of `layout`, the blobs and children they need, and every
    /// referrer of a tagged manifest (plus its fallback index tag).
    pub fn push_layout(&self, layout: &Layout) -> Result<PushSummary, StoreError> {
        let mut summary = PushSummary::default();
        for repo in layout.repositories() {
            let mut tagged: BTreeMap<Digest, Descriptor> = BTreeMap::new();
            for tag in layout.list_tags(&repo) {
                let desc = layout.resolve(&format!("{repo}:{tag}"))?;
                self.push_tree(layout, &repo, &desc, &mut summary)?;
                let bytes = layout.get_blob_checked(&desc)?;
                self.push_manifest(&repo, &self.tag_ref(&repo, &tag), &desc.media_type, bytes)?;
                summary.tags += 1;
                tagged.insert(desc.digest.clone(), desc);
            }
            for digest in tagged.keys() {
                let referrers = layout.referrers(&repo, digest)?;
                if referrers.is_empty() {
                    continue;
                }
                for r in &referrers {
                    self.push_tree(layout, &repo, r, &mut summary)?;
                    let bytes = layout.get_blob_checked(r)?;
                    self.push_manifest(
                        &repo,
                        &self.digest_ref(&repo, &r.digest),
                        &r.media_type,
                        bytes,
                    )?;
                    summary.referrers += 1;
                }
                let fallback = format!("{}-{}", digest.algorithm(), digest.hex());
                if !layout.list_tags(&repo).contains(&fallback) {
                    let index = ImageIndex {
                        manifests: referrers,
                        ..ImageIndex::empty()
                    };
                    let bytes = serde_json::to_vec(&index)
                        .map_err(|e| self.fail("encode", fallback.clone(), e))?;
                    self.push_manifest(
                        &repo,
                        &self.tag_ref(&repo, &fallback),
                        super::oci::spec::MEDIA_TYPE_IMAGE_INDEX,
                        bytes,
                    )?;
                }
            }
        }
        Ok(summary)
    }

    /// Point `repo:tag` at the layout's manifest `digest` (pushing what it
    /// needs first): how a vendor re-pushes a tag, and how it is undone.
    pub fn push_tag(
        &self,
        layout: &Layout,
        repo: &str,
        tag: &str,
        digest: &Digest,
    ) -> Result<(), StoreError> {
        let bytes = layout
            .get_manifest_blob(digest)
            .map_err(|e| self.fail("read layout", format!("{repo}@{digest}"), e))?;
        let desc = Descriptor::for_bytes(&media_type_of(&bytes), &bytes);
        let mut summary = PushSummary::default();
        self.push_tree(layout, repo, &desc, &mut summary)?;
        self.push_manifest(repo, &self.tag_ref(repo, tag), &desc.media_type, bytes)
    }

    /// Push the config, layers and (for an index) children of a manifest.
    fn push_tree(
        &self,
        layout: &Layout,
        repo: &str,
        desc: &Descriptor,
        summary: &mut PushSummary,
    ) -> Result<(), StoreError> {
        match layout.get_manifest(desc)? {
            Document::Manifest(m) => {
                for blob in std::iter::once(&m.config).chain(&m.layers) {
                    let bytes = layout.get_blob_checked(blob)?;
                    let r = self.digest_ref(repo, &blob.digest);
                    let digest = blob.digest.to_string();
                    self.call("push blob", &format!("{repo}@{digest}"), || {
                        self.client.push_blob(&r, bytes.clone(), &digest)
                    })
                    .map_err(|f| self.store_error(f))?;
                    summary.blobs += 1;
                }
            }
            Document::Index(i) => {
                for child in &i.manifests {
                    self.push_tree(layout, repo, child, summary)?;
                    let bytes = layout.get_blob_checked(child)?;
                    self.push_manifest(
                        repo,
                        &self.digest_ref(repo, &child.digest),
                        &child.media_type,
                        bytes,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn push_manifest(
        &self,
        repo: &str,
        r: &Reference,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let content_type = http::HeaderValue::from_str(media_type)
            .map_err(|e| self.fail("push manifest", repo.to_owned(), e))?;
        self.call("push manifest", &r.whole(), || {
            self.client
                .push_manifest_raw(r, bytes.clone(), content_type.clone())
        })
        .map_err(|f| self.store_error(f))?;
        Ok(())
    }

    fn pull_manifest(&self, r: &Reference) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        match self.call("pull manifest", &r.whole(), || {
            self.client
                .pull_manifest_raw(r, &RegistryAuth::Anonymous, &MANIFEST_TYPES)
        }) {
            Ok((bytes, digest)) => Ok(Some((digest, bytes.to_vec()))),
            Err(OciFailure {
                failure: Failure::Other(e),
                ..
            }) if is_not_found(&e) => Ok(None),
            Err(f) => Err(self.store_error(f)),
        }
    }
}

/// A failed registry operation, before it becomes a [`StoreError`].
struct OciFailure {
    failure: Failure,
    tries: u32,
    operation: &'static str,
    target: String,
}

/// Why a registry operation failed.
enum Failure {
    /// The operation deadline passed.
    Deadline,
    ConnectTimeout,
    ReadTimeout,
    /// Connection refused, no route, DNS: nothing answered.
    Unreachable(String),
    /// The connection broke mid-request.
    Reset(String),
    /// 5xx.
    Server(u16, String),
    Other(oci_client::errors::OciDistributionError),
}

impl Failure {
    fn of(e: oci_client::errors::OciDistributionError) -> Failure {
        use oci_client::errors::OciDistributionError as E;
        match e {
            E::RequestError(r) if r.is_timeout() && r.is_connect() => Failure::ConnectTimeout,
            E::RequestError(r) if r.is_timeout() => Failure::ReadTimeout,
            E::RequestError(r) if r.is_connect() => Failure::Unreachable(chain(&r)),
            E::RequestError(r) if broken_connection(&r) => Failure::Reset(chain(&r)),
            E::ServerError { code, message, .. } if code >= 500 => {
                Failure::Server(code, one_line(&message))
            }
            other => Failure::Other(other),
        }
    }

    /// Worth another attempt: nothing was decided and the cause may pass.
    fn transient(&self) -> bool {
        matches!(
            self,
            Failure::Unreachable(_) | Failure::Reset(_) | Failure::Server(..)
        )
    }
}

/// A connection reset, aborted or closed before the response was complete.
fn broken_connection(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        // hyper's "connection closed before message completed" carries no io::Error.
        if err
            .to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// An error and its causes on one line (`a: b: c`), without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    parts.join(": ")
}

/// A server's error body, shortened to one line.
fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        line.chars().take(200).collect::<String>() + "..."
    } else {
        line
    }
}

fn is_not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
    match e {
        E::ImageManifestNotFoundError(_) => true,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|x| matches!(x.code, C::ManifestUnknown | C::NameUnknown)),
        _ => false,
    }
}

fn media_type_of(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| MANIFEST_TYPES[0].to_owned())
}

impl Store for Registry {
    fn resolve(&self, repo: &str, tag: &str) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        let Some((_, bytes)) = self.pull_manifest(&self.tag_ref(repo, tag))? else {
            return Ok(None);
        };
        let desc = Descriptor::for_bytes(&media_type_of(&bytes), &bytes);
        Ok(Some((desc, bytes)))
    }

    fn manifest(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let target = format!("{repo}@{digest}");
        let (_, bytes) = self
            .pull_manifest(&self.digest_ref(repo, digest))?
            .ok_or_else(|| self.fail("pull manifest", target.clone(), "not found"))?;
        check_digest(target, digest, bytes)
    }

    fn blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let target = format!("{repo}@{digest}");
        let r = self.digest_ref(repo, digest);
        let digest_text = digest.to_string();
        let out = self
            .call("pull blob", &target, || async {
                let mut out = CappedBuffer::new(MAX_PULLED_BLOB_BYTES);
                self.client
                    .pull_blob(&r, digest_text.as_str(), &mut out)
                    .await?;
                Ok(out.bytes)
            })
            .map_err(|f| self.store_error(f))?;
        check_digest(target, digest, out)
    }

    fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        let r = self.digest_ref(repo, digest);
        match self.call("pull referrers", &format!("{repo}@{digest}"), || {
            self.client.pull_referrers(&r, None)
        }) {
            Ok(index) => {
                let json = serde_json::to_vec(&index)
                    .map_err(|e| self.fail("decode referrers", repo.to_owned(), e))?;
                if let Ok(parsed) = serde_json::from_slice::<ImageIndex>(&json)
                    && !parsed.manifests.is_empty()
                {
                    return Ok(parsed.manifests);
                }
            }
            // No referrers API (distribution 2.8): the fallback tag below.
            Err(OciFailure {
                failure: Failure::Other(_),
                ..
            }) => {}
            // Unreachable, timed out, 5xx: asking again for the tag would wait as long.
            Err(f) => return Err(self.store_error(f)),
        }
        let fallback = format!("{}-{}", digest.algorithm(), digest.hex());
        match self.resolve(repo, &fallback)? {
            None => Ok(Vec::new()),
            Some((_, bytes)) => {
                let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| {
                    self.fail("decode referrers index", format!("{repo}:{fallback}"), e)
                })?;
                Ok(index.manifests)
            }
        }
    }

    fn describe(&self) -> String {
        format!("http://{}", self.host)
    }
}

/// A pulled blob, refused once it grows past its cap (a registry that
/// streams without end cannot grow memory).
struct CappedBuffer {
    bytes: Vec<u8>,
    cap: u64,
}

impl CappedBuffer {
    fn new(cap: u64) -> CappedBuffer {
        CappedBuffer {
            bytes: Vec::new(),
            cap,
        }
    }
}

impl tokio::io::AsyncWrite for CappedBuffer {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.bytes.len() as u64 + buf.len() as u64 > this.cap {
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "the blob is larger than {} bytes, the limit for a signature, attestation or bundle",
                this.cap
            ))));
        }
        this.bytes.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A throwaway Debian `docker-registry` (CNCF distribution) on 127.0.0.1 at a
/// free port, for tests and local experiments. Stopped when dropped.
pub struct LocalRegistry {
    child: Child,
    pub host: String,
    _dir: PathBuf,
    on_interrupt: Option<crate::interrupt::CleanupGuard>,
}

pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// Why a [`LocalRegistry`] did not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalRegistryError {
    #[error(
        "{binary} not found: install Debian's docker-registry package (`apt-get install docker-registry`)"
    )]
    Missing { binary: String },
    #[error("no free port on 127.0.0.1: {0}")]
    Port(#[source] std::io::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{binary} exited with {status} before listening on {host}")]
    Exited {
        binary: String,
        status: std::process::ExitStatus,
        host: String,
    },
    #[error("{binary} did not listen on {host} within {} s", waited.as_secs())]
    NotListening {
        binary: String,
        host: String,
        waited: Duration,
    },
}

impl LocalRegistry {
    /// Start the registry storing into `dir` and wait (bounded) until it listens.
    pub fn start(dir: &Path) -> Result<LocalRegistry, LocalRegistryError> {
        let binary =
            std::env::var("TRUSTSWAP_REGISTRY_BIN").unwrap_or_else(|_| REGISTRY_BINARY.to_owned());
        if !Path::new(&binary).exists() {
            return Err(LocalRegistryError::Missing { binary });
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(LocalRegistryError::Port)?
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        let storage = dir.join("storage");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LocalRegistryError::Io { path, source }
        };
        std::fs::create_dir_all(&storage).map_err(io(&storage))?;
        let yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        std::fs::write(&config, yaml).map_err(io(&config))?;
        // Never outlives trustswap, even on Ctrl-C (which exits without drops).
        let child = crate::interrupt::command_dying_with_us(Path::new(&binary))
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| LocalRegistryError::Spawn {
                binary: binary.clone(),
                source,
            })?;
        let guard = crate::interrupt::kill_on_interrupt(child.id());
        let mut registry = LocalRegistry {
            child,
            host,
            _dir: dir.to_path_buf(),
            on_interrupt: Some(guard),
        };
        let waited = Duration::from_secs(20);
        let deadline = Instant::now() + waited;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                return Ok(registry);
            }
            if let Ok(Some(status)) = registry.child.try_wait() {
                return Err(LocalRegistryError::Exited {
                    binary,
                    status,
                    host: registry.host.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = registry.child.kill();
        Err(LocalRegistryError::NotListening {
            binary,
            host: registry.host.clone(),
            waited,
        })
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        // Unregistered before it is reaped: an interrupt never signals a reused pid.
        self.on_interrupt = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
