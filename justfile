# trustswap tasks. `just` lists them.

default:
    @just --list

# The main job on the embedded default.
run *ARGS:
    cargo run --release -- run {{ARGS}}

# The static substitution check with the published DHI key read from the shared test data.
check *ARGS:
    cargo run -- --key-cache ../shared/realworld/trust/docker-hardened-images check {{ARGS}}

# Everything CI runs.
ci:
    bash .ci/run

test:
    cargo test --workspace --locked

fmt:
    cargo fmt --all

lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Review snapshot changes (needs cargo-insta); never accept blindly.
snap:
    cargo insta test --review

bench:
    cargo bench --workspace

# Build the real tools (Kyverno, kube-apiserver, etcd, cosign) from the Go module proxy; prints their folder.
oracle:
    oracle/build

# Fuzz one parser with cargo-fuzz (nightly + `cargo install cargo-fuzz`); targets:
# policy_yaml, bundle_json, drift_input, scenario, oci_layout. ARGS go to libFuzzer,
# e.g. `just fuzz scenario -max_total_time=300`. See fuzz/README.md.
fuzz TARGET *ARGS:
    mkdir -p fuzz/corpus/{{TARGET}}
    cd fuzz && cargo +nightly fuzz run {{TARGET}} corpus/{{TARGET}} seeds/{{TARGET}} -- {{ARGS}}

# Type-check the fuzz targets on stable (nothing instrumented, nothing run).
fuzz-check:
    cargo check --manifest-path fuzz/Cargo.toml --locked

# Regenerate fuzz/seeds from the repository's fixtures and the lab.
fuzz-seeds:
    cargo test -p trustswap --test cli -- --ignored properties::write_fuzz_seeds
