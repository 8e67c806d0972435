//! Image references: Kyverno's `GetImageInfo` normalisation and extraction from Pods.

use serde_json::Value;

/// Which Pod container list an image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContainerKind {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerKind {
    pub const ALL: [ContainerKind; 3] = [
        ContainerKind::Containers,
        ContainerKind::InitContainers,
        ContainerKind::EphemeralContainers,
    ];

    /// The Pod spec field (and the CEL `images` key).
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Containers => "containers",
            ContainerKind::InitContainers => "initContainers",
            ContainerKind::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The string exactly as written in the Pod spec.
    pub raw: String,
    /// Registry host (`docker.io` when Kyverno adds the default registry).
    pub registry: String,
    /// Repository path inside the registry (no `library/` is inserted).
    pub path: String,
    /// Tag (`latest` when neither a tag nor a digest is given; `None` when only a digest is given).
    pub tag: Option<String>,
    /// Digest (`sha256:...`) when present.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses like Kyverno `GetImageInfo` (default registry `docker.io`, no `library/`).
    pub fn parse(raw: &str) -> Result<ImageRef, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("empty image reference".into());
        }
        if trimmed.chars().any(|c| c.is_whitespace()) {
            return Err(format!(
                "invalid image reference {raw:?}: contains whitespace"
            ));
        }
        let with_registry = add_default_registry(trimmed);
        let (name_tag, digest) = match with_registry.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    return Err(format!("invalid digest {d:?} in image reference {raw:?}"));
                }
                (n.to_string(), Some(d.to_string()))
            }
            None => (with_registry.clone(), None),
        };
        let last_slash = name_tag.rfind('/').unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let idx = last_slash + i;
                (
                    name_tag[..idx].to_string(),
                    Some(name_tag[idx + 1..].to_string()),
                )
            }
            None => (name_tag.clone(), None),
        };
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
        {
            return Err(format!("invalid tag {t:?} in image reference {raw:?}"));
        }
        let Some((registry, path)) = name.split_once('/') else {
            return Err(format!("invalid image reference {raw:?}"));
        };
        if registry.is_empty() || path.is_empty() || path.split('/').any(|s| s.is_empty()) {
            return Err(format!("invalid image reference {raw:?}"));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "invalid image reference {raw:?}: repository name must be lowercase"
            ));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(ImageRef {
            raw: raw.to_string(),
            registry: registry.to_string(),
            path: path.to_string(),
            tag,
            digest,
        })
    }

    /// `registry/path` without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// Kyverno `ImageInfo.String()`: `registry/path@digest` when a digest is present (the tag is
    /// dropped), otherwise `registry/path:tag`.
    pub fn normalized(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}/{}@{}", self.registry, self.path, d),
            (None, Some(t)) => format!("{}/{}:{}", self.registry, self.path, t),
            (None, None) => self.repository(),
        }
    }

    /// `registry/path:tag` (or the digest form when there is no tag): what a digest is appended to.
    pub fn with_tag(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}/{}:{}", self.registry, self.path, t),
            None => self.normalized(),
        }
    }
}

fn valid_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some((alg, hex)) => {
            !alg.is_empty()
                && alg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn add_default_registry(s: &str) -> String {
    let first = s.split('/').next().unwrap_or("");
    let has_more = s.contains('/');
    let is_registry = has_more
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if is_registry {
        s.to_string()
    } else {
        format!("docker.io/{s}")
    }
}

/// One image found in a Pod, with its JSON pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct PodImage {
    pub kind: ContainerKind,
    pub index: usize,
    /// Container name (empty when absent).
    pub container: String,
    /// JSON pointer of the `image` field, e.g. `/spec/containers/0/image`.
    pub pointer: String,
    pub raw: String,
    /// The parsed reference, or the parse error.
    pub parsed: Result<ImageRef, String>,
}

/// Extracts images from a Pod object (`spec.containers`, `spec.initContainers`,
/// `spec.ephemeralContainers`, in that order). Non-string or missing `image` fields are skipped.
pub fn pod_images(object: &Value) -> Vec<PodImage> {
    let mut out = Vec::new();
    for kind in ContainerKind::ALL {
        let Some(list) = object
            .get("spec")
            .and_then(|s| s.get(kind.field()))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (index, c) in list.iter().enumerate() {
            let Some(raw) = c.get("image").and_then(Value::as_str) else {
                continue;
            };
            out.push(PodImage {
                kind,
                index,
                container: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                pointer: format!("/spec/{}/{index}/image", kind.field()),
                raw: raw.to_string(),
                parsed: ImageRef::parse(raw),
            });
        }
    }
    out
}
