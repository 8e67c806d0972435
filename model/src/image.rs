//! Image references: one grammar, two named normalisations, and runtime imageIDs.
//!
//! The grammar is the distribution spec's (`github.com/distribution/reference`,
//! which both Kyverno and container runtimes use): an optional registry host,
//! lowercase path components, a tag `[\w][\w.-]{0,127}` and a digest
//! `algorithm:hex` with at least 32 hex characters.
//!
//! Where the registry is implicit, the two consumers disagree on purpose, and
//! [`Normalisation`] names each:
//! - [`Normalisation::Kyverno`]: Kyverno's `GetImageInfo` adds `docker.io/`
//!   only (`nginx` is `docker.io/nginx`); what policies and Kyverno's messages
//!   see (`pkg/utils/image/infos.go`, `addDefaultRegistry`).
//! - [`Normalisation::Runtime`]: docker's `ParseNormalizedNamed`, which
//!   container runtimes report: `nginx` is `docker.io/library/nginx` and
//!   `index.docker.io/x` is `docker.io/library/x`; what a registry serves and
//!   what the drift audit compares.

use std::fmt;

/// Which implicit-registry rule a reference is normalised with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Normalisation {
    /// Kyverno `GetImageInfo`: `docker.io/` added, no `library/`.
    Kyverno,
    /// Container runtimes (docker `ParseNormalizedNamed`): `docker.io/library/x`.
    Runtime,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRefError {
    pub value: String,
    pub reason: &'static str,
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference {:?}: {}",
            self.value, self.reason
        )
    }
}

impl std::error::Error for ImageRefError {}

impl From<ImageRefError> for String {
    fn from(e: ImageRefError) -> String {
        e.to_string()
    }
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The string exactly as written.
    pub raw: String,
    /// Registry host (with port), after normalisation.
    pub registry: String,
    /// Repository path inside the registry, after normalisation.
    pub path: String,
    /// The tag; `latest` when neither a tag nor a digest is written, `None`
    /// when only a digest is.
    pub tag: Option<String>,
    /// The digest (`algorithm:hex`) when written.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises `raw` (surrounding whitespace is ignored; inner
    /// whitespace is an error).
    pub fn parse(raw: &str, normalisation: Normalisation) -> Result<ImageRef, ImageRefError> {
        let err = |reason| ImageRefError {
            value: raw.to_owned(),
            reason,
        };
        let s = raw.trim();
        if s.is_empty() {
            return Err(err("empty image reference"));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(err("contains whitespace"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                check_reference_digest(d).map_err(err)?;
                (n, Some(d))
            }
            None => (s, None),
        };
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(err)?;
        }
        let (registry, path) = split_domain(name, normalisation);
        if registry.is_empty() {
            return Err(err("empty registry host"));
        }
        check_host(&registry).map_err(err)?;
        check_path(&path).map_err(err)?;
        if registry.len() + 1 + path.len() > 255 {
            return Err(err("repository name longer than 255 characters"));
        }
        let tag = match (tag, digest) {
            (None, None) => Some("latest".to_owned()),
            (t, _) => t.map(str::to_owned),
        };
        Ok(ImageRef {
            raw: raw.to_owned(),
            registry,
            path,
            tag,
            digest: digest.map(str::to_owned),
        })
    }

    /// Kyverno's `GetImageInfo` ([`Normalisation::Kyverno`]).
    pub fn kyverno(raw: &str) -> Result<ImageRef, ImageRefError> {
        Self::parse(raw, Normalisation::Kyverno)
    }

    /// A container runtime's reading ([`Normalisation::Runtime`]).
    pub fn runtime(raw: &str) -> Result<ImageRef, ImageRefError> {
        Self::parse(raw, Normalisation::Runtime)
    }

    /// `registry/path`, without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// Kyverno `ImageInfo.String()`: `registry/path@digest` when a digest is
    /// written (the tag is dropped), otherwise `registry/path:tag`.
    pub fn normalized(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}/{}@{}", self.registry, self.path, d),
            (None, Some(t)) => format!("{}/{}:{}", self.registry, self.path, t),
            (None, None) => self.repository(),
        }
    }

    /// `registry/path:tag` (the digest form when there is no tag): what a
    /// digest is appended to.
    pub fn with_tag(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}/{}:{}", self.registry, self.path, t),
            None => self.normalized(),
        }
    }
}

/// Whether the first component of `name` is a registry host (docker's
/// `splitDockerDomain` and Kyverno's `addDefaultRegistry` agree on this):
/// it contains `.` or `:`, is `localhost`, or has an uppercase letter.
fn is_domain(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn split_domain(name: &str, normalisation: Normalisation) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if is_domain(first) => (first, rest),
        _ => ("docker.io", name),
    };
    match normalisation {
        Normalisation::Kyverno => (domain.to_owned(), path.to_owned()),
        Normalisation::Runtime => {
            let domain = if domain == "index.docker.io" {
                "docker.io"
            } else {
                domain
            };
            if domain == "docker.io" && !path.contains('/') {
                (domain.to_owned(), format!("library/{path}"))
            } else {
                (domain.to_owned(), path.to_owned())
            }
        }
    }
}

/// Normalises a repository name (no tag, no digest) the way container
/// runtimes do: `nginx` is `docker.io/library/nginx`. Returns `None` when the
/// name is not a valid repository.
pub fn runtime_repository(name: &str) -> Option<String> {
    if name.contains(['@', ':']) && name.rfind(':') > name.rfind('/') {
        return None;
    }
    let (registry, path) = split_domain(name, Normalisation::Runtime);
    (check_host(&registry).is_ok() && check_path(&path).is_ok())
        .then(|| format!("{registry}/{path}"))
}

/// A distribution-spec tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), &'static str> {
    let bytes = tag.as_bytes();
    let Some(first) = bytes.first() else {
        return Err("empty tag");
    };
    if bytes.len() > 128 {
        return Err("tag longer than 128 characters");
    }
    if !(first.is_ascii_alphanumeric() || *first == b'_') {
        return Err("tag must start with a letter, digit or `_`");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("tag may only contain letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

/// A registry host: DNS labels (alphanumeric, inner `-`) or an IPv6 literal in
/// brackets, with an optional port of 1 to 5 digits.
pub fn check_host(host: &str) -> Result<(), &'static str> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err("unclosed `[` in registry host");
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err("registry IPv6 literal must be hexadecimal groups");
        }
        match after {
            "" => return Ok(()),
            p => match p.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return Err("unexpected text after the IPv6 literal"),
            },
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("registry port must be 1-5 digits");
    }
    if host.starts_with('[') {
        return Ok(());
    }
    for label in name.split('.') {
        if !alnum_runs_joined(label, |sep| sep.bytes().all(|b| b == b'-')) {
            return Err("registry host labels must be alphanumeric, may contain inner `-`");
        }
    }
    Ok(())
}

/// Repository path components: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, joined by `/`.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty repository path");
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err("empty repository path component");
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository name must be lowercase");
        }
        if !component.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        }) {
            return Err(
                "repository path components must be lowercase letters, digits, `.`, `_`, `-`",
            );
        }
        if !alnum_runs_joined(component, |sep| {
            matches!(sep, "." | "_" | "__") || (!sep.is_empty() && sep.bytes().all(|b| b == b'-'))
        }) {
            return Err(
                "repository path components must start and end alphanumeric, with single separators",
            );
        }
    }
    Ok(())
}

/// `s` is alphanumeric runs joined by non-empty separator runs accepted by `sep_ok`.
pub fn alnum_runs_joined(s: &str, sep_ok: impl Fn(&str) -> bool) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    loop {
        let alnum_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if alnum_len == 0 {
            return false;
        }
        rest = &rest[alnum_len..];
        if rest.is_empty() {
            return true;
        }
        let sep_len = rest
            .bytes()
            .take_while(|b| !b.is_ascii_alphanumeric())
            .count();
        if !sep_ok(&rest[..sep_len]) {
            return false;
        }
        rest = &rest[sep_len..];
    }
}

/// A digest as the reference grammar allows it after `@`:
/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.
pub fn check_reference_digest(d: &str) -> Result<(), &'static str> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err("digest must be <algorithm>:<hex>");
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let mut b = part.bytes();
        b.next().is_some_and(|c| c.is_ascii_alphabetic()) && b.all(|c| c.is_ascii_alphanumeric())
    });
    if !alg_ok {
        return Err("invalid digest algorithm");
    }
    if hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("digest hex must be at least 32 hexadecimal characters");
    }
    Ok(())
}

/// A content digest a registry or runtime reports: `sha256:<64 lowercase hex>`
/// or `sha512:<128 lowercase hex>`.
pub fn check_content_digest(digest: &str) -> Result<(), &'static str> {
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

/// The first 12 hex characters of a digest, for the terminal.
pub fn short_digest(digest: &str) -> &str {
    match digest.split_once(':') {
        Some((_, hex)) => hex.get(..12).unwrap_or(hex),
        None => digest.get(..12).unwrap_or(digest),
    }
}

/// A parsed `status.containerStatuses[].imageID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageId<'a> {
    /// `registry/repo` when the imageID names one (`None` for a bare
    /// `sha256:..`, a local image ID rather than a registry digest).
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
            check_content_digest(digest)?;
            Ok(Some(ImageId {
                repository: Some(repo),
                digest,
            }))
        }
        None => {
            if rest.starts_with("sha256:") || rest.starts_with("sha512:") {
                check_content_digest(rest)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> ImageRef {
        ImageRef::parse(s, Normalisation::Kyverno).expect(s)
    }
    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s, Normalisation::Runtime).expect(s)
    }

    #[test]
    fn docker_hub_official_images_normalise_per_consumer() {
        // (written, Kyverno, runtime)
        let table = [
            (
                "nginx",
                "docker.io/nginx:latest",
                "docker.io/library/nginx:latest",
            ),
            (
                "nginx:1.25",
                "docker.io/nginx:1.25",
                "docker.io/library/nginx:1.25",
            ),
            (
                "docker.io/nginx:1.25",
                "docker.io/nginx:1.25",
                "docker.io/library/nginx:1.25",
            ),
            (
                "index.docker.io/nginx:1",
                "index.docker.io/nginx:1",
                "docker.io/library/nginx:1",
            ),
            (
                "bitnami/redis:7",
                "docker.io/bitnami/redis:7",
                "docker.io/bitnami/redis:7",
            ),
            (
                "localhost:5000/app:v1",
                "localhost:5000/app:v1",
                "localhost:5000/app:v1",
            ),
            (
                "cgr.dev/chainguard/static",
                "cgr.dev/chainguard/static:latest",
                "cgr.dev/chainguard/static:latest",
            ),
        ];
        for (raw, kyverno, runtime) in table {
            assert_eq!(k(raw).normalized(), kyverno, "{raw}");
            assert_eq!(r(raw).normalized(), runtime, "{raw}");
        }
    }

    #[test]
    fn digest_drops_the_tag_in_the_normalised_form() {
        let d = format!("sha256:{}", "a".repeat(64));
        let i = k(&format!("ghcr.io/x/y:1@{d}"));
        assert_eq!(i.tag.as_deref(), Some("1"));
        assert_eq!(i.normalized(), format!("ghcr.io/x/y@{d}"));
        assert_eq!(i.with_tag(), "ghcr.io/x/y:1");
    }

    #[test]
    fn the_grammar_refuses_what_distribution_refuses() {
        for bad in [
            "",
            "nginx:",
            "ghcr.io/Org/app",
            "a b",
            "ghcr.io//x",
            "ghcr.io/x/y@sha256:zz",
            "ghcr.io/x/y:-bad",
            "ghcr.io/x/y:a+b",
            "ghcr.io/x/-y",
        ] {
            assert!(
                ImageRef::parse(bad, Normalisation::Kyverno).is_err(),
                "{bad:?}"
            );
            assert!(
                ImageRef::parse(bad, Normalisation::Runtime).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn runtime_repository_matches_the_parser() {
        assert_eq!(
            runtime_repository("nginx").as_deref(),
            Some("docker.io/library/nginx")
        );
        assert_eq!(
            runtime_repository("index.docker.io/x/y").as_deref(),
            Some("docker.io/x/y")
        );
        assert_eq!(
            runtime_repository("ghcr.io/a/b").as_deref(),
            Some("ghcr.io/a/b")
        );
        assert_eq!(runtime_repository("ghcr.io/a/b:1"), None);
    }

    #[test]
    fn digests() {
        let h = "a".repeat(64);
        assert!(check_content_digest(&format!("sha256:{h}")).is_ok());
        assert!(check_content_digest(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(check_content_digest(&format!("md5:{h}")).is_err());
        assert!(check_reference_digest(&format!("sha256+b64u.x:{}", "A".repeat(32))).is_ok());
        assert!(check_reference_digest("sha256:abc").is_err());
        assert_eq!(short_digest(&format!("sha256:{h}")), "aaaaaaaaaaaa");
    }
}
