//! Images in Pods: where they are, and their references read as Kyverno's `GetImageInfo` does.

use serde_json::Value;

/// Which Pod container list an image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContainerKind {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerKind {
    pub const ALL: [ContainerKind; 3] = [
        ContainerKind::Containers,
        ContainerKind::InitContainers,
        ContainerKind::EphemeralContainers,
    ];

    /// The Pod spec field (and the CEL `images` key).
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Containers => "containers",
            ContainerKind::InitContainers => "initContainers",
            ContainerKind::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// Image references, parsed as Kyverno's `GetImageInfo` does
/// ([`ImageRef::kyverno`]); the grammar and normalisation live in
/// `trustswap_model::image`.
pub use trustswap_model::image::{ImageRef, ImageRefError};

/// One image found in a Pod, with its JSON pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct PodImage {
    pub kind: ContainerKind,
    pub index: usize,
    /// Container name (empty when absent).
    pub container: String,
    /// JSON pointer of the `image` field, e.g. `/spec/containers/0/image`.
    pub pointer: String,
    pub raw: String,
    /// The parsed reference, or the parse error.
    pub parsed: Result<ImageRef, ImageRefError>,
}

/// Extracts images from a Pod object (`spec.containers`, `spec.initContainers`,
/// `spec.ephemeralContainers`, in that order). Non-string or missing `image` fields are skipped.
pub fn pod_images(object: &Value) -> Vec<PodImage> {
    let mut out = Vec::new();
    for kind in ContainerKind::ALL {
        let Some(list) = object
            .get("spec")
            .and_then(|s| s.get(kind.field()))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (index, c) in list.iter().enumerate() {
            let Some(raw) = c.get("image").and_then(Value::as_str) else {
                continue;
            };
            out.push(PodImage {
                kind,
                index,
                container: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                pointer: format!("/spec/{}/{index}/image", kind.field()),
                raw: raw.to_string(),
                parsed: ImageRef::kyverno(raw),
            });
        }
    }
    out
}
