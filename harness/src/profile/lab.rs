//! The lab form of a vendor profile: the images the lab builds for it and who
//! the lab signs them as. The lab signs as the profile says the vendor signs
//! (a sample of its identity matcher, on the lab's CA; a lab key in place of
//! a vendor key), so that any vendor a user adds runs every scenario. The four
//! shipped vendors keep their hand-made fixtures while their profiles say
//! what the shipped files say.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::error::{Error, Result};
use crate::profile::{GITHUB_ACTIONS_ISSUER, Identity, Matcher, SignatureFormat, Vendor};
use crate::supply::lab::ca::{self, GithubClaims, San};
use crate::supply::lab::{LabVendor, Variant, shipped_vendors};

/// Names a key-based vendor cannot take: the lab writes its own trust as
/// `rekor.pub`, `ctlog.pub`, `dhi-1.pub` and `dhi-2.pub` beside the vendors'
/// `<name>.pub`.
const RESERVED: [&str; 4] = ["rekor", "ctlog", "dhi-1", "dhi-2"];

/// The tag the lab gives a vendor's image when its glob names none.
const DEFAULT_TAG: &str = "1.0.0";
/// What a `*` in an image glob becomes in the lab's repository name.
const GLOB_FILL: &str = "lab";
/// The SBOM the lab attaches for a vendor that names none.
const DEFAULT_SBOM: &str = "https://cyclonedx.org/bom";

/// The lab vendors of `profiles`: the shipped ones first, in the order the
/// lab has always built them (its log indices depend on it), then the others
/// in name order.
pub fn lab_vendors(profiles: &[Vendor]) -> Result<Vec<LabVendor>> {
    let shipped = shipped_vendors().map_err(|e| Error::harness("the shipped lab vendors", e))?;
    let mut out = profiles
        .iter()
        .map(|p| {
            let derived = derive(p)?;
            Ok(match shipped.iter().find(|s| s.name == p.name) {
                Some(s) if same_lab_shape(s, &derived, p) => {
                    // Every predicate the profile lists, even those the
                    // hand-made fixtures were written without.
                    let mut s = s.clone();
                    s.also_attest(&derived.extra_predicates);
                    s
                }
                _ => derived,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for (i, v) in out.iter().enumerate() {
        let source = |name: &str| {
            profiles
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.source.clone())
                .unwrap_or_default()
        };
        // The lab folder holds its own keys as `<name>.pub`.
        if v.keyed() && RESERVED.contains(&v.name.as_str()) {
            return Err(Error::invalid(
                source(&v.name),
                None,
                "name",
                format!(
                    "`{}` names a file of the lab's own trust (`{}.pub`)",
                    v.name, v.name
                ),
                "give the key-based vendor another name",
            ));
        }
        if let Some(other) = out[..i]
            .iter()
            .find(|o| o.repository == v.repository && o.tag == v.tag)
        {
            return Err(Error::invalid(
                source(&v.name),
                None,
                "images",
                format!(
                    "the lab would name `{}`'s images `{}:{}`, as it names `{}`'s",
                    v.name, v.repository, v.tag, other.name
                ),
                "give each vendor profile an image glob of its own",
            ));
        }
    }
    let rank = |v: &LabVendor| shipped.iter().position(|s| s.name == v.name);
    out.sort_by(|a, b| {
        (rank(a).is_none(), rank(a), &a.name).cmp(&(rank(b).is_none(), rank(b), &b.name))
    });
    Ok(out)
}

/// Whether a shipped vendor's hand-made fixtures still say what the profile
/// says: the same signer, SBOM, signature place and format, and an image the
/// profile's globs name.
fn same_lab_shape(shipped: &LabVendor, derived: &LabVendor, p: &Vendor) -> bool {
    let image = format!("{}:{}", shipped.repository, shipped.tag);
    shipped.identity == derived.identity
        && shipped.tlog == derived.tlog
        && shipped.sbom_type == derived.sbom_type
        && shipped.bundles == derived.bundles
        && shipped.signature_repository
            == p.signatures
                .repository
                .clone()
                .unwrap_or_else(|| shipped.repository.clone())
        && p.images.iter().any(|g| covers(g, &image))
}

fn covers(glob: &str, image: &str) -> bool {
    trustswap_model::wildcard::wildcard_match(glob, image)
}

/// Derives the lab form of any profile.
pub fn derive(p: &Vendor) -> Result<LabVendor> {
    let (repository, tag) = image_of(p)?;
    let identity = match &p.identity {
        Identity::Key(_) => None,
        Identity::Keyless { issuer, subject } => Some(signer_of(p, issuer, subject)?),
    };
    let sbom = p.sbom_type().unwrap_or(DEFAULT_SBOM);
    let extra: Vec<String> = p
        .attestations
        .provenance
        .iter()
        .chain(&p.attestations.vex)
        .chain(&p.attestations.other)
        .chain(p.attestations.sbom.iter().skip(1))
        .cloned()
        .collect();
    LabVendor::new(
        &p.name,
        &repository,
        &tag,
        p.signatures.repository.as_deref().unwrap_or(&repository),
        identity,
        sbom,
        extra,
        p.signatures.format == SignatureFormat::BundleReferrer,
        p.transparency_log == crate::profile::Requirement::Required,
    )
    .map_err(|e| Error::harness(format!("the lab form of vendor `{}`", p.name), e))
}

/// A repository and tag the profile's first image glob names, whose variant
/// tags (`<tag>-unsigned`, ...) it names too.
fn image_of(p: &Vendor) -> Result<(String, String)> {
    let bad = |glob: &str, message: String| {
        Error::invalid(
            &p.source,
            None,
            "images",
            format!("the lab cannot name an image for `{glob}`: {message}"),
            "list a glob the lab can fill in, e.g. `registry.example.com/team/*` (a tag part, if any, must end in `*`)",
        )
    };
    let glob = p.images.first().map(String::as_str).unwrap_or_default();
    if glob.contains('@') {
        return Err(bad(glob, "it pins a digest".into()));
    }
    let last_slash = glob.rfind('/').unwrap_or(0);
    let (repo_glob, tag_glob) = match glob.rfind(':') {
        Some(i) if i > last_slash => (&glob[..i], Some(&glob[i + 1..])),
        _ => (glob, None),
    };
    let fill = |g: &str, star: &str| g.replace('*', star).replace('?', "a");
    let repository = fill(repo_glob, GLOB_FILL)
        .trim_start_matches('/')
        .to_owned();
    let tag = tag_glob.map_or_else(|| DEFAULT_TAG.to_owned(), |t| fill(t, "1"));
    let reference = format!("{repository}:{tag}");
    let parsed = trustswap_model::image::ImageRef::parse(
        &reference,
        trustswap_model::image::Normalisation::Kyverno,
    )
    .map_err(|e| bad(glob, e.to_string()))?;
    if parsed.registry.is_empty() || !repository.contains('/') {
        return Err(bad(glob, "it names no registry".into()));
    }
    for variant in crate::supply::lab::fixtures::VARIANTS {
        let image = match variant {
            Variant::Good => reference.clone(),
            v => format!("{reference}-{}", v.slug()),
        };
        if !p.images.iter().any(|g| covers(g, &image)) {
            return Err(bad(
                glob,
                format!("its variant image `{image}` is not one of the profile's images"),
            ));
        }
    }
    Ok((repository, tag))
}

/// The identity the lab signs as: a sample of the profile's matchers, as
/// Fulcio would certify it (an email SAN for an email, GitHub's claims for a
/// GitHub Actions workflow).
fn signer_of(p: &Vendor, issuer: &Matcher, subject: &Matcher) -> Result<ca::Identity> {
    let sample_of = |field: &str, m: &Matcher| -> Result<String> {
        let bad = |message: String| {
            Error::invalid(
                &p.source,
                None,
                format!("trustRoot.keyless.{field}"),
                message,
                "write a matcher some certificate identity can satisfy",
            )
        };
        match m {
            Matcher::Exact(s) => Ok(s.replace('*', GLOB_FILL).replace('?', "a")),
            Matcher::RegExp(r) => {
                let hir = regex_syntax::parse(r).map_err(|e| bad(e.to_string()))?;
                let sample = sample(&hir).ok_or_else(|| bad(format!("no sample of `{r}`")))?;
                let re = regex::Regex::new(r).map_err(|e| bad(e.to_string()))?;
                if re.is_match(&sample) {
                    Ok(sample)
                } else {
                    Err(bad(format!(
                        "the sample `{sample}` of `{r}` does not match it"
                    )))
                }
            }
        }
    };
    let issuer = sample_of("issuer", issuer)?;
    let subject = sample_of("subject", subject)?;
    if subject.contains('@') && !subject.contains("://") {
        return Ok(ca::Identity::email(&subject, &issuer));
    }
    if issuer == GITHUB_ACTIONS_ISSUER
        && let Some(rest) = subject.strip_prefix("https://github.com/")
        && let Some((path, git_ref)) = rest.split_once('@')
        && let Some((org, rest)) = path.split_once('/')
        && let Some((repo, workflow)) = rest.split_once('/')
        && !workflow.is_empty()
    {
        return Ok(ca::Identity::github_workflow(
            &format!("{org}/{repo}"),
            workflow,
            git_ref,
        ));
    }
    Ok(ca::Identity {
        san: San::Uri(subject),
        issuer,
        github: None::<GithubClaims>,
    })
}

/// The shortest string of the first alternatives a regular expression's
/// syntax tree accepts (anchors and word boundaries add nothing), or `None`
/// for a class with no member.
fn sample(hir: &Hir) -> Option<String> {
    Some(match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => String::new(),
        HirKind::Literal(l) => String::from_utf8_lossy(&l.0).into_owned(),
        HirKind::Class(Class::Unicode(c)) => {
            pick(c.ranges().iter().map(|r| (r.start(), r.end())))?.to_string()
        }
        HirKind::Class(Class::Bytes(c)) => pick(
            c.ranges()
                .iter()
                .map(|r| (char::from(r.start()), char::from(r.end()))),
        )?
        .to_string(),
        HirKind::Repetition(r) => {
            let one = sample(&r.sub)?;
            one.repeat(usize::try_from(r.min).ok()?)
        }
        HirKind::Capture(c) => sample(&c.sub)?,
        HirKind::Concat(parts) => parts.iter().map(sample).collect::<Option<String>>()?,
        HirKind::Alternation(alts) => sample(alts.first()?)?,
    })
}

/// A printable member of a character class: a letter or digit an identity
/// would hold if the class has one, else its first printable ASCII
/// character, else its first character that is not a control character
/// (`[^/]` and `.` start at NUL, which no certificate SAN may hold).
fn pick(ranges: impl Iterator<Item = (char, char)> + Clone) -> Option<char> {
    let has = |c: char| ranges.clone().any(|(lo, hi)| lo <= c && c <= hi);
    "a0xA-_."
        .chars()
        .find(|c| has(*c))
        .or_else(|| ('!'..='~').find(|c| has(*c)))
        .or_else(|| {
            ranges
                .clone()
                .flat_map(|(lo, hi)| lo..=hi)
                .take(4096)
                .find(|c| !c.is_control())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::keys::KeyResolver;

    fn profile(yaml: &str) -> Vendor {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.yaml");
        std::fs::write(&path, yaml).unwrap();
        crate::profile::load_file(&path, &KeyResolver::new(Vec::new())).unwrap()
    }

    const KEYLESS: &str = "name: acme\nimages: [\"registry.acme.example/base/*\"]\ntrustRoot:\n  keyless:\n    issuer: https://token.ci.acme.example\n    subjectRegExp: ^https://ci\\.acme\\.example/pipelines/(release|hotfix)/[0-9]+$\n";

    #[test]
    fn a_user_vendor_is_signed_as_a_sample_of_its_matchers() {
        let v = derive(&profile(KEYLESS)).unwrap();
        assert_eq!(v.repository, "registry.acme.example/base/lab");
        assert_eq!(v.tag, DEFAULT_TAG);
        let id = v.identity.unwrap();
        assert_eq!(
            id.san,
            San::Uri("https://ci.acme.example/pipelines/release/0".into())
        );
        assert_eq!(id.issuer, "https://token.ci.acme.example");
        assert_eq!(id.github, None);
        assert_eq!(v.sbom_type, DEFAULT_SBOM);
    }

    #[test]
    fn the_shipped_vendors_keep_their_hand_made_fixtures_unless_edited() {
        let shipped = crate::profile::load_shipped(&KeyResolver::new(Vec::new())).unwrap();
        let lab = lab_vendors(&shipped).unwrap();
        let names: Vec<&str> = lab.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["dhi", "chainguard", "selfbuilt", "distroless"]);
        assert_eq!(lab[1].repository, "cgr.dev/chainguard/static");
        // A chainguard profile that names another subject is signed as it says.
        let mut edited = shipped.clone();
        let cg = edited.iter_mut().find(|v| v.name == "chainguard").unwrap();
        cg.identity = Identity::Keyless {
            issuer: Matcher::Exact(GITHUB_ACTIONS_ISSUER.into()),
            subject: Matcher::Exact(
                "https://github.com/my-org/mirror/.github/workflows/copy.yaml@refs/heads/main"
                    .into(),
            ),
        };
        let lab = lab_vendors(&edited).unwrap();
        let id = lab
            .iter()
            .find(|v| v.name == "chainguard")
            .unwrap()
            .identity
            .clone()
            .unwrap();
        assert_eq!(
            id.github.unwrap().source_repo_uri,
            "https://github.com/my-org/mirror"
        );
    }

    #[test]
    fn an_image_glob_whose_variants_the_lab_cannot_name_is_refused() {
        let exact = KEYLESS.replace(
            "registry.acme.example/base/*",
            "registry.acme.example/base/app:1.0",
        );
        let err = derive(&profile(&exact)).unwrap_err().to_string();
        assert!(err.contains("variant image"), "{err}");
        let digest = KEYLESS.replace(
            "registry.acme.example/base/*",
            "registry.acme.example/base/app@sha256:*",
        );
        assert!(
            derive(&profile(&digest))
                .unwrap_err()
                .to_string()
                .contains("digest")
        );
        let tag_glob = KEYLESS.replace(
            "registry.acme.example/base/*",
            "registry.acme.example/base/app:3.*",
        );
        let v = derive(&profile(&tag_glob)).unwrap();
        assert_eq!(
            (v.repository.as_str(), v.tag.as_str()),
            ("registry.acme.example/base/app", "3.1")
        );
    }

    fn sample_of(r: &str) -> String {
        sample(&regex_syntax::parse(r).unwrap()).unwrap()
    }

    #[test]
    fn samples_take_first_alternatives_and_fewest_repetitions() {
        assert_eq!(
            sample_of(
                r"^https://github\.com/example-org/platform/\.github/workflows/release\.yaml@(?:refs/heads/main|refs/tags/v[0-9]+\.[0-9]+\.[0-9]+)$"
            ),
            "https://github.com/example-org/platform/.github/workflows/release.yaml@refs/heads/main"
        );
        assert_eq!(sample_of(r"^ci@[a-z]+\.example\.com$"), "ci@a.example.com");
        assert_eq!(sample_of(r"x*y?z{2,3}"), "zz");
        // Negated classes and `.` start at NUL: a SAN never holds one.
        assert_eq!(
            sample_of(r"^https://github\.com/my-org/[^/]+/x@.+$"),
            "https://github.com/my-org/a/x@a"
        );
        assert_eq!(sample_of(r"[^a-z0-9]"), "A");
    }
}
