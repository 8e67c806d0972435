//! Image recipes: plain serde structs (`deny_unknown_fields`) so they can be
//! loaded from YAML or JSON.
//!
//! ```json
//! {
//!   "name": "static",
//!   "os_release": {"id": "wolfi", "name": "Wolfi", "version_id": "20230201"},
//!   "package_db": "apk",
//!   "packages": [{"name": "ca-certificates-bundle", "version": "20240226-r0",
//!                 "arch": "x86_64", "license": "MPL-2.0 AND MIT"}],
//!   "files": [{"path": "/etc/motd", "content": "hi\n", "mode": "0644"}]
//! }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything needed to build one deterministic image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Free-form image name; recorded as the `org.opencontainers.image.title`
    /// config label. The tag reference is chosen when storing the image.
    pub name: String,
    pub os_release: OsRelease,
    /// Which package database the image carries.
    pub package_db: PackageDbFormat,
    #[serde(default)]
    pub packages: Vec<Package>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Extra config labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Fields of `/etc/os-release`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsRelease {
    /// `ID`, e.g. `alpine`, `debian`, `wolfi`.
    pub id: String,
    /// `NAME`, e.g. `Alpine Linux`.
    pub name: String,
    /// `VERSION_ID`, e.g. `3.20.3`.
    pub version_id: String,
    #[serde(default)]
    pub pretty_name: Option<String>,
    #[serde(default)]
    pub id_like: Option<String>,
    #[serde(default)]
    pub version_codename: Option<String>,
    #[serde(default)]
    pub home_url: Option<String>,
    /// Any further `KEY=value` lines (keys `[A-Z0-9_]+`).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageDbFormat {
    /// Alpine/Wolfi: `/lib/apk/db/installed`.
    Apk,
    /// Debian/Ubuntu: `/var/lib/dpkg/status` plus
    /// `/usr/share/doc/<name>/copyright` for licenses.
    Dpkg,
}

/// One installed package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub license: String,
}

/// An extra regular file to put in the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Absolute path inside the image, e.g. `/etc/motd`.
    pub path: String,
    /// UTF-8 file content.
    pub content: String,
    /// Octal permission string such as `"0755"`; default `"0644"`.
    #[serde(default)]
    pub mode: Option<String>,
}
