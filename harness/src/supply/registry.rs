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

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::oci::spec::ImageIndex;
use super::oci::{Descriptor, Digest, Document, Layout};
use super::store::{Store, StoreError, check_digest};

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
    rt: tokio::runtime::Runtime,
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
    pub fn connect(host: &str) -> Result<Registry, StoreError> {
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
        let client = Client::new(ClientConfig {
            protocol,
            ..Default::default()
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(e.to_string()))?;
        Ok(Registry {
            host: host.to_owned(),
            client,
            rt,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
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
            .get_blob(digest)
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
                    self.rt
                        .block_on(self.client.push_blob(&r, bytes, &blob.digest.to_string()))
                        .map_err(|e| {
                            self.fail("push blob", format!("{repo}@{}", blob.digest), e)
                        })?;
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
        self.rt
            .block_on(self.client.push_manifest_raw(r, bytes, content_type))
            .map_err(|e| self.fail("push manifest", r.whole(), e))?;
        Ok(())
    }

    fn pull_manifest(&self, r: &Reference) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        match self.rt.block_on(self.client.pull_manifest_raw(
            r,
            &RegistryAuth::Anonymous,
            &MANIFEST_TYPES,
        )) {
            Ok((bytes, digest)) => Ok(Some((digest, bytes.to_vec()))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail("pull manifest", r.whole(), e)),
        }
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
        let mut out: Vec<u8> = Vec::new();
        self.rt
            .block_on(self.client.pull_blob(
                &self.digest_ref(repo, digest),
                digest.to_string().as_str(),
                &mut out,
            ))
            .map_err(|e| self.fail("pull blob", target.clone(), e))?;
        check_digest(target, digest, out)
    }

    fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        if let Ok(index) = self.rt.block_on(
            self.client
                .pull_referrers(&self.digest_ref(repo, digest), None),
        ) {
            let json = serde_json::to_vec(&index)
                .map_err(|e| self.fail("decode referrers", repo.to_owned(), e))?;
            if let Ok(parsed) = serde_json::from_slice::<ImageIndex>(&json)
                && !parsed.manifests.is_empty()
            {
                return Ok(parsed.manifests);
            }
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

/// A throwaway Debian `docker-registry` (CNCF distribution) on 127.0.0.1 at a
/// free port, for tests and local experiments. Stopped when dropped.
pub struct LocalRegistry {
    child: Child,
    pub host: String,
    _dir: PathBuf,
}

pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

impl LocalRegistry {
    /// Start the registry storing into `dir` and wait (bounded) until it listens.
    pub fn start(dir: &Path) -> Result<LocalRegistry, String> {
        let binary =
            std::env::var("TRUSTSWAP_REGISTRY_BIN").unwrap_or_else(|_| REGISTRY_BINARY.to_owned());
        if !Path::new(&binary).exists() {
            return Err(format!(
                "{binary} not found: install Debian's docker-registry package (`apt-get install docker-registry`)"
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).map_err(|e| format!("{}: {e}", storage.display()))?;
        let yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        std::fs::write(&config, yaml).map_err(|e| format!("{}: {e}", config.display()))?;
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        let mut registry = LocalRegistry {
            child,
            host,
            _dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                return Ok(registry);
            }
            if let Ok(Some(status)) = registry.child.try_wait() {
                return Err(format!(
                    "{binary} exited with {status} before listening on {}",
                    registry.host
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = registry.child.kill();
        Err(format!(
            "{binary} did not listen on {} within 20 s",
            registry.host
        ))
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
