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
use trustswap_model::image;

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

/// Distribution-spec tag (`trustswap_model::image` owns the grammar).
fn validate_tag(tag: &str) -> Result<(), &'static str> {
    image::check_tag(tag)
}

/// Repository: optional registry host (`example.com`, `localhost:5000`)
/// followed by lowercase path components (`trustswap_model::image`).
fn validate_repository(repo: &str) -> Result<(), &'static str> {
    if repo.is_empty() {
        return Err("empty repository");
    }
    if repo.len() > 255 {
        return Err("repository longer than 255 characters");
    }
    let (first, rest) = repo.split_once('/').unwrap_or((repo, ""));
    let has_host =
        !rest.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_host {
        image::check_host(first)?;
        image::check_path(rest)
    } else {
        image::check_path(repo)
    }
}

/// containers/image `oci/internal.refRegexp`:
/// `^component(/component)*$`, component = `alnum(sep alnum)*`,
/// sep = `[-._:@+]|--`.
pub fn matches_skopeo_ref_regexp(s: &str) -> bool {
    s.split('/').all(|c| {
        image::alnum_runs_joined(c, |sep| {
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
