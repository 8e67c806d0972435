//! trustswap's shared vocabulary. Every concept the claim "only the trust root
//! changed" rests on has exactly one home here, and every other crate uses it:
//!
//! - [`digest`]: the sha256 content digest the lab and the stores compute;
//! - [`image`]: image references (one grammar, the distribution spec's; two
//!   named normalisations: Kyverno's and the container runtime's), digests and
//!   runtime imageIDs;
//! - [`wildcard`]: go-wildcard (Kyverno `ext/wildcard`), gobwas globs
//!   (ImageValidatingPolicy `matchImageReferences`) and the wildcard-to-RE2
//!   translation used in CEL;
//! - [`identity`]: certificate identity patterns and the matchers each consumer
//!   needs, named by whose semantics they follow (Kyverno, cosign CLI, the
//!   drift audit's trust policy);
//! - [`fingerprint`]: public key fingerprints;
//! - [`wire`]: the DSSE, in-toto and cosign wire names shared by the lab's
//!   signer and the verifier;
//! - [`kyverno`]: the typed Kyverno 1.19 CRD model, its defaults and the well-known names trustswap
//!   renders.
//!
//! This crate does no IO, has no async runtime and reads no clock (its
//! dependency tree is checked in CI: no tokio, kube, oci-client, reqwest or
//! hyper).

pub mod digest;
pub mod fingerprint;
pub mod identity;
pub mod image;
pub mod kyverno;
pub mod wildcard;
pub mod wire;
