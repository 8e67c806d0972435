//! Policies: the engines trustswap renders for, the trust contract, the typed
//! Kyverno model, and rendered policy sets. No IO here except `PolicySet::load_dir`
//! and `PolicySet::write` at the edges.

pub use trustswap_model::kyverno;
pub mod render;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use kyverno::FailurePolicy;
use kyverno::cpol::FailureAction;

/// An admission engine (and policy dialect) trustswap renders for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Kyverno `policies.kyverno.io/v1` ImageValidatingPolicy (+ ValidatingPolicy).
    Ivpol,
    /// Kyverno `kyverno.io/v1` ClusterPolicy (deprecated upstream, widespread).
    Cpol,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::Ivpol, Engine::Cpol];

    pub fn id(self) -> &'static str {
        match self {
            Engine::Ivpol => "ivpol",
            Engine::Cpol => "cpol",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Engine::Ivpol => "Kyverno ImageValidatingPolicy (policies.kyverno.io/v1)",
            Engine::Cpol => "Kyverno ClusterPolicy (kyverno.io/v1)",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|e| e.id() == s)
            .ok_or_else(|| format!("unknown engine `{s}` (known: ivpol, cpol)"))
    }
}

/// The trust contract (`configs/policies/contract.yaml`): what every vendor's
/// images must satisfy, independent of the vendor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Contract {
    /// Prefix of every policy name.
    pub name: String,
    pub failure_action: FailureAction,
    pub failure_policy: FailurePolicy,
    pub webhook_timeout_seconds: i32,
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    pub require_signature: bool,
    pub require_sbom: bool,
    pub restrict_registries: bool,
    pub mutate_digest: bool,
    pub verify_digest: bool,
}

impl Contract {
    pub fn load(path: &Path) -> Result<Contract> {
        Contract::parse(path, &crate::yaml::read_to_string(path)?)
    }

    /// The contract built into the binary (`configs/policies/contract.yaml`
    /// as shipped).
    pub fn shipped() -> Result<Contract> {
        let f = &crate::shipped::CONTRACT[0];
        Contract::parse(Path::new(f.path), f.text)
    }

    /// A contract from its text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Contract> {
        let contract: Contract = crate::yaml::parse_str(path, text)?;
        if !(1..=30).contains(&contract.webhook_timeout_seconds) {
            return Err(Error::invalid(
                path,
                None,
                "webhookTimeoutSeconds",
                format!("{} is outside 1..=30", contract.webhook_timeout_seconds),
                "Kubernetes admission webhooks time out between 1 and 30 seconds",
            ));
        }
        if contract.name.is_empty()
            || !contract
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::invalid(
                path,
                None,
                "name",
                format!("`{}` cannot prefix a Kubernetes object name", contract.name),
                "use lowercase letters, digits and '-'",
            ));
        }
        Ok(contract)
    }
}

/// One Kubernetes object of a policy set, kept as generic JSON so that sets
/// written by hand (any repository, any fields) and rendered sets compare alike.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// Where it came from (a file path, or the rendered file name).
    pub origin: String,
    pub value: Value,
    /// Where its fields are written, for a document read from a file.
    #[serde(skip)]
    pub source: Option<std::sync::Arc<crate::yaml::SourceMap>>,
}

impl Document {
    fn field<'a>(&'a self, pointer: &str) -> &'a str {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn api_version(&self) -> &str {
        self.field("/apiVersion")
    }
    pub fn kind(&self) -> &str {
        self.field("/kind")
    }
    pub fn name(&self) -> &str {
        self.field("/metadata/name")
    }
    pub fn namespace(&self) -> &str {
        self.field("/metadata/namespace")
    }
    /// `Kind/name` (or `Kind/namespace/name`), how reports name a document.
    pub fn id(&self) -> String {
        if self.namespace().is_empty() {
            format!("{}/{}", self.kind(), self.name())
        } else {
            format!("{}/{}/{}", self.kind(), self.namespace(), self.name())
        }
    }
}

/// A set of policy documents: one vendor's rendering for one engine, or a
/// folder of hand-written YAML.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySet {
    /// The vendor name, or the path the set was read from.
    pub label: String,
    pub documents: Vec<Document>,
    /// For rendered sets: the YAML text per file name, exactly as written out.
    #[serde(skip)]
    pub files: Vec<(String, String)>,
}

impl PolicySet {
    /// Read every YAML document from a file or the `*.yaml`/`*.yml` files of a folder.
    pub fn load(path: &Path) -> Result<PolicySet> {
        let files = crate::yaml::yaml_files(path)?;
        if files.is_empty() {
            return Err(Error::Usage {
                message: format!("no YAML files in {}", path.display()),
                hint: "give a policy file or a folder holding *.yaml policy files".into(),
            });
        }
        let mut documents = Vec::new();
        for file in files {
            for (i, (value, source)) in crate::yaml::parse_documents_located(&file)?
                .into_iter()
                .enumerate()
            {
                if !value.is_object() || value.get("kind").and_then(Value::as_str).is_none() {
                    return Err(Error::invalid(
                        &file,
                        None,
                        format!("document {}", i + 1),
                        "not a Kubernetes object (no `kind`)",
                        "every document must be a Kubernetes object with apiVersion, kind and metadata.name",
                    ));
                }
                documents.push(Document {
                    origin: file.display().to_string(),
                    value,
                    source: Some(std::sync::Arc::new(source)),
                });
            }
        }
        if documents.is_empty() {
            // Two empty sets would "differ only in trust root": vacuously, and wrongly.
            return Err(Error::Usage {
                message: format!("{} holds no Kubernetes objects", path.display()),
                hint:
                    "give the policy files to compare (every document must be a Kubernetes object)"
                        .into(),
            });
        }
        Ok(PolicySet {
            label: path.display().to_string(),
            documents,
            files: Vec::new(),
        })
    }

    /// Write the rendered files under `dir` (atomically, one file per object).
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for (name, text) in &self.files {
            let path = dir.join(name);
            crate::yaml::write_atomic(&path, text.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}
