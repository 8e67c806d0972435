//! Image reference and imageID parsing. Allocation-free except for
//! normalising Docker Hub short names.

use std::borrow::Cow;

/// A parsed `status.containerStatuses[].imageID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageId<'a> {
    /// `registry/repo` when the imageID names one (`None` for a bare `sha256:..`,
    /// which is a local image ID, not a registry digest).
    pub repository: Option<&'a str>,
    /// `sha256:<64 hex>` (or `sha512:<128 hex>`).
    pub digest: &'a str,
}

/// Parses an imageID. Accepted forms:
/// - `docker-pullable://registry/repo@sha256:<hex>` (dockershim, cri-dockerd)
/// - `docker://sha256:<hex>` (dockershim, image never pulled by digest)
/// - `registry/repo@sha256:<hex>` (containerd, CRI-O)
/// - `sha256:<hex>` (containerd, locally imported image)
///
/// An empty string yields `Ok(None)` (the container has not started).
pub fn parse_image_id(value: &str) -> Result<Option<ImageId<'_>>, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let rest = if let Some(r) = value.strip_prefix("docker-pullable://") {
        r
    } else if let Some(r) = value.strip_prefix("docker://") {
        r
    } else if value.contains("://") {
        return Err("unknown scheme (expected docker-pullable://, docker:// or none)");
    } else {
        value
    };
    match rest.rsplit_once('@') {
        Some((repo, digest)) => {
            if repo.is_empty() {
                return Err("empty repository before '@'");
            }
            check_digest(digest)?;
            Ok(Some(ImageId {
                repository: Some(repo),
                digest,
            }))
        }
        None => {
            if rest.starts_with("sha256:") || rest.starts_with("sha512:") {
                check_digest(rest)?;
                Ok(Some(ImageId {
                    repository: None,
                    digest: rest,
                }))
            } else {
                Err("no digest (expected <repo>@sha256:<hex> or sha256:<hex>)")
            }
        }
    }
}

/// Checks `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
pub fn check_digest(digest: &str) -> Result<(), &'static str> {
    let (algo, hex) = digest
        .split_once(':')
        .ok_or("digest must be <algorithm>:<hex>")?;
    let want = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err("digest algorithm must be sha256 or sha512"),
    };
    if hex.len() != want {
        return Err("digest hex has the wrong length");
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("digest hex must be lowercase hexadecimal");
    }
    Ok(())
}

/// A parsed image reference as written in a pod spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// The normalised repository: `nginx` -> `docker.io/library/nginx`.
    pub repository: Cow<'a, str>,
    /// The tag; `latest` when neither tag nor digest is written.
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Parses `[registry/]path[:tag][@digest]`.
pub fn parse_image_ref(value: &str) -> Result<ImageRef<'_>, &'static str> {
    if value.is_empty() {
        return Err("empty image reference");
    }
    if value.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err("image reference contains whitespace");
    }
    let (name_tag, digest) = match value.split_once('@') {
        Some((n, d)) => {
            check_digest(d)?;
            (n, Some(d))
        }
        None => (value, None),
    };
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            let tag = &name_tag[at + 1..];
            if tag.is_empty() {
                return Err("empty tag after ':'");
            }
            (&name_tag[..at], Some(tag))
        }
        None => (name_tag, None),
    };
    if name.is_empty() || name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err("malformed repository name");
    }
    let tag = match (tag, digest) {
        (None, None) => Some("latest"),
        (t, _) => t,
    };
    Ok(ImageRef {
        repository: normalize_repository(name),
        tag,
        digest,
    })
}

/// Normalises a repository the way container runtimes do:
/// `nginx` -> `docker.io/library/nginx`, `bitnami/redis` ->
/// `docker.io/bitnami/redis`, `index.docker.io/x` -> `docker.io/x`.
pub fn normalize_repository(name: &str) -> Cow<'_, str> {
    match name.split_once('/') {
        None => Cow::Owned(format!("docker.io/library/{name}")),
        Some((first, rest)) => {
            let is_registry = first.contains('.') || first.contains(':') || first == "localhost";
            if !is_registry {
                return Cow::Owned(format!("docker.io/{name}"));
            }
            let is_hub = first == "docker.io" || first == "index.docker.io";
            if is_hub && !rest.contains('/') {
                Cow::Owned(format!("docker.io/library/{rest}"))
            } else if first == "index.docker.io" {
                Cow::Owned(format!("docker.io/{rest}"))
            } else {
                Cow::Borrowed(name)
            }
        }
    }
}

/// The first 12 hex characters of a digest, for the terminal.
pub fn short_digest(digest: &str) -> &str {
    match digest.split_once(':') {
        Some((_, hex)) => hex.get(..12).unwrap_or(hex),
        None => digest.get(..12).unwrap_or(digest),
    }
}
