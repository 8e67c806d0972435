//! The lab fixtures pushed to a real registry (Debian's `docker-registry`,
//! started on 127.0.0.1 at a free port) verify with the same verdicts as from
//! the OCI layout. CI installs the package; a missing binary fails loudly.

use crate::common;

use trustswap::lab_cli::{LAB_NOW, init, layout_dir};
use trustswap::supply::lab::ca::San;
use trustswap::supply::lab::fixtures::{Expect, Fixture, PolicySpec};
use trustswap::supply::oci::Layout;
use trustswap::supply::registry::{LocalRegistry, Registry};
use trustswap::supply::store::Store;
use trustswap::verify::identity::{IdentityRule, Pattern};
use trustswap::verify::image::{ImageVerifier, SignerPolicy};
use trustswap::verify::trust::TrustMaterial;

fn policy(f: &Fixture) -> SignerPolicy {
    match &f.policy {
        PolicySpec::Key {
            public_key_pem,
            require_tlog,
        } => SignerPolicy::Key {
            public_key_pem: public_key_pem.clone(),
            require_tlog: *require_tlog,
        },
        PolicySpec::Keyless {
            san,
            issuer,
            require_sct,
        } => SignerPolicy::Keyless {
            rule: IdentityRule {
                subject: Pattern::Wildcard(match san {
                    San::Uri(s) | San::Email(s) => s.clone(),
                }),
                issuer: Some(Pattern::Wildcard(issuer.clone())),
            },
            require_sct: *require_sct,
            require_tlog: true,
        },
    }
}

type Verdicts = (String, Result<String, String>, Result<String, String>);

/// (signature verdict, SBOM verdict) per fixture: Ok(signer) or Err(refusal stage).
fn verdicts(store: &dyn Store, trust: &TrustMaterial, fixtures: &[Fixture]) -> Vec<Verdicts> {
    let v = ImageVerifier::new(store, trust, LAB_NOW).expect("verifier");
    fixtures
        .iter()
        .map(|f| {
            let repo =
                (f.signature_repository != f.repository).then_some(f.signature_repository.as_str());
            let p = policy(f);
            let sig = v
                .signature(&f.image_ref, repo, &p)
                .map(|e| e.signer)
                .map_err(|r| r.stage.to_owned());
            let sbom = match f.sbom_predicate_types.first() {
                Some(t) => v
                    .attestation(&f.image_ref, repo, t, &p)
                    .map(|e| e.signer)
                    .map_err(|r| r.stage.to_owned()),
                None => Err("no sbom type".into()),
            };
            (f.image_ref.clone(), sig, sbom)
        })
        .collect()
}

#[test]
fn fixtures_verify_alike_from_the_layout_and_a_real_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab");
    let (catalogue, _lock) = init(
        &lab,
        7,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("lab init");
    let trust = TrustMaterial::from_file(&lab.join("trusted_root.json")).expect("trust");
    let layout = Layout::open(layout_dir(&lab)).expect("layout");

    let from_layout = verdicts(&layout, &trust, &catalogue.fixtures);
    for (f, (image, sig, sbom)) in catalogue.fixtures.iter().zip(&from_layout) {
        assert_eq!(
            sig.is_ok(),
            matches!(f.expect_signature, Expect::Accept),
            "{image} signature: {sig:?}"
        );
        assert_eq!(
            sbom.is_ok(),
            matches!(f.expect_sbom, Expect::Accept),
            "{image} sbom: {sbom:?}"
        );
    }

    let registry_dir = tempfile::tempdir().expect("tempdir");
    let local = LocalRegistry::start(registry_dir.path())
        .unwrap_or_else(|e| panic!("{e} (CI installs docker-registry)"));
    let registry = Registry::connect(&local.host).expect("connect");
    let pushed = registry.push_layout(&layout).expect("push");
    assert!(pushed.tags >= catalogue.fixtures.len(), "{pushed:?}");
    assert!(
        pushed.referrers >= 3,
        "self-built bundles are referrers: {pushed:?}"
    );

    let from_registry = verdicts(&registry, &trust, &catalogue.fixtures);
    assert_eq!(
        from_layout,
        from_registry,
        "identical verdicts from the layout and from {}",
        registry.describe()
    );
}

#[test]
fn a_registry_that_serves_wrong_bytes_is_an_error_not_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = LocalRegistry::start(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::connect(&local.host).expect("connect");
    let missing: trustswap::supply::oci::Digest =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111"
            .parse()
            .expect("digest");
    assert!(registry.blob("nothing/here", &missing).is_err());
    assert!(
        registry
            .resolve("nothing/here", "latest")
            .expect("a missing tag is not an error")
            .is_none()
    );
}

/// skopeo (containers/image) reads the lab's layout: every vendor's good
/// fixture resolves to the digest the catalogue records.
#[test]
fn skopeo_reads_the_lab_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab");
    let (catalogue, _lock) = init(
        &lab,
        0,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("lab init");
    for f in catalogue.fixtures.iter().filter(|f| {
        serde_json::to_value(f.variant)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            == Some("good")
    }) {
        let target = format!("oci:{}:{}", layout_dir(&lab).display(), f.image_ref);
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", &target])
            .output()
            .unwrap_or_else(|e| {
                panic!("skopeo is not installed ({e}): apt-get install skopeo (CI installs it)")
            });
        assert!(
            out.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            trustswap::supply::oci::Digest::of(&out.stdout).to_string(),
            f.image_digest,
            "{target}"
        );
    }
}

/// Runs the binary, killing it at `deadline`: returns the output and the
/// time it took (a hang fails the test instead of blocking it).
fn run_bounded(
    args: &[&str],
    deadline: std::time::Duration,
) -> (std::process::Output, std::time::Duration) {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let home = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(args)
        .current_dir(common::root())
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "`trustswap {}` still running after {deadline:?}: {}",
                args.join(" "),
                common::text(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    (child.wait_with_output().expect("output"), elapsed)
}

/// A "registry" on 127.0.0.1 that accepts TCP connections and never writes a
/// byte. Connections are held open until the process ends.
fn silent_registry() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    host
}

#[test]
fn a_silent_registry_fails_lab_push_and_verify_within_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab");
    init(
        &lab,
        0,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("lab init");
    let lab = lab.display().to_string();
    let host = silent_registry();
    let bound = std::time::Duration::from_secs(60);
    let timeouts = ["--connect-timeout", "1", "--read-timeout", "1"];

    let mut push = vec!["lab", "push", "--dir", &lab, "--registry", &host];
    push.extend(timeouts);
    let mut verify = vec![
        "verify",
        "cgr.dev/chainguard/static:latest",
        "--lab",
        &lab,
        "--registry",
        &host,
        "--certificate-identity",
        "https://example.com/ci",
        "--certificate-oidc-issuer",
        "https://example.com",
        "--type",
        "https://spdx.dev/Document",
    ];
    verify.extend(timeouts);
    for args in [push, verify] {
        let (o, took) = run_bounded(&args, bound);
        let err = common::text(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains(&format!("registry {host}")) && err.contains("--read-timeout"),
            "the error names the registry and the limit: {err}"
        );
        // One operation may wait connect + 4 x read (5 s here); a verify
        // stops at the first fault instead of waiting once per lookup.
        assert!(
            took < std::time::Duration::from_secs(15),
            "{args:?} took {took:?}"
        );
    }
}

/// A registry that answers `GET /v2/` and, for manifests, `failures` times
/// 503 before serving `manifest`. Returns the host and the request paths seen.
fn flaky_registry(
    failures: usize,
    manifest: Vec<u8>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut manifest_requests = 0;
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
            log.lock().expect("log").push(path.clone());
            let (status, headers, body): (&str, String, Vec<u8>) = if path == "/v2/" {
                ("200 OK", String::new(), b"{}".to_vec())
            } else if path.contains("/manifests/") {
                manifest_requests += 1;
                if manifest_requests <= failures {
                    (
                        "503 Service Unavailable",
                        String::new(),
                        b"try later".to_vec(),
                    )
                } else {
                    (
                        "200 OK",
                        format!(
                            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {}\r\n",
                            trustswap::supply::oci::Digest::of(&manifest)
                        ),
                        manifest.clone(),
                    )
                }
            } else {
                ("404 Not Found", String::new(), b"{}".to_vec())
            };
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (host, seen)
}

fn short_timeouts() -> trustswap::supply::registry::Timeouts {
    trustswap::supply::registry::Timeouts {
        connect: std::time::Duration::from_secs(2),
        read: std::time::Duration::from_secs(2),
        attempts: 3,
    }
}

#[test]
fn transient_registry_failures_are_retried_a_bounded_number_of_times() {
    use trustswap::supply::store::StoreError;
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec();
    let manifests = |seen: &std::sync::Mutex<Vec<String>>| {
        seen.lock()
            .expect("log")
            .iter()
            .filter(|p| p.contains("/manifests/"))
            .count()
    };

    // Two 503s, then the manifest: the third attempt succeeds.
    let (host, seen) = flaky_registry(2, manifest.clone());
    let registry = Registry::connect_with(&host, short_timeouts()).expect("client");
    let (_, bytes) = registry
        .resolve("acme/app", "latest")
        .expect("retried past two 503s")
        .expect("tag found");
    assert_eq!(bytes, manifest);
    assert_eq!(manifests(&seen), 3);

    // Always 503: three attempts, then a transport fault (never unbounded).
    let (host, seen) = flaky_registry(usize::MAX, manifest);
    let registry = Registry::connect_with(&host, short_timeouts()).expect("client");
    let err = registry
        .resolve("acme/app", "latest")
        .expect_err("a registry that keeps failing is an error");
    assert!(
        matches!(err, StoreError::Transport { .. }) && err.is_fault(),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&host) && text.contains("503") && text.contains("after 3 attempts"),
        "{text}"
    );
    assert_eq!(manifests(&seen), 3);

    // Nothing listening: refused connections are retried, then a fault.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let host = format!("127.0.0.1:{port}");
    let registry = Registry::connect_with(&host, short_timeouts()).expect("client");
    let start = std::time::Instant::now();
    let err = registry
        .blob(
            "acme/app",
            &"sha256:1111111111111111111111111111111111111111111111111111111111111111"
                .parse()
                .expect("digest"),
        )
        .expect_err("nothing listens");
    assert!(
        err.is_fault() && err.to_string().contains("after 3 attempts"),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

/// A registry that sends a byte every 200 ms never trips the read timeout;
/// the operation deadline (connect + 4 x read) still ends the wait.
#[test]
fn a_registry_that_trickles_is_cut_at_the_operation_deadline() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n",
                );
                for _ in 0..1000 {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    if stream.write_all(b" ").is_err() {
                        return;
                    }
                }
            });
        }
    });
    let timeouts = trustswap::supply::registry::Timeouts {
        connect: std::time::Duration::from_secs(1),
        read: std::time::Duration::from_secs(1),
        attempts: 3,
    };
    let registry = Registry::connect_with(&host, timeouts).expect("client");
    let start = std::time::Instant::now();
    let err = registry
        .resolve("acme/app", "latest")
        .expect_err("a trickle is cut off");
    let took = start.elapsed();
    assert!(err.is_fault(), "{err:?}");
    assert!(err.to_string().contains("not finished within 5 s"), "{err}");
    assert!(
        took >= std::time::Duration::from_secs(4) && took < std::time::Duration::from_secs(12),
        "{took:?}"
    );
}

/// A ClusterPolicy of `type: Cosign` reads the legacy tags only, one of
/// `type: SigstoreBundle` the bundle referrers only (Kyverno
/// `pkg/image/verifiers/cpol/cosign/verifier.go:31-60`): the self-built
/// fixtures carry both, Chainguard's the legacy ones only.
#[test]
fn each_evidence_format_reads_only_its_own_evidence() {
    use trustswap::verify::image::EvidenceFormat;
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab");
    let (catalogue, _lock) = init(
        &lab,
        5,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("lab init");
    let trust = TrustMaterial::from_file(&lab.join("trusted_root.json")).expect("trust");
    let layout = Layout::open(layout_dir(&lab)).expect("layout");
    let v = ImageVerifier::new(&layout, &trust, LAB_NOW).expect("verifier");
    let good = |vendor: &str| {
        catalogue
            .fixtures
            .iter()
            .find(|f| {
                serde_json::to_value(f.variant).ok() == Some(serde_json::json!("good"))
                    && f.vendor == vendor
            })
            .expect("a good fixture")
    };
    let via = |f: &Fixture, format: EvidenceFormat| {
        v.signature_in(format, &f.image_ref, None, &policy(f))
            .map(|e| e.via)
            .map_err(|r| r.to_string())
    };
    let selfbuilt = good("selfbuilt");
    assert_eq!(via(selfbuilt, EvidenceFormat::Legacy), Ok("legacy-sig"));
    assert_eq!(via(selfbuilt, EvidenceFormat::Bundle), Ok("bundle"));
    assert_eq!(via(selfbuilt, EvidenceFormat::Any), Ok("legacy-sig"));
    let chainguard = good("chainguard");
    assert_eq!(via(chainguard, EvidenceFormat::Legacy), Ok("legacy-sig"));
    let refused = via(chainguard, EvidenceFormat::Bundle).unwrap_err();
    assert!(refused.contains("no signatures found"), "{refused}");
    // attestations likewise
    let sbom = |f: &Fixture, format: EvidenceFormat| {
        v.attestation_in(
            format,
            &f.image_ref,
            None,
            &f.sbom_predicate_types[0],
            &policy(f),
        )
        .map(|e| e.via)
        .map_err(|r| r.to_string())
    };
    assert_eq!(sbom(selfbuilt, EvidenceFormat::Bundle), Ok("bundle"));
    assert_eq!(sbom(selfbuilt, EvidenceFormat::Legacy), Ok("legacy-att"));
    assert!(sbom(chainguard, EvidenceFormat::Bundle).is_err());

    // cosign v3's (and an ImageValidatingPolicy's) choice per image: the
    // bundles of an image that has any, its legacy tags otherwise.
    assert_eq!(via(selfbuilt, EvidenceFormat::Detect), Ok("bundle"));
    assert_eq!(via(chainguard, EvidenceFormat::Detect), Ok("legacy-sig"));
    assert_eq!(sbom(selfbuilt, EvidenceFormat::Detect), Ok("bundle"));
    assert_eq!(sbom(chainguard, EvidenceFormat::Detect), Ok("legacy-att"));
    let other_bundles = |vendor: &str| {
        catalogue
            .fixtures
            .iter()
            .find(|f| {
                serde_json::to_value(f.variant).ok()
                    == Some(serde_json::json!("bundle-other-signer"))
                    && f.vendor == vendor
            })
            .expect("a bundle-other-signer fixture")
    };
    for vendor in ["selfbuilt", "chainguard"] {
        let f = other_bundles(vendor);
        // the vendor's legacy evidence verifies (and is read first by `Any`)
        assert_eq!(via(f, EvidenceFormat::Legacy), Ok("legacy-sig"), "{vendor}");
        assert_eq!(via(f, EvidenceFormat::Any), Ok("legacy-sig"), "{vendor}");
        assert_eq!(
            sbom(f, EvidenceFormat::Legacy),
            Ok("legacy-att"),
            "{vendor}"
        );
        // but the image has bundles, another signer's: only those are read
        let refused = via(f, EvidenceFormat::Detect).unwrap_err();
        assert!(
            refused.contains("refused at identity") && !refused.contains(".sig"),
            "{vendor}: {refused}"
        );
        assert!(sbom(f, EvidenceFormat::Detect).is_err(), "{vendor}");
    }
}
