//! Image references and imageIDs as container runtimes read them. The grammar
//! and the normalisation live in `trustswap_model::image`
//! ([`Normalisation::Runtime`]: `nginx` is `docker.io/library/nginx`); this
//! module only adds the audit's rule that a written digest is a content digest
//! (sha256 or sha512), as a runtime reports it.

pub use trustswap_model::image::{
    ImageId, ImageRef, Normalisation, check_content_digest as check_digest, parse_image_id,
    runtime_repository, short_digest,
};

/// Parses `[registry/]path[:tag][@digest]` as a runtime does.
pub fn parse_image_ref(value: &str) -> Result<ImageRef, &'static str> {
    // The model trims; the audit matches globs and exceptions on the string
    // as written, so surrounding whitespace is refused here.
    if value.trim() != value {
        return Err("image reference contains whitespace");
    }
    let r = ImageRef::parse(value, Normalisation::Runtime).map_err(|e| e.reason)?;
    if let Some(d) = &r.digest {
        check_digest(d)?;
    }
    Ok(r)
}

/// The key of a `repository:tag` pair, normalised as a runtime reads it, so
/// that `nginx:1.25`, `docker.io/nginx:1.25` and
/// `docker.io/library/nginx:1.25` are one key (no tag reads as `latest`, as
/// for a pod's image). `None` when `value` is not a reference or names a
/// digest.
pub fn tag_key(value: &str) -> Option<String> {
    let r = ImageRef::parse(value, Normalisation::Runtime).ok()?;
    if r.digest.is_some() {
        return None;
    }
    Some(format!("{}:{}", r.repository(), r.tag.as_deref()?))
}
