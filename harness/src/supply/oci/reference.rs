//! Tagged image references such as `cgr.dev/chainguard/static:latest`.
//!
//! A layout names each tagged manifest with the full reference string in the
//! `org.opencontainers.image.ref.name` annotation. `skopeo inspect
//! oci:DIR:REF` splits its argument at the *first* colon (so DIR must not
//! contain one) and then requires REF to match containers/image's
//! `refRegexp`: `component(/component)*` where a component is alphanumeric
//! runs joined by one of `- . _ : @ +` or `--`. Every reference this module
//! accepts satisfies that rule.

use std::fmt;
use std::str::FromStr;

/// Errors from parsing a reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("parse reference {reference:?}: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: &'static str,
}

/// A `repository:tag` reference. Digest references (`@sha256:...`) are not
/// tags and are rejected.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    repository: String,
    tag: String,
}

impl Reference {
    pub fn new(repository: &str, tag: &str) -> Result<Self, ReferenceError> {
        format!("{repository}:{tag}").parse()
    }

    /// Repository part, e.g. `cgr.dev/chainguard/static`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Tag part, e.g. `latest`.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ReferenceError {
            reference: s.to_owned(),
            reason,
        };
        if s.contains('@') {
            return Err(err("digest references are not tags"));
        }
        // The tag follows the last ':' that comes after the last '/', so a
        // registry port (`localhost:5000/app:1`) is not mistaken for a tag.
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        let Some(colon) = s[last_slash..].rfind(':').map(|i| i + last_slash) else {
            return Err(err("missing `:tag`"));
        };
        let (repository, tag) = (&s[..colon], &s[colon + 1..]);
        validate_repository(repository).map_err(err)?;
        validate_tag(tag).map_err(err)?;
        if !matches_skopeo_ref_regexp(s) {
            return Err(err(
                "not accepted by containers/image (skopeo) as an oci: reference",
            ));
        }
        Ok(Reference {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

/// Distribution-spec tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn validate_tag(tag: &str) -> Result<(), &'static str> {
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

/// Repository: optional registry host (`example.com`, `localhost:5000`)
/// followed by lowercase path components `[a-z0-9]+([._-][a-z0-9]+)*`.
fn validate_repository(repo: &str) -> Result<(), &'static str> {
    if repo.is_empty() {
        return Err("empty repository");
    }
    if repo.len() > 255 {
        return Err("repository longer than 255 characters");
    }
    let parts: Vec<&str> = repo.split('/').collect();
    let first = parts[0];
    let has_host =
        parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost");
    let path = if has_host {
        validate_host(first)?;
        &parts[1..]
    } else {
        &parts[..]
    };
    for component in path {
        if component.is_empty() {
            return Err("empty repository path component");
        }
        if !component.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        }) {
            return Err(
                "repository path components must be lowercase letters, digits, `.`, `_`, `-`",
            );
        }
        if !alnum_runs_joined(component, |sep| {
            matches!(sep, "." | "_" | "__" | "-" | "--")
        }) {
            return Err(
                "repository path components must start and end alphanumeric, with single separators",
            );
        }
    }
    Ok(())
}

fn validate_host(host: &str) -> Result<(), &'static str> {
    let (name, port) = match host.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("registry port must be 1-5 digits");
    }
    for label in name.split('.') {
        if !alnum_runs_joined(label, |sep| sep.bytes().all(|b| b == b'-')) {
            return Err("registry host labels must be alphanumeric, may contain inner `-`");
        }
    }
    Ok(())
}

/// `s` is alphanumeric runs joined by non-empty separator runs accepted by `sep_ok`.
fn alnum_runs_joined(s: &str, sep_ok: impl Fn(&str) -> bool) -> bool {
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

/// containers/image `oci/internal.refRegexp`:
/// `^component(/component)*$`, component = `alnum(sep alnum)*`,
/// sep = `[-._:@+]|--`.
pub fn matches_skopeo_ref_regexp(s: &str) -> bool {
    s.split('/').all(|c| {
        alnum_runs_joined(c, |sep| {
            sep == "--" || (sep.len() == 1 && matches!(sep, "-" | "." | "_" | ":" | "@" | "+"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_references() {
        let r: Reference = "cgr.dev/chainguard/static:latest".parse().unwrap();
        assert_eq!(r.repository(), "cgr.dev/chainguard/static");
        assert_eq!(r.tag(), "latest");
        let r: Reference = "localhost:5000/team/app:1.2.3".parse().unwrap();
        assert_eq!(r.repository(), "localhost:5000/team/app");
        assert_eq!(r.tag(), "1.2.3");
        let r: Reference = "alpine:3.20".parse().unwrap();
        assert_eq!(r.to_string(), "alpine:3.20");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "noTag/x",
            "repo",
            "repo:",
            "Repo:1",
            "repo:-x",
            "repo@sha256:00",
            "a//b:1",
            "a/b-:1",
            "localhost:5000/app",
            "example.com:abc/app:1",
            "repo:a+b",
            "a___b:1",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn skopeo_regexp_mirror() {
        assert!(matches_skopeo_ref_regexp(
            "cgr.dev/chainguard/static:latest"
        ));
        assert!(matches_skopeo_ref_regexp("a--b"));
        assert!(!matches_skopeo_ref_regexp("a---b"));
        assert!(!matches_skopeo_ref_regexp("a__b"));
        assert!(!matches_skopeo_ref_regexp("a:-b"));
        assert!(!matches_skopeo_ref_regexp("/a"));
    }
}
