//! The command line: clap parses raw arguments, `Inputs::load` turns them into
//! validated vendors and a contract before anything renders, and each command
//! maps its outcome to one exit code (see `exit`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::{self, CheckResult};
use crate::error::{Error, Result};
use crate::exit;
use crate::policy::render::{TrustOverrides, render};
use crate::policy::{Contract, Engine, PolicySet};
use crate::profile::keys::KeyResolver;
use crate::profile::{self, Identity, Vendor};
use crate::report::{self, Subject};

const EXIT_CODES: &str = "\
Exit codes:
  0  the claim holds (only trust root, image scope and evidence differ)
  1  the claim does not hold (a finding: a structural difference)
  2  usage or input error (bad flag, malformed YAML, unknown vendor, bad key)
  3  the harness could not decide (internal or environment failure)";

#[derive(Debug, Parser)]
#[command(
    name = "trustswap",
    version,
    about = "Check that swapping the hardened-image vendor changes only the trust root of your admission policies",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Folder of vendor profiles (*.yaml) [default: the shipped profiles,
    /// built in; `trustswap init` writes editable copies]
    #[arg(long, global = true, value_name = "DIR")]
    pub vendors: Option<PathBuf>,
    /// The trust contract every vendor's policies must implement
    /// [default: the shipped configs/policies/contract.yaml, built in]
    #[arg(long, global = true, value_name = "FILE")]
    pub contract: Option<PathBuf>,
    /// Folder holding published vendor keys, matched by their pinned sha256
    /// (also $TRUSTSWAP_KEY_CACHE and ~/.cache/trustswap/keys); repeatable
    #[arg(long = "key-cache", global = true, value_name = "DIR")]
    pub key_cache: Vec<PathBuf>,
    /// Largest input file read (profiles, policies, bundles, states...), e.g.
    /// 512MiB; FIFOs and devices are refused whatever the size
    #[arg(long, global = true, value_name = "SIZE", default_value = "256MiB", value_parser = crate::input::parse_size)]
    pub max_input_size: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job: build the lab supply chain, run the static substitution
    /// check, then every hypothesis for every engine x vendor on the embedded
    /// admission engine, and write the report
    Run(RunArgs),
    /// Generated cases (policy variants x admission requests over the lab's
    /// signatures) on a real backend's Kyverno and on the embedded engine:
    /// can the embedded engine stand in for that Kyverno? Writes fidelity.json
    /// and a reproducer folder per disagreement. Exit 0 every compared case
    /// agrees, 1 disagreements, 2 bad input, 3 undecided (skipped cases, an
    /// interrupted run)
    Fidelity(FidelityArgs),
    /// Admit Pods (and the pods of Deployments, StatefulSets, DaemonSets,
    /// ReplicaSets, Jobs and CronJobs) against any Kyverno policy set, on the
    /// embedded engine with real signatures from the lab or an OCI layout.
    /// Prints per resource, container, policy and rule: pass, fail, skip,
    /// with Kyverno's message. Exit 0 every resource admitted, 1 something
    /// denied, 2 bad input, 3 cannot decide (a field the engine does not model)
    Admit(AdmitArgs),
    /// Write editable copies of the shipped vendor profiles, trust contract
    /// and hypotheses (built into the binary) to DIR; point --vendors,
    /// --contract and --scenarios at them
    Init {
        /// Folder to write (written whole, then swapped in)
        #[arg(default_value = "trustswap-inputs", value_name = "DIR")]
        dir: PathBuf,
        /// Replace DIR even if it holds files trustswap did not write
        #[arg(long)]
        force: bool,
    },
    /// Render one vendor's policies for one engine as kubectl-apply-ready YAML
    Render {
        /// Vendor profile name (see configs/vendors)
        #[arg(long)]
        vendor: String,
        /// Engine: ivpol (ImageValidatingPolicy) or cpol (ClusterPolicy)
        #[arg(long)]
        engine: Engine,
        /// Output folder: written whole, then swapped in; it holds exactly the
        /// rendered set (an earlier render there is replaced)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace --out even if it holds files trustswap did not write
        #[arg(long)]
        force: bool,
    },
    /// Compare the rendered policy sets of the vendors, per engine
    Check(CheckArgs),
    /// The lab supply chain: a lab Sigstore and vendor-shaped fixtures
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Verify an image's signature (and attestations with --type) the way
    /// cosign and Kyverno do, from the lab layout, an OCI layout or a registry.
    /// Exit 0 verified, 1 refused, 2 bad input, 3 a shape trustswap cannot check
    Verify(VerifyArgs),
    /// Verify one cosign image signature from its parts (payload, signature,
    /// certificate, Rekor bundle: what `cosign verify` prints) for the image
    /// digest it signs, through the same checks as `verify`. Exit 0
    /// verified, 1 refused, 2 bad input, 3 undecided
    VerifySignature(VerifySignatureArgs),
    /// Enforcement audits of a running state
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Verify a Sigstore bundle for an artifact (file or sha256:HEX), the
    /// command form the Sigstore conformance suite drives: certificate or
    /// public-key bundles, Rekor v1 or v2 entries, RFC 3161 timestamps. Exit 0
    /// verified, 1 refused, 2 bad input, 3 a bundle shape trustswap cannot check
    VerifyBundle {
        /// The bundle (`*.sigstore.json`)
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// Expected certificate identity (SAN: URI or email), exact
        #[arg(long, requires = "certificate_oidc_issuer", conflicts_with = "key")]
        certificate_identity: Option<String>,
        /// Expected OIDC issuer of the certificate
        #[arg(long, requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
        /// Verify with this public key instead of a certificate identity
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Sigstore trusted_root.json (Fulcio CAs, Rekor and CT log keys)
        #[arg(long, value_name = "FILE")]
        trusted_root: PathBuf,
        /// The artifact: a file, or its digest as sha256:HEX
        artifact: String,
    },
    /// Rewrite a hand-written policy set for another vendor with the two
    /// profiles (identity matchers, keys and their Rekor/CT settings, image
    /// references, signature repository, SBOM type; the rest kept as written),
    /// then compare input and output by class. Exit 0 only trust root, image
    /// scope and evidence changed; 1 a finding (what cannot be swapped without
    /// a structural change, with the vendor-neutral alternative); 2 bad input
    Swap {
        /// The vendor the set is written for
        #[arg(long, value_name = "VENDOR")]
        from: String,
        /// The vendor to swap to
        #[arg(long, value_name = "VENDOR")]
        to: String,
        /// Policy files or folders
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Folder for the swapped set (same file names)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace --out even if it holds files trustswap did not write
        #[arg(long)]
        force: bool,
        /// Terminal output: a readable table, or the result JSON
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Compare two policy sets written by hand (files or folders of YAML)
    Diff {
        /// The baseline set
        left: PathBuf,
        /// The set compared with it
        right: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    /// Seed of the lab supply chain (same seed, same digests and report)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where admission happens
    #[arg(long, value_enum, default_value_t = BackendKind::Embedded)]
    pub backend: BackendKind,
    /// Folder of hypothesis files [default: the shipped scenarios, built in]
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Run only these scenario ids (repeatable)
    #[arg(long = "scenario", value_name = "ID")]
    pub only: Vec<String>,
    /// A vendor's hand-written policy set (file or folder) in place of the
    /// policies rendered from the contract (repeatable, one per vendor; the
    /// run's vendors are then exactly these). Trust material naming the
    /// vendor's real signer is re-pointed at the lab, every edit listed and
    /// proved trust-root class; identity matchers are never rewritten
    #[arg(long = "policies", value_name = "VENDOR=PATH", value_parser = crate::experiment::own::parse_arg)]
    pub policies: Vec<(String, PathBuf)>,
    /// Lab folder (rebuilt from --seed for every run)
    #[arg(long, default_value = ".trustswap/lab", value_name = "DIR")]
    pub lab: PathBuf,
    /// Where real Kyverno runs (--backend local, kind, cluster)
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Also run the embedded engine on the same inputs and report every
    /// decision where it and the cluster disagree (a disagreement exits 1)
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub compare: Option<CompareWith>,
    /// With --compare: disagreements explained by Kyverno's source (YAML list
    /// of scenario, engine, vendor, step, embedded, kyverno, source, why);
    /// they do not fail the run, and an entry no longer seen does
    #[arg(long, value_name = "FILE", requires = "compare")]
    pub known_disagreements: Option<PathBuf>,
    /// What the exit code answers: `hypotheses` (0 when every hypothesis
    /// holds and, with --compare, the engines agree) or `agreement` (with
    /// --compare: 0 when the embedded engine agrees with the cluster, known
    /// disagreements aside, whatever the hypotheses found; the fidelity gate)
    #[arg(long, value_enum, default_value = "hypotheses", value_name = "CLAIM")]
    pub claim: Claim,
}

#[derive(Debug, Args)]
pub struct AdmitArgs {
    /// Policy files or folders of *.yaml (repeatable; documents that are not
    /// Kyverno objects are skipped and listed)
    #[arg(long = "policies", value_name = "PATH", required = true)]
    pub policies: Vec<PathBuf>,
    /// Pod or workload manifests (multi-document YAML)
    #[arg(value_name = "MANIFEST", required = true)]
    pub manifests: Vec<PathBuf>,
    /// Namespace of manifests (and PolicyExceptions) that name none
    #[arg(long, default_value = "default", value_name = "NS")]
    pub namespace: String,
    /// Signatures from the lab (built from --seed when the folder holds no
    /// lab, another seed's, or one without a profile's fixtures); its trusted
    /// root stands in for Sigstore's public-good one
    #[arg(long, default_value = ".trustswap/lab", value_name = "DIR")]
    pub lab: PathBuf,
    /// Seed of the lab when it must be built
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Signatures from this OCI image layout instead of the lab, on the
    /// system clock
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
    /// With --layout: what a policy that names no trust material trusts
    /// (default: nothing)
    #[arg(long, value_name = "FILE", requires = "layout")]
    pub trusted_root: Option<PathBuf>,
    /// Compile a Kyverno field the engine does not model as if it were
    /// absent, and list it (the decision may then differ from Kyverno's)
    #[arg(long)]
    pub allow_unmodelled: bool,
    /// Model a Kyverno started with --enablePolicyException=true and
    /// --exceptionNamespace=NAMESPACE (`*`, the default value: every
    /// namespace). Without it PolicyExceptions are ignored, as Kyverno's
    /// binary and Helm chart default, and listed
    #[arg(long, value_name = "NAMESPACE", num_args = 0..=1, require_equals = true, default_missing_value = "*")]
    pub enable_policy_exceptions: Option<String>,
    /// Terminal output: a readable table, or admit.json
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write admit.json to this folder (written whole, then swapped in)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace --out even if it holds files trustswap did not write
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Where admission is decided: the embedded engine, or real Kyverno on a
    /// local control plane or a kind cluster (the lab is rebuilt and served
    /// to it; the embedded engine decides the same requests and every
    /// difference is reported)
    #[arg(long, value_enum, default_value_t = BackendKind::Embedded)]
    pub backend: BackendKind,
    /// Where real Kyverno runs (--backend local, kind)
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Args)]
pub struct FidelityArgs {
    /// Where real Kyverno runs: local, kind or cluster
    #[arg(long, value_enum, default_value_t = BackendKind::Local)]
    pub backend: BackendKind,
    /// Cases to generate at least (one case: one admission request on one
    /// engine for one vendor)
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cases: u32,
    /// Seed of the corpus and of the lab (same seed, same cases and report)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Lab folder (rebuilt from --seed)
    #[arg(long, default_value = ".trustswap/lab", value_name = "DIR")]
    pub lab: PathBuf,
    /// Report folder (fidelity.json, reproducers/) [default: reports/fidelity-<seed>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace --out even if it holds files trustswap did not write
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The flags of the real backends, shared by `run` and `fidelity`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// kubeconfig context for --backend cluster (default: the current one)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// --backend cluster: the registry trustswap pushes the lab fixtures to
    /// (anonymous push; plain http only on loopback)
    #[arg(long, value_name = "HOST[:PORT]")]
    pub registry: Option<String>,
    /// --backend cluster: the same registry as the cluster's nodes and
    /// Kyverno reach it (default: --registry)
    #[arg(long, value_name = "HOST[:PORT]", requires = "registry")]
    pub registry_in_cluster: Option<String>,
    /// --backend cluster: where Kyverno reaches the lab's TUF repository
    /// (serve `<lab>/tuf` there, e.g. `http://tuf.lab.svc:8080`); without it
    /// keyless ImageValidatingPolicies cannot fetch the lab's trust root
    #[arg(long, value_name = "URL", requires = "registry")]
    pub tuf_mirror: Option<String>,
    /// --backend kind or local: keep the cluster after the run (default: deleted)
    #[arg(long)]
    pub keep: bool,
    /// --backend local: the folder of the oracle binaries (`oracle/build`
    /// prints it; also $TRUSTSWAP_ORACLE)
    #[arg(long, value_name = "DIR")]
    pub oracle: Option<PathBuf>,
    /// Registry timeouts of --backend kind or cluster (the fixture push)
    #[command(flatten)]
    pub net: crate::lab_cli::NetArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Claim {
    /// Every hypothesis holds (and, with --compare, the engines agree)
    Hypotheses,
    /// The embedded engine agrees with the cluster (needs --compare)
    Agreement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareWith {
    /// The in-process engine
    Embedded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The in-process Kyverno engine with real signatures from the lab
    Embedded,
    /// A kind cluster with real Kyverno (needs Docker and the kind CLI)
    Kind,
    /// An existing cluster that runs Kyverno (--context NAME)
    Cluster,
    /// A real kube-apiserver and Kyverno started as local processes (no
    /// Docker; binaries from `oracle/build`)
    Local,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Classify every running container against the last-known-good manifest
    /// of signed digests (compliant, drifted, unsigned, untrusted-identity,
    /// signer-revoked, no-sbom, bypassed-admission, exception-expired, unknown).
    /// Exit 0 compliant, 1 findings, 2 bad input
    Drift {
        /// YAML or JSON: state, manifest, revocations, exceptions, trustPolicy
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// The audit time (RFC 3339; default: now)
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Show compliant containers too
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Create the lab Sigstore (CA, CT log, Rekor, keys) and every vendor
    /// fixture and adversarial variant, deterministically for --seed
    Init {
        /// Lab folder (replaced atomically); `--dir` is the old spelling
        #[arg(
            long = "lab",
            alias = "dir",
            default_value = ".trustswap/lab",
            value_name = "DIR"
        )]
        dir: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Push the lab's layout (images, signatures, attestations, bundles) to a registry
    Push {
        /// Lab folder; `--dir` is the old spelling
        #[arg(
            long = "lab",
            alias = "dir",
            default_value = ".trustswap/lab",
            value_name = "DIR"
        )]
        dir: PathBuf,
        /// host:port (plain HTTP on loopback only)
        #[arg(long, value_name = "HOST")]
        registry: String,
        #[command(flatten)]
        net: crate::lab_cli::NetArgs,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Image reference, e.g. cgr.dev/chainguard/static:latest or repo@sha256:...
    pub image: String,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Where signatures live (cosign COSIGN_REPOSITORY, Kyverno `repository`)
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,
    /// Also verify an attestation of this predicate type (repeatable)
    #[arg(long = "type", value_name = "PREDICATE")]
    pub types: Vec<String>,
    /// Sigstore trusted_root.json (default: $TRUSTSWAP_TRUSTED_ROOT; the lab's
    /// only when verifying lab material)
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Read from this OCI image layout (default: the lab's)
    #[arg(long, value_name = "DIR", conflicts_with = "registry")]
    pub layout: Option<PathBuf>,
    /// Read from this registry (host:port)
    #[arg(long, value_name = "HOST")]
    pub registry: Option<String>,
    /// Verify lab material: the lab's keys, trusted root and clock (the
    /// default without --layout/--registry is .trustswap/lab)
    #[arg(long, value_name = "DIR")]
    pub lab: Option<PathBuf>,
    /// Timeouts of --registry
    #[command(flatten)]
    pub net: crate::lab_cli::NetArgs,
}

/// Who must have signed, as `verify` and `verify-signature` read it.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Use a vendor profile's trust root and signature repository
    #[arg(long, value_name = "NAME")]
    pub vendor: Option<String>,
    /// Public key (PEM) the signature must verify with
    #[arg(long, value_name = "FILE", conflicts_with = "vendor")]
    pub key: Option<PathBuf>,
    /// Expected certificate identity, exact (as cosign and `verify-bundle` read it; a SAN: URI or email)
    #[arg(long, conflicts_with_all = ["vendor", "key"])]
    pub certificate_identity: Option<String>,
    /// Expected certificate identity as a regular expression
    #[arg(long, conflicts_with_all = ["vendor", "key", "certificate_identity"])]
    pub certificate_identity_regexp: Option<String>,
    /// Expected OIDC issuer, exact (as cosign reads it)
    #[arg(long, conflicts_with_all = ["vendor", "key"])]
    pub certificate_oidc_issuer: Option<String>,
    /// Expected OIDC issuer as a regular expression
    #[arg(long, conflicts_with_all = ["vendor", "key", "certificate_oidc_issuer"])]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Accept a key signature without a transparency-log entry
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// Accept a certificate without an embedded SCT
    #[arg(long)]
    pub insecure_ignore_sct: bool,
}

/// One cosign image signature taken apart: the files `cosign verify` prints
/// or a legacy `.sig` layer holds.
#[derive(Debug, Args)]
pub struct VerifySignatureArgs {
    /// The image digest the signature must sign (sha256:HEX)
    pub digest: String,
    /// The signed payload (cosign simple signing JSON), its exact bytes
    #[arg(long, value_name = "FILE")]
    pub payload: PathBuf,
    /// The signature, base64 (the layer's dev.cosignproject.cosign/signature)
    #[arg(long, value_name = "FILE")]
    pub signature: PathBuf,
    /// The signing certificate, PEM (keyless signatures)
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// The certificate's chain, PEM
    #[arg(long, value_name = "FILE")]
    pub certificate_chain: Option<PathBuf>,
    /// The Rekor bundle: cosign's dev.sigstore.cosign/bundle JSON
    /// ({"SignedEntryTimestamp", "Payload"})
    #[arg(long, value_name = "FILE")]
    pub rekor_bundle: Option<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Sigstore trusted_root.json (default: $TRUSTSWAP_TRUSTED_ROOT)
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Vendors to compare (repeatable; default: every profile)
    #[arg(long = "vendor", value_name = "NAME")]
    pub vendor_names: Vec<String>,
    /// Engines to render for (repeatable; default: ivpol and cpol)
    #[arg(long = "engine", value_name = "ENGINE")]
    pub engines: Vec<Engine>,
    /// Vendor every other one is compared with (default: the first)
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Terminal output: a readable table, or the result JSON
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Report folder (default: <reports-dir>/<UTC time>-<id>)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where report folders are created when --out is not given
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub reports_dir: PathBuf,
    /// Do not write a report folder
    #[arg(long, conflicts_with_all = ["out", "force"])]
    pub no_report: bool,
    /// Replace --out even if it holds files trustswap did not write
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Validated inputs shared by the commands.
pub struct Inputs {
    pub contract: Contract,
    pub vendors: Vec<Vendor>,
    pub keys: KeyResolver,
}

impl InputArgs {
    pub fn load(&self) -> Result<Inputs> {
        let keys = KeyResolver::with_defaults(self.key_cache.clone());
        let contract = match &self.contract {
            Some(path) => Contract::load(path)?,
            None => Contract::shipped()?,
        };
        let vendors = match &self.vendors {
            Some(dir) => profile::load_dir(dir, &keys)?,
            None => profile::load_shipped(&keys)?,
        };
        Ok(Inputs {
            contract,
            vendors,
            keys,
        })
    }
}

impl Inputs {
    /// Warnings for keys known only by fingerprint: such policies are not apply-ready.
    pub fn key_warnings(&self, vendors: &[Vendor]) -> Vec<String> {
        vendors
            .iter()
            .filter_map(|v| match &v.identity {
                Identity::Key(k) => k.unresolved(&self.keys.cache_dirs).map(|(msg, hint)| {
                    format!("{}: {msg}; its rendered policies hold a placeholder and are not apply-ready (hint: {hint})", v.name)
                }),
                Identity::Keyless { .. } => None,
            })
            .collect()
    }
}

pub fn main() -> u8 {
    let cli = Cli::parse();
    match execute(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", err.render());
            err.exit_code()
        }
    }
}

pub fn execute(cli: &Cli) -> Result<u8> {
    crate::input::set_max_bytes(cli.inputs.max_input_size);
    match &cli.command {
        Command::Render {
            vendor,
            engine,
            out,
            force,
        } => {
            let inputs = cli.inputs.load()?;
            let vendor =
                profile::select(inputs.vendors.clone(), std::slice::from_ref(vendor))?.remove(0);
            if let Identity::Key(k) = &vendor.identity
                && let Some((message, hint)) = k.unresolved(&inputs.keys.cache_dirs)
            {
                return Err(Error::invalid(
                    &vendor.source,
                    None,
                    "trustRoot.key.url",
                    message,
                    hint,
                ));
            }
            let set = render(&inputs.contract, &vendor, *engine)?;
            let written = crate::owned::Owner::output().replace_with(out, *force, |tmp| {
                set.write(tmp).map(|files| {
                    files
                        .iter()
                        .filter_map(|f| f.strip_prefix(tmp).ok().map(|r| out.join(r)))
                        .collect::<Vec<_>>()
                })
            })?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(exit::HOLDS)
        }
        Command::Run(args) => run(&cli.inputs, args),
        Command::Fidelity(args) => fidelity(&cli.inputs, args),
        Command::Admit(args) => admit(&cli.inputs, args),
        Command::Init { dir, force } => {
            let written = crate::shipped::init(dir, *force)?;
            let d = display(dir);
            println!(
                "wrote {} files to {d}; use them with
  trustswap run --vendors {d}/configs/vendors --contract {d}/configs/policies/contract.yaml --scenarios {d}/scenarios",
                written.len()
            );
            Ok(exit::HOLDS)
        }
        Command::Check(args) => {
            let inputs = cli.inputs.load()?;
            let vendors = profile::select(inputs.vendors.clone(), &args.vendor_names)?;
            let engines = if args.engines.is_empty() {
                Engine::ALL.to_vec()
            } else {
                dedup(&args.engines)
            };
            let result: CheckResult = check::check(
                &inputs.contract,
                &vendors,
                &engines,
                args.baseline.as_deref(),
                &TrustOverrides::default(),
            )?;
            let warnings = inputs.key_warnings(&vendors);
            let code = if result.verdict.holds() {
                exit::HOLDS
            } else {
                exit::FINDING
            };
            emit(
                &Subject::Check { result: &result },
                code,
                &warnings,
                &args.output,
            )?;
            Ok(code)
        }
        Command::Lab {
            command: LabCommand::Init { dir, seed },
        } => {
            if cli.inputs.contract.is_some() {
                return Err(Error::Usage {
                    message: "--contract does not apply to `lab init`: the lab signs images, it renders no policy".into(),
                    hint: "drop the flag; --vendors DIR chooses the vendors the lab signs for".into(),
                });
            }
            let vendors = crate::profile::lab::lab_vendors(&cli.inputs.load()?.vendors)?;
            let (catalogue, _lock) = crate::lab_cli::init(dir, *seed, &vendors)?;
            println!(
                "lab: {} fixtures ({} not applicable) in {}; trusted root {}; SCTs embedded and required: {}",
                catalogue.fixtures.len(),
                catalogue.not_applicable.len(),
                crate::lab_cli::layout_dir(dir).display(),
                dir.join("trusted_root.json").display(),
                catalogue.trust.sct
            );
            Ok(exit::HOLDS)
        }
        Command::Lab {
            command: LabCommand::Push { dir, registry, net },
        } => {
            println!("{}", crate::lab_cli::push(dir, registry, net.timeouts())?);
            Ok(exit::HOLDS)
        }
        Command::Verify(args) => verify_image(&cli.inputs, args),
        Command::VerifySignature(args) => verify_signature(&cli.inputs, args),
        Command::Audit {
            command:
                AuditCommand::Drift {
                    input,
                    now,
                    all,
                    format,
                },
        } => audit_drift(input, now.as_deref(), *all, *format),
        Command::VerifyBundle {
            bundle,
            certificate_identity,
            certificate_oidc_issuer,
            key,
            trusted_root,
            artifact,
        } => verify_bundle(
            bundle,
            certificate_identity.as_deref(),
            certificate_oidc_issuer.as_deref(),
            key.as_deref(),
            trusted_root,
            artifact,
        ),
        Command::Swap {
            from,
            to,
            paths,
            out,
            force,
            format,
        } => swap(&cli.inputs, from, to, paths, out, *force, *format),
        Command::Diff {
            left,
            right,
            output,
        } => {
            let (l, r) = (PolicySet::load(left)?, PolicySet::load(right)?);
            let comparison = check::diff_paths(&l, &r);
            let verdict = comparison.verdict;
            let code = if verdict.holds() {
                exit::HOLDS
            } else {
                exit::FINDING
            };
            emit(
                &Subject::Diff {
                    verdict,
                    comparison: &comparison,
                },
                code,
                &[],
                output,
            )?;
            Ok(code)
        }
    }
}

fn admit(inputs: &InputArgs, args: &AdmitArgs) -> Result<u8> {
    use crate::admit;
    if args.backend == BackendKind::Cluster {
        return Err(Error::Usage {
            message: "admit --backend cluster would create namespaces under your manifests' names in a shared cluster".into(),
            hint: "use --backend local (no Docker) or kind, which trustswap creates for the run".into(),
        });
    }
    if args.backend == BackendKind::Kind && args.enable_policy_exceptions.is_some() {
        return Err(Error::Usage {
            message: "--enable-policy-exceptions models Kyverno's flags, which trustswap sets on the local backend only: kind's Kyverno runs its chart's defaults (exceptions off)".into(),
            hint: "use --backend local, or drop the flag".into(),
        });
    }
    if args.backend != BackendKind::Embedded && args.layout.is_some() {
        return Err(Error::Usage {
            message: "--layout applies to the embedded backend: a real cluster is served the lab"
                .into(),
            hint: "drop --layout, or --backend".into(),
        });
    }
    backend_flags(args.backend, &args.cluster)?;
    let policies = admit::read_policies(&args.policies, &args.namespace)?;
    let resources = admit::read_resources(&args.manifests, &args.namespace)?;
    let exceptions = match &args.enable_policy_exceptions {
        Some(namespace) => crate::admission::ExceptionSettings {
            enabled: true,
            namespace: namespace.clone(),
        },
        None => crate::admission::ExceptionSettings::default(),
    };
    if args.backend != BackendKind::Embedded {
        return admit_on_cluster(inputs, args, &policies, &resources, &exceptions);
    }
    // Held until the decisions are made: no other trustswap replaces the lab meanwhile.
    let _lab_lock;
    let (evidence, source, now) = match &args.layout {
        Some(dir) => admit::layout_evidence(dir, args.trusted_root.as_deref())?,
        None => {
            let vendors = inputs.load()?.vendors;
            _lab_lock = if lab_covers(&args.lab, args.seed, &vendors) {
                crate::supply::lab::folder::lock(
                    &args.lab,
                    crate::supply::lab::folder::Access::Shared,
                )?
            } else {
                eprintln!(
                    "lab: building {} from seed {}",
                    display(&args.lab),
                    args.seed
                );
                let vendors = crate::profile::lab::lab_vendors(&vendors)?;
                crate::lab_cli::init(&args.lab, args.seed, &vendors)?.1
            };
            admit::lab_evidence(&args.lab)?
        }
    };
    let report = admit::admit(
        &policies,
        &resources,
        evidence,
        source,
        now,
        args.allow_unmodelled,
        exceptions,
    )?;
    print_admit(args, &report)
}

/// Whether the lab in `dir` was built from `seed` and has fixtures for every
/// vendor profile (a lab `run --vendor X` built holds only X's, one built
/// from another seed other digests; `admit` then rebuilds it).
fn lab_covers(dir: &Path, seed: u64, vendors: &[crate::profile::Vendor]) -> bool {
    let Ok(text) = crate::input::read_to_string(&dir.join("catalogue.json")) else {
        return false;
    };
    let Ok(catalogue) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let has = |name: &str| {
        catalogue["fixtures"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["vendor"] == name))
    };
    catalogue["config"]["seed"] == seed && vendors.iter().all(|v| has(&v.name))
}

/// `admit --backend local|kind`: the lab rebuilt and served to a cluster
/// trustswap creates, the embedded engine's decisions, then Kyverno's on
/// the same requests, compared.
fn admit_on_cluster(
    inputs: &InputArgs,
    args: &AdmitArgs,
    policies: &crate::admit::Policies,
    resources: &[crate::admit::Resource],
    exceptions: &crate::admission::ExceptionSettings,
) -> Result<u8> {
    use crate::experiment::real;
    crate::owned::Owner::lab(args.seed).check_replaceable(&args.lab, false)?;
    if let Some(out) = &args.out {
        crate::owned::Owner::output().check_replaceable(out, args.force)?;
    }
    let target = real_target(args.backend, &args.cluster, &args.lab)?;
    let settings = real::settings();
    let existing = real::precheck(&target, &settings)?;
    let vendors = inputs.load()?.vendors;
    let mut lab = crate::experiment::lab::LabContext::build(&args.lab, args.seed, &vendors)?;
    let (evidence, source, now) = crate::admit::lab_evidence(&args.lab)?;
    let embedded = crate::admit::admit(
        policies,
        resources,
        evidence,
        source,
        now,
        args.allow_unmodelled,
        exceptions.clone(),
    )?;
    let cancel = crate::interrupt::CancelToken::default();
    let mut session = real::Session::open(
        &target,
        existing,
        settings,
        &mut lab,
        exceptions,
        &cancel,
        args.cluster.net.timeouts(),
    )?;
    crate::interrupt::install(
        format!(
            "everything labelled {} (kubectl delete ns,clusterpolicies,imagevalidatingpolicies,validatingpolicies,policyexceptions -A -l {})",
            session.backend.selector(),
            session.backend.selector()
        ),
        &cancel,
    );
    let globs: Vec<String> = vendors.iter().flat_map(|v| v.images.clone()).collect();
    let name = session.name;
    let decided = crate::admit::on_cluster(
        &mut session.backend,
        name,
        policies,
        resources,
        &lab.trust,
        &globs,
        embedded,
    );
    let closed = session.close(cancel.is_cancelled());
    let mut report = decided?;
    if let Some(c) = report.cluster.as_mut() {
        c.cluster = closed.cluster;
    }
    print_admit(args, &report)
}

fn print_admit(args: &AdmitArgs, report: &crate::admit::AdmitReport) -> Result<u8> {
    let json = report::pretty(report)?;
    if let Some(out) = &args.out {
        crate::owned::Owner::output().replace_with(out, args.force, |tmp| {
            crate::yaml::write_atomic(&tmp.join("admit.json"), json.as_bytes())
        })?;
    }
    let text = match args.format {
        Format::Json => json,
        Format::Table => report::terminal::admit(report),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(report.exit_code)
}

fn dedup(engines: &[Engine]) -> Vec<Engine> {
    let mut out: Vec<Engine> = Vec::new();
    for e in engines {
        if !out.contains(e) {
            out.push(*e);
        }
    }
    out
}

/// Write the report folder, then print to the terminal: a report that cannot be
/// written leaves no verdict behind, on disk or on the terminal.
fn emit(subject: &Subject<'_>, code: u8, warnings: &[String], output: &OutputArgs) -> Result<()> {
    let result = report::result_json(subject, code, warnings)?;
    let dir = if output.no_report {
        None
    } else {
        let dir = report::folder(output.out.as_deref(), &output.reports_dir, &result);
        crate::owned::Owner::output().replace_with(&dir, output.force, |tmp| {
            report::write(tmp, subject, code, warnings)
        })?;
        Some(dir)
    };
    let mut stdout = std::io::stdout().lock();
    let text = match output.format {
        Format::Json => report::pretty(&result)?,
        Format::Table => report::terminal::render(subject, warnings),
    };
    // A closed pipe (`| head`) is not an error worth a non-zero exit.
    let _ = stdout.write_all(text.as_bytes());
    if let Some(dir) = dir {
        if output.format == Format::Table {
            let _ = writeln!(stdout, "report: {}", display(&dir));
        } else {
            eprintln!("report: {}", display(&dir));
        }
    }
    Ok(())
}

fn swap(
    inputs: &InputArgs,
    from: &str,
    to: &str,
    paths: &[PathBuf],
    out: &Path,
    force: bool,
    format: Format,
) -> Result<u8> {
    crate::owned::Owner::output().check_replaceable(out, force)?;
    let loaded = inputs.load()?;
    let pick = |name: &str| {
        loaded
            .vendors
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| Error::UnknownVendor {
                name: name.to_owned(),
                known: loaded.vendors.iter().map(|v| v.name.clone()).collect(),
            })
    };
    let swapped = crate::swap::swap(pick(from)?, pick(to)?, paths)?;
    // Written whole, or not at all, before anything is printed.
    crate::owned::Owner::output().replace_with(out, force, |tmp| {
        for (rel, yaml) in &swapped.files {
            crate::yaml::write_atomic(&tmp.join(rel), yaml.as_bytes())?;
        }
        Ok(())
    })?;
    let holds = swapped.findings.is_empty() && swapped.comparison.verdict.holds();
    let code = if holds { exit::HOLDS } else { exit::FINDING };
    let verdict = swapped.comparison.verdict;
    let mut warnings: Vec<String> = swapped.findings.clone();
    warnings.extend(swapped.notes.iter().map(|n| format!("not kept: {n}")));
    let subject = Subject::Diff {
        verdict,
        comparison: &swapped.comparison,
    };
    let text = match format {
        Format::Json => report::pretty(&report::result_json(&subject, code, &warnings)?)?,
        Format::Table => report::terminal::render(&subject, &warnings),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = writeln!(
        stdout,
        "swapped {} file(s) from `{from}` to `{to}` into {}; {} finding(s){}",
        swapped.files.len(),
        display(out),
        swapped.findings.len(),
        if swapped.findings.is_empty() {
            ""
        } else {
            ": not a configuration edit alone (see the warnings above)"
        }
    );
    Ok(code)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn verify_bundle(
    bundle: &Path,
    identity: Option<&str>,
    issuer: Option<&str>,
    key: Option<&Path>,
    trusted_root: &Path,
    artifact: &str,
) -> Result<u8> {
    use crate::verify::bundles::BundleVerifier;
    use crate::verify::certs::IdentityPolicy;
    use crate::verify::keys::PublicKey;
    use crate::verify::refusal::RefusalKind;
    use crate::verify::trust::TrustMaterial;
    use sigstore::bundle::verify::ArtifactDigest;

    let digest: [u8; 32] = match artifact.strip_prefix("sha256:") {
        Some(hex_digest) => hex::decode(hex_digest)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| Error::Usage {
                message: format!("`{artifact}` is not a sha256 digest"),
                hint: "give sha256: followed by 64 hex digits, or a file".into(),
            })?,
        None => crate::input::sha256_file(Path::new(artifact))?,
    };
    let json = crate::input::read(bundle)?;
    let bad_root = |r: crate::verify::refusal::Refusal| {
        Error::invalid(
            trusted_root,
            None,
            "trusted_root.json",
            r.reason,
            "give a Sigstore trusted_root.json (TrustedRoot v0.1)",
        )
    };
    let trust = TrustMaterial::from_file(trusted_root).map_err(bad_root)?;
    enum Expected {
        Identity(IdentityPolicy),
        Key(PublicKey),
    }
    let expected = match (key, identity, issuer) {
        (Some(path), _, _) => {
            let pem = crate::input::read(path)?;
            Expected::Key(PublicKey::from_pem(&pem).map_err(|r| {
                Error::invalid(
                    path,
                    None,
                    "key",
                    r.reason,
                    "give the signer's public key as a PEM `PUBLIC KEY` block",
                )
            })?)
        }
        (None, Some(identity), Some(issuer)) => Expected::Identity(IdentityPolicy {
            identity: identity.to_owned(),
            issuer: Some(issuer.to_owned()),
        }),
        _ => {
            return Err(Error::Usage {
                message: "no verification policy".into(),
                hint: "pass --certificate-identity and --certificate-oidc-issuer, or --key".into(),
            });
        }
    };
    let now = chrono::Utc::now().timestamp();
    println!(
        "trust root: {} (given with --trusted-root)",
        trusted_root.display()
    );
    println!(
        "clock: {} (the system clock)",
        crate::report::experiment::rfc3339(now)
    );
    let verifier = BundleVerifier::new(trust, now).map_err(bad_root)?;
    let digest = ArtifactDigest::Sha256(digest);
    let outcome = BundleVerifier::parse(&json).and_then(|b| match &expected {
        Expected::Identity(policy) => verifier.verify_strict(b, digest, policy),
        Expected::Key(k) => verifier.verify_with_key(b, digest, k),
    });
    match outcome {
        Ok(()) => {
            let signer = match (&expected, key) {
                (Expected::Identity(p), _) => {
                    format!(
                        "{} ({})",
                        p.identity,
                        p.issuer.as_deref().unwrap_or_default()
                    )
                }
                (Expected::Key(_), Some(path)) => format!("the key {}", path.display()),
                (Expected::Key(_), None) => "the key".to_owned(),
            };
            println!("verified: {} signed by {signer}", bundle.display());
            Ok(exit::HOLDS)
        }
        Err(refusal) if refusal.kind == RefusalKind::Malformed => Err(Error::invalid(
            bundle,
            None,
            refusal.stage,
            refusal.reason,
            "give a Sigstore bundle: JSON whose mediaType is application/vnd.dev.sigstore.bundle.v0.3+json or application/vnd.dev.sigstore.bundle+json;version=0.1 to 0.3",
        )),
        Err(refusal) => {
            if refusal.kind.undecided() {
                println!("undecided: {refusal}");
            } else {
                println!("{refusal}");
            }
            Ok(refusal.kind.exit_code())
        }
    }
}

/// The signer policy the flags name: a vendor profile, a key, or a
/// certificate identity and issuer (cosign's flags); with the vendor's
/// signature repository.
fn signer_policy(
    inputs: &InputArgs,
    p: &PolicyArgs,
    lab: Option<&Path>,
) -> Result<(crate::verify::image::SignerPolicy, Option<String>)> {
    use crate::verify::identity::{IdentityRule, Pattern};
    use crate::verify::image::SignerPolicy;

    let (mut policy, repository) = if let Some(name) = &p.vendor {
        let loaded = inputs.load()?;
        let vendor = profile::select(loaded.vendors, std::slice::from_ref(name))?.remove(0);
        (
            crate::lab_cli::vendor_policy(&vendor, lab)?,
            vendor.signatures.repository.clone(),
        )
    } else if let Some(key) = &p.key {
        let pem = crate::input::read_to_string(key)?;
        crate::profile::keys::parse_public_key(&pem).map_err(|m| {
            Error::invalid(key, None, "--key", m.to_string(), "give a PEM public key")
        })?;
        (
            SignerPolicy::Key {
                public_key_pem: pem,
                require_tlog: true,
            },
            None,
        )
    } else {
        let bad = |r: crate::verify::refusal::Refusal| Error::Usage {
            message: r.reason,
            hint: "write an RE2 regular expression".into(),
        };
        // cosign's semantics: an exact flag is literal, the regexp is
        // unanchored (as `verify-bundle` reads them too).
        let pick =
            |exact: &Option<String>, regexp: &Option<String>, missing: Error| match (exact, regexp)
            {
                (Some(s), _) => Ok(Pattern::cosign(s)),
                (_, Some(r)) => crate::verify::identity::regexp(r).map_err(bad),
                _ => Err(missing),
            };
        let subject = pick(
            &p.certificate_identity,
            &p.certificate_identity_regexp,
            Error::Usage {
                message: "no verification policy".into(),
                hint: "pass --vendor NAME, --key FILE, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]".into(),
            },
        )?;
        let issuer = pick(
            &p.certificate_oidc_issuer,
            &p.certificate_oidc_issuer_regexp,
            Error::Usage {
                message: "a certificate identity needs its OIDC issuer".into(),
                hint: "pass --certificate-oidc-issuer URL (cosign requires it too)".into(),
            },
        )?;
        (
            SignerPolicy::Keyless {
                rule: IdentityRule {
                    subject,
                    issuer: Some(issuer),
                },
                require_sct: true,
                require_tlog: true,
            },
            None,
        )
    };
    match &mut policy {
        SignerPolicy::Key { require_tlog, .. } => {
            *require_tlog &= !p.insecure_ignore_tlog;
        }
        SignerPolicy::Keyless {
            require_sct,
            require_tlog,
            ..
        } => {
            *require_sct &= !p.insecure_ignore_sct;
            *require_tlog &= !p.insecure_ignore_tlog;
        }
    }
    Ok((policy, repository))
}

/// `verify-signature`: one legacy signature from its parts, through the
/// legacy verifier `verify` uses for `.sig` layers.
fn verify_signature(inputs: &InputArgs, args: &VerifySignatureArgs) -> Result<u8> {
    use crate::verify::legacy::{
        ANN_BUNDLE, ANN_CERT, ANN_CHAIN, ANN_SIGNATURE, LegacyLayer, LegacyVerifier,
    };
    let digest = args.digest.to_ascii_lowercase();
    if digest
        .strip_prefix("sha256:")
        .is_none_or(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Error::Usage {
            message: format!("`{}` is not an image digest", args.digest),
            hint: "give the digest the signature signs: sha256: followed by 64 hex digits".into(),
        });
    }
    let (policy, _) = signer_policy(inputs, &args.policy, None)?;
    let text =
        |p: &Path| -> Result<String> { Ok(crate::input::read_to_string(p)?.trim().to_owned()) };
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(ANN_SIGNATURE.to_owned(), text(&args.signature)?);
    for (name, file) in [
        (ANN_CERT, &args.certificate),
        (ANN_CHAIN, &args.certificate_chain),
        (ANN_BUNDLE, &args.rekor_bundle),
    ] {
        if let Some(file) = file {
            annotations.insert(name.to_owned(), text(file)?);
        }
    }
    let layer = LegacyLayer {
        payload: crate::input::read(&args.payload)?,
        annotations,
    };
    let (trusted_root, origin) = choose_trusted_root(args.trusted_root.as_ref(), None)?;
    let trust = crate::lab_cli::trusted_root(&trusted_root)?;
    let now = chrono::Utc::now().timestamp();
    println!("trust root: {} ({origin})", trusted_root.display());
    println!(
        "clock: {} (the system clock)",
        crate::report::experiment::rfc3339(now)
    );
    let verifier = LegacyVerifier::new(trust, now).map_err(|r| {
        Error::invalid(
            &trusted_root,
            None,
            "trusted_root.json",
            r.reason,
            "give a Sigstore trusted_root.json",
        )
    })?;
    match verifier.verify_image(&[layer], &digest, &policy.legacy()) {
        Ok(v) => {
            println!(
                "verified: the signature of {digest} signed by {}{}{}",
                v.signer,
                v.issuer.map(|i| format!(" ({i})")).unwrap_or_default(),
                v.integrated_time
                    .map(|t| format!(", logged at {}", crate::report::experiment::rfc3339(t)))
                    .unwrap_or_default()
            );
            Ok(exit::HOLDS)
        }
        Err(refusal) => {
            if refusal.kind.undecided() {
                println!("undecided: {refusal}");
            } else {
                println!("{refusal}");
            }
            Ok(refusal.kind.exit_code())
        }
    }
}

fn verify_image(inputs: &InputArgs, args: &VerifyArgs) -> Result<u8> {
    // Lab material is verified with lab trust only when the user says so
    // (--lab) or reads the lab itself (no --layout/--registry): never silently.
    let lab_mode = args.lab.is_some() || (args.layout.is_none() && args.registry.is_none());
    let lab_dir = args
        .lab
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LAB));
    let _lab_lock = if lab_mode {
        Some(crate::supply::lab::folder::lock(
            &lab_dir,
            crate::supply::lab::folder::Access::Shared,
        )?)
    } else {
        None
    };
    let lab = lab_mode.then_some(lab_dir.as_path());
    let (policy, mut repository) = signer_policy(inputs, &args.policy, lab)?;
    if args.repository.is_some() {
        repository = args.repository.clone();
    }
    let (trusted_root, origin) = choose_trusted_root(args.trusted_root.as_ref(), lab)?;
    let trust = crate::lab_cli::trusted_root(&trusted_root)?;
    let (now, clock) = if lab_mode {
        (crate::lab_cli::LAB_NOW, "the lab's fixed clock")
    } else {
        (chrono::Utc::now().timestamp(), "the system clock")
    };
    println!("trust root: {} ({origin})", trusted_root.display());
    println!(
        "clock: {} ({clock})",
        crate::report::experiment::rfc3339(now)
    );
    let layout;
    let registry;
    let store: &dyn crate::supply::store::Store = if let Some(host) = &args.registry {
        registry = crate::lab_cli::connect_registry(host, args.net.timeouts())?;
        &registry
    } else {
        layout = crate::lab_cli::open_layout(
            &args
                .layout
                .clone()
                .unwrap_or_else(|| crate::lab_cli::layout_dir(&lab_dir)),
        )?;
        &layout
    };
    let outcome = crate::lab_cli::verify(
        store,
        &trust,
        now,
        &args.image,
        repository.as_deref(),
        &policy,
        &args.types,
    )?;
    for line in outcome.lines {
        println!("{line}");
    }
    Ok(outcome.code)
}

/// The lab folder when none is named.
const DEFAULT_LAB: &str = ".trustswap/lab";

/// Verification outside the lab with no trusted root: refuse, and say how to get one.
/// The trust root a verification uses, and why: the one given, the lab's
/// when verifying lab material, or `$TRUSTSWAP_TRUSTED_ROOT`; never a default.
fn choose_trusted_root(
    given: Option<&PathBuf>,
    lab: Option<&Path>,
) -> Result<(PathBuf, &'static str)> {
    let configured = std::env::var_os("TRUSTSWAP_TRUSTED_ROOT").map(PathBuf::from);
    Ok(match (given, lab, configured) {
        (Some(given), _, _) => (given.clone(), "given with --trusted-root"),
        (None, Some(lab), _) => (
            lab.join("trusted_root.json"),
            "the lab's (lab material: its keys are public, never trust it outside the lab)",
        ),
        (None, None, Some(env)) => (env, "from $TRUSTSWAP_TRUSTED_ROOT"),
        (None, None, None) => return Err(no_trusted_root()),
    })
}

fn no_trusted_root() -> Error {
    Error::Usage {
        message: "no trusted root: verifying outside the lab needs the Sigstore trust root you trust".into(),
        hint: "pass --trusted-root FILE (or set TRUSTSWAP_TRUSTED_ROOT) with a Sigstore trusted_root.json; for the public-good instance, `cosign initialize` writes it to ~/.sigstore/root/tuf-repo-cdn.sigstore.dev/targets/trusted_root.json (it is also published as targets/trusted_root.json in the sigstore/root-signing repository); pass --lab DIR to verify lab material with the lab's root".into(),
    }
}

/// The real backends' flags that apply to one backend only (clap cannot
/// say "requires --backend local"): refused with the fix.
fn backend_flags(backend: BackendKind, c: &ClusterArgs) -> Result<()> {
    if backend != BackendKind::Local && c.oracle.is_some() {
        return Err(Error::Usage {
            message: "--oracle applies to --backend local".into(),
            hint: "add --backend local, or drop the flag".into(),
        });
    }
    if backend != BackendKind::Cluster && (c.registry.is_some() || c.context.is_some()) {
        return Err(Error::Usage {
            message: "--registry, --registry-in-cluster and --context apply to --backend cluster"
                .into(),
            hint: "add --backend cluster, or drop the flag".into(),
        });
    }
    Ok(())
}

/// Where a real-cluster run happens, from the flags.
fn real_target(
    backend: BackendKind,
    args: &ClusterArgs,
    lab: &Path,
) -> Result<crate::experiment::real::Target> {
    use crate::experiment::real::Target;
    Ok(match backend {
        BackendKind::Kind => Target::Kind {
            keep: args.keep,
            work_dir: lab.with_file_name("kind"),
        },
        BackendKind::Local => {
            let dir = args
                .oracle
                .clone()
                .or_else(|| std::env::var_os("TRUSTSWAP_ORACLE").map(PathBuf::from))
                .ok_or_else(|| Error::Usage {
                message: "--backend local needs the oracle binaries (real Kyverno, kube-apiserver, etcd)".into(),
                hint: crate::backend::local::BUILD_HINT.into(),
            })?;
            let oracle = crate::backend::local::Oracle::open(&dir).map_err(|e| Error::Usage {
                message: e.to_string(),
                hint: crate::backend::local::BUILD_HINT.into(),
            })?;
            Target::Local {
                oracle,
                keep: args.keep,
            }
        }
        _ => {
            let registry = args.registry.clone().ok_or_else(|| Error::Usage {
                message: "--backend cluster needs a registry for the lab fixtures: Kyverno fetches signatures itself, from inside the cluster".into(),
                hint: "pass --registry HOST[:PORT] (trustswap pushes there) and, when the cluster reaches it by another name, --registry-in-cluster NAME; Kyverno needs --allowInsecureRegistry for plain http".into(),
            })?;
            Target::Cluster {
                context: args.context.clone(),
                tuf_mirror: args.tuf_mirror.clone(),
                registry_in_cluster: args
                    .registry_in_cluster
                    .clone()
                    .unwrap_or_else(|| registry.clone()),
                registry,
            }
        }
    })
}

fn run(inputs: &InputArgs, args: &RunArgs) -> Result<u8> {
    use crate::report::experiment::RunReport;

    if args.claim == Claim::Agreement && args.compare.is_none() {
        return Err(Error::Usage {
            message:
                "--claim agreement needs --compare embedded (and a --backend other than embedded)"
                    .into(),
            hint: "add --compare embedded, or drop --claim".into(),
        });
    }
    if args.backend == BackendKind::Embedded && (args.compare.is_some() || args.cluster.keep) {
        return Err(Error::Usage {
            message: "--compare and --keep apply to --backend local, kind or cluster".into(),
            hint: "add --backend local (or kind, or cluster), or drop the flag".into(),
        });
    }
    if !args.policies.is_empty() && !args.check.vendor_names.is_empty() {
        return Err(Error::Usage {
            message: "--vendor and --policies both choose the run's vendors".into(),
            hint: "drop --vendor: with --policies the run's vendors are the ones named there"
                .into(),
        });
    }
    backend_flags(args.backend, &args.cluster)?;
    let target = match args.backend {
        BackendKind::Embedded => None,
        _ => Some(real_target(args.backend, &args.cluster, &args.lab)?),
    };
    let known = match &args.known_disagreements {
        Some(p) => crate::experiment::compare::load_known(p)?,
        None => Vec::new(),
    };
    // Folders are checked before the lab is built: a bad --out or --lab fails
    // in a second, not after the whole run.
    crate::owned::Owner::lab(args.seed).check_replaceable(&args.lab, false)?;
    if let Some(out) = &args.check.output.out {
        crate::owned::Owner::output().check_replaceable(out, args.check.output.force)?;
    }

    let loaded = inputs.load()?;
    let own = crate::experiment::own::load(&args.policies, &loaded.vendors)?;
    let vendors = if own.is_empty() {
        profile::select(loaded.vendors.clone(), &args.check.vendor_names)?
    } else {
        crate::experiment::own::vendors_of(&own, &loaded.vendors)
    };
    let engines = match (args.check.engines.is_empty(), own.is_empty()) {
        (false, _) => dedup(&args.check.engines),
        (true, true) => Engine::ALL.to_vec(),
        (true, false) => Engine::ALL
            .into_iter()
            .filter(|e| own.iter().any(|s| s.engines().contains(e)))
            .collect(),
    };
    let mut scenarios = match &args.scenarios {
        Some(dir) => crate::experiment::scenario::load_dir(dir)?,
        None => crate::experiment::scenario::load_shipped()?,
    };
    if !args.only.is_empty() {
        for id in &args.only {
            if !scenarios.iter().any(|s| &s.id == id) {
                return Err(Error::Usage {
                    message: format!("unknown scenario `{id}`"),
                    hint: format!(
                        "known: {}",
                        scenarios
                            .iter()
                            .map(|s| s.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        scenarios.retain(|s| args.only.contains(&s.id));
    }
    let plan = crate::experiment::RunPlan {
        contract: &loaded.contract,
        vendors: &vendors,
        engines: &engines,
        baseline: args.check.baseline.as_deref(),
        scenarios,
        lab_dir: args.lab.clone(),
        seed: args.seed,
        own: &own,
        cancel: Default::default(),
    };
    let (embedded, real) = match target {
        None => (Some(crate::experiment::run(plan)?), None),
        Some(target) => {
            let r = crate::experiment::real::run(
                plan,
                target,
                args.compare.is_some(),
                &known,
                args.cluster.net.timeouts(),
            )?;
            (None, Some(r))
        }
    };
    let outcome = match (&embedded, &real) {
        (Some(o), _) => o,
        (None, Some(r)) => &r.outcome,
        (None, None) => unreachable!("a run is embedded or real"),
    };
    let report = RunReport::new(
        outcome,
        real.as_ref(),
        args.seed,
        args.claim == Claim::Agreement,
    );
    let code = report.exit_code;
    let out = &args.check.output;
    let json = report.to_json()?;
    // The report is written (whole, or not at all) before any verdict is printed.
    let report_dir = if out.no_report {
        None
    } else {
        let dir = report::folder(out.out.as_deref(), &out.reports_dir, &json);
        crate::owned::Owner::output().replace_with(&dir, out.force, |tmp| {
            crate::report::experiment::write(tmp, &report)
        })?;
        Some(dir)
    };
    let mut stdout = std::io::stdout().lock();
    let text = match out.format {
        Format::Json => report::pretty(&json)?,
        _ => crate::report::terminal::run(&report),
    };
    let _ = stdout.write_all(text.as_bytes());
    if let Some(dir) = report_dir {
        let _ = writeln!(stdout, "report: {}", display(&dir));
    }
    Ok(code)
}

fn fidelity(inputs: &InputArgs, args: &FidelityArgs) -> Result<u8> {
    if args.backend == BackendKind::Embedded {
        return Err(Error::Usage {
            message: "fidelity compares the embedded engine with real Kyverno: --backend embedded has nothing to compare with".into(),
            hint: "pass --backend local (no Docker; the oracle from `oracle/build`), kind or cluster".into(),
        });
    }
    backend_flags(args.backend, &args.cluster)?;
    // Folders first: a bad --out or --lab fails before a control plane starts.
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("reports/fidelity-{}", args.seed)));
    crate::owned::Owner::lab(args.seed).check_replaceable(&args.lab, false)?;
    crate::owned::Owner::output().check_replaceable(&out, args.force)?;
    let target = real_target(args.backend, &args.cluster, &args.lab)?;
    let loaded = inputs.load()?;
    let plan = crate::experiment::RunPlan {
        contract: &loaded.contract,
        vendors: &loaded.vendors,
        engines: &Engine::ALL,
        baseline: None,
        scenarios: Vec::new(),
        lab_dir: args.lab.clone(),
        seed: args.seed,
        own: &[],
        cancel: Default::default(),
    };
    let started = std::time::Instant::now();
    let f = crate::experiment::fidelity::run(
        plan,
        args.cases as usize,
        target,
        args.cluster.net.timeouts(),
    )?;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    // The report is written (whole, or not at all) before the verdict is printed.
    crate::owned::Owner::output().replace_with(&out, args.force, |tmp| {
        crate::experiment::fidelity::write(tmp, &f)
    })?;
    eprintln!(
        "trustswap: {} cases compared in {:.1} min ({:.0} per minute, control plane start-up included)",
        f.report.compared,
        minutes,
        f.report.compared as f64 / minutes.max(1e-9)
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(crate::experiment::fidelity::summary(&f.report).as_bytes());
    let _ = writeln!(stdout, "report: {}", display(&out));
    Ok(f.verdict.exit_code())
}

fn audit_drift(input: &Path, now: Option<&str>, all: bool, format: Format) -> Result<u8> {
    use crate::audit::drift::{self, AuditInput, DriftOptions, TableFilter, Verdict};
    // JSON as JSON (a million pods is ~1.3 GB); YAML with a budget for its size.
    let data: AuditInput = crate::yaml::parse_data_file(input)?;
    // No container audited is not "compliant": it would overstate.
    if data.state.pods.iter().all(|p| p.containers.is_empty()) {
        return Err(Error::Input {
            path: input.to_path_buf(),
            message: match data.state.pods.len() {
                0 => "the state lists no pods: there is nothing to audit".into(),
                n => format!("none of the state's {n} pods lists a container: there is nothing to audit"),
            },
            hint: "export the running state (state.pods with their containers) from the cluster; an empty audit decides nothing".into(),
        });
    }
    let now = match now {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| Error::Usage {
                message: format!("--now `{t}`: {e}"),
                hint: "give an RFC 3339 time, e.g. 2026-07-01T00:00:00Z".into(),
            })?,
        None => chrono::Utc::now(),
    };
    let report = drift::drift(&data, &DriftOptions::default(), now).map_err(|e| {
        Error::invalid(
            input,
            None,
            "input",
            e.to_string(),
            "fix the field named above",
        )
    })?;
    let text = match format {
        Format::Json => report::pretty(&report)?,
        Format::Table => drift::render_table(
            &report,
            if all {
                TableFilter::All
            } else {
                TableFilter::NotCompliant
            },
        ),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(if report.summary.verdict == Verdict::Compliant {
        exit::HOLDS
    } else {
        exit::FINDING
    })
}
