//! SBOMs and other predicates derived from image content (ocilab's package-db read-back).

use crate::supply::oci::{InstalledContent, Package, PackageDbFormat};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::supply::lab::error::{Result, json_err};
use crate::supply::lab::sign::Target;
use crate::supply::lab::trustroot::rfc3339;

pub const PT_CYCLONEDX_16: &str = "https://cyclonedx.org/bom/v1.6";
pub const PT_SPDX: &str = "https://spdx.dev/Document";
pub const PT_SLSA_02: &str = "https://slsa.dev/provenance/v0.2";
pub const PT_SLSA_1: &str = "https://slsa.dev/provenance/v1";
pub const PT_OPENVEX: &str = "https://openvex.dev/ns/v0.2.0";
pub const PT_COSIGN_VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// purl percent-encoding for a path segment / qualifier value (RFC 3986 unreserved kept).
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:apk/<os id>/<name>@<version>?arch=..&distro=<id>-<version_id>` or `pkg:deb/...`.
pub fn purl(content: &InstalledContent, p: &Package) -> String {
    let id = content
        .os_release
        .get("ID")
        .map(String::as_str)
        .unwrap_or("unknown");
    let ver = content
        .os_release
        .get("VERSION_ID")
        .map(String::as_str)
        .unwrap_or("");
    let kind = match content.format {
        PackageDbFormat::Apk => "apk",
        PackageDbFormat::Dpkg => "deb",
    };
    let distro = if ver.is_empty() {
        id.to_owned()
    } else {
        format!("{id}-{ver}")
    };
    format!(
        "pkg:{kind}/{}/{}@{}?arch={}&distro={}",
        pct(id),
        pct(&p.name),
        pct(&p.version),
        pct(&p.arch),
        pct(&distro)
    )
}

fn uuid_from(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50; // version 5-style (name based)
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

// ---- CycloneDX 1.6 ------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycloneDx {
    pub bom_format: &'static str,
    pub spec_version: &'static str,
    pub serial_number: String,
    pub version: u32,
    pub metadata: CdxMetadata,
    pub components: Vec<CdxComponent>,
}
#[derive(Serialize)]
pub struct CdxMetadata {
    pub timestamp: String,
    pub tools: CdxTools,
    pub component: CdxComponent,
}
#[derive(Serialize)]
pub struct CdxTools {
    pub components: Vec<CdxComponent>,
}
#[derive(Serialize)]
pub struct CdxComponent {
    #[serde(rename = "type")]
    pub type_: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<CdxLicense>,
}
#[derive(Serialize)]
pub struct CdxLicense {
    pub expression: String,
}

pub fn cyclonedx(
    target: &Target,
    content: &InstalledContent,
    now: i64,
) -> Result<serde_json::Value> {
    let mut components: Vec<CdxComponent> = content
        .packages
        .iter()
        .map(|p| {
            let purl = purl(content, p);
            CdxComponent {
                type_: "library",
                bom_ref: Some(purl.clone()),
                name: p.name.clone(),
                version: Some(p.version.clone()),
                purl: Some(purl),
                licenses: vec![CdxLicense {
                    expression: p.license.clone(),
                }],
            }
        })
        .collect();
    if let Some(id) = content.os_release.get("ID") {
        components.push(CdxComponent {
            type_: "operating-system",
            bom_ref: Some(format!("os:{id}")),
            name: id.clone(),
            version: content.os_release.get("VERSION_ID").cloned(),
            purl: None,
            licenses: vec![],
        });
    }
    let bom = CycloneDx {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: format!(
            "urn:uuid:{}",
            uuid_from(format!("cdx/{}", target.digest()).as_bytes())
        ),
        version: 1,
        metadata: CdxMetadata {
            timestamp: rfc3339(now)?,
            tools: CdxTools {
                components: vec![CdxComponent {
                    type_: "application",
                    bom_ref: None,
                    name: "trustswap-lab".into(),
                    version: Some(env!("CARGO_PKG_VERSION").into()),
                    purl: None,
                    licenses: vec![],
                }],
            },
            component: CdxComponent {
                type_: "container",
                bom_ref: Some(format!("{}@{}", target.repository, target.digest())),
                name: target.repository.clone(),
                version: Some(target.digest().to_string()),
                purl: None,
                licenses: vec![],
            },
        },
        components,
    };
    serde_json::to_value(&bom).map_err(json_err("cyclonedx sbom"))
}

// ---- SPDX 2.3 -----------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spdx {
    pub spdx_version: &'static str,
    pub data_license: &'static str,
    #[serde(rename = "SPDXID")]
    pub spdx_id: &'static str,
    pub name: String,
    pub document_namespace: String,
    pub creation_info: SpdxCreationInfo,
    pub packages: Vec<SpdxPackage>,
    pub relationships: Vec<SpdxRelationship>,
}
#[derive(Serialize)]
pub struct SpdxCreationInfo {
    pub created: String,
    pub creators: Vec<String>,
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpdxPackage {
    pub name: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub version_info: String,
    pub download_location: &'static str,
    pub license_concluded: &'static str,
    pub license_declared: String,
    pub supplier: &'static str,
    pub external_refs: Vec<SpdxExternalRef>,
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpdxExternalRef {
    pub reference_category: &'static str,
    pub reference_type: &'static str,
    pub reference_locator: String,
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpdxRelationship {
    pub spdx_element_id: String,
    pub relationship_type: &'static str,
    pub related_spdx_element: String,
}

pub fn spdx(target: &Target, content: &InstalledContent, now: i64) -> Result<serde_json::Value> {
    let image_id = "SPDXRef-Image".to_owned();
    let mut packages = vec![SpdxPackage {
        name: target.repository.clone(),
        spdx_id: image_id.clone(),
        version_info: target.digest().to_string(),
        download_location: "NOASSERTION",
        license_concluded: "NOASSERTION",
        license_declared: "NOASSERTION".into(),
        supplier: "NOASSERTION",
        external_refs: vec![],
    }];
    let mut relationships = vec![SpdxRelationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: image_id.clone(),
    }];
    for (i, p) in content.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        packages.push(SpdxPackage {
            name: p.name.clone(),
            spdx_id: id.clone(),
            version_info: p.version.clone(),
            download_location: "NOASSERTION",
            license_concluded: "NOASSERTION",
            license_declared: p.license.clone(),
            supplier: "NOASSERTION",
            external_refs: vec![SpdxExternalRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: purl(content, p),
            }],
        });
        relationships.push(SpdxRelationship {
            spdx_element_id: image_id.clone(),
            relationship_type: "CONTAINS",
            related_spdx_element: id,
        });
    }
    let doc = Spdx {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: format!("{}@{}", target.repository, target.digest()),
        document_namespace: format!(
            "https://spdx.lab.trustswap.invalid/{}",
            uuid_from(format!("spdx/{}", target.digest()).as_bytes())
        ),
        creation_info: SpdxCreationInfo {
            created: rfc3339(now)?,
            creators: vec![format!("Tool: trustswap-lab-{}", env!("CARGO_PKG_VERSION"))],
        },
        packages,
        relationships,
    };
    serde_json::to_value(&doc).map_err(json_err("spdx sbom"))
}

// ---- provenance, VEX, vuln scan (shape-level, lab values) --------------------------------------

pub fn slsa_v02(builder_id: &str, repo_uri: &str, now: i64) -> Result<serde_json::Value> {
    Ok(json!({
        "builder": { "id": builder_id },
        "buildType": "https://mobyproject.org/buildkit@v1",
        "invocation": { "configSource": { "uri": repo_uri, "entryPoint": "Dockerfile" } },
        "metadata": { "buildStartedOn": rfc3339(now - 900)?, "buildFinishedOn": rfc3339(now - 700)?, "reproducible": false,
                      "completeness": { "parameters": true, "environment": true, "materials": false } },
        "materials": [],
    }))
}

pub fn slsa_v1(builder_id: &str, repo_uri: &str, now: i64) -> Result<serde_json::Value> {
    Ok(json!({
        "buildDefinition": {
            "buildType": "https://apko.dev/build/v1",
            "externalParameters": { "repository": repo_uri },
            "resolvedDependencies": [],
        },
        "runDetails": {
            "builder": { "id": builder_id },
            "metadata": { "startedOn": rfc3339(now - 900)?, "finishedOn": rfc3339(now - 700)? },
        },
    }))
}

pub fn openvex(target: &Target, author: &str, now: i64) -> Result<serde_json::Value> {
    Ok(json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": format!("https://vex.lab.trustswap.invalid/{}", target.digest().hex()),
        "author": author,
        "timestamp": rfc3339(now)?,
        "version": 1,
        "statements": [{
            "vulnerability": { "name": "CVE-2000-0000" },
            "products": [{ "@id": format!("{}@{}", target.repository, target.digest()) }],
            "status": "not_affected",
            "justification": "vulnerable_code_not_present",
        }],
    }))
}

pub fn cosign_vuln(now: i64) -> Result<serde_json::Value> {
    Ok(json!({
        "invocation": { "parameters": null, "uri": "", "event_id": "", "builder.id": "" },
        "scanner": { "uri": "pkg:github/aquasecurity/trivy@v0.0.0-lab", "version": "0.0.0-lab",
                     "db": { "uri": "", "version": "" }, "result": { "Results": [] } },
        "metadata": { "scanStartedOn": rfc3339(now - 60)?, "scanFinishedOn": rfc3339(now - 30)? },
    }))
}

/// Canonical JSON bytes of a predicate (for digests/comparisons).
pub fn to_bytes(v: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(json_err("predicate"))
}
