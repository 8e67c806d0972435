//! The generated differential corpus of `trustswap fidelity`: seeded cases,
//! each a policy variant (contract, identity matcher, trust root, structural
//! edits) and admission requests over the lab's evidence (fixture variants,
//! by tag or digest, with an init container, in a watched or an excluded
//! namespace). A case is one observation: one admission request of one
//! (variant, engine, vendor) run. Variants are scenarios without
//! expectations, so the runner, both backends and the comparison with real
//! Kyverno are the ones `trustswap run --compare embedded` uses.

use std::path::PathBuf;

use crate::experiment::patch::{PolicyPatch, VpAction};
use crate::experiment::scenario::{
    Action, AppliesTo, Change, ContractPatch, Exception, IdentityMode, ImageSel, Kind, Layer, Pod,
    Scenario, Step, TrustRootMode, Update,
};
use crate::policy::kyverno::cpol::FailureAction;
use crate::policy::kyverno::meta::FailurePolicy;

/// The fixture variants a request draws from: every variant a step may name
/// but `expired-no-tlog`, which not every vendor has, and those added later,
/// which a knob of the later stream turns ([`LATER_VARIANTS`]).
fn variants() -> Vec<&'static str> {
    crate::experiment::scenario::VARIANTS
        .into_iter()
        .filter(|v| *v != "expired-no-tlog" && !LATER_VARIANTS.contains(v))
        .collect()
}

/// Fixture variants added after the first corpora: a request names one only
/// through a knob of the later stream, which leaves the first stream's draws
/// alone (a knob may still replace a drawn request's image).
const LATER_VARIANTS: [&str; 2] = ["two-signers", "bundle-other-signer"];

/// Admission requests per (variant, engine, vendor) run (not counting the
/// pod created for an update, and the update).
pub const REQUESTS_PER_RUN: usize = 4;

/// The pod a variant creates in order to update it.
const UPDATED_POD: &str = "u0";

/// How long a generated exception lasts: long enough that it has not expired
/// on a real cluster's clock either (the lab's clock is fixed at 2026-01-01),
/// so that the knob exercises what an exception matches and exempts, not its
/// expiry (the break-glass scenario times that, on the embedded backend).
pub const EXCEPTION_SECONDS: i64 = 3 * 365 * 24 * 3600;

/// The scenario id prefix of generated variants.
pub const ID_PREFIX: &str = "gen";

/// SplitMix64: a small, fixed, portable generator, so that a seed names the
/// same corpus (and the same synthetic drift fleet) on every machine and every
/// version of every crate.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // `items` is never empty here (constant tables).
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// The variants covering at least `cases` observations for `runs_per_variant`
/// (engines x vendors) runs each, deterministically for `seed`.
pub fn corpus(cases: usize, seed: u64, runs_per_variant: usize) -> Vec<Scenario> {
    let per_variant = (runs_per_variant * REQUESTS_PER_RUN).max(1);
    let count = cases.div_ceil(per_variant);
    let mut rng = Rng(SplitMix64(seed ^ 0x7472_7573_7473_7761)); // "trustswa"
    (0..count).map(|i| variant(&mut rng, seed, i)).collect()
}

fn variant(rng: &mut Rng, seed: u64, index: usize) -> Scenario {
    let contract = ContractPatch {
        failure_action: Some(if rng.chance(25) {
            FailureAction::Audit
        } else {
            FailureAction::Enforce
        }),
        failure_policy: Some(if rng.chance(25) {
            FailurePolicy::Ignore
        } else {
            FailurePolicy::Fail
        }),
        require_sbom: Some(rng.chance(60)),
    };
    let identity = match rng.next() % 100 {
        0..15 => IdentityMode::CarelessWildcard,
        // Key-based vendors also trust the rotated-out key (keyless ones are
        // unaffected).
        15..30 => IdentityMode::TrustRotatedKey,
        _ => IdentityMode::Profile,
    };
    let mut patches = Vec::new();
    for (percent, patch) in [
        (25, PolicyPatch::MutateDigest(false)),
        (15, PolicyPatch::VerifyDigest(false)),
        (15, PolicyPatch::Required(false)),
        (20, PolicyPatch::UseCache(false)),
        (10, PolicyPatch::SkipOwnImages),
        (15, PolicyPatch::IgnoreTlog(true)),
        (15, PolicyPatch::IgnoreSct(true)),
    ] {
        if rng.chance(percent) {
            patches.push(patch);
        }
    }
    if rng.chance(20) {
        patches.push(PolicyPatch::ExtraEntry {
            any: rng.chance(50),
        });
    }
    let mut steps = Vec::new();
    let mut described = Vec::new();
    let trust_root = if rng.chance(15) {
        described.push("trustRoot: foreign-ca".to_owned());
        TrustRootMode::ForeignCa
    } else {
        TrustRootMode::Lab
    };
    let variants = variants();
    for r in 0..REQUESTS_PER_RUN {
        let image = ImageSel {
            variant: (*rng.pick(&variants)).to_owned(),
            previous: false,
            pinned: rng.chance(30),
        };
        let init_image = rng.chance(25).then(|| ImageSel {
            variant: (*rng.pick(&variants)).to_owned(),
            previous: false,
            pinned: rng.chance(30),
        });
        let namespace = if rng.chance(10) {
            // Excluded by the contract: no policy applies.
            "kube-system"
        } else {
            "apps"
        };
        let pod = Pod {
            name: format!("r{r}"),
            namespace: namespace.to_owned(),
            team: crate::experiment::patch::GENERATED_TEAM.into(),
            image,
            init_image,
        };
        steps.push(Step {
            label: format!("request {r}: {}", describe_pod(&pod)),
            action: Action::Admit { pod },
            expect: None,
        });
    }
    // Knobs added later draw from a stream of their own per variant, so that
    // the first stream's draws (contract, identity, edits, requests) stay
    // what a seed drew before them. A later knob still edits them (a
    // request's image replaced, a policy edit added), so a case a seed named
    // once may read differently now: the reproducer folders keep the cases
    // SEMANTICS.md cites.
    let mut later = Rng(SplitMix64(
        seed ^ 0x6c61_7465_725f_6b6e ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    ));
    let rng = &mut later;
    // A PolicyException (kyverno.io/v2 for ClusterPolicy, the CEL one for
    // ImageValidatingPolicy) for one of the requests' pods, created first.
    if rng.chance(20) {
        let k = rng.next() % REQUESTS_PER_RUN as u64;
        steps.insert(
            0,
            Step {
                label: format!("exception for pod r{k}"),
                action: Action::Exception {
                    exception: Exception {
                        name: format!("gen-exempt-r{k}"),
                        namespace: "apps".into(),
                        pod: format!("r{k}"),
                        expires_in_seconds: EXCEPTION_SECONDS,
                    },
                },
                expect: None,
            },
        );
    }
    if rng.chance(15) {
        patches.push(PolicyPatch::SigstoreBundle);
    }
    if rng.chance(20) {
        patches.push(PolicyPatch::SbomCondition {
            holds: rng.chance(50),
        });
    }
    if rng.chance(25) {
        // one draw for the six forms (accepts or refuses, under each action)
        let form = rng.next() % 6;
        patches.push(PolicyPatch::TeamPolicy {
            holds: form.is_multiple_of(2),
            action: [VpAction::Deny, VpAction::Audit, VpAction::Warn][(form / 2) as usize],
        });
    }
    if rng.chance(20) {
        patches.push(PolicyPatch::SbomPayload {
            holds: rng.chance(50),
        });
    }
    // An image whose `.sig` holds two layers, another signer's first.
    if rng.chance(30) {
        replace_a_request_image(rng, &mut steps, LATER_VARIANTS[0]);
    }
    // An image whose legacy evidence is the vendor's while its Sigstore
    // bundles are another signer's (cosign v3 and an ImageValidatingPolicy
    // read only the bundles).
    if rng.chance(30) {
        replace_a_request_image(rng, &mut steps, LATER_VARIANTS[1]);
    }
    // Signatures on a registry that refuses connections: a verification
    // error, decided by the failure policy.
    if rng.chance(15) {
        patches.push(PolicyPatch::SignaturesUnreachable);
    }
    // An UPDATE, once the requests are made, of a pod created for it (a
    // fixture the vendor signs, mostly, so that there is a pod to update):
    // its `admit` step stores it; the policy's failure action may flip in
    // between (so the stored pod's verification metadata no longer vouches
    // for its image); then the update relabels it (no image changes), sets
    // its image to another fixture, or adds an ephemeral container through
    // the `ephemeralcontainers` subresource.
    if rng.chance(50) {
        let created = ImageSel {
            variant: if rng.chance(70) {
                "good".to_owned()
            } else {
                (*rng.pick(&variants)).to_owned()
            },
            previous: false,
            pinned: rng.chance(30),
        };
        let pod = Pod {
            name: UPDATED_POD.to_owned(),
            namespace: "apps".to_owned(),
            team: crate::experiment::patch::GENERATED_TEAM.into(),
            image: created,
            init_image: None,
        };
        steps.push(Step {
            label: format!("create {UPDATED_POD}: {}", describe_pod(&pod)),
            action: Action::Admit { pod },
            expect: None,
        });
        if rng.chance(30) {
            let flipped = if contract.failure_action == Some(FailureAction::Audit) {
                FailureAction::Enforce
            } else {
                FailureAction::Audit
            };
            steps.push(Step {
                label: format!("failureAction now {flipped:?}"),
                action: Action::Contract {
                    patch: ContractPatch {
                        failure_action: Some(flipped),
                        failure_policy: None,
                        require_sbom: None,
                    },
                },
                expect: None,
            });
        }
        let sel = ImageSel {
            variant: (*rng.pick(&variants)).to_owned(),
            previous: false,
            pinned: rng.chance(30),
        };
        let change = match rng.next() % 10 {
            0..4 => Change::Relabel,
            4..7 => Change::Image(sel),
            _ => Change::Debug(sel),
        };
        let update = Update {
            namespace: "apps".to_owned(),
            pod: UPDATED_POD.to_owned(),
            change,
        };
        steps.push(Step {
            label: format!("update {UPDATED_POD}: {}", update.change.describe()),
            action: Action::Update { update },
            expect: None,
        });
    }
    let mut setup = vec![
        format!(
            "failureAction {}",
            if contract.failure_action == Some(FailureAction::Audit) {
                "Audit"
            } else {
                "Enforce"
            }
        ),
        format!(
            "failurePolicy {}",
            if contract.failure_policy == Some(FailurePolicy::Ignore) {
                "Ignore"
            } else {
                "Fail"
            }
        ),
        format!("SBOM required: {}", contract.require_sbom == Some(true)),
        format!(
            "identity: {}",
            match identity {
                IdentityMode::CarelessWildcard => "careless wildcard",
                IdentityMode::TrustRotatedKey =>
                    "the profile's, and a key-based vendor's rotated-out key",
                IdentityMode::Profile => "the profile's",
            }
        ),
    ];
    setup.extend(patches.iter().map(|p| p.describe()));
    setup.extend(described);
    Scenario {
        id: format!("{ID_PREFIX}-{seed}-{index:04}"),
        title: format!("generated variant {index} of seed {seed}"),
        layer: Layer::Trust,
        hypothesis: setup.join("; "),
        identical_across_vendors: false,
        applies_to: AppliesTo::All,
        kind: Kind::Steps,
        contract,
        identity,
        trust_root,
        steps,
        patches,
        source: PathBuf::new(),
    }
}

/// One of the requests (drawn from `rng`) names the fixture `variant` instead.
fn replace_a_request_image(rng: &mut Rng, steps: &mut [Step], variant: &str) {
    let k = (rng.next() % REQUESTS_PER_RUN as u64) as usize;
    if let Some(step) = steps
        .iter_mut()
        .filter(|st| matches!(st.action, Action::Admit { .. }))
        .nth(k)
        && let Action::Admit { pod } = &mut step.action
    {
        pod.image.variant = variant.to_owned();
        step.label = format!("request {k}: {}", describe_pod(pod));
    }
}

fn describe_pod(pod: &Pod) -> String {
    let mut s = pod.image.describe();
    if let Some(init) = &pod.init_image {
        s.push_str(&format!(", init {}", init.describe()));
    }
    if pod.namespace != "apps" {
        s.push_str(&format!(", in {}", pod.namespace));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_one_corpus() {
        let a = corpus(500, 7, 8);
        assert_eq!(a, corpus(500, 7, 8));
        assert_ne!(a, corpus(500, 8, 8));
        // 500 observations at 8 runs x 4 requests per variant.
        assert_eq!(a.len(), 16);
        assert!(a.iter().all(|s| s.id.starts_with("gen-7-")));
    }

    /// The seed CI runs (`--cases 500 --seed 1`, 8 runs per variant) turns
    /// the knobs added later too.
    #[test]
    fn the_ci_seed_creates_exceptions_and_a_validating_policy() {
        let c = corpus(500, 1, 8);
        assert!(
            c.iter()
                .flat_map(|s| &s.steps)
                .any(|st| matches!(st.action, Action::Exception { .. }))
        );
        assert!(
            c.iter()
                .flat_map(|s| &s.patches)
                .any(|p| matches!(p, PolicyPatch::TeamPolicy { .. }))
        );
        assert!(
            c.iter()
                .flat_map(|s| &s.patches)
                .any(|p| matches!(p, PolicyPatch::SbomPayload { .. }))
        );
        assert!(
            c.iter()
                .flat_map(|s| &s.patches)
                .any(|p| matches!(p, PolicyPatch::SignaturesUnreachable))
        );
        for variant in LATER_VARIANTS {
            assert!(
                c.iter().flat_map(|s| &s.steps).any(|st| matches!(
                    &st.action,
                    Action::Admit { pod } if pod.image.variant == variant
                )),
                "{variant}"
            );
        }
        for change in ["relabelled", "image set to", "debug container"] {
            assert!(
                c.iter().flat_map(|s| &s.steps).any(|st| matches!(
                    &st.action,
                    Action::Update { update } if update.change.describe().starts_with(change)
                )),
                "no update: {change}"
            );
        }
    }

    #[test]
    fn every_knob_is_turned_somewhere_in_a_large_corpus() {
        let c = corpus(4000, 1, 8);
        let patches: std::collections::BTreeSet<String> = c
            .iter()
            .flat_map(|s| s.patches.iter().map(|p| p.describe()))
            .collect();
        // 11 knobs, the SBOM condition's 2 forms, the team policy's 6 and
        // the SBOM payload check's 2
        assert_eq!(patches.len(), 21, "{patches:?}");
        let variants: std::collections::BTreeSet<&str> = c
            .iter()
            .flat_map(|s| &s.steps)
            .filter_map(|s| match &s.action {
                Action::Admit { pod } => Some(pod.image.variant.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            variants.len(),
            super::variants().len() + LATER_VARIANTS.len()
        );
        assert!(
            c.iter()
                .any(|s| s.identity == IdentityMode::CarelessWildcard)
        );
        assert!(c.iter().any(|s| s.trust_root == TrustRootMode::ForeignCa));
        assert!(
            c.iter()
                .any(|s| s.identity == IdentityMode::TrustRotatedKey)
        );
        // Every step is an admission request (one case each: a CREATE or
        // an UPDATE) but the exceptions created before them and a failure
        // action flipped before an update.
        assert!(c.iter().flat_map(|s| &s.steps).all(|st| matches!(
            st.action,
            Action::Admit { .. }
                | Action::Update { .. }
                | Action::Exception { .. }
                | Action::Contract { .. }
        )));
        assert!(
            c.iter()
                .flat_map(|s| &s.steps)
                .any(|st| matches!(st.action, Action::Contract { .. }))
        );
        // An update follows the requests, and names a pod one of them created.
        assert!(c.iter().all(|s| s.steps.iter().enumerate().all(|(i, st)| {
            match &st.action {
                Action::Update { update } => s.steps[..i].iter().any(|e| {
                    matches!(&e.action, Action::Admit { pod } if pod.name == update.pod && pod.namespace == update.namespace)
                }),
                _ => true,
            }
        })));
        assert!(c.iter().all(|s| {
            let updates = s
                .steps
                .iter()
                .filter(|st| matches!(st.action, Action::Update { .. }))
                .count();
            updates <= 1
                && s.steps
                    .iter()
                    .filter(|st| matches!(st.action, Action::Admit { .. }))
                    .count()
                    == REQUESTS_PER_RUN + updates
        }));
        assert!(
            c.iter()
                .flat_map(|s| &s.steps)
                .any(|st| matches!(st.action, Action::Exception { .. }))
        );
    }
}
