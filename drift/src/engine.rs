//! The classifier: compile the manifest, revocations, exceptions and trust
//! policy once ([`CompiledAudit::new`]), then audit any number of snapshots
//! ([`CompiledAudit::audit`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use trustswap_model::fingerprint::KeyFingerprint;
use trustswap_model::identity::{Identity, Pattern};
use trustswap_model::wildcard::Wildcard as WildMatch;

use crate::error::DriftError;
use crate::image::{check_digest, parse_image_id, parse_image_ref, runtime_repository, tag_key};
use crate::input::{
    Container, DriftOptions, Exception, Manifest, ManifestEntry, Namespace, Pod, Revocation,
    RunningState, TrustPolicy, TrustedIdentity,
};
use crate::output::{DriftReport, Finding, Flag, Flags, GroupSummary, Status, Summary, Verdict};

const UNOWNED: &str = "unowned";
const N_STATUS: usize = Status::ALL.len();

struct CompiledRule {
    globs: Vec<WildMatch>,
    identities: Vec<Identity>,
    keys: FxHashSet<String>,
}

enum SignerKind<'m> {
    Keyless { subject: &'m str, issuer: &'m str },
    Key { fingerprint: String },
}

struct CompiledEntry<'m> {
    entry: &'m ManifestEntry,
    has_sbom: bool,
    /// `accepted_by[r]`: trust rule `r` accepts this entry's signer.
    accepted_by: Vec<bool>,
    /// The earliest revocation matching the signer, if any.
    revocation: Option<&'m Revocation>,
}

struct CompiledException<'m> {
    exception: &'m Exception,
    namespace: WildMatch,
    image: Option<WildMatch>,
    pod_name: Option<WildMatch>,
}

/// The manifest, revocations, exceptions and trust policy, indexed and
/// compiled once. Independent of `now` and of the running state.
pub struct CompiledAudit<'m> {
    team_label: String,
    stale_after_days: Option<i64>,
    entries: Vec<CompiledEntry<'m>>,
    by_digest: FxHashMap<&'m str, u32>,
    /// `repository:tag` -> entry.
    by_tag: FxHashMap<String, u32>,
    /// `repository:tag` -> the digest the registry serves now.
    registry_tags: FxHashMap<String, String>,
    rules: Vec<CompiledRule>,
    exceptions: Vec<CompiledException<'m>>,
    /// Exceptions whose namespace is a literal, by namespace.
    exceptions_by_ns: FxHashMap<&'m str, Vec<u32>>,
    /// Exceptions whose namespace is a glob.
    exceptions_ns_glob: Vec<u32>,
}

fn is_glob(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

fn compile_matcher(
    exact: Option<&String>,
    regexp: Option<&String>,
    rule: usize,
    identity: usize,
    names: (&'static str, &'static str),
    rule_name: &str,
) -> Result<Pattern, DriftError> {
    match (exact, regexp) {
        (Some(e), None) => Ok(Pattern::audit(e)),
        (None, Some(r)) => Pattern::audit_regexp(r).map_err(|source| DriftError::TrustRegex {
            index: rule,
            identity,
            field: names.1,
            pattern: r.clone(),
            source: Box::new(source),
        }),
        (Some(_), Some(_)) => Err(DriftError::TrustRule {
            index: rule,
            name: rule_name.to_owned(),
            reason: format!(
                "identities[{identity}]: give {} or {}, not both",
                names.0, names.1
            ),
        }),
        (None, None) => Err(DriftError::TrustRule {
            index: rule,
            name: rule_name.to_owned(),
            reason: format!("identities[{identity}]: needs {} or {}", names.0, names.1),
        }),
    }
}

fn compile_identity(
    id: &TrustedIdentity,
    rule: usize,
    identity: usize,
    rule_name: &str,
) -> Result<Identity, DriftError> {
    // The trust policy's fields follow the audit's semantics: literal, or an
    // anchored regexp (`trustswap_model::identity`).
    let issuer = compile_matcher(
        id.issuer.as_ref(),
        id.issuer_reg_exp.as_ref(),
        rule,
        identity,
        ("issuer", "issuerRegExp"),
        rule_name,
    )?;
    let subject = compile_matcher(
        id.subject.as_ref(),
        id.subject_reg_exp.as_ref(),
        rule,
        identity,
        ("subject", "subjectRegExp"),
        rule_name,
    )?;
    Ok(Identity::new(subject, Some(issuer)))
}

fn compile_rules(policy: &TrustPolicy) -> Result<Vec<CompiledRule>, DriftError> {
    let mut rules = Vec::with_capacity(policy.rules.len());
    for (index, rule) in policy.rules.iter().enumerate() {
        let err = |reason: &str| DriftError::TrustRule {
            index,
            name: rule.name.clone(),
            reason: reason.to_owned(),
        };
        if rule.images.is_empty() {
            return Err(err("images: at least one glob is required"));
        }
        if rule.images.iter().any(|g| g.is_empty()) {
            return Err(err("images: empty glob"));
        }
        if rule.identities.is_empty() && rule.key_fingerprints.is_empty() {
            return Err(err("needs identities or keyFingerprints"));
        }
        let identities = rule
            .identities
            .iter()
            .enumerate()
            .map(|(i, id)| compile_identity(id, index, i, &rule.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys = FxHashSet::default();
        for fp in &rule.key_fingerprints {
            let fp = KeyFingerprint::normalise(fp).into_string();
            if fp.is_empty() {
                return Err(err("keyFingerprints: empty fingerprint"));
            }
            keys.insert(fp);
        }
        rules.push(CompiledRule {
            globs: rule.images.iter().map(|g| WildMatch::new(g)).collect(),
            identities,
            keys,
        });
    }
    Ok(rules)
}

fn signer_kind(entry: &ManifestEntry, index: usize) -> Result<SignerKind<'_>, DriftError> {
    let s = &entry.signer;
    let bad = |reason| DriftError::ManifestEntry {
        index,
        field: "signer",
        value: entry.digest.clone(),
        reason,
    };
    match (&s.subject, &s.issuer, &s.key_fingerprint) {
        (Some(subject), Some(issuer), None) if !subject.is_empty() && !issuer.is_empty() => {
            Ok(SignerKind::Keyless { subject, issuer })
        }
        (None, None, Some(fp)) => {
            let fingerprint = KeyFingerprint::normalise(fp).into_string();
            if fingerprint.is_empty() {
                return Err(bad("empty keyFingerprint"));
            }
            Ok(SignerKind::Key { fingerprint })
        }
        _ => Err(bad(
            "needs either non-empty subject and issuer, or keyFingerprint alone",
        )),
    }
}

enum RevocationKey {
    Key(String),
    Keyless {
        subject: String,
        issuer: Option<String>,
    },
}

fn compile_revocations(revocations: &[Revocation]) -> Result<Vec<RevocationKey>, DriftError> {
    revocations
        .iter()
        .enumerate()
        .map(|(index, r)| match (&r.subject, &r.issuer, &r.key_fingerprint) {
            (None, None, Some(fp)) => {
                let fp = KeyFingerprint::normalise(fp).into_string();
                if fp.is_empty() {
                    Err(DriftError::Revocation {
                        index,
                        reason: "empty keyFingerprint",
                    })
                } else {
                    Ok(RevocationKey::Key(fp))
                }
            }
            (Some(subject), issuer, None) if !subject.is_empty() => Ok(RevocationKey::Keyless {
                subject: subject.clone(),
                issuer: issuer.clone(),
            }),
            _ => Err(DriftError::Revocation {
                index,
                reason: "needs a non-empty subject (optionally with issuer) or a keyFingerprint, not both",
            }),
        })
        .collect()
}

/// Compiled exceptions, those keyed by a literal namespace, and those whose
/// namespace is a glob.
type ExceptionIndex<'m> = (
    Vec<CompiledException<'m>>,
    FxHashMap<&'m str, Vec<u32>>,
    Vec<u32>,
);

fn compile_exceptions<'m>(exceptions: &'m [Exception]) -> Result<ExceptionIndex<'m>, DriftError> {
    let mut compiled = Vec::with_capacity(exceptions.len());
    let mut by_ns: FxHashMap<&'m str, Vec<u32>> = FxHashMap::default();
    let mut ns_glob = Vec::new();
    for (index, e) in exceptions.iter().enumerate() {
        let bad = |reason| DriftError::Exception {
            index,
            name: e.name.clone(),
            reason,
        };
        if e.name.is_empty() {
            return Err(bad("name is empty"));
        }
        if e.namespace.is_empty() {
            return Err(bad("namespace is empty"));
        }
        if e.image.is_none() && e.pod_name.is_none() {
            return Err(bad("needs image or podName"));
        }
        if e.image.as_deref() == Some("") || e.pod_name.as_deref() == Some("") {
            return Err(bad("image and podName must not be empty"));
        }
        let id = u32::try_from(index).map_err(|_| bad("too many exceptions"))?;
        if is_glob(&e.namespace) {
            ns_glob.push(id);
        } else {
            by_ns.entry(e.namespace.as_str()).or_default().push(id);
        }
        compiled.push(CompiledException {
            exception: e,
            namespace: WildMatch::new(&e.namespace),
            image: e.image.as_deref().map(WildMatch::new),
            pod_name: e.pod_name.as_deref().map(WildMatch::new),
        });
    }
    Ok((compiled, by_ns, ns_glob))
}

fn rule_accepts(rule: &CompiledRule, signer: &SignerKind<'_>) -> bool {
    match signer {
        SignerKind::Keyless { subject, issuer } => rule
            .identities
            .iter()
            .any(|id| id.check_subject(subject, issuer).is_ok()),
        SignerKind::Key { fingerprint } => rule.keys.contains(fingerprint),
    }
}

fn revocation_matches(key: &RevocationKey, signer: &SignerKind<'_>) -> bool {
    match (key, signer) {
        (RevocationKey::Key(fp), SignerKind::Key { fingerprint }) => fp == fingerprint,
        (
            RevocationKey::Keyless {
                subject: rs,
                issuer: ri,
            },
            SignerKind::Keyless { subject, issuer },
        ) => rs == subject && ri.as_deref().is_none_or(|ri| ri == *issuer),
        _ => false,
    }
}

impl<'m> CompiledAudit<'m> {
    /// Validates and indexes everything except the running state.
    pub fn new(
        manifest: &'m Manifest,
        revocations: &'m [Revocation],
        exceptions: &'m [Exception],
        policy: &TrustPolicy,
        options: &DriftOptions,
    ) -> Result<Self, DriftError> {
        if options.team_label.is_empty() {
            return Err(DriftError::Options {
                field: "teamLabel",
                reason: "must not be empty",
            });
        }
        if options.stale_after_days.is_some_and(|d| d < 0) {
            return Err(DriftError::Options {
                field: "staleAfterDays",
                reason: "must not be negative",
            });
        }
        let rules = compile_rules(policy)?;
        let revocation_keys = compile_revocations(revocations)?;
        let (exceptions, exceptions_by_ns, exceptions_ns_glob) = compile_exceptions(exceptions)?;

        let n = manifest.entries.len();
        let mut entries = Vec::with_capacity(n);
        let mut by_digest: FxHashMap<&'m str, u32> = FxHashMap::default();
        by_digest.reserve(n);
        let mut by_tag: FxHashMap<String, u32> = FxHashMap::default();
        for (index, entry) in manifest.entries.iter().enumerate() {
            let bad = |field, value: &str, reason| DriftError::ManifestEntry {
                index,
                field,
                value: value.to_owned(),
                reason,
            };
            check_digest(&entry.digest).map_err(|r| bad("digest", &entry.digest, r))?;
            if entry.repository.is_empty()
                || entry.repository.contains('@')
                || entry.repository.bytes().any(|b| b.is_ascii_whitespace())
            {
                return Err(bad(
                    "repository",
                    &entry.repository,
                    "must be a non-empty repository without digest",
                ));
            }
            let id = u32::try_from(index)
                .map_err(|_| bad("digest", &entry.digest, "too many entries"))?;
            if by_digest.insert(entry.digest.as_str(), id).is_some() {
                return Err(DriftError::DuplicateDigest {
                    index,
                    digest: entry.digest.clone(),
                });
            }
            let repository =
                runtime_repository(&entry.repository).unwrap_or_else(|| entry.repository.clone());
            for tag in &entry.tags {
                if tag.is_empty() || tag.contains([':', '@', '/']) {
                    return Err(bad(
                        "tags",
                        tag,
                        "a tag must be non-empty without ':', '@', '/'",
                    ));
                }
                let key = format!("{repository}:{tag}");
                if let Some(&prev) = by_tag.get(&key) {
                    let first = manifest
                        .entries
                        .get(prev as usize)
                        .map(|e| e.digest.clone())
                        .unwrap_or_default();
                    let second = entry.digest.clone();
                    let (first, second) = if first <= second {
                        (first, second)
                    } else {
                        (second, first)
                    };
                    return Err(DriftError::ConflictingTag {
                        tag: key,
                        first,
                        second,
                    });
                }
                by_tag.insert(key, id);
            }
            let signer = signer_kind(entry, index)?;
            let accepted_by = rules.iter().map(|r| rule_accepts(r, &signer)).collect();
            let revocation = revocation_keys
                .iter()
                .zip(revocations)
                .filter(|(k, _)| revocation_matches(k, &signer))
                .map(|(_, r)| r)
                .min_by_key(|r| r.revoked_at);
            let has_sbom = entry.attestations.iter().any(|a| {
                options
                    .sbom_predicate_prefixes
                    .iter()
                    .any(|p| a.starts_with(p.as_str()))
            });
            entries.push(CompiledEntry {
                entry,
                has_sbom,
                accepted_by,
                revocation,
            });
        }
        Ok(CompiledAudit {
            team_label: options.team_label.clone(),
            stale_after_days: options.stale_after_days,
            entries,
            by_digest,
            by_tag,
            registry_tags: FxHashMap::default(),
            rules,
            exceptions,
            exceptions_by_ns,
            exceptions_ns_glob,
        })
    }

    /// Tell the audit which digest each `repository:tag` points at now. Keys
    /// are normalised as a runtime reads them (`nginx:1.25` is
    /// `docker.io/library/nginx:1.25`), so every spelling of a Docker Hub
    /// image finds its tag; a key that is not a tagged reference is kept as
    /// written (and can only match itself). Two spellings of one tag that
    /// name different digests are an input error, never a silent choice.
    pub fn with_registry_tags(
        mut self,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, DriftError> {
        let mut normalised: FxHashMap<String, (&String, &String)> = FxHashMap::default();
        for (k, v) in tags {
            let key = tag_key(k).unwrap_or_else(|| k.clone());
            if let Some((first_key, first)) = normalised.get(&key)
                && *first != v
            {
                return Err(DriftError::ConflictingRegistryTag {
                    tag: key,
                    first_key: (*first_key).clone(),
                    first: (*first).clone(),
                    second_key: k.clone(),
                    second: v.clone(),
                });
            }
            normalised.entry(key).or_insert((k, v));
        }
        self.registry_tags = normalised
            .into_iter()
            .map(|(k, (_, v))| (k, v.clone()))
            .collect();
        Ok(self)
    }

    /// Classifies every container of `state` at time `now`.
    pub fn audit<'a>(
        &self,
        state: &'a RunningState,
        now: DateTime<Utc>,
    ) -> Result<DriftReport<'a>, DriftError>
    where
        'm: 'a,
    {
        let mut namespaces: FxHashMap<&str, &Namespace> = FxHashMap::default();
        namespaces.reserve(state.namespaces.len());
        for ns in &state.namespaces {
            if namespaces.insert(ns.name.as_str(), ns).is_some() {
                return Err(DriftError::DuplicateNamespace(ns.name.clone()));
            }
        }

        // Order pods by (namespace, workload kind, workload name, pod name).
        let mut pods: Vec<PodRow<'a>> = Vec::with_capacity(state.pods.len());
        let mut seen: FxHashSet<(&str, &str)> = FxHashSet::default();
        seen.reserve(state.pods.len());
        let mut n_containers = 0usize;
        for pod in &state.pods {
            if pod.namespace.is_empty() || pod.name.is_empty() {
                return Err(DriftError::Pod {
                    namespace: pod.namespace.clone(),
                    pod: pod.name.clone(),
                    reason: "namespace and name must not be empty".to_owned(),
                });
            }
            if !seen.insert((pod.namespace.as_str(), pod.name.as_str())) {
                return Err(DriftError::DuplicatePod {
                    namespace: pod.namespace.clone(),
                    pod: pod.name.clone(),
                });
            }
            let (kind, name) = workload_of(pod);
            n_containers += pod.containers.len();
            pods.push(PodRow {
                pod,
                kind,
                name,
                ns_rank: 0,
            });
        }
        drop(seen);
        // Rank namespaces once so the sort compares integers before strings.
        let mut ns_names: Vec<&str> = Vec::new();
        let mut ns_ids: FxHashMap<&str, u32> = FxHashMap::default();
        for row in &pods {
            let next = ns_names.len() as u32;
            ns_ids.entry(row.pod.namespace.as_str()).or_insert_with(|| {
                ns_names.push(row.pod.namespace.as_str());
                next
            });
        }
        let mut by_name: Vec<u32> = (0..ns_names.len() as u32).collect();
        by_name.sort_unstable_by_key(|&i| ns_names.get(i as usize).copied().unwrap_or(""));
        let mut rank = vec![0u32; ns_names.len()];
        for (r, &i) in by_name.iter().enumerate() {
            if let Some(slot) = rank.get_mut(i as usize) {
                *slot = r as u32;
            }
        }
        for row in &mut pods {
            row.ns_rank = ns_ids
                .get(row.pod.namespace.as_str())
                .and_then(|&i| rank.get(i as usize))
                .copied()
                .unwrap_or(0);
        }
        pods.sort_unstable_by(|a, b| {
            (a.ns_rank, a.kind, a.name, a.pod.name.as_str()).cmp(&(
                b.ns_rank,
                b.kind,
                b.name,
                b.pod.name.as_str(),
            ))
        });

        let mut images: FxHashMap<&'a str, ImageInfo> = FxHashMap::default();
        let mut findings: Vec<Finding<'a>> = Vec::with_capacity(n_containers);
        let mut order: Vec<&'a Container> = Vec::new();
        let mut acc = Accumulator::default();
        for row in &pods {
            let pod = row.pod;
            let team = self.team_of(pod, namespaces.get(pod.namespace.as_str()).copied());
            let pod_age_days = (now - pod.creation_timestamp).num_days();
            order.clear();
            order.extend(pod.containers.iter());
            order
                .sort_unstable_by(|a, b| (a.name.as_str(), a.kind).cmp(&(b.name.as_str(), b.kind)));
            for pair in order.windows(2) {
                if let [a, b] = pair
                    && a.name == b.name
                {
                    return Err(DriftError::DuplicateContainer {
                        namespace: pod.namespace.clone(),
                        pod: pod.name.clone(),
                        container: a.name.clone(),
                    });
                }
            }
            for &c in &order {
                let ctx = Ctx {
                    pod,
                    kind: row.kind,
                    name: row.name,
                    team,
                    pod_age_days,
                };
                let finding = self.classify(&ctx, c, now, &mut images)?;
                acc.add(&pod.namespace, team, &finding);
                findings.push(finding);
            }
        }
        let summary = acc.finish(pods.len());
        Ok(DriftReport {
            now,
            findings,
            summary,
        })
    }

    fn team_of<'a>(&self, pod: &'a Pod, ns: Option<&'a Namespace>) -> &'a str {
        let label = self.team_label.as_str();
        if let Some(t) = pod.labels.get(label).filter(|t| !t.is_empty()) {
            return t;
        }
        if let Some(t) = ns
            .and_then(|ns| ns.labels.get(label))
            .filter(|t| !t.is_empty())
        {
            return t;
        }
        UNOWNED
    }

    fn image_info<'a, 'c>(
        &self,
        ctx: &Ctx<'a>,
        c: &'a Container,
        cache: &'c mut FxHashMap<&'a str, ImageInfo>,
    ) -> Result<&'c ImageInfo, DriftError> {
        use std::collections::hash_map::Entry;
        match cache.entry(c.image.as_str()) {
            Entry::Occupied(o) => Ok(o.into_mut()),
            Entry::Vacant(v) => {
                let info = self.compute_image_info(ctx, c)?;
                Ok(v.insert(info))
            }
        }
    }

    fn compute_image_info<'a>(
        &self,
        ctx: &Ctx<'a>,
        c: &'a Container,
    ) -> Result<ImageInfo, DriftError> {
        let r = parse_image_ref(&c.image).map_err(|reason| DriftError::ImageRef {
            namespace: ctx.pod.namespace.clone(),
            pod: ctx.pod.name.clone(),
            container: c.name.clone(),
            value: c.image.clone(),
            reason,
        })?;
        let repository = r.repository();
        let mut full = String::with_capacity(c.image.len() + 20);
        full.push_str(&repository);
        let mut registry_digest = None;
        let tag_digest = match r.tag.as_deref() {
            Some(tag) => {
                full.push(':');
                full.push_str(tag);
                let key = format!("{repository}:{tag}");
                registry_digest = self.registry_tags.get(&key).cloned();
                self.by_tag.get(&key).copied()
            }
            None => None,
        };
        if let Some(d) = r.digest.as_deref() {
            full.push('@');
            full.push_str(d);
        }
        let mut rules = 0u64;
        let mut overflow_rules = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let hit = rule
                .globs
                .iter()
                .any(|g| g.matches(&full) || g.matches(&repository) || g.matches(&c.image));
            if hit {
                if i < 64 {
                    rules |= 1 << i;
                } else {
                    overflow_rules.push(i);
                }
            }
        }
        Ok(ImageInfo {
            tag: r.tag,
            tag_digest,
            registry_digest,
            rules,
            overflow_rules,
            normalized: full,
        })
    }

    fn classify<'a>(
        &self,
        ctx: &Ctx<'a>,
        c: &'a Container,
        now: DateTime<Utc>,
        cache: &mut FxHashMap<&'a str, ImageInfo>,
    ) -> Result<Finding<'a>, DriftError>
    where
        'm: 'a,
    {
        let pod = ctx.pod;
        let info = self.image_info(ctx, c, cache)?;
        let image_id = parse_image_id(c.image_id.as_deref().unwrap_or(""));
        let image_id = image_id.map_err(|reason| DriftError::ImageId {
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            container: c.name.clone(),
            value: c.image_id.clone().unwrap_or_default(),
            reason,
        })?;
        // The admitted digest usually equals the (already validated) running one.
        if let Some(a) = &c.admitted
            && image_id.is_none_or(|i| i.digest != a.digest)
        {
            check_digest(&a.digest).map_err(|reason| DriftError::AdmittedDigest {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                container: c.name.clone(),
                value: a.digest.clone(),
                reason,
            })?;
        }

        let mut flags = Flags::empty();
        let running = image_id.map(|i| i.digest);

        // Exceptions: an active one waives; expired ones count only when no
        // active one matches.
        let (active, expired) = self.match_exceptions(pod, c, info, now);
        if active.is_some() {
            flags.insert(Flag::ExceptionActive);
        } else if expired.is_some() {
            flags.insert(Flag::ExceptionExpired);
        }

        if c.admitted.is_none() {
            flags.insert(Flag::BypassedAdmission);
        }

        let tag_entry = info
            .tag_digest
            .and_then(|i| self.entries.get(i as usize))
            .map(|e| e.entry);
        let mut entry = None;
        let mut age_days = None;
        match running {
            None => flags.insert(Flag::UnknownDigest),
            Some(d) => {
                if let Some(a) = &c.admitted
                    && a.digest != d
                {
                    flags.insert(Flag::AdmittedDigestMismatch);
                }
                if let Some(t) = tag_entry
                    && t.digest != d
                {
                    flags.insert(Flag::TagMoved);
                }
                if info.registry_digest.as_deref().is_some_and(|r| r != d) {
                    flags.insert(Flag::TagMoved);
                }
                match self
                    .by_digest
                    .get(d)
                    .and_then(|&i| self.entries.get(i as usize))
                {
                    None => flags.insert(Flag::Unsigned),
                    Some(e) => {
                        entry = Some(e);
                        let age = (now - e.entry.signed_at).num_days();
                        age_days = Some(age);
                        if self.stale_after_days.is_some_and(|max| age > max) {
                            flags.insert(Flag::StaleDigest);
                        }
                        if !info.any_rule() {
                            flags.insert(Flag::NoTrustRule);
                            flags.insert(Flag::UntrustedIdentity);
                        } else if !info.accepted(&e.accepted_by) {
                            flags.insert(Flag::UntrustedIdentity);
                        }
                        if let Some(r) = e.revocation
                            && r.revoked_at <= now
                        {
                            flags.insert(Flag::SignerRevoked);
                            if e.entry.signed_at >= r.revoked_at {
                                flags.insert(Flag::SignedAfterRevocation);
                            }
                        }
                        if !e.has_sbom {
                            flags.insert(Flag::NoSbom);
                        }
                    }
                }
            }
        }

        let status = primary_status(flags);
        let waived = flags.contains(Flag::ExceptionActive);
        let exception = active.or(expired);
        let mut finding = Finding {
            namespace: Cow::Borrowed(&pod.namespace),
            workload_kind: Cow::Borrowed(ctx.kind),
            workload_name: Cow::Borrowed(ctx.name),
            pod: Cow::Borrowed(&pod.name),
            team: Cow::Borrowed(ctx.team),
            container: Cow::Borrowed(&c.name),
            container_kind: c.kind,
            image: Cow::Borrowed(&c.image),
            repository: image_id.and_then(|i| i.repository).map(Cow::Borrowed),
            digest: running.map(Cow::Borrowed),
            status,
            flags,
            waived,
            age_days,
            pod_age_days: ctx.pod_age_days,
            signer: entry.map(|e| Cow::Borrowed(signer_name(e.entry))),
            signer_issuer: entry
                .and_then(|e| e.entry.signer.issuer.as_deref())
                .map(Cow::Borrowed),
            admitted_digest: c
                .admitted
                .as_ref()
                .map(|a| Cow::Borrowed(a.digest.as_str())),
            admitted_policy: c
                .admitted
                .as_ref()
                .map(|a| Cow::Borrowed(a.policy.as_str())),
            tag_digest: tag_entry.map(|e| Cow::Borrowed(e.digest.as_str())),
            exception: exception.map(|e| Cow::Borrowed(e.name.as_str())),
            hint: Cow::Borrowed(""),
        };
        finding.hint = crate::hint::hint(
            &finding,
            info.tag.as_deref(),
            entry.and_then(|e| e.revocation),
            exception,
        );
        Ok(finding)
    }

    /// Returns (an active matching exception, the latest-expired matching
    /// exception). Ties are broken by name so the choice is deterministic.
    fn match_exceptions(
        &self,
        pod: &Pod,
        c: &Container,
        info: &ImageInfo,
        now: DateTime<Utc>,
    ) -> (Option<&'m Exception>, Option<&'m Exception>) {
        if self.exceptions.is_empty() {
            return (None, None);
        }
        let literal = self
            .exceptions_by_ns
            .get(pod.namespace.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut active: Option<&'m Exception> = None;
        let mut expired: Option<&'m Exception> = None;
        for &i in literal.iter().chain(self.exceptions_ns_glob.iter()) {
            let Some(e) = self.exceptions.get(i as usize) else {
                continue;
            };
            if !e.namespace.matches(&pod.namespace) {
                continue;
            }
            if let Some(g) = &e.image
                && !(g.matches(&c.image) || g.matches(&info.normalized))
            {
                continue;
            }
            if let Some(g) = &e.pod_name
                && !g.matches(&pod.name)
            {
                continue;
            }
            let ex = e.exception;
            if ex.expires_at > now {
                // Prefer the one that lasts longest, then by name.
                if active.is_none_or(|a| (ex.expires_at, &a.name) > (a.expires_at, &ex.name)) {
                    active = Some(ex);
                }
            } else if expired.is_none_or(|a| (ex.expires_at, &a.name) > (a.expires_at, &ex.name)) {
                expired = Some(ex);
            }
        }
        (active, expired)
    }
}

/// The signer's subject, or its key fingerprint.
fn signer_name(e: &ManifestEntry) -> &str {
    e.signer
        .subject
        .as_deref()
        .or(e.signer.key_fingerprint.as_deref())
        .unwrap_or("")
}

/// Applies the precedence to a flag set.
pub fn primary_status(flags: Flags) -> Status {
    if flags.contains(Flag::ExceptionExpired) && !flags.contains(Flag::ExceptionActive) {
        Status::ExceptionExpired
    } else if flags.contains(Flag::UnknownDigest) {
        Status::Unknown
    } else if flags.contains(Flag::AdmittedDigestMismatch) || flags.contains(Flag::TagMoved) {
        Status::Drifted
    } else if flags.contains(Flag::Unsigned) {
        Status::Unsigned
    } else if flags.contains(Flag::UntrustedIdentity) {
        Status::UntrustedIdentity
    } else if flags.contains(Flag::SignerRevoked) {
        Status::SignerRevoked
    } else if flags.contains(Flag::NoSbom) {
        Status::NoSbom
    } else if flags.contains(Flag::BypassedAdmission) {
        Status::BypassedAdmission
    } else {
        Status::Compliant
    }
}

struct PodRow<'a> {
    pod: &'a Pod,
    ns_rank: u32,
    kind: &'a str,
    name: &'a str,
}

struct Ctx<'a> {
    pod: &'a Pod,
    kind: &'a str,
    name: &'a str,
    team: &'a str,
    pod_age_days: i64,
}

struct ImageInfo {
    tag: Option<String>,
    tag_digest: Option<u32>,
    /// The digest the registry serves for the tag now, when known.
    registry_digest: Option<String>,
    /// Bit `i`: trust rule `i` (< 64) covers the image.
    rules: u64,
    /// Covering rules with index >= 64 (rare).
    overflow_rules: Vec<usize>,
    /// `registry/repo[:tag][@digest]`.
    normalized: String,
}

impl ImageInfo {
    fn any_rule(&self) -> bool {
        self.rules != 0 || !self.overflow_rules.is_empty()
    }

    fn accepted(&self, accepted_by: &[bool]) -> bool {
        let mut bits = self.rules;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            if accepted_by.get(i).copied().unwrap_or(false) {
                return true;
            }
            bits &= bits - 1;
        }
        self.overflow_rules
            .iter()
            .any(|&i| accepted_by.get(i).copied().unwrap_or(false))
    }
}

/// The workload a pod belongs to: its controller, with a ReplicaSet that
/// carries the pod's `pod-template-hash` resolved to its Deployment; a bare
/// pod is its own workload.
fn workload_of(pod: &Pod) -> (&str, &str) {
    match &pod.owner {
        None => ("Pod", pod.name.as_str()),
        Some(o) => {
            if o.kind == "ReplicaSet"
                && let Some(hash) = pod.labels.get("pod-template-hash")
                && !hash.is_empty()
                && let Some(base) = o.name.strip_suffix(hash.as_str())
                && let Some(base) = base.strip_suffix('-')
                && !base.is_empty()
            {
                return ("Deployment", base);
            }
            (o.kind.as_str(), o.name.as_str())
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Counts {
    containers: usize,
    non_compliant: usize,
    waived: usize,
    by_status: [usize; N_STATUS],
}

impl Counts {
    fn add(&mut self, f: &Finding<'_>) {
        self.containers += 1;
        if f.is_violation() {
            self.non_compliant += 1;
        }
        if f.waived {
            self.waived += 1;
        }
        if let Some(n) = self.by_status.get_mut(f.status.index()) {
            *n += 1;
        }
    }

    fn status_map(&self, keep_zero: bool) -> BTreeMap<Status, usize> {
        Status::ALL
            .iter()
            .zip(self.by_status)
            .filter(|(_, n)| keep_zero || *n > 0)
            .map(|(s, n)| (*s, n))
            .collect()
    }

    fn group<'a>(&self, name: &'a str) -> GroupSummary<'a> {
        GroupSummary {
            name: Cow::Borrowed(name),
            containers: self.containers,
            non_compliant: self.non_compliant,
            waived: self.waived,
            by_status: self.status_map(false),
        }
    }
}

/// Accumulates the summary while findings are produced (in namespace order).
#[derive(Default)]
struct Accumulator<'a> {
    total: Counts,
    by_namespace: Vec<GroupSummary<'a>>,
    current: Option<(&'a str, Counts)>,
    teams: FxHashMap<&'a str, Counts>,
}

impl<'a> Accumulator<'a> {
    fn add(&mut self, namespace: &'a str, team: &'a str, f: &Finding<'_>) {
        self.total.add(f);
        match &mut self.current {
            Some((name, counts)) if *name == namespace => counts.add(f),
            _ => {
                if let Some((name, counts)) = self.current.take() {
                    self.by_namespace.push(counts.group(name));
                }
                let mut counts = Counts::default();
                counts.add(f);
                self.current = Some((namespace, counts));
            }
        }
        self.teams.entry(team).or_default().add(f);
    }

    fn finish(mut self, pods: usize) -> Summary<'a> {
        if let Some((name, counts)) = self.current.take() {
            self.by_namespace.push(counts.group(name));
        }
        let mut by_team: Vec<GroupSummary<'a>> =
            self.teams.iter().map(|(t, c)| c.group(t)).collect();
        by_team.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let total = self.total;
        Summary {
            pods,
            containers: total.containers,
            non_compliant: total.non_compliant,
            waived: total.waived,
            by_status: total.status_map(true),
            by_namespace: self.by_namespace,
            by_team,
            verdict: if total.non_compliant == 0 {
                Verdict::Compliant
            } else {
                Verdict::NonCompliant
            },
        }
    }
}
