//! Vendor profiles: who signs a vendor's images, where the signatures live, and
//! which evidence the vendor publishes. `RawProfile` is the YAML as written;
//! `Vendor` is the validated form everything else consumes (raw input first,
//! validated input second: a bad profile fails before anything renders).

pub mod keys;
pub mod lab;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::error::{Error, Result};
use keys::{KeyMaterial, KeyResolver};

/// A vendor profile as written in `configs/vendors/<name>.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProfile {
    pub name: Spanned<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Image reference globs (Kyverno wildcards `*` and `?`) this vendor's images match.
    pub images: Vec<Spanned<String>>,
    pub trust_root: RawTrustRoot,
    #[serde(default)]
    pub signatures: Signatures,
    #[serde(default)]
    pub attestations: Attestations,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTrustRoot {
    #[serde(default)]
    pub keyless: Option<RawKeyless>,
    #[serde(default)]
    pub key: Option<RawKey>,
    /// Whether a Rekor transparency-log entry is required (DHI: usually absent).
    #[serde(default)]
    pub transparency_log: Requirement,
    /// Whether an embedded SCT is required on keyless certificates.
    #[serde(default)]
    pub certificate_transparency: Requirement,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKeyless {
    #[serde(default)]
    pub issuer: Option<Spanned<String>>,
    #[serde(default)]
    pub issuer_reg_exp: Option<Spanned<String>>,
    #[serde(default)]
    pub subject: Option<Spanned<String>>,
    #[serde(default)]
    pub subject_reg_exp: Option<Spanned<String>>,
    /// A GitHub Actions workflow identity, compiled to the Actions issuer and an
    /// anchored subject regexp (tags vary per release, so refs are a regexp).
    #[serde(default)]
    pub github: Option<GithubIdentity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GithubIdentity {
    pub org: Spanned<String>,
    pub repo: Spanned<String>,
    /// Workflow file name under `.github/workflows/`.
    pub workflow: Spanned<String>,
    /// Regexp (RE2 syntax, unanchored here: the compiled subject is anchored) for the git ref.
    #[serde(default = "GithubIdentity::default_ref")]
    pub ref_reg_exp: Spanned<String>,
}

impl GithubIdentity {
    fn default_ref() -> Spanned<String> {
        Spanned::new(
            "refs/heads/main".to_owned(),
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKey {
    /// PEM given inline.
    #[serde(default)]
    pub data: Option<String>,
    /// PEM file, relative to the profile file.
    #[serde(default)]
    pub path: Option<String>,
    /// Where the vendor publishes the key; resolved from the key cache.
    #[serde(default)]
    pub url: Option<String>,
    /// Pinned fingerprint: hex SHA-256 of the DER SubjectPublicKeyInfo.
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    #[default]
    Required,
    Ignored,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureFormat {
    /// cosign v2: `sha256-<hex>.sig` tag with simplesigning layers.
    #[default]
    LegacySig,
    /// cosign v3: Sigstore bundle v0.3 as an OCI 1.1 referrer.
    BundleReferrer,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Signatures {
    #[serde(default)]
    pub format: SignatureFormat,
    /// Where signatures live when not beside the image (Kyverno `repository`,
    /// cosign `COSIGN_REPOSITORY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// Predicate types the vendor publishes; the first SBOM type is the one a
/// vendor-specific policy requires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Attestations {
    #[serde(default)]
    pub sbom: Vec<String>,
    #[serde(default)]
    pub provenance: Vec<String>,
    #[serde(default)]
    pub vex: Vec<String>,
    #[serde(default)]
    pub other: Vec<String>,
}

/// A validated vendor profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vendor {
    pub name: String,
    pub display_name: String,
    pub images: Vec<String>,
    pub identity: Identity,
    pub transparency_log: Requirement,
    pub certificate_transparency: Requirement,
    pub signatures: Signatures,
    pub attestations: Attestations,
    #[serde(skip)]
    pub source: PathBuf,
}

/// Who may sign: a keyless (Fulcio) identity or a public key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Identity {
    Keyless { issuer: Matcher, subject: Matcher },
    Key(KeyMaterial),
}

/// An exact string (Kyverno ClusterPolicy also treats `*`/`?` in it as
/// wildcards) or an RE2-style regular expression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Matcher {
    Exact(String),
    RegExp(String),
}

impl Vendor {
    pub fn sbom_type(&self) -> Option<&str> {
        self.attestations.sbom.first().map(String::as_str)
    }
}

const NAME_HINT: &str = "use lowercase letters, digits and '-' (a DNS label), e.g. `chainguard`";

fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
    let line = s.referenced.line();
    (line > 0).then_some(line)
}

fn check_regex(path: &Path, field: &str, value: &Spanned<String>) -> Result<()> {
    regex::Regex::new(&value.value).map(|_| ()).map_err(|e| {
        let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
        Error::invalid(
            path,
            line_of(value),
            field,
            format!("invalid regular expression `{}`: {first}", value.value),
            "write an RE2 regular expression (Kyverno and cosign use Go's regexp); escape `.` as `\\.`",
        )
    })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl RawProfile {
    /// Validate the raw profile. `keys` resolves key material (inline, file,
    /// or cache by fingerprint); `path` is the profile file, for errors.
    pub fn validate(self, path: &Path, keys: &KeyResolver) -> Result<Vendor> {
        let name = self.name.value.clone();
        if !is_dns_label(&name) {
            return Err(Error::invalid(
                path,
                line_of(&self.name),
                "name",
                format!("`{name}` is not a valid vendor name"),
                NAME_HINT,
            ));
        }
        if self.images.is_empty() {
            return Err(Error::invalid(
                path,
                None,
                "images",
                "no image references",
                "list at least one image glob, e.g. `cgr.dev/chainguard/*`",
            ));
        }
        for (i, image) in self.images.iter().enumerate() {
            let v = image.value.trim();
            if v.is_empty() || v.contains(char::is_whitespace) {
                return Err(Error::invalid(
                    path,
                    line_of(image),
                    format!("images[{i}]"),
                    format!("`{}` is not an image reference glob", image.value),
                    "write a reference such as `registry.example/org/*` (wildcards `*` and `?`)",
                ));
            }
        }
        let identity = match (self.trust_root.keyless, self.trust_root.key) {
            (Some(keyless), None) => validate_keyless(path, keyless)?,
            (None, Some(key)) => Identity::Key(keys.resolve(path, &key)?),
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    path,
                    None,
                    "trustRoot",
                    "both `keyless` and `key` are set",
                    "a vendor trust root is exactly one of `keyless` or `key`",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    path,
                    None,
                    "trustRoot",
                    "neither `keyless` nor `key` is set",
                    "add `keyless: {issuer, subject|subjectRegExp}` or `key: {url, sha256}`",
                ));
            }
        };
        let all_types = self
            .attestations
            .sbom
            .iter()
            .chain(&self.attestations.provenance)
            .chain(&self.attestations.vex)
            .chain(&self.attestations.other);
        for t in all_types {
            if !(t.starts_with("https://") || t.starts_with("http://")) {
                return Err(Error::invalid(
                    path,
                    None,
                    "attestations",
                    format!("predicate type `{t}` is not a URI"),
                    "in-toto predicate types are URIs, e.g. `https://spdx.dev/Document`",
                ));
            }
        }
        Ok(Vendor {
            display_name: self.display_name.unwrap_or_else(|| name.clone()),
            name,
            images: self
                .images
                .into_iter()
                .map(|s| s.value.trim().to_owned())
                .collect(),
            identity,
            transparency_log: self.trust_root.transparency_log,
            certificate_transparency: self.trust_root.certificate_transparency,
            signatures: self.signatures,
            attestations: self.attestations,
            source: path.to_path_buf(),
        })
    }
}

fn validate_keyless(path: &Path, k: RawKeyless) -> Result<Identity> {
    if let Some(gh) = k.github {
        if k.issuer.is_some()
            || k.subject.is_some()
            || k.subject_reg_exp.is_some()
            || k.issuer_reg_exp.is_some()
        {
            return Err(Error::invalid(
                path,
                None,
                "trustRoot.keyless",
                "`github` cannot be combined with issuer/subject fields",
                "use either `github: {org, repo, workflow}` or explicit issuer and subject",
            ));
        }
        for (field, v) in [
            ("org", &gh.org),
            ("repo", &gh.repo),
            ("workflow", &gh.workflow),
        ] {
            let ok = !v.value.is_empty()
                && v.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(Error::invalid(
                    path,
                    line_of(v),
                    format!("trustRoot.keyless.github.{field}"),
                    format!("`{}` is not a GitHub name", v.value),
                    "GitHub org, repository and workflow file names use letters, digits, '-', '_' and '.'",
                ));
            }
        }
        check_regex(path, "trustRoot.keyless.github.refRegExp", &gh.ref_reg_exp)?;
        let subject = format!(
            "^https://github\\.com/{}/{}/\\.github/workflows/{}@{}$",
            regex::escape(&gh.org.value),
            regex::escape(&gh.repo.value),
            regex::escape(&gh.workflow.value),
            if gh.ref_reg_exp.value.contains('|') {
                format!("(?:{})", gh.ref_reg_exp.value)
            } else {
                gh.ref_reg_exp.value.clone()
            }
        );
        return Ok(Identity::Keyless {
            issuer: Matcher::Exact(GITHUB_ACTIONS_ISSUER.to_owned()),
            subject: Matcher::RegExp(subject),
        });
    }
    let issuer = matcher(
        path,
        ("issuer", k.issuer),
        ("issuerRegExp", k.issuer_reg_exp),
        "keep one: `issuer` for an exact issuer URL, `issuerRegExp` for a pattern",
        (
            "no OIDC issuer",
            "set `issuer`, e.g. `https://token.actions.githubusercontent.com`",
        ),
    )?;
    let subject = matcher(
        path,
        ("subject", k.subject),
        ("subjectRegExp", k.subject_reg_exp),
        "keep one: `subject` for an exact identity, `subjectRegExp` for an anchored pattern",
        (
            "no certificate identity",
            "set `subject` (a workflow URI or email) or an anchored `subjectRegExp`",
        ),
    )?;
    Ok(Identity::Keyless { issuer, subject })
}

/// One keyless matcher: exactly one of an exact field and its `*RegExp` twin.
fn matcher(
    path: &Path,
    (exact_name, exact): (&str, Option<Spanned<String>>),
    (regexp_name, regexp): (&str, Option<Spanned<String>>),
    both_hint: &str,
    (missing, missing_hint): (&str, &str),
) -> Result<Matcher> {
    match (exact, regexp) {
        (Some(e), None) => Ok(Matcher::Exact(e.value)),
        (None, Some(r)) => {
            check_regex(path, &format!("trustRoot.keyless.{regexp_name}"), &r)?;
            Ok(Matcher::RegExp(r.value))
        }
        (Some(_), Some(_)) => Err(Error::invalid(
            path,
            None,
            "trustRoot.keyless",
            format!("both `{exact_name}` and `{regexp_name}` are set"),
            both_hint,
        )),
        (None, None) => Err(Error::invalid(
            path,
            None,
            format!("trustRoot.keyless.{exact_name}"),
            missing,
            missing_hint,
        )),
    }
}

pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Load every `*.yaml` profile in `dir`, validated, sorted by name. Two
/// profiles with the same name are an error.
pub fn load_dir(dir: &Path, keys: &KeyResolver) -> Result<Vec<Vendor>> {
    let files = crate::yaml::yaml_files(dir)?;
    if files.is_empty() {
        return Err(Error::Usage {
            message: format!("no vendor profiles (*.yaml) in {}", dir.display()),
            hint: "pass --vendors DIR pointing at a folder of vendor profiles".into(),
        });
    }
    let mut texts = Vec::new();
    for file in files {
        let text = crate::yaml::read_to_string(&file)?;
        texts.push((file, text));
    }
    from_texts(texts.iter().map(|(p, t)| (p.as_path(), t.as_str())), keys)
}

/// The vendor profiles built into the binary (`configs/vendors/*.yaml` as
/// shipped), validated and sorted as [`load_dir`] does.
pub fn load_shipped(keys: &KeyResolver) -> Result<Vec<Vendor>> {
    from_texts(crate::shipped::yaml(crate::shipped::VENDORS), keys)
}

fn from_texts<'a>(
    files: impl Iterator<Item = (&'a Path, &'a str)>,
    keys: &KeyResolver,
) -> Result<Vec<Vendor>> {
    let mut vendors: Vec<Vendor> = Vec::new();
    for (file, text) in files {
        let raw: RawProfile = crate::yaml::parse_str(file, text)?;
        let vendor = raw.validate(file, keys)?;
        if let Some(prev) = vendors.iter().find(|v| v.name == vendor.name) {
            return Err(Error::invalid(
                file,
                None,
                "name",
                format!(
                    "vendor `{}` is also defined in {}",
                    vendor.name,
                    prev.source.display()
                ),
                "give each profile a unique name",
            ));
        }
        vendors.push(vendor);
    }
    vendors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(vendors)
}

pub fn load_file(path: &Path, keys: &KeyResolver) -> Result<Vendor> {
    let raw: RawProfile = crate::yaml::parse_file(path)?;
    raw.validate(path, keys)
}

/// Keep only the named vendors, in the order given; an unknown name is an error.
pub fn select(vendors: Vec<Vendor>, names: &[String]) -> Result<Vec<Vendor>> {
    if names.is_empty() {
        return Ok(vendors);
    }
    let known: Vec<String> = vendors.iter().map(|v| v.name.clone()).collect();
    // A vendor named twice is compared once (as engines are).
    let mut unique: Vec<&String> = Vec::new();
    for n in names {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    unique
        .into_iter()
        .map(|n| {
            vendors
                .iter()
                .find(|v| &v.name == n)
                .cloned()
                .ok_or_else(|| Error::UnknownVendor {
                    name: n.clone(),
                    known: known.clone(),
                })
        })
        .collect()
}
