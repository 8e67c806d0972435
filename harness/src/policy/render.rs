//! Rendering: the trust contract plus one vendor profile gives one policy set per
//! engine. The vendor fills typed slots (attestor, image scope, signature
//! repository, SBOM type); everything else comes from the contract, so two vendors'
//! sets can only differ in those slots unless the contract itself differs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::kyverno::cpol::{self, FailureAction};
use super::kyverno::ivpol::{self, ValidationAction};
use super::kyverno::{LabelSelector, LabelSelectorRequirement, ObjectMeta, SelectorOperator};
use super::{Contract, Document, Engine, PolicySet};
use crate::error::Result;
use crate::profile::{Identity, Matcher, Requirement, Vendor};
use trustswap_model::kyverno::names;

/// The public-good Rekor, Kyverno's default transparency log.
pub use trustswap_model::kyverno::defaults::REKOR_URL;
/// The names every rendered policy uses (`trustswap_model::kyverno::names`).
pub use trustswap_model::kyverno::names::{
    ALLOWED_IMAGES, ATTESTOR, SBOM, VERIFY_IMAGES, VERIFY_RULE,
};
pub use trustswap_model::wildcard::glob_to_regex;

/// Overrides a caller may put into the trust root, for example the lab's own CA
/// and Rekor key when running against the lab supply chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustOverrides {
    /// PEM roots for keyless attestors (Kyverno `roots`).
    pub fulcio_roots: Option<String>,
    /// PEM public key of the Rekor log.
    pub rekor_pubkey: Option<String>,
    /// PEM public key of the CT log.
    pub ctlog_pubkey: Option<String>,
    /// Key-based vendors: further keys trusted beside the vendor's own (a
    /// broad matcher kept after a key rotation). Rendered as more attestor
    /// entries of which one must verify.
    pub extra_keys: Vec<String>,
    /// ImageValidatingPolicy: the TUF repository Kyverno fetches the trust
    /// root from (the lab's; trust-root class like the roots themselves).
    pub tuf: Option<crate::policy::kyverno::ivpol::Tuf>,
}

pub fn render(contract: &Contract, vendor: &Vendor, engine: Engine) -> Result<PolicySet> {
    render_with(contract, vendor, engine, &TrustOverrides::default())
}

pub fn render_with(
    contract: &Contract,
    vendor: &Vendor,
    engine: Engine,
    trust: &TrustOverrides,
) -> Result<PolicySet> {
    let mut set = PolicySet {
        label: vendor.name.clone(),
        documents: Vec::new(),
        files: Vec::new(),
    };
    match engine {
        Engine::Cpol => push(&mut set, &cluster_policy(contract, vendor, trust))?,
        Engine::Ivpol => {
            push(&mut set, &image_validating_policy(contract, vendor, trust))?;
            if contract.restrict_registries {
                push(&mut set, &registry_policy(contract, vendor))?;
            }
        }
    }
    Ok(set)
}

fn push<T: Serialize>(set: &mut PolicySet, object: &T) -> Result<()> {
    let value = serde_json::to_value(object).map_err(|e| crate::error::Error::Internal {
        message: format!("failed to serialise a rendered policy: {e}"),
    })?;
    let doc = Document {
        origin: String::new(),
        value,
        source: None,
    };
    let file = format!("{}-{}.yaml", doc.kind().to_ascii_lowercase(), doc.name());
    let mut yaml = crate::yaml::to_yaml(object)?;
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    set.documents.push(Document {
        origin: file.clone(),
        ..doc
    });
    set.files.push((file, yaml));
    Ok(())
}

fn metadata(contract: &Contract, suffix: &str) -> ObjectMeta {
    ObjectMeta {
        name: names::policy(&contract.name, suffix),
        labels: BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "trustswap".to_owned(),
        )]),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- ClusterPolicy

fn cluster_policy(
    contract: &Contract,
    vendor: &Vendor,
    trust: &TrustOverrides,
) -> cpol::ClusterPolicy {
    let action = contract.failure_action;
    let matches = cpol::MatchResources {
        any: vec![cpol::ResourceFilter {
            resources: cpol::ResourceDescription {
                kinds: vec!["Pod".into()],
                operations: vec!["CREATE".into(), "UPDATE".into()],
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    };
    let exclude = (!contract.exclude_namespaces.is_empty()).then(|| cpol::MatchResources {
        any: vec![cpol::ResourceFilter {
            resources: cpol::ResourceDescription {
                namespaces: contract.exclude_namespaces.clone(),
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut entries = vec![cpol_attestor(vendor, trust)];
    if matches!(vendor.identity, Identity::Key(_)) {
        for pem in &trust.extra_keys {
            let mut extra = entries[0].clone();
            if let Some(k) = extra.keys.as_mut() {
                k.public_keys = Some(pem.clone());
            }
            entries.push(extra);
        }
    }
    // One of several keys must verify; a single entry keeps Kyverno's default (all).
    let count = (entries.len() > 1).then_some(serde_json::Value::from(1));
    let attestors = vec![cpol::AttestorSet { count, entries }];
    let mut rules = Vec::new();
    if contract.require_signature || contract.require_sbom {
        let attestations = match (contract.require_sbom, vendor.sbom_type()) {
            (true, Some(t)) => vec![cpol::Attestation {
                name: Some(SBOM.into()),
                type_: Some(t.to_owned()),
                attestors: attestors.clone(),
                ..Default::default()
            }],
            _ => vec![],
        };
        rules.push(cpol::Rule {
            name: VERIFY_RULE.into(),
            match_: matches.clone(),
            exclude: exclude.clone(),
            validate: None,
            verify_images: vec![cpol::ImageVerification {
                failure_action: Some(action),
                type_: Some("Cosign".into()),
                image_references: vendor.images.clone(),
                skip_image_references: vec![],
                attestors: if contract.require_signature {
                    attestors
                } else {
                    vec![]
                },
                attestations,
                repository: vendor.signatures.repository.clone(),
                // Kyverno rejects mutateDigest with Audit: an audit cannot mutate.
                mutate_digest: Some(contract.mutate_digest && action == FailureAction::Enforce),
                verify_digest: Some(contract.verify_digest),
                required: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    if contract.restrict_registries {
        let image = vendor.images.join(" | ");
        let containers = serde_json::json!([{ "image": image }]);
        rules.push(cpol::Rule {
            name: "restrict-registries".into(),
            match_: matches,
            exclude,
            validate: Some(cpol::Validation {
                failure_action: Some(action),
                message: Some("every image must come from an approved vendor registry".into()),
                pattern: Some(serde_json::json!({
                    "spec": {
                        "containers": containers,
                        "=(initContainers)": containers,
                        "=(ephemeralContainers)": containers,
                    }
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    cpol::ClusterPolicy {
        api_version: cpol::API_VERSION.into(),
        kind: cpol::KIND.into(),
        metadata: metadata(contract, VERIFY_IMAGES),
        spec: cpol::Spec {
            admission: Some(true),
            // Image verification runs at admission only; background scans would
            // re-verify every pod without a request to block.
            background: Some(false),
            failure_policy: None,
            webhook_timeout_seconds: None,
            webhook_configuration: Some(cpol::WebhookConfiguration {
                failure_policy: Some(contract.failure_policy),
                timeout_seconds: Some(contract.webhook_timeout_seconds),
                ..Default::default()
            }),
            validation_failure_action: None,
            rules,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn cpol_attestor(vendor: &Vendor, trust: &TrustOverrides) -> cpol::Attestor {
    let rekor = cpol::Rekor {
        url: Some(REKOR_URL.into()),
        pubkey: trust.rekor_pubkey.clone(),
        ignore_tlog: Some(vendor.transparency_log == Requirement::Ignored),
    };
    let ctlog = cpol::Ctlog {
        ignore_sct: Some(vendor.certificate_transparency == Requirement::Ignored),
        pubkey: trust.ctlog_pubkey.clone(),
        ..Default::default()
    };
    match &vendor.identity {
        Identity::Key(key) => cpol::Attestor {
            keys: Some(cpol::StaticKeyAttestor {
                public_keys: Some(key.policy_text()),
                rekor: Some(rekor),
                ctlog: Some(ctlog),
                ..Default::default()
            }),
            ..Default::default()
        },
        Identity::Keyless { issuer, subject } => {
            let mut k = cpol::KeylessAttestor {
                roots: trust.fulcio_roots.clone(),
                rekor: Some(rekor),
                ctlog: Some(ctlog),
                ..Default::default()
            };
            match issuer {
                Matcher::Exact(s) => k.issuer = Some(s.clone()),
                Matcher::RegExp(r) => k.issuer_reg_exp = Some(r.clone()),
            }
            match subject {
                Matcher::Exact(s) => k.subject = Some(s.clone()),
                Matcher::RegExp(r) => k.subject_reg_exp = Some(r.clone()),
            }
            cpol::Attestor {
                keyless: Some(k),
                ..Default::default()
            }
        }
    }
}

// ------------------------------------------------------- ImageValidatingPolicy

fn match_pods(contract: &Contract) -> ivpol::MatchResources {
    ivpol::MatchResources {
        namespace_selector: (!contract.exclude_namespaces.is_empty()).then(|| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "kubernetes.io/metadata.name".into(),
                operator: SelectorOperator::NotIn,
                values: contract.exclude_namespaces.clone(),
            }],
        }),
        object_selector: None,
        resource_rules: vec![ivpol::NamedRuleWithOperations {
            api_groups: vec![String::new()],
            api_versions: vec!["v1".into()],
            operations: vec!["CREATE".into(), "UPDATE".into()],
            resources: vec!["pods".into()],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn actions(contract: &Contract) -> Vec<ValidationAction> {
    match contract.failure_action {
        FailureAction::Enforce => vec![ValidationAction::Deny],
        FailureAction::Audit => vec![ValidationAction::Audit],
    }
}

/// CEL over every container list of the pod: `images` maps `containers`,
/// `initContainers` and `ephemeralContainers` to their (matched) images, and a
/// key may be absent, so each list is guarded.
fn all_images(check: &str) -> String {
    format!("({}).map(image, {check}).all(e, e > 0)", image_lists())
}

/// Every image an ImageValidatingPolicy extracts, as one CEL list.
pub(crate) fn image_lists() -> String {
    ["containers", "initContainers", "ephemeralContainers"]
        .map(|k| format!("(has(images.{k}) ? images.{k} : [])"))
        .join(" + ")
}

fn image_validating_policy(
    contract: &Contract,
    vendor: &Vendor,
    trust: &TrustOverrides,
) -> ivpol::ImageValidatingPolicy {
    let ctlog = ivpol::CTLog {
        url: Some(REKOR_URL.into()),
        rekor_pub_key: trust.rekor_pubkey.clone(),
        ct_log_pub_key: trust.ctlog_pubkey.clone(),
        insecure_ignore_tlog: Some(vendor.transparency_log == Requirement::Ignored),
        insecure_ignore_sct: Some(vendor.certificate_transparency == Requirement::Ignored),
        ..Default::default()
    };
    let mut cosign = ivpol::Cosign {
        ctlog: Some(ctlog),
        source: vendor
            .signatures
            .repository
            .clone()
            .map(|repository| ivpol::Source {
                repository,
                ..Default::default()
            }),
        tuf: trust.tuf.clone(),
        ..Default::default()
    };
    match &vendor.identity {
        Identity::Key(key) => {
            cosign.key = Some(ivpol::Key {
                data: Some(key.policy_text()),
                ..Default::default()
            })
        }
        Identity::Keyless { issuer, subject } => {
            let mut id = ivpol::Identity::default();
            match issuer {
                Matcher::Exact(s) => id.issuer = Some(s.clone()),
                Matcher::RegExp(r) => id.issuer_reg_exp = Some(r.clone()),
            }
            match subject {
                Matcher::Exact(s) => id.subject = Some(s.clone()),
                Matcher::RegExp(r) => id.subject_reg_exp = Some(r.clone()),
            }
            cosign.keyless = Some(ivpol::Keyless {
                identities: vec![id],
                roots: trust.fulcio_roots.clone(),
                ..Default::default()
            })
        }
    }
    let mut attestors = vec![ivpol::Attestor {
        name: ATTESTOR.into(),
        cosign: Some(cosign.clone()),
        ..Default::default()
    }];
    if matches!(vendor.identity, Identity::Key(_)) {
        for (i, pem) in trust.extra_keys.iter().enumerate() {
            let mut extra = cosign.clone();
            extra.key = Some(ivpol::Key {
                data: Some(pem.clone()),
                ..Default::default()
            });
            attestors.push(ivpol::Attestor {
                name: format!("{ATTESTOR}{}", i + 2),
                cosign: Some(extra),
                ..Default::default()
            });
        }
    }
    let names = attestors
        .iter()
        .map(|a| format!("attestors.{}", a.name))
        .collect::<Vec<_>>()
        .join(", ");
    let mut validations = Vec::new();
    if contract.require_signature {
        validations.push(ivpol::Validation {
            expression: all_images(&format!("verifyImageSignatures(image, [{names}])")),
            message: Some("failed to verify image signatures".into()),
            ..Default::default()
        });
    }
    let mut attestations = Vec::new();
    if let (true, Some(t)) = (contract.require_sbom, vendor.sbom_type()) {
        attestations.push(ivpol::Attestation {
            name: SBOM.into(),
            intoto: Some(ivpol::InToto {
                type_: t.to_owned(),
            }),
            referrer: None,
        });
        validations.push(ivpol::Validation {
            expression: all_images(&format!(
                "verifyAttestationSignatures(image, attestations.{SBOM}, [{names}])"
            )),
            message: Some("failed to verify the SBOM attestation".into()),
            ..Default::default()
        });
    }
    let enforce = contract.failure_action == FailureAction::Enforce;
    ivpol::ImageValidatingPolicy {
        api_version: ivpol::API_VERSION.into(),
        kind: ivpol::KIND_IVPOL.into(),
        metadata: metadata(contract, VERIFY_IMAGES),
        spec: ivpol::IvpolSpec {
            validation_actions: actions(contract),
            failure_policy: Some(contract.failure_policy),
            webhook_configuration: Some(ivpol::WebhookConfiguration {
                timeout_seconds: Some(contract.webhook_timeout_seconds),
            }),
            match_constraints: Some(match_pods(contract)),
            match_image_references: vendor
                .images
                .iter()
                .map(|g| ivpol::MatchImageReference {
                    glob: Some(g.clone()),
                    expression: None,
                })
                .collect(),
            attestors,
            attestations,
            validation_configurations: Some(ivpol::ValidationConfiguration {
                mutate_digest: Some(contract.mutate_digest && enforce),
                verify_digest: Some(contract.verify_digest),
                required: Some(true),
            }),
            validations,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn registry_policy(contract: &Contract, vendor: &Vendor) -> ivpol::ValidatingPolicy {
    let patterns: Vec<String> = vendor
        .images
        .iter()
        .map(|g| format!("r'{}'", glob_to_regex(g)))
        .collect();
    let check = |field: &str| {
        format!(
            "(!has(object.spec.{field}) || object.spec.{field}.all(c, variables.{ALLOWED_IMAGES}.exists(p, c.image.matches(p))))"
        )
    };
    ivpol::ValidatingPolicy {
        api_version: ivpol::API_VERSION.into(),
        kind: ivpol::KIND_VPOL.into(),
        metadata: metadata(contract, "restrict-registries"),
        spec: ivpol::VpolSpec {
            validation_actions: actions(contract),
            failure_policy: Some(contract.failure_policy),
            webhook_configuration: Some(ivpol::WebhookConfiguration {
                timeout_seconds: Some(contract.webhook_timeout_seconds),
            }),
            match_constraints: Some(match_pods(contract)),
            variables: vec![ivpol::Variable {
                name: ALLOWED_IMAGES.into(),
                expression: format!("[{}]", patterns.join(", ")),
            }],
            validations: vec![ivpol::Validation {
                expression: ["containers", "initContainers", "ephemeralContainers"]
                    .map(check)
                    .join(" && "),
                message: Some("every image must come from an approved vendor registry".into()),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::glob_to_regex;

    #[test]
    fn globs_become_anchored_escaped_regexps() {
        assert_eq!(
            glob_to_regex("cgr.dev/chainguard/*"),
            r"^cgr\.dev/chainguard/.*$"
        );
        assert_eq!(
            glob_to_regex("dhi.io/python:3.1?"),
            r"^dhi\.io/python:3\.1.$"
        );
        let re = regex::Regex::new(&glob_to_regex("ghcr.io/org/*")).expect("valid");
        assert!(re.is_match("ghcr.io/org/app/sub:1"));
        assert!(!re.is_match("ghcr.io/org-evil/app:1"));
        assert!(!re.is_match("xghcr.io/org/app"));
    }
}
