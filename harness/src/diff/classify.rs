//! Which class a differing path belongs to. The rules read the path's map keys
//! (list positions and item names are ignored), most specific first:
//! signature location, then attestors (trust root), then attestations
//! (evidence), then image references and registry patterns (image scope).
//! Everything else is structural.

use super::{Class, Seg};

/// CEL variables that hold a registry allow-list (our renderer uses the first).
const IMAGE_VARIABLES: [&str; 3] = ["allowedImages", "allowedRegistries", "allowedImagePatterns"];

/// Deprecated ClusterPolicy `verifyImages` fields that carried the trust root
/// before attestors existed.
const LEGACY_TRUST: [&str; 6] = [
    "key",
    "roots",
    "subject",
    "issuer",
    "additionalExtensions",
    "annotations",
];

pub fn classify(_kind: &str, segs: &[Seg]) -> Class {
    let keys: Vec<&str> = segs
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    let has = |k: &str| keys.contains(&k);
    let last = keys.last().copied().unwrap_or("");
    let verify = has("verifyImages");
    let ivpol_attestor = keys.first() == Some(&"spec") && keys.get(1) == Some(&"attestors");

    // Where signatures live, and registry credentials: image scope.
    if (verify && last == "repository")
        || (ivpol_attestor && has("source"))
        || has("imageRegistryCredentials")
        || (keys.as_slice() == ["spec", "credentials"]
            || keys.starts_with(&["spec", "credentials"]))
    {
        return Class::ImageScope;
    }
    if has("attestors") {
        return Class::TrustRoot;
    }
    if has("attestations") {
        // Only the predicate type (and the conditions on the predicate, which
        // depend on its format) may vary with the vendor; adding, removing or
        // re-kinding an attestation changes what the contract requires.
        return if matches!(last, "type" | "predicateType" | "conditions") && !has("referrer")
            || has("conditions")
        {
            Class::Evidence
        } else {
            Class::Structural
        };
    }
    if has("imageReferences")
        || has("skipImageReferences")
        || has("matchImageReferences")
        || (verify && last == "image")
    {
        return Class::ImageScope;
    }
    if verify
        && keys.len() >= 2
        && keys[keys.len() - 2] == "verifyImages"
        && LEGACY_TRUST.contains(&last)
    {
        return Class::TrustRoot;
    }
    if has("validate") && (has("pattern") || has("anyPattern")) && last == "image" {
        return Class::ImageScope;
    }
    let image_variable = segs
        .iter()
        .any(|s| matches!(s, Seg::Named { name, .. } if IMAGE_VARIABLES.contains(&name.as_str())));
    if has("variables") && image_variable {
        return Class::ImageScope;
    }
    Class::Structural
}

/// The family of an in-toto predicate type: an SBOM in CycloneDX or SPDX is the
/// same evidence in another format; an SBOM and a provenance are not.
pub fn predicate_family(t: &str) -> &str {
    const FAMILIES: [(&str, &str); 7] = [
        ("https://cyclonedx.org/bom", "sbom"),
        ("https://spdx.dev/Document", "sbom"),
        ("https://scout.docker.com/sbom", "sbom"),
        ("https://slsa.dev/provenance", "provenance"),
        ("https://openvex.dev/ns", "vex"),
        (
            "https://cosign.sigstore.dev/attestation/vuln",
            "vulnerability-scan",
        ),
        ("https://in-toto.io/attestation/vulns", "vulnerability-scan"),
    ];
    FAMILIES
        .iter()
        .find(|(prefix, _)| t.starts_with(prefix))
        .map_or(t, |(_, f)| f)
}
