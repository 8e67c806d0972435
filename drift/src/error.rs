//! Errors: malformed input. Messages are lowercase and name the field.

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DriftError {
    #[error("pod {namespace}/{pod} container {container}: unparsable imageID {value:?}: {reason}")]
    ImageId {
        namespace: String,
        pod: String,
        container: String,
        value: String,
        reason: &'static str,
    },
    #[error("pod {namespace}/{pod} container {container}: unparsable image {value:?}: {reason}")]
    ImageRef {
        namespace: String,
        pod: String,
        container: String,
        value: String,
        reason: &'static str,
    },
    #[error(
        "pod {namespace}/{pod} container {container}: invalid admitted.digest {value:?}: {reason}"
    )]
    AdmittedDigest {
        namespace: String,
        pod: String,
        container: String,
        value: String,
        reason: &'static str,
    },
    #[error("pod {namespace}/{pod}: {reason}")]
    Pod {
        namespace: String,
        pod: String,
        reason: String,
    },
    #[error("duplicate pod {namespace}/{pod} in state.pods")]
    DuplicatePod { namespace: String, pod: String },
    #[error("pod {namespace}/{pod}: duplicate container name {container}")]
    DuplicateContainer {
        namespace: String,
        pod: String,
        container: String,
    },
    #[error("duplicate namespace {0:?} in state.namespaces")]
    DuplicateNamespace(String),
    #[error("manifest.entries[{index}].{field} {value:?}: {reason}")]
    ManifestEntry {
        index: usize,
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("manifest.entries[{index}]: duplicate digest {digest}")]
    DuplicateDigest { index: usize, digest: String },
    #[error("manifest: tag {tag} is claimed by both {first} and {second}")]
    ConflictingTag {
        tag: String,
        first: String,
        second: String,
    },
    #[error(
        "registryTags: {first_key} and {second_key} are the same tag ({tag}) but name different digests ({first}, {second}); keep one"
    )]
    ConflictingRegistryTag {
        tag: String,
        first_key: String,
        first: String,
        second_key: String,
        second: String,
    },
    #[error("revocations[{index}]: {reason}")]
    Revocation { index: usize, reason: &'static str },
    #[error("exceptions[{index}] ({name}): {reason}")]
    Exception {
        index: usize,
        name: String,
        reason: &'static str,
    },
    #[error("trustPolicy.rules[{index}] ({name}): {reason}")]
    TrustRule {
        index: usize,
        name: String,
        reason: String,
    },
    #[error("trustPolicy.rules[{index}].identities[{identity}].{field} {pattern:?}: {source}")]
    TrustRegex {
        index: usize,
        identity: usize,
        field: &'static str,
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("options.{field}: {reason}")]
    Options {
        field: &'static str,
        reason: &'static str,
    },
}
