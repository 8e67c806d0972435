//! The check has teeth: a second vendor whose set also flips Enforce to Audit,
//! drops an excluded namespace, or requires another kind of attestation makes
//! the comparison fail and names the exact path.

use crate::common;

use rstest::rstest;
use trustswap::diff::{Class, diff_sets};
use trustswap::policy::kyverno::cpol::FailureAction;
use trustswap::policy::render::render;
use trustswap::policy::{Contract, Engine};
use trustswap::profile::Vendor;

fn structural_paths(
    base: (&Contract, &Vendor),
    other: (&Contract, &Vendor),
    engine: Engine,
) -> Vec<String> {
    let a = render(base.0, base.1, engine).expect("renders");
    let b = render(other.0, other.1, engine).expect("renders");
    let d = diff_sets(&a, &b);
    assert!(!d.holds(), "the comparison must fail");
    d.differences
        .iter()
        .filter(|x| x.class == Class::Structural)
        .map(|x| format!("{} {}", x.document, x.path))
        .collect()
}

#[rstest]
#[case::cpol(Engine::Cpol, &[
    "ClusterPolicy/trustswap-verify-images /spec/rules/name=restrict-registries/validate/failureAction",
    "ClusterPolicy/trustswap-verify-images /spec/rules/name=verify-signature-and-sbom/verifyImages/0/failureAction",
    "ClusterPolicy/trustswap-verify-images /spec/rules/name=verify-signature-and-sbom/verifyImages/0/mutateDigest",
])]
#[case::ivpol(Engine::Ivpol, &[
    "ImageValidatingPolicy/trustswap-verify-images /spec/validationActions",
    "ImageValidatingPolicy/trustswap-verify-images /spec/validationConfigurations/mutateDigest",
    "ValidatingPolicy/trustswap-restrict-registries /spec/validationActions",
])]
fn audit_flip_is_structural(#[case] engine: Engine, #[case] expected: &[&str]) {
    let contract = common::contract();
    let audit = Contract {
        failure_action: FailureAction::Audit,
        ..contract.clone()
    };
    let paths = structural_paths(
        (&contract, &common::vendor("chainguard")),
        (&audit, &common::vendor("dhi")),
        engine,
    );
    assert_eq!(paths, expected);
}

#[rstest]
#[case::cpol(Engine::Cpol, &[
    "ClusterPolicy/trustswap-verify-images /spec/rules/name=restrict-registries/exclude/any/0/resources/namespaces",
    "ClusterPolicy/trustswap-verify-images /spec/rules/name=verify-signature-and-sbom/exclude/any/0/resources/namespaces",
])]
#[case::ivpol(Engine::Ivpol, &[
    "ImageValidatingPolicy/trustswap-verify-images /spec/matchConstraints/namespaceSelector/matchExpressions/0/values",
    "ValidatingPolicy/trustswap-restrict-registries /spec/matchConstraints/namespaceSelector/matchExpressions/0/values",
])]
fn dropped_excluded_namespace_is_structural(#[case] engine: Engine, #[case] expected: &[&str]) {
    let contract = common::contract();
    let fewer = Contract {
        exclude_namespaces: vec!["kube-system".into()],
        ..contract.clone()
    };
    let paths = structural_paths(
        (&contract, &common::vendor("chainguard")),
        (&fewer, &common::vendor("distroless")),
        engine,
    );
    assert_eq!(paths, expected);
}

#[rstest]
#[case::cpol(
    Engine::Cpol,
    "ClusterPolicy/trustswap-verify-images /spec/rules/name=verify-signature-and-sbom/verifyImages/0/attestations/name=sbom/type"
)]
#[case::ivpol(
    Engine::Ivpol,
    "ImageValidatingPolicy/trustswap-verify-images /spec/attestations/name=sbom/intoto/type"
)]
fn another_kind_of_attestation_is_structural(#[case] engine: Engine, #[case] expected: &str) {
    let contract = common::contract();
    let mut provenance = common::vendor("selfbuilt");
    provenance.attestations.sbom = vec!["https://slsa.dev/provenance/v1".into()];
    let paths = structural_paths(
        (&contract, &common::vendor("chainguard")),
        (&contract, &provenance),
        engine,
    );
    assert_eq!(paths, [expected]);
}

#[test]
fn the_check_command_fails_on_an_audit_vendor() {
    let contract = common::contract();
    let audit = Contract {
        failure_action: FailureAction::Audit,
        ..contract.clone()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, c, v) in [("base", &contract, "chainguard"), ("audit", &audit, "dhi")] {
        render(c, &common::vendor(v), Engine::Cpol)
            .expect("renders")
            .write(&dir.path().join(name))
            .expect("writes");
    }
    let out = common::trustswap(&[
        "diff",
        &dir.path().join("base").display().to_string(),
        &dir.path().join("audit").display().to_string(),
        "--no-report",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out.stderr));
    let stdout = common::text(&out.stdout);
    assert!(
        stdout.contains("/spec/rules/name=verify-signature-and-sbom/verifyImages/0/failureAction"),
        "{stdout}"
    );
    assert!(stdout.contains("Enforce -> Audit"), "{stdout}");
    assert!(stdout.contains("does NOT hold"), "{stdout}");
}
